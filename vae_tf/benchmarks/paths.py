"""`python -m vae_tf.bench paths`: the report's training path against the fast one, per epoch.

Each (path, seed) trains in its own subprocess (`python -m vae_tf.bench --worker PATH`, which
calls `worker`), so that memory is measured cleanly: working memory = peak resident memory -
resident memory right after importing TensorFlow, Keras, TFP and vae_tf. Seconds per epoch are
the median over the epochs after the first (which pays for tracing and XLA compilation). The
compute floor is the arithmetic of one epoch divided by the float32 matmul throughput measured
here, on the same machine, in the same run. See docs/performance.md.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from vae_tf.benchmarks.floors import measure_matmul_gflops
from vae_tf.benchmarks.processes import LOSS_NAMES, failed
from vae_tf.models import architectures

PATHS = {
    "report": "the report's way: fit on the float64 array x / 255., one step per call, no XLA",
    "fast": "vae_tf's default: uint8 in the graph, stateless per-epoch shuffling, XLA, several steps per call",
}


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _peak_rss_mib() -> float:
    from vae_tf.training.phases import peak_rss_mib

    return peak_rss_mib()


def worker(path: str, seed: int, epochs: int, limit: int | None, dataset: str = "fashion_mnist",
           architecture: str = "mlp") -> dict:
    """Train one model of `architecture` on one path on `dataset`; return its timings, memory, losses,
    values per image and training FLOPs per image."""
    import keras  # noqa: F401
    import tensorflow as tf  # noqa: F401
    import tensorflow_probability  # noqa: F401

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
        raise failed(f"benchmark worker {path} seed {seed}", result.stderr)
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


def bench_paths(args) -> dict:
    """Both paths for every seed of `--seeds`, interleaved: the table, the speed-up and the compute floor.

    Returns:
      what `--json` gets: the paths, the table (`summarise`), every run, and the floor.
    """
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
    return {"paths": PATHS, "table": table, "runs": results, "matmul_gflops": gflops,
            "flops_per_epoch": flops, "floor_seconds_per_epoch": floor}
