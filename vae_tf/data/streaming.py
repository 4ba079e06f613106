"""Data bigger than memory: the memory budget, the streamed sources' common form, and the choice to stream.

`--data-memory SIZE` (e.g. `200M`, `4G`; default: a quarter of the machine's memory, or of its
cgroup's limit if lower) is how much the images may take when a source is read whole into memory.
`open_data` decides, before reading any pixel:

- `shards:DIR` (`vae_tf.data.shards`) always streams;
- `folder:DIR` and `tfds:NAME` stream (`vae_tf.data.folder_stream`, `vae_tf.data.tfds_source`) when their
  images would need more than the budget, and are read whole (the loader of `vae_tf.data.sources`,
  unchanged) otherwise;
- any other source (npz, the IDX collections, digits) that would need more than the budget is refused
  in one line saying how much it needs and how to stream it instead (`python -m vae_tf.data pack`).

A `Stream` gives what training and the analysis commands need without holding the images: each
epoch's images as a `tf.data` pipeline of blocks (`epoch_blocks`), the images in order in chunks
of bounded size (`chunks`), the first few (`head`) and the labels (small: 4 bytes an image).
"""

from __future__ import annotations

import os
import re

import numpy as np

from vae_tf.core.errors import DataError
from vae_tf.data.spec import DataSpec

UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
CHUNK_BYTES = 4 * 2**20  # `Stream.chunks`: images per chunk so that a chunk holds about this much


def parse_size(text: str, flag: str = "--data-memory") -> int:
    """Bytes of a size such as "200M", "4G", "1.5G", "512K" or "1000000" (binary units: 1M = 2**20).

    Raises:
      DataError: one line naming the flag and the form it takes.
    """
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(i?B)?\s*", str(text), flags=re.IGNORECASE)
    if not match or float(match.group(1)) <= 0:
        raise DataError(f"{flag} {text!r}: give a size such as 200M, 4G or 1.5G (bytes, K, M, G or T).")
    return int(float(match.group(1)) * UNITS[match.group(2).upper()])


