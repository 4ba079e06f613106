"""Writing the sharded format: `python -m vae_tf.data pack SOURCE --out DIR` (the format: `vae_tf.data.shards`).

The source is read as training would read it (`vae_tf.data.opening.open_data`: whole if it fits
`--data-memory`, else streamed) and written a shard at a time; index.json is written last, so
that a directory without it is an unfinished pack. The command packs into a scratch folder holding
--out's lock (`vae_tf.rundir.outputs`): its shards and index.json appear together, or none does.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from vae_tf.data.opening import open_data
from vae_tf.data.shards import FORMAT, INDEX, SPLITS
from vae_tf.data.streaming import Stream, describe_bytes

SHARD_BYTES = 32 * 2**20  # --shard-size's default
PACK_SEED = 0  # the training images' order in the shards: the same for every pack


def pack(dataset: str, out, *, data_dir=None, image_size=None, color=None, test_fraction: float = 0.1,
         data_memory: str | None = None, shard_bytes: int = SHARD_BYTES, keep_order: bool = False,
         progress=print) -> dict:
    """Write the data `dataset` names as shards in `out` (an existing, claimed directory); return the index.

    The source is read as training would read it (`vae_tf.data.streaming.open_data`: whole if it
    fits `data_memory`, else streamed), a shard at a time. index.json is written last, so that a
    directory without it is an unfinished pack.
    """
    out = Path(out)
    data = open_data(dataset, data_dir=data_dir, image_size=image_size, color=color, test_fraction=test_fraction,
                     data_memory=data_memory, download=True)
    streamed = isinstance(data, Stream)
    spec = data.spec
    per_shard = max(1, shard_bytes // (spec.pixels * np.dtype(spec.dtype).itemsize))
    for old in [*out.glob("*.npy"), out / INDEX]:  # a pack over an older one (--overwrite)
        old.unlink(missing_ok=True)
    digest = hashlib.sha256()
    splits = {}
    for split in SPLITS:
        count = data.counts[split] if streamed else len(data.split(split)[0])
        order = None
        if split == "train" and not keep_order:
            order = np.random.default_rng(PACK_SEED).permutation(count)
        shards = []
        for number, (images, labels) in enumerate(_pieces(data, split, per_shard, order)):
            name = f"{split}-{number:05d}"
            _save(out / f"{name}.npy", images)
            digest.update(memoryview(np.ascontiguousarray(images)).cast("B"))
            if labels is not None:
                labels = np.asarray(labels, dtype=np.int32)
                _save(out / f"{name}-labels.npy", labels)
                digest.update(labels.tobytes())
            shards.append({"file": f"{name}.npy", "labels": None if labels is None else f"{name}-labels.npy",
                           "images": len(images)})
            progress(f"wrote {out / (name + '.npy')} ({len(images):,} images, {describe_bytes(images.nbytes)})")
        splits[split] = {"images": sum(shard["images"] for shard in shards), "shards": shards,
                         "order": "the source's" if order is None else f"a fixed permutation (seed {PACK_SEED})"}
    index = {"format": FORMAT, "image_shape": list(spec.image_shape), "dtype": spec.dtype,
             "value_range": spec.value_range,
             "class_names": None if spec.class_names is None else list(spec.class_names),
             "fingerprint": digest.hexdigest()[:16], "splits": splits, "source": spec.to_dict()}
    temporary = out / f".{INDEX}.tmp"
    temporary.write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, out / INDEX)
    return index


def _pieces(data, split: str, per_shard: int, order):
    """(images, labels) of `split`, `per_shard` at a time, in `order` (None: the stored order)."""
    if not isinstance(data, Stream):
        images, labels = data.split(split)
        order = np.arange(len(images)) if order is None else order
        for start in range(0, len(order), per_shard):
            rows = order[start:start + per_shard]
            yield images[rows], None if labels is None else labels[rows]
        return
    if order is not None and hasattr(data, "reordered"):
        data = data.reordered(split, order)
    yield from data.chunks(split, size=per_shard)


def _save(path: Path, array: np.ndarray) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array))
    os.replace(temporary, path)
