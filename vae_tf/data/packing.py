"""Writing the sharded format: `python -m vae_tf.data pack SOURCE --out DIR` (the format: `vae_tf.data.shards`).

The source is read as training would read it (`vae_tf.data.opening.open_data`: whole if it fits
`--data-memory`, else streamed), except an npz larger than the budget, which training refuses and
pack reads a piece at a time (`vae_tf.data.npz_chunks`); it is written a shard at a time, with
memory bounded by a shard or two whatever the source's size. index.json is written last, so that a
directory without it is an unfinished pack.

The fingerprint in index.json is of the images in the order written (train, then test), then of
the labels likewise, then of the splits' sizes: the same data gives the same fingerprint whatever
--shard-size cut it into. The command packs into a scratch folder holding
--out's lock (`vae_tf.rundir.outputs`): its shards and index.json appear together, or none does.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from vae_tf.data.npz_chunks import NpzChunks
from vae_tf.data.opening import in_memory_need, open_data
from vae_tf.data.shards import FORMAT, INDEX, SPLITS
from vae_tf.data.sources import Data
from vae_tf.data.streaming import Stream, budget_words, describe_bytes, memory_budget

SHARD_BYTES = 32 * 2**20  # --shard-size's default
PACK_SEED = 0  # the training images' order in the shards: the same for every pack


def pack(dataset: str, out, *, data_dir=None, image_size=None, color=None, test_fraction: float = 0.1,
         data_memory: str | None = None, shard_bytes: int = SHARD_BYTES, keep_order: bool = False,
         progress=print) -> dict:
    """Write the data `dataset` names as shards in `out` (an existing, claimed directory); return the index.

    The source is read as training would read it (`vae_tf.data.opening.open_data`: whole if it
    fits `data_memory`, else streamed; an npz too large a shard at a time), and written a shard at a
    time. index.json is written last, so that a directory without it is an unfinished pack.
    """
    out = Path(out)
    for old in [*out.glob("*.npy"), out / INDEX]:  # a pack over an older one (--overwrite)
        old.unlink(missing_ok=True)
    data = _open(dataset, out, data_dir=data_dir, image_size=image_size, color=color, test_fraction=test_fraction,
                 data_memory=data_memory, progress=progress)
    try:
        return _write(data, out, shard_bytes, keep_order, progress)
    finally:
        if isinstance(data, NpzChunks):
            data.close()


def _open(dataset: str, out: Path, *, data_memory, progress, **options):
    """The source as `open_data` gives it, or, for an npz too large for the budget, its `NpzChunks`."""
    from vae_tf.data.sources import parse

    source, argument = parse(dataset)
    need = in_memory_need(source.name, argument)
    if source.name == "npz" and need > memory_budget(data_memory):
        progress(f"reading {dataset} a shard at a time: its images need {describe_bytes(need)} in memory, more "
                 f"than {budget_words(data_memory)}")
        return NpzChunks(dataset, argument, out)
    return open_data(dataset, data_memory=data_memory, download=True, **options)


def _write(data, out: Path, shard_bytes: int, keep_order: bool, progress) -> dict:
    """Write `data`'s shards and index.json into `out`; return the index."""
    spec = data.spec
    per_shard = max(1, shard_bytes // (spec.pixels * np.dtype(spec.dtype).itemsize))
    images_digest, labels_digest = hashlib.sha256(), hashlib.sha256()  # every image in order, then every label
    splits = {}
    for split in SPLITS:
        count = len(data.split(split)[0]) if isinstance(data, Data) else data.counts[split]
        order = None
        if split == "train" and not keep_order:
            order = np.random.default_rng(PACK_SEED).permutation(count)
        shards = []
        for number, (images, labels) in enumerate(_pieces(data, split, per_shard, order)):
            name = f"{split}-{number:05d}"
            _save(out / f"{name}.npy", images)
            images_digest.update(memoryview(np.ascontiguousarray(images)).cast("B"))
            if labels is not None:
                labels = np.asarray(labels, dtype=np.int32)
                _save(out / f"{name}-labels.npy", labels)
                labels_digest.update(labels.tobytes())
            shards.append({"file": f"{name}.npy", "labels": None if labels is None else f"{name}-labels.npy",
                           "images": len(images)})
            progress(f"wrote {out / (name + '.npy')} ({len(images):,} images, {describe_bytes(images.nbytes)})")
        splits[split] = {"images": sum(shard["images"] for shard in shards), "shards": shards,
                         "order": "the source's" if order is None else f"a fixed permutation (seed {PACK_SEED})"}
    sizes = ",".join(f"{split}:{splits[split]['images']}" for split in SPLITS).encode()
    index = {"format": FORMAT, "image_shape": list(spec.image_shape), "dtype": spec.dtype,
             "value_range": spec.value_range,
             "class_names": None if spec.class_names is None else list(spec.class_names),
             "fingerprint": hashlib.sha256(images_digest.digest() + labels_digest.digest() + sizes).hexdigest()[:16],
             "splits": splits, "source": spec.to_dict()}
    temporary = out / f".{INDEX}.tmp"
    temporary.write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, out / INDEX)
    return index


def _pieces(data, split: str, per_shard: int, order):
    """(images, labels) of `split`, `per_shard` at a time, in `order` (None: the stored order)."""
    if isinstance(data, Stream):
        if order is not None and hasattr(data, "reordered"):
            data = data.reordered(split, order)
        yield from data.chunks(split, size=per_shard)
        return
    if isinstance(data, Data):
        images, labels = data.split(split)
    else:  # NpzChunks: a shard's rows read from the file
        images, labels = None, data.labels[split]
    count = len(images) if images is not None else data.counts[split]
    for start in range(0, count, per_shard):
        rows = slice(start, start + per_shard) if order is None else order[start:start + per_shard]
        yield (images[rows] if images is not None else data.rows(split, rows)), None if labels is None else labels[rows]


def _save(path: Path, array: np.ndarray) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array))
    os.replace(temporary, path)