def describe_bytes(count: float) -> str:
    """A size in words: "47 MiB", "2.3 GiB"."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            value = count / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{int(count)} bytes"


def machine_memory() -> int:
    """The machine's physical memory in bytes, or the memory limit of this process's own cgroup if that is
    lower (the lowest limit on its path: a container's, or a `memory.limit_in_bytes` a test sets)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit in cgroup_limits():
        total = min(total, limit)
    return total


CGROUP_ROOT = "/sys/fs/cgroup"


def cgroup_limits(root: str = CGROUP_ROOT, membership: str = "/proc/self/cgroup") -> list[int]:
    """The memory limits (bytes) on this process's cgroup path, its own and its ancestors'.

    /proc/self/cgroup names the process's cgroup: a cgroup v1 line "N:memory:/PATH" (the limit in
    ROOT/memory/PATH/memory.limit_in_bytes) or the v2 line "0::/PATH" (ROOT/PATH/memory.max, or
    ROOT/unified/PATH/memory.max on a hybrid layout). A path that is not mounted where it is named
    (a container's own view) falls back to the root's files. "max" and the v1 "unlimited" value
    (about 2**63) are no limits.
    """
    try:
        with open(membership, encoding="ascii") as handle:
            lines = handle.read().splitlines()
    except OSError:
        lines = []
    places = [(f"{root}/memory", "memory.limit_in_bytes", "/"), (root, "memory.max", "/")]
    for line in lines:
        number, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if "memory" in controllers.split(","):
            places.append((f"{root}/memory", "memory.limit_in_bytes", path))
        elif number == "0" and not controllers:
            places += [(root, "memory.max", path), (f"{root}/unified", "memory.max", path)]
    limits = []
    for mount, name, path in places:
        parts = [part for part in path.split("/") if part]
        for depth in range(len(parts) + 1):  # the cgroup and each ancestor: the lowest limit binds
            try:
                with open(os.path.join(mount, *parts[:depth], name), encoding="ascii") as handle:
                    value = handle.read().strip()
            except OSError:
                continue
            if value.isdigit() and int(value) < 2**62:
                limits.append(int(value))
    return limits


def memory_budget(data_memory: str | None = None) -> int:
    """Bytes the images may take in memory: `data_memory` parsed, or a quarter of `machine_memory()`."""
    return parse_size(data_memory) if data_memory else machine_memory() // 4


def budget_words(data_memory: str | None) -> str:
    """How messages name the budget: "--data-memory 200M" or "the default --data-memory (5.9 GiB)"."""
    if data_memory:
        return f"--data-memory {data_memory}"
    limited = min(cgroup_limits(), default=None) == machine_memory()
    whose = "this process's cgroup memory limit" if limited else "this machine's memory"
    return f"the default --data-memory ({describe_bytes(memory_budget(None))}, a quarter of {whose})"


class Stream:
    """A data set read from disk as it is used, never whole: what a subclass gives.

    Attributes:
      spec: the `DataSpec` (fingerprint: of the stored files, see the subclass).
      counts: images per split, {"train": N, "test": M} (`--limit` applied to train).
      labels: per split, int32 labels (N,) in the stream's order, or None.
      shuffle: in words, how an epoch's order is drawn (config.json records it).
    """

    spec: DataSpec
    counts: dict
    labels: dict
    shuffle: str

    def epoch_blocks(self, split: str, seed: int | None, epoch: int = 0, rows: tuple[int, int] | None = None):
        """A `tf.data.Dataset` of image blocks (n, H, W, C) of `spec.dtype`, all of `split` once: in an order
        drawn from (seed, epoch), or the stored order for `seed=None`.

        `rows` = (start, end): only the images at positions start .. end - 1 of that order (a worker's
        stretch of the epoch, `vae_tf.training.streams.worker_rows`), read without reading the others
        (but for the parts of at most two shards at the stretch's ends). None: all of them.
        """
        raise NotImplementedError

    def reading(self, split: str, seed: int | None, epoch: int, rows: tuple[int, int]) -> list[str]:
        """What `epoch_blocks(split, seed, epoch, rows)` reads, in words (config.json records a cluster's)."""
        return [f"images {rows[0]:,} .. {rows[1] - 1:,} of the epoch's order of {self.counts[split]:,}"]

    def chunks(self, split: str, limit: int | None = None, size: int | None = None):
        """The first `limit` images of `split` (all: None) in the stored order, as (images, labels) numpy
        chunks of `size` images (default: about `CHUNK_BYTES`); labels None for data without them."""
        height, width, channels = self.spec.image_shape
        size = size or max(1, CHUNK_BYTES // (height * width * channels * np.dtype(self.spec.dtype).itemsize))
        total = self.counts[split] if limit is None else min(limit, self.counts[split])
        labels, buffer, held, start = self.labels.get(split), [], 0, 0
        for block in self.epoch_blocks(split, None).as_numpy_iterator():
            block = block[:total - start - held]
            buffer.append(block)
            held += len(block)
            while held >= size or (held and start + held >= total):
                joined = np.concatenate(buffer)
                chunk, rest = joined[:size], joined[size:]
                buffer, held = ([rest] if len(rest) else []), len(rest)
                yield chunk, None if labels is None else labels[start:start + len(chunk)]
                start += len(chunk)
            if start >= total:
                return

    def head(self, split: str, count: int) -> np.ndarray:
        """The first `count` images of `split` (N, H, W, C), in the stored order."""
        parts = [images for images, _ in self.chunks(split, count)]
        return np.concatenate(parts) if parts else np.zeros((0, *self.spec.image_shape), self.spec.dtype)

    def record(self) -> dict:
        """What config.json records of the stream under "data" -> "stream"."""
        return {"streamed": True, "shuffle": self.shuffle, "train_images": self.counts["train"],
                "test_images": self.counts["test"]}


def refusal(dataset: str, need: int, data_memory: str | None) -> str:
    """The one line refusing to read `dataset` whole: what it needs, the budget, and how to stream instead."""
    return (f"--dataset {dataset}: its images need {describe_bytes(need)} in memory, more than "
            f"{budget_words(data_memory)}; stream them instead: python -m vae_tf.data pack {dataset} --out DIR, "
            "then --dataset shards:DIR (or give a larger --data-memory).")
