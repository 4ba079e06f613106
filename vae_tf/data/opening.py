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
from vae_tf.data.streaming import Stream, budget_words, describe_bytes, memory_budget, refusal


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
    streamer = streamer_of(source.name)
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


def streamer_of(name: str):
    """The `Stream` class that streams the source `name` when it is larger than the budget (folder, tfds), or None."""
    if name == "folder":
        from vae_tf.data.folder_stream import FolderStream

        return FolderStream
    if name == "tfds":
        from vae_tf.data.tfds_source import TfdsStream

        return TfdsStream
    return None


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
    """The data of `run` for the commands that analyse it (plot), with memory bounded by `test_limit`.

    As `vae_tf.data.sources.load_run_data`, except for a run trained on a streamed data set
    (config.json's "data" -> "stream"): its stream is opened again (`open_run_stream`) and only the
    first `test_limit` test images (all: None) are read, with the labels, and the first `train_images`
    training images (`held_data`).
    """
    from vae_tf.data.sources import load_run_data

    stream = open_run_stream(run, data_dir=data_dir)
    if stream is None:
        return load_run_data(run, data_dir=data_dir, test_limit=test_limit)
    return held_data(stream, test_limit, train_images)


def check_whole_fits(run, command: str) -> None:
    """Refuse, in one line, a command that reads every image of `run`'s data into memory when the run was trained
    streamed and its images need more than its --data-memory (rather than being killed for lack of memory).

    Raises:
      DataError: naming the run, the command, what its images need and the budget.
    """
    record = run.config.get("data") or {}
    stream = record.get("stream") or {}
    if not stream.get("streamed"):
        return
    data_memory = run.settings.get("data_memory")
    need = ((stream.get("train_images", 0) + stream.get("test_images", 0)) * int(np.prod(record["image_shape"]))
            * np.dtype(record.get("dtype", "uint8")).itemsize)
    if need > memory_budget(data_memory):
        raise DataError(f"{run.path}: {command} reads every image of the run's data into memory, "
                        f"{describe_bytes(need)}, more than {budget_words(data_memory)} it streamed under; "
                        f"use {command} on a run trained on data that fits (e.g. --limit N), or "
                        "evaluate, encode and score, which stream.")


def open_run_stream(run, dataset: str | None = None, *, data_dir=None) -> Stream | None:
    """The `Stream` of the images a command that uses the trained `run` reads, or None when they are read whole.

    Args:
      run: a `vae_tf.rundir.Run`.
      dataset: a `--dataset` value, or None for the run's own data.
      data_dir: as `open_data`.

    Returns:
      `dataset=None`: the run's own data streamed, if it was trained streamed (config.json's "data" ->
      "stream") and still needs it; else `dataset` streamed if it streams (`shards:`, or a `folder:`/`tfds:`
      larger than the run's --data-memory, read in the run's image size and colour); None otherwise
      (`vae_tf.data.sources.load_run_data` / `load_data_for_run` read it whole).

    Raises:
      DataError: the stream's images are not of the run's shape (both named).
    """
    from vae_tf.data.sources import FASHION_MNIST_SHAPE, parse, reread, run_spec

    settings = dict(run.settings)
    if dataset is None:
        record = run.config.get("data") or {}
        if not (record.get("stream") or {}).get("streamed"):
            return None
        settings["dataset"] = reread(record.get("name"), record.get("path")) or settings.get("dataset")
        stream = open_config_data(settings, data_dir=data_dir, download=False)
        shape, where = tuple(record["image_shape"]), f"{run.path}: trained on {record['source']} images"
        fix = "restore the run's data"
    else:
        source, argument = parse(dataset)
        spec = run_spec(run)
        shape = tuple(spec.image_shape) if spec is not None else FASHION_MNIST_SHAPE
        options = {"data_dir": data_dir, "image_size": None, "color": None, "test_fraction": 0.1}
        if source.name == "folder":
            options.update(image_size=shape[:2], color="rgb" if shape[2] == 3 else "grayscale")
        streamer = streamer_of(source.name)
        if source.name != "shards" and (streamer is None or
                                        streamer.need(argument, options) <= memory_budget(settings.get("data_memory"))):
            return None
        stream = open_data(dataset, **options, data_memory=settings.get("data_memory"), download=False)
        where, fix = f"{dataset}: {run.path} was trained on images", "give images of the run's shape"
    if not isinstance(stream, Stream):  # it fits the budget now: read whole, as any source
        return None
    if tuple(stream.spec.image_shape) != shape:
        raise DataError(f"{where} of shape {shape}, but {stream.spec.source} gives {tuple(stream.spec.image_shape)}; "
                        f"{fix}.")
    return stream


def split_chunks(data, split: str, limit: int | None = None):
    """The first `limit` images of `split` (all: None) of `data`, a `Stream` or an in-memory
    `vae_tf.data.sources.Data`, as (images, labels) chunks: `Stream.chunks`' for a stream, one for data in memory."""
    if isinstance(data, Stream):
        yield from data.chunks(split, limit)
        return
    images, labels = data.split(split)
    yield images[:limit], None if labels is None else labels[:limit]


def split_count(data, split: str, limit: int | None = None) -> int:
    """How many images `split_chunks(data, split, limit)` gives."""
    count = data.counts[split] if isinstance(data, Stream) else len(data.split(split)[0])
    return count if limit is None else min(limit, count)


def image_at(stream: Stream, split: str, index: int) -> np.ndarray:
    """Image `index` of `split` of a stream (H, W, C), read chunk by chunk (one chunk held at a time)."""
    start = 0
    for images, _ in stream.chunks(split, index + 1):
        if index < start + len(images):
            return images[index - start]
        start += len(images)
    raise IndexError(f"{split} image {index}: the stream has {stream.counts[split]:,}.")
