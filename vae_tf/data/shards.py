"""The sharded format: a data set written once as NumPy array shards, streamed many times (`--dataset shards:DIR`).

`python -m vae_tf.data pack SOURCE --out DIR` (`pack`) writes DIR/:

    index.json                 the format, image shape, class names, every shard's file and image count,
                               the fingerprint of the shards, and the source's own `DataSpec` ("source")
    train-00000.npy ...        images (n, H, W, C), uint8 (float32 in [0, 1] if the loader holds the source so), about
                               --shard-size bytes each
    train-00000-labels.npy     int32 labels (n,), when the source has labels
    test-00000.npy ...         the test split, likewise

The training images are written in a fixed permutation (seed 0) of the source's order, so that
each shard holds a mix of the classes (a folder lists its images class by class); `keep_order`
writes them as the source has them. The test images keep the source's order.

`ShardStream` reads them with `tf.data`: each epoch visits the shards in a permutation drawn from
(seed, epoch), and each shard's images in a permutation drawn from (seed, epoch, shard): the
shuffle's memory is one shard, its randomness a full permutation within each shard and of the
shards' order (two images of one shard always land in the same stretch of an epoch). With one
shard this is exactly the in-memory path's per-epoch permutation. Shards are loaded two at a time,
in parallel, and prefetched, so memory holds a few shards, whatever the data set's size. Under a
cluster each worker reads its own stretch of that order (`epoch_blocks(..., rows=...)`): the shards
inside it, and only its rows of a shard it shares with the next worker.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vae_tf.core.errors import DataError, DataNotFoundError
from vae_tf.data.spec import DataSpec
from vae_tf.data.streaming import Stream, describe_bytes

INDEX = "index.json"
FORMAT = "vae_tf shards 1"
SPLITS = ("train", "test")


def read_index(directory) -> tuple[Path, dict]:
    """The shards directory (absolute) and its checked index.json.

    Raises:
      DataNotFoundError, DataError: no such directory or index, or an index of another format.
    """
    root = Path(directory).expanduser().resolve()
    path = root / INDEX
    if not path.is_file():
        raise DataNotFoundError(f"--dataset shards:{directory}: no {INDEX} in {root}; write the shards with "
                                f"python -m vae_tf.data pack SOURCE --out {directory}.")
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
        if index.get("format") != FORMAT:
            raise ValueError(f"format {index.get('format')!r}, not {FORMAT!r}")
        for split in SPLITS:
            for shard in index["splits"][split]["shards"]:
                if not (root / shard["file"]).is_file():
                    raise ValueError(f"its shard {shard['file']} is missing")
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(f"{path} is no usable shards index ({error}); pack the source again.") from None
    return root, index


def read_arrays(directory: str, options: dict) -> dict:
    """Every shard read into memory: the fields of `vae_tf.data.sources.Arrays` (for `load_data("shards:DIR")`)."""
    root, index = read_index(directory)
    found = {}
    for split in SPLITS:
        shards = index["splits"][split]["shards"]
        found[f"x_{split}"] = np.concatenate([np.load(root / shard["file"]) for shard in shards])
        found[f"y_{split}"] = (np.concatenate([np.load(root / shard["labels"]) for shard in shards])
                               if shards and shards[0]["labels"] else None)
    names = index.get("class_names")
    return {**found, "class_names": None if names is None else tuple(names), "path": str(root), "found": "shards",
            "fingerprint": index["fingerprint"]}


class ShardStream(Stream):
    """A shards directory streamed with `tf.data` (see the module docstring for the order of an epoch)."""

    def __init__(self, root: Path, index: dict, spec: DataSpec, shards: dict, labels: dict):
        self.root, self.index, self.spec, self.shards, self.labels = root, index, spec, shards, labels
        self.counts = {split: sum(count for _, count in shards[split]) for split in SPLITS}
        self.shuffle = ("per epoch: a permutation of the shards' order and a full permutation of each shard's "
                        f"images, drawn from (seed, epoch); shards of about {describe_bytes(self.shard_bytes())}")

    @classmethod
    def open(cls, directory: str, limit: int | None = None, dataset: str | None = None) -> ShardStream:
        """The shards in `directory`, the training split cut to its first `limit` images (in the stored order)."""
        root, index = read_index(directory)
        shards, labels = {}, {}
        for split in SPLITS:
            keep = limit if split == "train" else None
            chosen, parts = [], []
            for shard in index["splits"][split]["shards"]:
                count = shard["images"] if keep is None else min(shard["images"], keep - sum(c for _, c in chosen))
                if count <= 0:
                    break
                chosen.append((str(root / shard["file"]), count))
                if shard["labels"]:
                    parts.append(np.load(root / shard["labels"])[:count])
            shards[split], labels[split] = chosen, np.concatenate(parts) if parts else None
        names = index.get("class_names")
        source = index["source"]
        spec = DataSpec(source=dataset or f"shards:{directory}", name="shards",
                        image_shape=tuple(index["image_shape"]), class_names=None if names is None else tuple(names),
                        dtype=index.get("dtype", "uint8"), value_range=index.get("value_range", "uint8 0..255"),
                        path=str(root),
                        found="shards", fingerprint=index["fingerprint"],
                        train_images=index["splits"]["train"]["images"], test_images=index["splits"]["test"]["images"],
                        options={"packed_from": source.get("source"), "source_fingerprint": source.get("fingerprint")})
        return cls(root, index, spec, shards, labels)

    def shard_bytes(self) -> int:
        return (max((count for shards in self.shards.values() for _, count in shards), default=0) * self.spec.pixels
                * np.dtype(self.spec.dtype).itemsize)

    def epoch_parts(self, split: str, seed: int | None, epoch: int = 0, rows: tuple[int, int] | None = None) -> list:
        """The shards an epoch reads, in its order: (shard number, path, images, first, end) each, where
        first .. end - 1 are the positions it keeps of the shard's own permutation (all of it but at the
        ends of `rows`). The shards' order is drawn from (seed, epoch), the same for every worker."""
        import tensorflow as tf

        shards = self.shards[split]
        order = np.arange(len(shards))
        if seed is not None:
            order = tf.random.experimental.stateless_shuffle(tf.range(len(shards)), seed=[seed, -1 - epoch]).numpy()
        start, end = rows if rows is not None else (0, self.counts[split])
        parts, before = [], 0
        for number in order:
            path, images = shards[number]
            first, last = max(start - before, 0), min(end - before, images)
            if first < last:
                parts.append((int(number), path, images, first, last))
            before += images
        return parts

    def reading(self, split: str, seed: int | None, epoch: int, rows: tuple[int, int]) -> list[str]:
        return [Path(path).name + ("" if (first, end) == (0, images) else f" [{first}:{end}]")
                for _, path, images, first, end in self.epoch_parts(split, seed, epoch, rows)]

    def epoch_blocks(self, split: str, seed: int | None, epoch: int = 0, rows: tuple[int, int] | None = None):
        import tensorflow as tf

        count = len(self.shards[split])
        parts = self.epoch_parts(split, seed, epoch, rows)
        shape = self.spec.image_shape

        def load(path, kept):  # only the kept images' rows are read (a memory map), in the kept order
            stored = np.sort(kept)
            array = np.load(path.decode(), mmap_mode="r")[stored]
            return array[np.searchsorted(stored, kept)]

        def block(number, path, images, first, end):
            within = tf.range(images)
            if seed is not None:
                within = tf.random.experimental.stateless_shuffle(
                    within, seed=tf.stack([tf.constant(seed, tf.int64), epoch * count + number]))
            array = tf.numpy_function(load, [path, within[first:end]], tf.as_dtype(self.spec.dtype), stateful=False)
            return tf.ensure_shape(array, (None, *shape))

        columns = list(zip(*parts)) or [[], [], [], [], []]
        slices = tuple(tf.constant(column, dtype) for column, dtype in
                       zip(columns, (tf.int64, tf.string, tf.int64, tf.int64, tf.int64), strict=True))
        blocks = tf.data.Dataset.from_tensor_slices(slices).map(block, num_parallel_calls=2, deterministic=True)
        return blocks.prefetch(1)

