"""Benchmarks: where a run's time goes, the compile cache, two workers, the two training paths.

    python -m vae_tf.bench                      # phases of the default run (3 runs) and two floors
    python -m vae_tf.bench phases --baseline ../shared/bench/report_baseline.py   # + the report's code, interleaved
    python -m vae_tf.bench cache                # a cold, a warm and an uncached run's first epoch vs the others
    python -m vae_tf.bench workers              # two workers pinned to a core each vs one process on both
    python -m vae_tf.bench step                 # the compiled step and its parts on one fixed batch
    python -m vae_tf.bench paths                # the report's training path against the fast one, per epoch
    python -m vae_tf.bench data                 # in memory, a streamed folder and shards: reading, training, memory

Every run is its own `python -m vae_tf.train` process (or the baseline's), so that its wall time
and peak memory (os.wait4's ru_maxrss) are the whole process's; runs of the things compared are
interleaved so that a change in machine load hits both, and the figures are medians. The
benchmarks themselves are `vae_tf.benchmarks` (one module each, see its docstring); this command
parses the flags, runs one and writes its results. See docs/speed.md.
"""

from __future__ import annotations

import argparse
import json
import sys

from vae_tf.benchmarks.cache import bench_cache
from vae_tf.benchmarks.data import bench_data
from vae_tf.benchmarks.paths import PATHS, bench_paths, worker
from vae_tf.benchmarks.phases import bench_phases
from vae_tf.benchmarks.step import bench_step
from vae_tf.benchmarks.workers import bench_workers
from vae_tf.core import cli
from vae_tf.models import architectures

BENCHMARKS = {"phases": bench_phases, "cache": bench_cache, "workers": bench_workers, "step": bench_step,
              "paths": bench_paths, "data": bench_data}
MODES = tuple(BENCHMARKS)
# flag -> the modes it acts in (`step` times the report's step on Fashion-MNIST: no --dataset, no --architecture)
ACTS_IN = {"dataset": ("phases", "cache", "workers", "paths"), "architecture": ("phases", "cache", "workers", "paths"),
           "baseline": ("phases",), "runs": ("phases", "cache", "workers", "step", "data"),
           "images": ("data",), "size": ("data",), "workdir": ("data",)}


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work)


def build_parser():
    parser = cli.parser("python -m vae_tf.bench",
                        "Benchmarks, each run in its own process: `phases` (default) times the default training run "
                        "phase by phase and measures two floors; `cache` compares a cold, a warm and an uncached "
                        "run's first epoch; `workers` two workers pinned to one core each against one process; "
                        "`step` times the compiled step and its parts on a fixed batch; "
                        "`paths` the report's training path against the fast one, per epoch; `data` a synthetic "
                        "folder read in memory, streamed, and packed into shards.")
    parser.add_argument("mode", nargs="?", choices=MODES, default="phases", help="what to measure")
    parser.add_argument("--epochs", type=cli.number(int, at_least=2), default=None,
                        help="epochs per run (default: 10 for phases, 4 otherwise); at least 2")
    parser.add_argument("--runs", type=cli.number(int, at_least=1), default=3,
                        help="runs (interleaved pairs) per configuration, for phases, cache and workers")
    parser.add_argument("--baseline", default=None, metavar="SCRIPT",
                        help="phases: also run this script (the report's code, e.g. report_baseline.py) with "
                             "--epochs, interleaved, and compare whole-process wall time, memory and losses")
    parser.add_argument("--seeds", type=cli.seed_number(), nargs="+", default=[0, 1, 2],
                        help="paths: one run per path and seed (others: the first seed)")
    parser.add_argument("--limit", type=cli.number(int, at_least=1), default=None,
                        help="first N training images (default: all)")
    parser.add_argument("--dataset", default="fashion_mnist", metavar="SOURCE",
                        help="the data to train on, as vae_tf.train's --dataset (default: the report's Fashion-MNIST)")
    parser.add_argument("--architecture", choices=architectures.NAMES, default="mlp",
                        help="phases, workers and paths: the model to time (vae_tf.models.architectures; default: the "
                             "report's mlp)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the results here")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    parser.add_argument("--images", type=cli.number(int, at_least=20), default=20_000, metavar="N",
                        help="data: images in the synthetic folder (200000 with --size 64 64: 2.4 GB)")
    parser.add_argument("--size", type=cli.number(int, at_least=1), nargs=2, default=[32, 32], metavar=("H", "W"),
                        help="data: the synthetic images' height and width (RGB)")
    parser.add_argument("--workdir", default=None, metavar="DIR",
                        help="data: where the folder and shards go, kept and reused (default: a new temporary one)")
    parser.add_argument("--worker", choices=PATHS, help=argparse.SUPPRESS)
    return parser


def work(args) -> int:
    if args.worker:
        print(json.dumps(worker(args.worker, args.seeds[0], args.epochs, args.limit, args.dataset,
                                args.architecture)))
        return 0

    import contextlib
    import os

    for name, modes in ACTS_IN.items():  # one rule: a flag that cannot act in this mode is refused
        if getattr(args, name) != build_parser().get_default(name) and args.mode not in modes:
            raise cli.UsageError(f"--{name} cannot act in `bench {args.mode}`: it needs one of the modes "
                                 f"{', '.join(modes)}; drop --{name}.")

    from vae_tf.rundir import output_file, write_json

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.epochs is None:
        args.epochs = {"phases": 10, "data": 3}.get(args.mode, 4)
    if args.baseline and not os.path.isfile(args.baseline):
        raise cli.UsageError(f"--baseline {args.baseline}: no such file; give the path of the report's script "
                             "(e.g. report_baseline.py).")
    # --json: one writer of its folder from the first second (a bad path fails at once), the file or nothing.
    with output_file(args.json, args.overwrite, "--json") if args.json else contextlib.nullcontext() as written:
        result = BENCHMARKS[args.mode](args)
        if args.json:
            write_json(written / os.path.basename(args.json), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
