"""`python -m vae_tf.bench data`: reading and training on a data set in memory, streamed from a folder, and from shards.

It writes a synthetic folder of `--images` RGB PNG files of `--size H W` (smooth random
patterns in 4 class sub-folders) and packs it into shards (`python -m vae_tf.data pack`), then,
for each way of reading it:

- **reading alone**: images per second of one pass over the training images, in this process (the
  in-memory path: the loader reading the folder whole with Pillow; the folder stream and the shards:
  one epoch of their `tf.data` pipeline, shuffled as training shuffles it);
- **training**: `python -m vae_tf.train` in its own process (`--epochs`, default 3): the median
  seconds per epoch after the first (which pays for tracing), images per second, and the process's
  peak resident memory (os.wait4), interleaved over `--runs`.

The in-memory path runs with a `--data-memory` the images fit in; the folder stream with one they do
not (1K); the shards always stream. `--images 200000 --size 64 64` is the 2.4 GB case of issue 30.
"""

from __future__ import annotations

import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vae_tf.benchmarks.processes import run_process

CLASSES = 4
WAYS = {  # name: (--dataset form, --data-memory)
    "in-memory": ("folder:{folder}", "64G"),
    "folder stream": ("folder:{folder}", "1K"),
    "shards": ("shards:{shards}", None),
}


def write_folder(folder: Path, images: int, size, seed: int = 0) -> None:
    """`images` RGB PNG files of `size` (H, W) in CLASSES sub-folders: smooth random patterns (8 x 8, upscaled)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    height, width = size
    for label in range(CLASSES):
        (folder / f"class{label}").mkdir(parents=True, exist_ok=True)
    for number in range(images):
        low = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
        path = folder / f"class{number % CLASSES}" / f"{number}.png"
        low.resize((width, height), Image.Resampling.BILINEAR).save(path)


def reading_rate(dataset: str, data_memory: str | None) -> tuple[float, int]:
    """(images per second, images) of one pass over `dataset`'s training images, as training reads them."""
    from vae_tf.data.opening import open_data
    from vae_tf.data.streaming import Stream

    started = time.perf_counter()
    data = open_data(dataset, data_memory=data_memory)
    if isinstance(data, Stream):
        count = sum(len(block) for block in data.epoch_blocks("train", 0, 0).as_numpy_iterator())
    else:
        count = len(data.x_train)
    return count / (time.perf_counter() - started), count


def training(dataset: str, data_memory: str | None, epochs: int, out: Path) -> dict:
    """One `python -m vae_tf.train` run: seconds per epoch (median after the first), peak memory."""
    command = [sys.executable, "-m", "vae_tf.train", "--dataset", dataset, "--epochs", str(epochs), "--out", str(out),
               "--overwrite", "--verbose", "0"]
    command += ["--data-memory", data_memory] if data_memory else []
    result = run_process(command)
    if result["returncode"] != 0:
        raise RuntimeError(f"training on {dataset} failed (exit {result['returncode']})")
    with open(out / "history.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {"epoch_seconds": [float(row["seconds"]) for row in rows], "peak_rss_mib": result["peak_rss_mib"],
            "final_loss": float(rows[-1]["loss"])}


def bench_data(args) -> dict:
    """The three ways, reading alone and training; returns what `--json` writes."""
    from vae_tf.data.packing import pack
    from vae_tf.data.streaming import describe_bytes

    height, width = args.size
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="vae_tf-bench-data-"))
    folder, shards = work / "folder", work / "shards"
    size = args.images * height * width * 3
    print(f"bench data: {args.images:,} RGB images of {height} x {width} ({describe_bytes(size)} as uint8) in {work}",
          flush=True)
    if not folder.is_dir():
        started = time.perf_counter()
        write_folder(folder, args.images, (height, width))
        print(f"bench:   wrote the folder in {time.perf_counter() - started:.1f} s", flush=True)
    if not (shards / "index.json").is_file():
        shards.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        pack(f"folder:{folder}", shards, data_memory="1K", progress=lambda line: None)
        print(f"bench:   packed the shards in {time.perf_counter() - started:.1f} s", flush=True)
    datasets = {way: (form.format(folder=folder, shards=shards), memory) for way, (form, memory) in WAYS.items()}

    results = {way: {"reading": [], "runs": []} for way in WAYS}
    for run in range(args.runs):
        for way, (dataset, memory) in datasets.items():  # interleaved: a change in load hits every way
            results[way]["reading"].append(reading_rate(dataset, memory)[0])
            results[way]["runs"].append(training(dataset, memory, args.epochs, work / f"run-{way.replace(' ', '-')}"))
            print(f"bench:   {way}, run {run + 1}: reading {results[way]['reading'][-1]:,.0f} images/s, epochs "
                  f"{[round(s, 2) for s in results[way]['runs'][-1]['epoch_seconds']]} s", flush=True)

    table = {}
    train_images = round(args.images * 0.9)  # the folder's fixed split holds out --test-fraction 0.1
    for way, found in results.items():
        seconds = statistics.median(s for run in found["runs"] for s in run["epoch_seconds"][1:])
        table[way] = {"reading_images_per_second": statistics.median(found["reading"]),
                      "seconds_per_epoch": seconds, "training_images_per_second": train_images / seconds,
                      "peak_rss_mib": statistics.median(run["peak_rss_mib"] for run in found["runs"]),
                      "final_loss": statistics.median(run["final_loss"] for run in found["runs"])}
    print()
    print(f"{'way':14} {'reading images/s':>16} {'s/epoch':>8} {'train images/s':>14} {'peak MiB':>9} {'loss':>9}")
    for way, row in table.items():
        print(f"{way:14} {row['reading_images_per_second']:16,.0f} {row['seconds_per_epoch']:8.2f} "
              f"{row['training_images_per_second']:14,.0f} {row['peak_rss_mib']:9.0f} {row['final_loss']:9.3f}")
    base = table["in-memory"]["training_images_per_second"]
    for way in ("folder stream", "shards"):
        print(f"{way} / in-memory training images/s: {table[way]['training_images_per_second'] / base:.2f}")
    return {"images": args.images, "size": [height, width], "bytes": size, "epochs": args.epochs, "table": table,
            "runs": results}
