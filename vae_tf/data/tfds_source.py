"""`--dataset tfds:NAME[:SPLIT]`: a TensorFlow Datasets data set, prepared in `--data-dir` as TFDS lays it out.

Nothing is downloaded: the data set must already be prepared under DATA_DIR/NAME/VERSION/ (by
`tfds.builder(NAME, data_dir=DATA_DIR).download_and_prepare()`, `tfds build`, or a copy of such a
directory); TFDS reads it from its files, its builder code need not be installed. SPLIT (default
`train`) is the training split; the test split is `test`. The images are the `image` feature
(uint8, a fixed shape H x W x C, C = 1 or 3), the labels the `label` feature if there is one
(its names are the class names).

Read whole (`read_arrays`) when the images fit `--data-memory`, else streamed (`TfdsStream`): TFDS'
own `tf.data` pipeline, each epoch shuffled through a buffer of about 32 MiB of images, seeded by
(seed, epoch); the buffer bounds both the memory and how far an image can move.
"""

from __future__ import annotations

import hashlib

import numpy as np

from vae_tf.core.errors import DataError, DataNotFoundError
from vae_tf.data.spec import DataSpec
from vae_tf.data.streaming import Stream, describe_bytes

TEST_SPLIT = "test"
SHUFFLE_BYTES = 32 * 2**20  # the streamed epoch's shuffle buffer: about this many bytes of images


def builder_of(argument: str, data_dir) -> tuple:
    """(builder, training split name) of "NAME" or "NAME:SPLIT" prepared in `data_dir`.

    Raises:
      DataNotFoundError, DataError: one line naming the data set, the directory and the fix.
    """
    import tensorflow_datasets as tfds

    name, _, split = argument.partition(":")
    split = split or "train"
    if not data_dir:
        raise DataError(f"--dataset tfds:{argument}: give --data-dir, the directory TFDS prepared {name} in "
                        "(nothing is downloaded).")
    try:
        builder = tfds.builder(name, data_dir=str(data_dir), try_gcs=False)
        info = builder.info
        if not builder.is_prepared():
            raise FileNotFoundError(f"nothing prepared in {builder.data_dir}")
    except Exception as error:  # TFDS raises several kinds for a name or directory it cannot use
        raise DataNotFoundError(f"--dataset tfds:{argument}: no prepared data set {name!r} in {data_dir} "
                                f"({type(error).__name__}: {str(error).splitlines()[0][:160]}); prepare it there "
                                "with tfds.builder(NAME, data_dir=DIR).download_and_prepare().") from None
    for wanted in (split, TEST_SPLIT):
        if wanted not in info.splits:
            raise DataError(f"--dataset tfds:{argument}: {name} has no split {wanted!r} (it has "
                            f"{', '.join(sorted(info.splits))}); give NAME:SPLIT with one of them.")
    shape = tuple(info.features["image"].shape) if "image" in info.features else ()
    if len(shape) != 3 or None in shape or shape[-1] not in (1, 3):
        raise DataError(f"--dataset tfds:{argument}: {name}'s 'image' feature has shape {shape or 'none'}; the "
                        "images must have one shape H x W x C with C = 1 or 3.")
    return builder, split


def _class_names(builder):
    label = builder.info.features["label"] if "label" in builder.info.features else None
    return None if label is None or not hasattr(label, "names") else tuple(label.names)


def _splits(builder, split: str) -> dict:
    return {"train": split, "test": TEST_SPLIT}


def need(argument: str, options: dict) -> int:
    builder, split = builder_of(argument, options.get("data_dir"))
    shape = builder.info.features["image"].shape
    return sum(builder.info.splits[name].num_examples for name in (split, TEST_SPLIT)) * int(np.prod(shape))


def read_arrays(argument: str, options: dict) -> dict:
    """Both splits read whole: the fields of `vae_tf.data.sources.Arrays`."""
    import tensorflow_datasets as tfds

    builder, split = builder_of(argument, options.get("data_dir"))
    found = {}
    for role, name in _splits(builder, split).items():
        arrays = tfds.as_numpy(builder.as_dataset(split=name, batch_size=-1, shuffle_files=False))
        found[f"x_{role}"] = arrays["image"]
        found[f"y_{role}"] = arrays["label"].astype(np.int32) if "label" in arrays else None
    # No path: a run reads its tfds data again from its settings (--dataset and --data-dir), not from a path.
    return {**found, "class_names": _class_names(builder), "path": None, "found": "tfds"}


class TfdsStream(Stream):
    """A TFDS data set streamed by its own `tf.data` pipeline (see the module docstring)."""

    def __init__(self, builder, split: str, limit: int | None, dataset: str):
        import tensorflow_datasets as tfds

        self.builder, self.names = builder, _splits(builder, split)
        info = builder.info
        shape = tuple(int(size) for size in info.features["image"].shape)
        totals = {role: info.splits[name].num_examples for role, name in self.names.items()}
        self.counts = {"train": min(limit or totals["train"], totals["train"]), "test": totals["test"]}
        self.labels = {}
        for role, name in self.names.items():  # the labels alone: 4 bytes an image
            if "label" not in info.features:
                self.labels[role] = None
                continue
            labels = builder.as_dataset(split=name, shuffle_files=False).map(lambda item: item["label"])
            self.labels[role] = np.concatenate(list(tfds.as_numpy(labels.take(self.counts[role]).batch(65536))))
        self.buffer = max(1, SHUFFLE_BYTES // int(np.prod(shape)))
        digest = hashlib.sha256(f"{info.full_name}:{totals}".encode())
        self.spec = DataSpec(source=dataset, name="tfds", image_shape=shape, class_names=_class_names(builder),
                             dtype="uint8", value_range="uint8 0..255, scaled by 1/255 in the model",
                             path=None, found="tfds", fingerprint=digest.hexdigest()[:16],
                             train_images=totals["train"], test_images=totals["test"],
                             options={"tfds": info.full_name, "data_dir": str(builder.data_dir)})
        self.shuffle = (f"per epoch: TFDS' records in their stored order through a shuffle buffer of {self.buffer:,} "
                        f"images ({describe_bytes(self.buffer * int(np.prod(shape)))}), seeded by (seed, epoch)")

    @classmethod
    def need(cls, argument: str, options: dict) -> int:
        return need(argument, options)

    @classmethod
    def open(cls, argument: str, options: dict, limit: int | None = None, dataset: str | None = None):
        builder, split = builder_of(argument, options.get("data_dir"))
        return cls(builder, split, limit, dataset or f"tfds:{argument}")

    def epoch_blocks(self, split: str, seed: int | None, epoch: int = 0):
        import tensorflow as tf

        images = self.builder.as_dataset(split=self.names[split], shuffle_files=False).take(self.counts[split])
        images = images.map(lambda item: item["image"], num_parallel_calls=tf.data.AUTOTUNE)
        if seed is not None:
            mixed = int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
            images = images.shuffle(self.buffer, seed=mixed, reshuffle_each_iteration=False)
        return images.batch(256).prefetch(2)
