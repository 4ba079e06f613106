"""Which way a data set is read: whole into memory if it fits the budget, else streamed (`open_data`).

The rule (`vae_tf.data.streaming` holds the budget and the `Stream` form):

- `shards:DIR` always streams (`vae_tf.data.shards`);
- `folder:DIR` and `tfds:NAME` stream (`vae_tf.data.folder_stream`, `vae_tf.data.tfds_source`) when their
  images would need more than `--data-memory`, and are read whole by the loader of
  `vae_tf.data.sources`, unchanged, otherwise;
- any other source that would need more than the budget is refused in one line
  (`vae_tf.data.streaming.refusal`) before a pixel is read.
"""

from __future__ import annotations

import numpy as np

from vae_tf.core.errors import DataError
from vae_tf.data.streaming import Stream, memory_budget, refusal


def open_data(dataset: str = "fashion_mnist", *, data_dir=None, image_size=None, color=None,
              test_fraction: float = 0.1, limit: int | None = None, data_memory: str | None = None,
              download: bool = True):
    """The data `dataset` names: a `vae_tf.data.sources.Data` in memory if it fits the budget, else a `Stream`.

    Args:
      dataset, data_dir, image_size, color, test_fraction, limit, download: as `vae_tf.data.sources.load_data`.
      data_memory: the budget, e.g. "200M" (None: a quarter of the machine's memory).

    Raises:
      DataError: a source that cannot stream needs more than the budget (one line: how much, and the fix).
    """
    from vae_tf.data.sources import load_data, parse

    source, argument = parse(dataset)
    budget = memory_budget(data_memory)
    if source.name == "shards":
        from vae_tf.data.shards import ShardStream

        return ShardStream.open(argument, limit=limit, dataset=dataset)
    streamer = None
    if source.name == "folder":
        from vae_tf.data.folder_stream import FolderStream

        streamer = FolderStream
    elif source.name == "tfds":
        from vae_tf.data.tfds_source import TfdsStream

        streamer = TfdsStream
    options = {"data_dir": data_dir, "image_size": image_size, "color": color, "test_fraction": test_fraction}
    if streamer is not None:
        need = streamer.need(argument, options)
        if need > budget:
            return streamer.open(argument, options, limit=limit, dataset=dataset)
    else:
        need = in_memory_need(source.name, argument)
        if need > budget:
            raise DataError(refusal(dataset, need, data_memory))
    return load_data(dataset, data_dir=data_dir, image_size=image_size, color=color, test_fraction=test_fraction,
                     limit=limit, download=download)


def in_memory_need(name: str, argument: str | None) -> int:
    """Bytes the images of a source that cannot stream take in memory (read from the file's headers for npz:
    the stored arrays, and the float32 copy the loader makes of images that are not uint8)."""
    if name in ("fashion_mnist", "mnist"):
        return 70_000 * 28 * 28
    if name == "npz" and argument:
        from vae_tf.data.npz_chunks import npz_members

        try:
            members = npz_members(argument)
        except (OSError, ValueError, DataError):
            return 0  # unreadable: the loader says why
        return sum(int(np.prod(shape)) * (dtype.itemsize + (0 if dtype == np.uint8 else 4))
                   for name, (shape, dtype) in members.items() if name in ("x_train", "x_test"))
    return 0


def open_config_data(settings: dict, *, limit=None, data_dir=None, download: bool = True):
    """`open_data` for the settings of a `TrainConfig` (as a dict), as `load_config_data` reads them."""
    return open_data(settings.get("dataset", "fashion_mnist"),
                     data_dir=data_dir if data_dir is not None else settings.get("data_dir"),
                     image_size=settings.get("image_size"), color=settings.get("color"),
                     test_fraction=settings.get("test_fraction", 0.1),
                     limit=limit if limit is not None else settings.get("limit"),
                     data_memory=settings.get("data_memory"), download=download)


def held_data(stream, test_images: int | None = None, train_images: int = 0):
    """A `vae_tf.data.sources.Data` of what a streamed data set keeps in memory: the first `train_images`
    training images (none by default: an empty array; a bounded sample, e.g. for a PCA baseline), the
    training labels, and the first `test_images` test images (all: None) with their labels."""
    from vae_tf.data.sources import Data

    x_test = stream.head("test", stream.counts["test"] if test_images is None else test_images)
    labels = stream.labels.get("test")
    return Data(stream.head("train", min(train_images, stream.counts["train"])), stream.labels.get("train"), x_test,
                None if labels is None else labels[:len(x_test)], stream.spec)


def load_run_test_data(run, *, data_dir=None, test_limit: int | None = None, train_images: int = 0):
    """The data of `run` for the commands that analyse it (evaluate, plot), with memory bounded by the test split.

    As `vae_tf.data.sources.load_run_data`, except for a run trained on a streamed data set
    (config.json's "data" -> "stream"): its stream is opened again and only the first `test_limit`
    test images (all: None) are read, with the labels, and the first `train_images` training images
    (`held_data`).
    """
    from vae_tf.data.sources import load_run_data, reread

    record = run.config.get("data") or {}
    if not (record.get("stream") or {}).get("streamed"):
        return load_run_data(run, data_dir=data_dir, test_limit=test_limit)
    settings = dict(run.settings)
    settings["dataset"] = reread(record.get("name"), record.get("path")) or settings.get("dataset")
    stream = open_config_data(settings, data_dir=data_dir, download=False)
    if not isinstance(stream, Stream):  # it fits the budget now: read whole, as any source
        return load_run_data(run, data_dir=data_dir, test_limit=test_limit)
    if tuple(stream.spec.image_shape) != tuple(record["image_shape"]):
        raise DataError(f"{run.path}: trained on {record['source']} images of shape {tuple(record['image_shape'])}, "
                        f"but {stream.spec.source} now gives {stream.spec.image_shape}; restore the run's data.")
    return held_data(stream, test_limit, train_images)
