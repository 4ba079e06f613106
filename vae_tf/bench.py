"""Benchmarks: where a run's time goes, the compile cache, two workers, the two training paths.

    python -m vae_tf.bench                      # phases of the default run (3 runs) and two floors
    python -m vae_tf.bench phases --baseline ../shared/bench/report_baseline.py   # + the report's code, interleaved
    python -m vae_tf.bench cache                # a cold, a warm and an uncached run's first epoch vs the others
    python -m vae_tf.bench workers              # two workers pinned to a core each vs one process on both
    python -m vae_tf.bench step                 # the compiled step and its parts on one fixed batch
    python -m vae_tf.bench paths                # the report's training path against the fast one, per epoch

Every run is its own `python -m vae_tf.train` process (or the baseline's), so that its wall time
and peak memory (os.wait4's ru_maxrss) are the whole process's; runs of the things compared are
interleaved so that a change in machine load hits both, and the figures are medians. The two
floors are measured in the bench's own process right after each training run: the 2048 x 2048 float32 matmul
throughput applied to an epoch's matmul FLOPs, and the step's own five large matmuls at their
shapes (`step_matmul_floor`). See docs/speed.md.

`paths`: each (path, seed) trains in its own subprocess, so that memory is measured cleanly:
working memory = peak resident memory - resident memory right after importing TensorFlow,
Keras, TFP and vae_tf. Seconds per epoch are the median over the epochs after the first
(which pays for tracing and XLA compilation). The compute floor is the arithmetic of one epoch
divided by the float32 matmul throughput measured here, on the same machine, in the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time

from vae_tf.core import cli
from vae_tf.data import REPORT_SHAPE
from vae_tf.models import architectures

REPORT_PIXELS = math.prod(REPORT_SHAPE)  # the report's 28 x 28 x 1

PATHS = {
    "report": "the report's way: fit on the float64 array x / 255., one step per call, no XLA",
    "fast": "vae_tf's default: uint8 in the graph, stateless per-epoch shuffling, XLA, several steps per call",
}
LOSS_NAMES = ("loss", "reconstruction_loss", "kl_loss")


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train_flops_per_image(latent_dim: int = 2, hidden_units: int = 100, pixels: int = REPORT_PIXELS) -> int:
    """Multiply-add FLOPs (2 per multiply-add) of one image's forward and backward pass.

    Every Dense layer costs 2*fan_in*fan_out forward, as much again for its weight gradient, and
    as much again for its input gradient, except the first layer, whose input needs none.
    Elementwise work (activations, the loss, Adam) is not counted.
    """
    layers = [(pixels, hidden_units), (hidden_units, latent_dim), (hidden_units, latent_dim),
              (latent_dim, hidden_units), (hidden_units, pixels)]
    forward = sum(2 * fan_in * fan_out for fan_in, fan_out in layers)
    first = 2 * pixels * hidden_units
    return 3 * forward - first


def measure_matmul_gflops(size: int = 2048, repeats: int = 20) -> float:
    """Best float32 matmul throughput of `size` x `size` products on the default device, GFLOP/s."""
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    product = tf.function(lambda a, b: tf.matmul(a, b))
    product(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def step_matmul_floor(batch: int = 128, steps: int = 469, pixels: int = 784, hidden_units: int = 100,
                      repeats: int = 3) -> float:
    """Seconds per epoch of the step's five large matmuls alone, at their own shapes.

    The logic of the shared `matmul_floor.py`: per step, the first layer's forward product
    (batch x pixels x hidden) and its weight gradient, the last layer's forward product
    (batch x hidden x pixels), its weight gradient and its input gradient, `steps` times in one
    `tf.function` loop; the best of `repeats`, with and without XLA. Shapes (batch, pixels) etc.

    Returns:
      Seconds for `steps` steps: a floor that no epoch of this model can beat on this machine.
    """
    import numpy as np
    import tensorflow as tf

    x = tf.Variable(np.random.default_rng(0).random((batch, pixels), dtype=np.float32))
    w0 = tf.Variable(tf.random.normal((pixels, hidden_units)) * 0.05)
    w3 = tf.Variable(tf.random.normal((hidden_units, pixels)) * 0.05)

    def products(n):
        total = tf.zeros((pixels, hidden_units))
        for i in tf.range(n):
            xi = x + tf.cast(i, tf.float32) * 1e-9
            h = xi @ w0  # forward, first layer
            grad_w0 = tf.transpose(xi) @ h  # its weight gradient
            y = h @ w3  # forward, last layer
            grad_w3 = tf.transpose(h) @ y  # its weight gradient
            grad_h = y @ tf.transpose(w3)  # its input gradient
            total += grad_w0 + tf.transpose(grad_w3) + tf.reduce_sum(grad_h) * 0
        return total

    best = float("inf")
    for jit in (True, False):
        function = tf.function(products, jit_compile=jit)
        function(tf.constant(10)).numpy()
        for _ in range(repeats):
            start = time.perf_counter()
            function(tf.constant(steps)).numpy()
            best = min(best, time.perf_counter() - start)
    return best


def floors(images: int, batch_size: int = 128, flops_per_image: int | None = None) -> dict:
    """Both floors of an epoch of `images` images, measured now: seconds per epoch and how.

    Args:
      images, batch_size: the epoch's size.
      flops_per_image: training FLOPs per image of another model than the report's MLP
        (`vae_tf.models.architectures.train_flops_per_image`); its step floor is then not measured (NaN):
        `step_matmul_floor` times the report's five matmuls only.
    """
    steps = -(-images // batch_size)
    gflops = measure_matmul_gflops()
    flops = (flops_per_image or train_flops_per_image()) * images
    return {"matmul_gflops": gflops, "flops_per_epoch": flops, "matmul_2048_floor": flops / (gflops * 1e9),
            "step_matmul_floor": step_matmul_floor(batch_size, steps) if flops_per_image is None else float("nan")}


def run_flops_per_image(run_dir) -> int | None:
    """Training FLOPs per image of a run's model when it is not the report's MLP (None for the MLP)."""
    from vae_tf.rundir import Run

    run = Run.open(run_dir)
    if run.settings.get("architecture", "mlp") == "mlp":
        return None
    vae = run.model()
    return architectures.train_flops_per_image(vae.encoder, vae.decoder)


def run_process(command: list[str], env: dict | None = None, log=None) -> dict:
    """Run `command` to its end: wall seconds, peak resident memory (MiB) and return code.

    Args:
      command: the command line.
      env: environment variables added to this process's.
      log: a file for its stdout and stderr (default: discarded).
    """
    import os

    out = log if log is not None else subprocess.DEVNULL
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                               env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": time.perf_counter() - start, "peak_rss_mib": usage.ru_maxrss / 1024,
            "returncode": process.returncode}


def _median_phases(summaries: list[dict]) -> dict:
    keys = [k for k in summaries[0]["phases"] if k not in ("epoch_seconds", "peak_rss_mib_after")]
    return {k: statistics.median(s["phases"].get(k, 0.0) for s in summaries) for k in keys}


def _train_command(args, out) -> list[str]:
    command = [sys.executable, "-m", "vae_tf.train", "--epochs", str(args.epochs), "--seed", str(args.seeds[0]),
               "--out", str(out), "--overwrite", "--verbose", "0"]
    command += ["--dataset", args.dataset] if args.dataset != "fashion_mnist" else []
    command += ["--architecture", args.architecture] if args.architecture != "mlp" else []
    return command + (["--limit", str(args.limit)] if args.limit else [])


def bench_phases(args) -> dict:
    """`python -m vae_tf.train` `--runs` times (interleaved with the baseline, if given): phases and floors."""
    import tempfile
    from pathlib import Path

    from vae_tf.rundir import read_history
    from vae_tf.training.phases import format_phases

    scratch = Path(tempfile.mkdtemp(prefix="vae_tf-bench-"))
    train, baseline, summaries = [], [], []
    measured, ratios_2048, ratios_step = [], [], []
    for index in range(args.runs):
        out = scratch / f"run{index}"
        with open(scratch / f"train{index}.log", "w") as log:
            result = run_process(_train_command(args, out), log=log)
        if result["returncode"] != 0:
            raise RuntimeError(f"python -m vae_tf.train failed; see {scratch / f'train{index}.log'}")
        summary = json.loads((out / "summary.json").read_text())
        summaries.append(summary)
        train.append({**result, "final": summary["final"], "history": read_history(out / "history.csv")})
        print(f"bench: train run {index + 1}: {result['seconds']:.2f} s, peak {result['peak_rss_mib']:.0f} MiB, "
              f"loss {summary['final']['loss']:.4f}", flush=True)
        # The floors right after each run, so that they see about the load its epochs saw.
        measured.append(floors(summary["train_images"], flops_per_image=run_flops_per_image(out)))
        run_epoch = statistics.median(summary["phases"]["epoch_seconds"][1:] or [float("nan")])
        ratios_2048.append(run_epoch / measured[-1]["matmul_2048_floor"])
        ratios_step.append(run_epoch / measured[-1]["step_matmul_floor"])
        if args.baseline:
            command = [sys.executable, args.baseline, "--epochs", str(args.epochs)]
            command += ["--n", str(args.limit)] if args.limit else []
            with open(scratch / f"baseline{index}.log", "w") as log:
                result = run_process(command, log=log)
            lines = (scratch / f"baseline{index}.log").read_text().strip().splitlines()
            if result["returncode"] != 0 or not lines:
                raise RuntimeError(f"{args.baseline} failed; see {scratch / f'baseline{index}.log'}")
            printed = json.loads(lines[-1])
            baseline.append({**result, "final": {"loss": printed["loss"][-1],
                                                 "reconstruction_loss": printed["reconstruction_loss"][-1],
                                                 "kl_loss": printed["kl_loss"][-1]}})
            print(f"bench: baseline run {index + 1}: {result['seconds']:.2f} s, peak "
                  f"{result['peak_rss_mib']:.0f} MiB, loss {printed['loss'][-1]:.4f}", flush=True)
    phases = _median_phases(summaries)
    epochs = [s for summary in summaries for s in summary["phases"]["epoch_seconds"][1:]]
    phases["epoch_seconds"] = []
    floor = {key: statistics.median(m[key] for m in measured) for key in measured[0]}
    per_epoch = statistics.median(epochs) if epochs else float("nan")

    print(f"\nphases of `python -m vae_tf.train --epochs {args.epochs}` (median of {args.runs} runs; summary.json):")
    print(format_phases({**phases, "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in train)}))
    print(f"whole process: {statistics.median(r['seconds'] for r in train):.2f} s wall (median), peak "
          f"{statistics.median(r['peak_rss_mib'] for r in train):.0f} MiB (wait4)")
    print(f"seconds per epoch after the first (median): {per_epoch:.3f}")
    print(f"floor, 2048 x 2048 matmuls: {floor['flops_per_epoch'] / 1e9:.1f} GFLOP / {floor['matmul_gflops']:.1f} "
          f"GFLOP/s = {floor['matmul_2048_floor']:.3f} s per epoch (median, measured after each run); "
          f"epoch at {statistics.median(ratios_2048):.2f}x (median of the runs' ratios)")
    if args.architecture == "mlp":
        print(f"floor, the step's matmuls at their shapes: {floor['step_matmul_floor']:.3f} s per epoch; epoch at "
              f"{statistics.median(ratios_step):.2f}x (per run: {', '.join(f'{r:.2f}' for r in ratios_step)})")
    else:
        print("floor, the step's matmuls at their shapes: measured for the report's MLP only, not "
              f"{args.architecture}")
    result = {"mode": "phases", "epochs": args.epochs, "runs": train, "phases": phases,
              "seconds_per_epoch": per_epoch, **floor, "floors": measured, "epoch_over_2048_floor": ratios_2048,
              "epoch_over_step_floor": ratios_step}
    if baseline:
        ratios = [t["seconds"] / b["seconds"] for t, b in zip(train, baseline)]
        memory = [t["peak_rss_mib"] / b["peak_rss_mib"] for t, b in zip(train, baseline)]
        print(f"against {args.baseline} --epochs {args.epochs}: wall time {statistics.median(ratios):.2f}x "
              f"(median of {len(ratios)} interleaved pairs: {', '.join(f'{r:.2f}' for r in ratios)}), peak memory "
              f"{statistics.median(memory):.2f}x ({statistics.median(b['peak_rss_mib'] for b in baseline):.0f} MiB)")
        for name in LOSS_NAMES:
            print(f"  final {name}: vae_tf {statistics.median(t['final'][name] for t in train):.4f}, baseline "
                  f"{statistics.median(b['final'][name] for b in baseline):.4f}")
        result.update(baseline=baseline, wall_ratios=ratios, memory_ratios=memory)
    return result


def bench_cache(args) -> dict:
    """A cold run (empty cache), a warm run (the same cache) and an uncached run, `--runs` times, interleaved."""
    import shutil
    import tempfile
    from pathlib import Path

    from vae_tf.rundir import read_history

    scratch = Path(tempfile.mkdtemp(prefix="vae_tf-bench-"))
    rows = {"cold": [], "warm": [], "off": []}
    for index in range(args.runs):
        cache = scratch / f"cache{index}"
        for kind in rows:
            env = {"VAE_TF_CACHE": "off" if kind == "off" else str(cache)}
            out = scratch / f"{kind}{index}"
            result = run_process(_train_command(args, out), env=env)
            if result["returncode"] != 0:
                raise RuntimeError(f"the {kind} run failed (rerun: VAE_TF_CACHE={env['VAE_TF_CACHE']} "
                                   f"{' '.join(_train_command(args, out))})")
            seconds = [row["seconds"] for row in read_history(out / "history.csv")]
            later = statistics.median(seconds[1:])
            rows[kind].append({"first": seconds[0], "later": later, "wall": result["seconds"],
                               "programs": len(list(cache.glob("*"))) if cache.exists() else 0})
            print(f"bench: {kind} run {index + 1}: first epoch {seconds[0]:.2f} s, later {later:.3f} s "
                  f"({seconds[0] / later:.2f}x), whole process {result['seconds']:.2f} s", flush=True)
        shutil.rmtree(cache, ignore_errors=True)
    print(f"\n{'run':6}{'first epoch':>12}{'later':>8}{'first/later':>12}{'process':>9}")
    for kind, results in rows.items():
        first = statistics.median(r["first"] for r in results)
        later = statistics.median(r["later"] for r in results)
        ratio = statistics.median(r["first"] / r["later"] for r in results)
        print(f"{kind:6}{first:12.2f}{later:8.3f}{ratio:12.2f}{statistics.median(r['wall'] for r in results):9.2f}")
    print(f"compiled programs in the cache after a run: {rows['warm'][0]['programs']}")
    return {"mode": "cache", "epochs": args.epochs, "runs": rows}


def free_local_addresses(count: int) -> list[str]:
    """`count` localhost addresses with ports free right now (for a cluster of workers)."""
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for probe in sockets:
        probe.bind(("localhost", 0))
    addresses = [f"localhost:{probe.getsockname()[1]}" for probe in sockets]
    for probe in sockets:
        probe.close()
    return addresses


def all_reduce_worker(index: int, addresses: list[str], size: int, steps: int) -> None:
    """One of the workers of `collective_floor`: `steps` all-reduces of `size` float32 values.

    Each all-reduce waits for the previous one (as a training step's gradients wait for the last
    update), in one `tf.function` loop under `MultiWorkerMirroredStrategy`, one thread per pool.
    The chief prints {"seconds": ..., "sum": ...} (the timed loop, after a warm-up of 5; the sum
    of the workers' ones, 2.0 for two) as its last line.
    """
    import os

    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    values = tf.ones([size])

    def one(previous):  # depends on the previous result, so the all-reduces cannot overlap
        return tf.distribute.get_replica_context().all_reduce("SUM", values + 0.0 * previous)

    @tf.function
    def loop(count):
        total = tf.zeros([size])
        for _ in tf.range(count):
            total = strategy.experimental_local_results(strategy.run(one, args=(total,)))[0]
        return total

    loop(tf.constant(5)).numpy()
    start = time.perf_counter()
    total = loop(tf.constant(steps)).numpy()
    if index == 0:
        print(json.dumps({"seconds": time.perf_counter() - start, "sum": float(total[0])}), flush=True)


def collective_floor(cores, size: int, steps: int, result: dict | None = None) -> float:
    """Seconds for `steps` successive all-reduces of `size` float32 values between two workers on
    localhost, each pinned to one of `cores`: what synchronous training across the two pays for
    its gradients, whatever the model computes (`all_reduce_worker`).

    Args:
      cores: two CPU numbers, one per worker (`taskset -c`).
      size: float32 values per all-reduce (the model's weights).
      steps: all-reduces timed, one after another (an epoch's steps).
      result: if given, filled with the chief's line ({"seconds", "sum"}).

    Returns:
      the seconds the `steps` all-reduces took on the chief.
    """
    import os

    addresses = free_local_addresses(2)
    code = "import sys, json; from vae_tf.bench import all_reduce_worker; all_reduce_worker(*json.loads(sys.argv[1]))"
    processes = [subprocess.Popen(["taskset", "-c", str(cores[index]), sys.executable, "-c", code,
                                   json.dumps([index, addresses, size, steps])],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                  env={**os.environ, "TF_CONFIG": ""}) for index in range(2)]
    outputs = [process.communicate()[0] for process in processes]
    if any(process.returncode for process in processes):
        raise RuntimeError("the all-reduce workers failed")
    chief = json.loads(outputs[0].strip().splitlines()[-1])
    if result is not None:
        result.update(chief)
    return chief["seconds"]


def bench_workers(args) -> dict:
    """One process on both cores against two workers on localhost pinned to a core each, interleaved."""
    import os
    import tempfile
    from pathlib import Path

    from vae_tf.rundir import read_history

    scratch = Path(tempfile.mkdtemp(prefix="vae_tf-bench-"))
    cores = sorted(os.sched_getaffinity(0))[:2]
    if len(cores) < 2:
        raise cli.CommandError("`bench workers` needs two CPU cores (one per worker).")
    one, two = [], []

    def epoch_stats(run_dir):
        history = read_history(run_dir / "history.csv")
        return {"seconds_per_epoch": statistics.median(row["seconds"] for row in history[1:]),
                "first_epoch": history[0]["seconds"], "final": {n: history[-1][n] for n in LOSS_NAMES}}

    for index in range(args.runs):
        out = scratch / f"one{index}"
        command = ["taskset", "-c", ",".join(map(str, cores))] + _train_command(args, out)
        result = run_process(command, env={"TF_CONFIG": ""})
        if result["returncode"]:
            raise RuntimeError(f"one-process run failed: {' '.join(command)}")
        one.append({**epoch_stats(out), "wall": result["seconds"]})
        print(f"bench: one process: {one[-1]['seconds_per_epoch']:.3f} s per epoch, loss "
              f"{one[-1]['final']['loss']:.4f}", flush=True)

        addresses = free_local_addresses(2)
        processes = []
        for task in range(2):
            tf_config = json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": task}})
            command = ["taskset", "-c", str(cores[task])] + _train_command(args, scratch / f"two{index}-{task}") + [
                "--strategy", "multiworker"]
            log = open(scratch / f"two{index}-{task}.log", "w")
            processes.append((subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                               env={**os.environ, "TF_CONFIG": tf_config}), log))
        start = time.perf_counter()
        codes = [process.wait() for process, _ in processes]
        wall = time.perf_counter() - start
        for _, log in processes:
            log.close()
        if any(codes):
            raise RuntimeError(f"a worker failed; see {scratch}/two{index}-*.log")
        two.append({**epoch_stats(scratch / f"two{index}-0"), "wall": wall})
        print(f"bench: two workers: {two[-1]['seconds_per_epoch']:.3f} s per epoch, loss "
              f"{two[-1]['final']['loss']:.4f}", flush=True)

    ratios = [t["seconds_per_epoch"] / o["seconds_per_epoch"] for o, t in zip(one, two)]
    print(f"\n{'run':34}{'s/epoch':>9}{'first epoch':>12}{'loss':>10}{'recon':>10}{'kl':>8}")
    for name, results in (("one process, both cores", one), ("two workers, one core each", two)):
        med = {k: statistics.median(r[k] for r in results) for k in ("seconds_per_epoch", "first_epoch")}
        final = {n: statistics.median(r["final"][n] for r in results) for n in LOSS_NAMES}
        print(f"{name:34}{med['seconds_per_epoch']:9.3f}{med['first_epoch']:12.2f}{final['loss']:10.4f}"
              f"{final['reconstruction_loss']:10.4f}{final['kl_loss']:8.4f}")
    print(f"two workers / one process, per epoch: {statistics.median(ratios):.2f}x (median of {len(ratios)} "
          f"interleaved pairs: {', '.join(f'{r:.2f}' for r in ratios)})")
    # The communication floor: an epoch's gradient all-reduces alone, between the same two cores.
    from vae_tf.rundir import Run
    from vae_tf.training.engine import steps_per_epoch

    run = Run.open(scratch / "one0")
    size = int(sum(math.prod(w.shape) for w in run.model().trainable_weights))
    steps = steps_per_epoch(run.summary["train_images"], run.settings["batch_size"])
    floor = collective_floor(cores, size, steps)
    one_epoch = statistics.median(o["seconds_per_epoch"] for o in one)
    print(f"the gradients' all-reduces alone: {steps} of {size:,} float32 values between the two workers, "
          f"{floor:.3f} s ({floor / steps * 1e3:.2f} ms each) = {floor / one_epoch:.2f}x one process's epoch")
    return {"mode": "workers", "epochs": args.epochs, "one": one, "two": two, "ratios": ratios,
            "all_reduce_floor": {"values": size, "steps": steps, "seconds": floor,
                                 "per_one_process_epoch": floor / one_epoch}}


def bench_step(args) -> dict:
    """Where the compiled step's time goes: the step and its parts on one fixed batch, per epoch.

    Each variant runs `steps` (an epoch's worth) iterations in one XLA-compiled loop on the
    first batch of the training images, so neither the input pipeline nor Keras' loop is in it:
    the whole train step (losses, gradients, Adam, the loss trackers), the same without Adam and
    the trackers (the gradients are summed instead), the forward pass and losses alone, and the
    step's five large matmuls (`step_matmul_floor`). Best of `--runs`, interleaved.
    """
    import keras
    import tensorflow as tf

    from vae_tf.config import TrainConfig
    from vae_tf.data import load_split
    from vae_tf.training.engine import build_vae, steps_per_epoch

    images = load_split("train", limit=args.limit)[0]
    config = TrainConfig(seed=args.seeds[0])
    steps = steps_per_epoch(len(images), config.batch_size)
    keras.utils.set_random_seed(config.seed)
    vae = build_vae(config, len(images))
    batch = tf.constant(images[:config.batch_size])
    vae.optimizer.build(vae.trainable_variables)

    def whole_step(n):
        for _ in tf.range(n):
            vae.train_step(batch)
        return vae.trackers["loss"].result()

    def gradients_only(n):
        total = tf.constant(0.0)
        for _ in tf.range(n):
            with tf.GradientTape() as tape:
                losses = vae.compute_losses(batch, training=True)
            grads = tape.gradient(losses["loss"], vae.trainable_weights)
            total += tf.add_n([tf.reduce_sum(g) for g in grads]) * 0 + losses["loss"]
        return total

    def forward_only(n):
        total = tf.constant(0.0)
        for _ in tf.range(n):
            total += vae.compute_losses(batch, training=True)["loss"]
        return total

    variants = {"whole train step": whole_step, "losses and gradients (no Adam, no trackers)": gradients_only,
                "forward pass and losses": forward_only}
    functions = {name: tf.function(f, jit_compile=True) for name, f in variants.items()}
    for function in functions.values():
        function(tf.constant(steps)).numpy()  # the loop bound is a compile-time constant to XLA
    best = {name: float("inf") for name in functions}
    for _ in range(args.runs):
        for name, function in functions.items():  # interleaved
            start = time.perf_counter()
            function(tf.constant(steps)).numpy()
            best[name] = min(best[name], time.perf_counter() - start)
    best["the five large matmuls (floor)"] = step_matmul_floor(config.batch_size, steps, repeats=max(2, args.runs))
    whole = best["whole train step"]
    print(f"\nthe compiled step on one fixed batch, {steps} steps (an epoch), best of {args.runs}:")
    for name, seconds in best.items():
        print(f"  {name:45} {seconds:7.3f} s  {seconds / whole:6.1%} of the whole step")
    print(f"  Adam and the trackers: {whole - best['losses and gradients (no Adam, no trackers)']:.3f} s; the backward "
          f"pass: {best['losses and gradients (no Adam, no trackers)'] - best['forward pass and losses']:.3f} s")
    return {"mode": "step", "steps": steps, "seconds": best}


def worker(path: str, seed: int, epochs: int, limit: int | None, dataset: str = "fashion_mnist",
           architecture: str = "mlp") -> dict:
    """Train one model of `architecture` on one path on `dataset`; return its timings, memory, losses,
    values per image and training FLOPs per image."""
    import keras  # noqa: F401
    import tensorflow as tf  # noqa: F401
    import tensorflow_probability  # noqa: F401

    import vae_tf  # noqa: F401
    from vae_tf.config import TrainConfig
    from vae_tf.data import flatten_images
    from vae_tf.data.sources import load_data
    from vae_tf.training.callbacks import EpochTimer
    from vae_tf.training.engine import build_vae, fit_inputs, training_images

    rss_after_imports = _rss_mib()
    data = load_data(dataset, limit=limit)
    x = flatten_images(data.x_train)
    if path == "fast":  # as vae_tf.train does: the fast path keeps one copy of the images, a tensor
        x = training_images(x)
    config = TrainConfig(epochs=epochs, seed=seed, limit=limit, fast=(path == "fast"), dataset=dataset,
                         architecture=architecture)
    keras.utils.set_random_seed(seed)
    vae = build_vae(config, len(x), image_shape=data.spec.image_shape)
    timer = EpochTimer()
    history = vae.fit(**fit_inputs(x, config), epochs=epochs, verbose=0, callbacks=[timer]).history
    return {
        "path": path,
        "seed": seed,
        "images": len(x),
        "pixels": data.spec.pixels,
        "train_flops_per_image": architectures.train_flops_per_image(vae.encoder, vae.decoder),
        "epoch_seconds": timer.seconds,
        "rss_after_imports_mib": rss_after_imports,
        "peak_rss_mib": _peak_rss_mib(),
        "final": {name: history[name][-1] for name in LOSS_NAMES},
    }


def _run_worker(path, seed, epochs, limit, dataset: str = "fashion_mnist", architecture: str = "mlp") -> dict:
    command = [sys.executable, "-m", "vae_tf.bench", "--worker", path, "--seeds", str(seed),
               "--epochs", str(epochs), "--dataset", dataset, "--architecture", architecture]
    if limit:
        command += ["--limit", str(limit)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"benchmark worker {path} seed {seed} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def summarise(results: list[dict]) -> dict:
    """Per path: median seconds per epoch after the first, images/s, working memory, losses."""
    table = {}
    for path in PATHS:
        runs = [r for r in results if r["path"] == path]
        if not runs:
            continue
        steady = [s for r in runs for s in r["epoch_seconds"][1:]]
        seconds = statistics.median(steady)
        working = statistics.median(r["peak_rss_mib"] - r["rss_after_imports_mib"] for r in runs)
        finals = {name: [r["final"][name] for r in runs] for name in LOSS_NAMES}
        table[path] = {
            "seconds_per_epoch": seconds,
            "first_epoch_seconds": statistics.median(r["epoch_seconds"][0] for r in runs),
            "images_per_second": runs[0]["images"] / seconds,
            "working_memory_mib": working,
            "rss_after_imports_mib": statistics.median(r["rss_after_imports_mib"] for r in runs),
            "final": {name: {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0,
                             "per_seed": v} for name, v in finals.items()},
        }
    return table


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work)


MODES = ("phases", "cache", "workers", "step", "paths")


def build_parser():
    parser = cli.parser("python -m vae_tf.bench",
                        "Benchmarks, each run in its own process: `phases` (default) times the default training run "
                        "phase by phase and measures two floors; `cache` compares a cold, a warm and an uncached "
                        "run's first epoch; `workers` two workers pinned to one core each against one process; "
                        "`step` times the compiled step and its parts on a fixed batch; "
                        "`paths` the report's training path against the fast one, per epoch.")
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
    parser.add_argument("--worker", choices=PATHS, help=argparse.SUPPRESS)
    return parser


def work(args) -> int:
    if args.worker:
        print(json.dumps(worker(args.worker, args.seeds[0], args.epochs, args.limit, args.dataset,
                                args.architecture)))
        return 0

    import os

    if args.json:  # claimed before the benchmark runs, so that a bad path fails in the first second
        from vae_tf.rundir import claim_file

        claim_file(args.json, args.overwrite, "--json")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.epochs is None:
        args.epochs = 10 if args.mode == "phases" else 4
    if args.baseline and not os.path.isfile(args.baseline):
        raise cli.UsageError(f"--baseline {args.baseline}: no such file; give the path of the report's script "
                             "(e.g. report_baseline.py).")
    if args.mode != "paths":
        modes = {"phases": bench_phases, "cache": bench_cache, "workers": bench_workers, "step": bench_step}
        result = modes[args.mode](args)
        if args.json:
            from vae_tf.rundir import write_json

            write_json(args.json, result)
        return 0
    results = []
    for seed in args.seeds:
        for path in PATHS:  # interleaved, so that a change in machine load hits both paths
            print(f"bench: {args.architecture} model, {path} path, seed {seed}, {args.epochs} epochs ...", flush=True)
            results.append(_run_worker(path, seed, args.epochs, args.limit, args.dataset, args.architecture))
            print(f"bench:   epoch seconds {[round(s, 3) for s in results[-1]['epoch_seconds']]}", flush=True)
    table = summarise(results)

    gflops = measure_matmul_gflops()
    images = results[0]["images"]
    flops = results[0]["train_flops_per_image"] * images
    floor = flops / (gflops * 1e9)
    report, fast = table["report"], table["fast"]

    print()
    print(f"{'path':8} {'s/epoch':>8} {'1st epoch':>9} {'images/s':>9} {'work MiB':>9} "
          f"{'loss (mean ± std over seeds)':>30} {'recon':>17} {'kl':>15}")
    for path, row in table.items():
        final = row["final"]
        cells = [f"{final[n]['mean']:.4f} ± {final[n]['std']:.4f}" for n in LOSS_NAMES]
        print(f"{path:8} {row['seconds_per_epoch']:8.3f} {row['first_epoch_seconds']:9.2f} "
              f"{row['images_per_second']:9.0f} {row['working_memory_mib']:9.1f} {cells[0]:>30} "
              f"{cells[1]:>17} {cells[2]:>15}")
    print()
    print(f"speed-up (report / fast seconds per epoch): {report['seconds_per_epoch'] / fast['seconds_per_epoch']:.2f}x")
    print(f"working memory (fast / report): {fast['working_memory_mib'] / report['working_memory_mib']:.3f}")
    diff = fast["final"]["loss"]["mean"] - report["final"]["loss"]["mean"]
    print(f"final loss, fast - report: {diff:+.4f} (seed-to-seed std: report {report['final']['loss']['std']:.4f}, "
          f"fast {fast['final']['loss']['std']:.4f})")
    print(f"resident memory after imports: {report['rss_after_imports_mib']:.0f} MiB")
    print(f"compute floor: {flops / 1e9:.1f} GFLOP per epoch / {gflops:.1f} GFLOP/s (float32 matmul, measured) "
          f"= {floor:.3f} s per epoch; fast path at {fast['seconds_per_epoch'] / floor:.1f}x the floor")
    if args.json:
        from vae_tf.rundir import write_json

        write_json(args.json, {"paths": PATHS, "table": table, "runs": results, "matmul_gflops": gflops,
                               "flops_per_epoch": flops, "floor_seconds_per_epoch": floor})
    return 0


if __name__ == "__main__":
    sys.exit(main())
