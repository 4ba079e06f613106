"""`python -m vae_tf.bench workers`: two workers pinned to a core each against one process on both cores.

Each round runs `python -m vae_tf.train` once as one process on both cores and once as two
workers on localhost (`--strategy multiworker`, `taskset -c` one core each), interleaved; then
the communication floor: an epoch's gradient all-reduces alone between the same two cores
(`collective_floor`, whose workers are `all_reduce_worker` processes). See docs/speed.md and
docs/distributed.md.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time

from vae_tf.benchmarks.processes import LOSS_NAMES, failed, in_scratch, run_process, train_command
from vae_tf.core import cli


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
    code = ("import sys, json; from vae_tf.benchmarks.workers import all_reduce_worker; "
            "all_reduce_worker(*json.loads(sys.argv[1]))")
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


@in_scratch
def bench_workers(args, scratch) -> dict:
    """One process on both cores against two workers on localhost pinned to a core each, interleaved."""
    import os

    from vae_tf.rundir import read_history

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
        command = ["taskset", "-c", ",".join(map(str, cores))] + train_command(args, out)
        with open(scratch / f"one{index}.log", "w") as log:
            result = run_process(command, env={"TF_CONFIG": ""}, log=log)
        if result["returncode"]:
            raise failed(f"the one-process run ({' '.join(command)})", scratch / f"one{index}.log")
        one.append({**epoch_stats(out), "wall": result["seconds"]})
        print(f"bench: one process: {one[-1]['seconds_per_epoch']:.3f} s per epoch, loss "
              f"{one[-1]['final']['loss']:.4f}", flush=True)

        addresses = free_local_addresses(2)
        processes = []
        for task in range(2):
            tf_config = json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": task}})
            command = ["taskset", "-c", str(cores[task])] + train_command(args, scratch / f"two{index}-{task}") + [
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
            task = next(task for task, code in enumerate(codes) if code)
            raise failed(f"worker {task} of the two", scratch / f"two{index}-{task}.log")
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
