"""What the KL estimator costs: its noise per training step, its final bound, its seconds per epoch.

    python -m vae_tf.klcost runs/analytic runs/mc1 runs/mc10              # a table, from finished runs
    python -m vae_tf.klcost runs/analytic runs/mc1 --out runs/klcost.json --k 1000
    python -m vae_tf.klcost --combinations --sweep runs/kl-sweep-d2        # the posteriors x priors table

For each run (trained with `--kl-estimator analytic` or `monte_carlo --kl-samples S`): the
per-step variance of the KL estimate at the final weights, -IWAE_K on the test images and seconds
per epoch, as `vae_tf.analysis.klcost` measures them.
"""

from __future__ import annotations

import argparse
import sys

from vae_tf.analysis.klcost import combinations_markdown, markdown, measure
from vae_tf.core import cli
from vae_tf.core.cli import number
from vae_tf.core.lazy import lazy_names

# The library's names this command module held in vae_tf 0.1.0 (the API page showed them here), imported
# from where they live now on first use.
__getattr__, __dir__, _moved = lazy_names(__name__, {
    "vae_tf.analysis.klcost": ("kl_estimate_variance", "epoch_seconds"),
})


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python -m vae_tf.klcost",
        "What the KL estimator costs, for finished runs: the per-step variance of the KL term at the final weights, "
        "-IWAE_K on the test images, and seconds per epoch. Prints a Markdown table.")
    parser.add_argument("runs", nargs="*", metavar="RUNDIR", help="finished run directories")
    parser.add_argument("--k", type=number(int, at_least=1), default=1000, metavar="K",
                        help="importance samples per test image for -IWAE_K")
    parser.add_argument("--test-limit", type=number(int, at_least=1), default=None, metavar="N",
                        help="the first N test images only (default: all 10,000)")
    parser.add_argument("--draws", type=number(int, at_least=2), default=200, metavar="M",
                        help="draws of the noise per batch for the variance")
    parser.add_argument("--batches", type=number(int, at_least=1), default=20, metavar="NB",
                        help="test batches the variance is averaged over")
    parser.add_argument("--sweep", default=None, metavar="DIR",
                        help="take -IWAE_K and the rate of runs measured by this sweep directory (its rd.json) "
                             "instead of computing them again")
    parser.add_argument("--combinations", action="store_true",
                        help="print the posteriors x priors table of the --sweep directory's beta = 1 runs instead")
    parser.add_argument("--out", default=None, metavar="FILE.json", help="also write the rows as JSON")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    return parser


def work(args) -> int:
    import contextlib
    from pathlib import Path

    from vae_tf.analysis.sweeps import read_report
    from vae_tf.data.opening import load_run_test_data
    from vae_tf.rundir import Run, output_file, write_json

    if args.combinations:
        if not args.sweep:
            raise cli.UsageError("--combinations reads a sweep's rd.json: give --sweep DIR")
        print(combinations_markdown(read_report(args.sweep)), end="")
        return 0
    if not args.runs:
        raise cli.UsageError("give the run directories to measure (or --combinations --sweep DIR)")
    runs = [Run.open(path) for path in args.runs]
    # --out: one writer of its folder from the start (refused in the first second), the file or nothing.
    with output_file(args.out, args.overwrite, "--out") if args.out else contextlib.nullcontext() as written:
        points, k, limit = {}, args.k, args.test_limit
        if args.sweep:
            report = read_report(args.sweep)
            points = {Path(point["run"]).resolve(): point for point in report["points"]}
            k, limit = report["k"], report["test_images"]
        x = load_run_test_data(runs[0], test_limit=limit).x_test  # the runs' own test images (the first run's data)
        for run in runs:  # the variance is measured on batches of the run's batch size: at least one, before any work
            if len(x) < run.settings["batch_size"]:
                raise cli.UsageError(f"{run.path}: {len(x)} test images make no batch of its batch size "
                                     f"{run.settings['batch_size']}; give --test-limit {run.settings['batch_size']} "
                                     "or more (or drop it).")
        rows = []
        for run in runs:
            print(f"klcost: {run.path}", flush=True)
            rows.append(measure(run, x, k, args.draws, args.batches, points.get(Path(run.path).resolve())))
        if args.out:
            write_json(written / Path(args.out).name, rows)
    print(markdown(rows), end="")
    return 0


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work)


if __name__ == "__main__":
    sys.exit(main())
