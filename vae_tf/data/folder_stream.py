"""A folder of image files streamed through `tf.data`: `folder:DIR` when its images do not fit `--data-memory`.

The files, their classes and the train/test split are the in-memory folder source's
(`vae_tf.data.folders.list_folder`: the folder rule, DIR/train and DIR/test, or the fixed
split of `--test-fraction`); each image is decoded, converted and resized by the same Pillow code
(`_read_images`), so a streamed image has exactly the pixels the in-memory path gives it. The
reading runs inside a `tf.data` pipeline: batches of 64 file names decoded in parallel
(`num_parallel_calls=AUTOTUNE`, `deterministic=True`) and prefetched. Each epoch visits the files
in a permutation drawn from (seed, epoch): a full shuffle, whose memory is the list of file names.
Under a cluster each worker reads its own stretch of that permutation (`rows`), and no other file.

Without `--image-size` or `--color`, every file's header is read once first (size and mode), as
the in-memory path does, to know the image shape. The fingerprint is of the listing (the files'
names and sizes), not of the pixels, which are never all in memory at once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from vae_tf.core.errors import DataError
from vae_tf.core.memory import check_fits
from vae_tf.data.folders import DEFAULT_TEST_FRACTION, list_folder
from vae_tf.data.sources import _given_path, _read_images
from vae_tf.data.spec import DataSpec
from vae_tf.data.streaming import Stream

FILES_PER_READ = 64  # files decoded by one call of the pipeline's map
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def folder_split(argument: str, options: dict) -> tuple[Path, dict, dict, list[str] | None]:
    """(root, {split: [files]}, {split: int labels}, class names) of a folder source, as `read_folder` splits it
    (`vae_tf.data.folders.list_folder`: the folder rule, one place)."""
    root = _given_path("folder", argument, "directory")
    pairs, is_test, names = list_folder(root, options.get("test_fraction", DEFAULT_TEST_FRACTION))
    rows = {"train": np.flatnonzero(~is_test), "test": np.flatnonzero(is_test)}
    files = {split: [pairs[i][0] for i in chosen] for split, chosen in rows.items()}
    labels = {split: None if names is None else np.array([pairs[i][1] for i in chosen], dtype=np.int32)
              for split, chosen in rows.items()}
    return root, files, labels, names


def image_shape_of(root: Path, files: list[Path], image_size, color) -> tuple[tuple[int, int, int], str]:
    """((H, W, C), color) the folder's images take: from the flags, else from every file's header."""
    from PIL import Image

    sizes, modes = {}, set()
    if image_size is None or color is None:
        for path in files:
            try:
                with Image.open(path) as image:
                    sizes.setdefault(image.size, path)
                    modes.add(image.mode)
            except Exception as error:  # Pillow raises several kinds for a file that is not an image
                raise DataError(f"{path} is not a readable image ({type(error).__name__}: {error}); "
                                "delete or replace it.") from None
    if color is None:
        color = "grayscale" if modes <= set(GREY_MODES) else "rgb"
    if image_size is None:
        if len(sizes) > 1:
            (size_a, file_a), (size_b, file_b) = list(sizes.items())[:2]
            raise DataError(f"images of different sizes in {root}: {file_a} is {size_a[0]}x{size_a[1]}, {file_b} is "
                            f"{size_b[0]}x{size_b[1]} (width x height); give --image-size H W to resize them all.")
        (width, height), = sizes
        image_size = (height, width)
    return (int(image_size[0]), int(image_size[1]), 1 if color == "grayscale" else 3), color


class FolderStream(Stream):
    """A folder source read file by file in a `tf.data` pipeline (see the module docstring)."""

    _listings: dict = {}  # (argument, options) -> what `_listed` found: `need` then `open` list the folder once

    def __init__(self, root, files, labels, names, shape, color, options, dataset):
        self.root, self.files, self.labels, self.color = root, files, labels, color
        self.image_size = shape[:2]
        self.counts = {split: len(paths) for split, paths in files.items()}
        digest = hashlib.sha256()
        for split in ("train", "test"):
            for path in files[split]:
                digest.update(f"{split}/{path.relative_to(root).as_posix()}:{path.stat().st_size}\n".encode())
        self.spec = DataSpec(
            source=dataset, name="folder", image_shape=shape, class_names=None if names is None else tuple(names),
            dtype="uint8", value_range="uint8 0..255, scaled by 1/255 in the model", path=str(root.resolve()),
            found="folder", fingerprint=digest.hexdigest()[:16], train_images=self.counts["train"],
            test_images=self.counts["test"],
            options={"image_size": list(options["image_size"]) if options.get("image_size") else None,
                     "color": options.get("color"), "test_fraction": options.get("test_fraction", 0.1)})
        self.shuffle = "per epoch: a full permutation of the training files, drawn from (seed, epoch)"

    @classmethod
    def _listed(cls, argument: str, options: dict):
        key = (argument, repr(sorted(options.items())))
        if key not in cls._listings:
            root, files, labels, names = folder_split(argument, options)
            shape, color = image_shape_of(root, files["train"] + files["test"], options.get("image_size"),
                                          options.get("color"))
            cls._listings.clear()  # one listing kept: a folder of a million files has a large one
            cls._listings[key] = (root, files, labels, names, shape, color)
        return cls._listings[key]

    @classmethod
    def need(cls, argument: str, options: dict) -> int:
        """Bytes the folder's images take as uint8 arrays in memory (the in-memory path's)."""
        _, files, _, _, shape, _ = cls._listed(argument, options)
        return (len(files["train"]) + len(files["test"])) * int(np.prod(shape))

    @classmethod
    def open(cls, argument: str, options: dict, limit: int | None = None, dataset: str | None = None):
        root, files, labels, names, shape, color = cls._listed(argument, options)
        if options.get("image_size"):  # one read's images, decoded and resized (held twice): refused up front
            held = min(FILES_PER_READ, len(files["train"]) + len(files["test"]))
            check_fits(2 * held * int(np.prod(shape)), f"--image-size {shape[0]} {shape[1]} ({held:,} images)",
                       "choose a smaller one", DataError)
        stream = cls(root, files, labels, names, shape, color, options, dataset or f"folder:{argument}")
        return stream.reordered("train", np.arange(min(limit or len(files["train"]), len(files["train"]))))

    def reordered(self, split: str, order) -> FolderStream:
        """This stream with `split`'s files (and labels) taken in `order` (indices; a prefix cuts it)."""
        copy = object.__new__(FolderStream)
        copy.__dict__.update(self.__dict__)
        copy.files = {**self.files, split: [self.files[split][i] for i in order]}
        copy.labels = {**self.labels, split: None if self.labels[split] is None else self.labels[split][order]}
        copy.counts = {**self.counts, split: len(order)}
        return copy

    def reading(self, split: str, seed: int | None, epoch: int, rows: tuple[int, int]) -> list[str]:
        return [f"files {rows[0]:,} .. {rows[1] - 1:,} of the epoch's permutation of {self.counts[split]:,}"]

    def epoch_blocks(self, split: str, seed: int | None, epoch: int = 0, rows: tuple[int, int] | None = None):
        import tensorflow as tf

        paths = np.array([str(path) for path in self.files[split]])
        if seed is not None:
            paths = paths[tf.random.experimental.stateless_shuffle(tf.range(len(paths)), seed=[seed, epoch]).numpy()]
        if rows is not None:  # a worker's stretch of the epoch's permutation: only its files are read
            paths = paths[rows[0]:rows[1]]
        root, size, color = self.root, self.image_size, self.color

        def read(names):
            return _read_images([(Path(name.decode()), 0) for name in names], size, color, root)

        def decode(names):
            block = tf.numpy_function(read, [names], tf.uint8, stateful=False)
            return tf.ensure_shape(block, (None, *self.spec.image_shape))

        return (tf.data.Dataset.from_tensor_slices(paths).batch(FILES_PER_READ)
                .map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2))
