"""Where the images come from: a registry of data sources, and the one loader every command uses.

`--dataset SOURCE` (`TrainConfig.dataset`) names one of `SOURCES`:

    fashion_mnist   Fashion-MNIST, 60,000 + 10,000 greyscale 28 x 28 (the report's; the default)
    mnist           MNIST, 60,000 + 10,000 greyscale 28 x 28 (IDX files or Keras' mnist.npz, MD5-checked)
    digits          scikit-learn's 1,797 handwritten digits, 8 x 8, grey levels 0..16: the first
                    1,500 train, the last 297 test
    npz:FILE        arrays x_train, x_test (and optionally y_train, y_test, class_names); images
                    (N, H, W) or (N, H, W, C) with C = 1 or 3, uint8 0..255 or floats in [0, 1]
    folder:DIR      image files (PNG, JPEG, ...) in one sub-folder per class, or all in DIR (no
                    labels); DIR/train and DIR/test if both exist, else a fixed split (seed 0) of
                    --test-fraction; --image-size H W resizes, --color grayscale|rgb converts (the
                    rule, loose images refused: vae_tf/data/folders.py)

How values enter the model: the loader holds images as (N, H, W, C) uint8 0..255 whenever the
source's values are exactly 256 levels (IDX files, uint8 npz and image files, and float npz
arrays whose values are k/255, within 0.001/255), and as float32 in [0, 1] otherwise (digits:
v / 16, exact in float32; other float arrays). The model scales uint8 by 1/255 inside the graph
and takes float32 as it is, so it always sees [0, 1]; `DataSpec.dtype` and `value_range` record
which. Both go through the fast path (a host tensor, several steps per call, XLA for the MLP).

```python
from vae_tf.data.sources import load_data

data = load_data("digits")                   # a `Data`: x_train, y_train, x_test, y_test and its spec
assert data.x_train.shape == (1500, 8, 8, 1) and data.x_test.shape == (297, 8, 8, 1)
assert data.spec.image_shape == (8, 8, 1) and data.spec.dtype == "float32"   # grey levels v / 16, in [0, 1]
```

`load_run_data(run)` gives the data a run was trained on, checked against the fingerprint in its
config.json.

To add a source: write a function `read(argument, options) -> Arrays` and `register` it here.
Reading needs no TensorFlow (Pillow reads the folders).
"""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vae_tf.core.errors import DataError, DataNotFoundError
from vae_tf.core.memory import check_fits
from vae_tf.data.checks import check_labels, images_of, occurring_classes, stored_as
from vae_tf.data.folders import (  # noqa: F401  (IMAGE_SUFFIXES, _image_files, SPLIT_SEED: their old home)
    DEFAULT_TEST_FRACTION,
    IMAGE_SUFFIXES,
    SPLIT_SEED,
    _image_files,
    list_folder,
    split_folders,
)
from vae_tf.data.idx import FASHION_MNIST, MNIST, IdxCollection, locate, read_split
from vae_tf.data.spec import DataSpec, fingerprint

COLORS = ("grayscale", "rgb")
DIGITS_TRAIN = 1500  # digits: the first 1,500 images train, the last 297 test
FASHION_MNIST_SHAPE = (28, 28, 1)  # the image shape of a run from before data sources


@dataclass
class Arrays:
    """What a source reads: images (N, H, W, C) in their source dtype, labels or None, and provenance."""

    x_train: np.ndarray
    y_train: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    class_names: tuple[str, ...] | None
    path: str | None
    found: str
    value_range: str | None = None  # set by sources whose stored values need explaining (digits)
    train_files: tuple[str, ...] | None = None  # file sources: each image's file, relative to `path`
    test_files: tuple[str, ...] | None = None
    fingerprint: str | None = None  # a source that records its own (shards: index.json's, which its stream gives too)


@dataclass(frozen=True)
class Source:
    """One entry of the registry: `read(argument, options)` returns `Arrays`.

    Attributes:
      name: what `--dataset` starts with ("npz" for "npz:FILE").
      summary: one line for --help and the docs.
      argument: the placeholder of the part after the colon ("FILE", "DIR"), or None (no argument).
    """

    name: str
    summary: str
    argument: str | None
    read: Callable[[str | None, dict], Arrays]


SOURCES: dict[str, Source] = {}


def register(name: str, summary: str, argument: str | None = None):
    """Register the decorated `read(argument, options) -> Arrays` as the source `name`."""

    def add(read):
        SOURCES[name] = Source(name, summary, argument, read)
        return read

    return add


@dataclass
class Data:
    """A loaded data set: images (N, H, W, C), uint8 or float32 (see `spec.dtype`), labels or None.

    Attributes:
      x_train, x_test: images (N, H, W, C); `--limit` (and `test_limit`) already applied.
      y_train, y_test: int labels (N,), or None when the data has none.
      spec: the `DataSpec` (of the full data, before any limit).
      train_files, test_files: each image's file relative to `spec.path` (folder sources), else None.
    """

    x_train: np.ndarray
    y_train: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    spec: DataSpec
    train_files: tuple[str, ...] | None = None
    test_files: tuple[str, ...] | None = None

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray | None]:
        """(x, y) of "train" or "test"."""
        return (self.x_train, self.y_train) if name == "train" else (self.x_test, self.y_test)


def parse(dataset: str) -> tuple[Source, str | None]:
    """The registry entry and argument of a `--dataset` value, e.g. "npz:faces.npz" -> (npz, "faces.npz").

    Raises:
      DataError: an unknown source, or an argument missing or given where none is taken.
    """
    name, colon, argument = dataset.partition(":")
    source = SOURCES.get(name)
    if source is None:
        known = ", ".join(s.name + (f":{s.argument}" if s.argument else "") for s in SOURCES.values())
        raise DataError(f"--dataset {dataset!r}: unknown source {name!r}; choose one of {known}.")
    if source.argument and not argument:
        raise DataError(f"--dataset {dataset!r}: give the {source.argument}, e.g. --dataset {name}:{source.argument}.")
    if not source.argument and colon:
        raise DataError(f"--dataset {dataset!r}: {name} takes no argument; write --dataset {name}.")
    return source, (argument or None)


def reread(name: str | None, path: str | None) -> str | None:
    """The `--dataset` value that reads a run's data again from where training read it.

    For a source that takes a file or a folder (its registry entry has an argument) whose absolute
    path the run recorded, "name:path" (e.g. "npz:/home/me/faces.npz"); else None: the source's name,
    which the run's settings hold, says it all.
    """
    source = SOURCES.get(name or "")
    return f"{name}:{path}" if source is not None and source.argument and path else None


# --- the sources ---------------------------------------------------------------------------------

def _given_path(source: str, argument: str, kind: str, hint: str = "") -> Path:
    """The path of `--dataset SOURCE:ARGUMENT` (`~` expanded), which must be an existing `kind` ("file" or "directory").

    Raises:
      DataNotFoundError: "--dataset SOURCE:ARGUMENT: no such KIND PATH", then `hint`.
    """
    path = Path(argument).expanduser()
    if not (path.is_file() if kind == "file" else path.is_dir()):
        what = "a directory, not a file" if path.is_dir() else "a file, not a directory" if path.exists() else None
        if what:
            raise DataError(f"--dataset {source}:{argument}: {path} is {what}{hint}.")
        raise DataNotFoundError(f"--dataset {source}:{argument}: no such {kind} {path}{hint}.")
    return path


def _idx(collection: IdxCollection, options: dict) -> Arrays:
    where = locate(collection, options.get("data_dir"), download=options.get("download", True))
    x_train, y_train = read_split(where.directory, "train", collection)
    x_test, y_test = read_split(where.directory, "test", collection)
    return Arrays(x_train[..., None], y_train, x_test[..., None], y_test, collection.class_names,
                  str(Path(where.directory).resolve()), where.kind)


@register("fashion_mnist", "Fashion-MNIST, 60,000 + 10,000 greyscale 28 x 28 (the report's; --data-dir to "
          "point at its IDX files)")
def read_fashion_mnist(argument, options) -> Arrays:
    return _idx(FASHION_MNIST, options)


@register("mnist", "MNIST, 60,000 + 10,000 greyscale 28 x 28 (IDX files or Keras' mnist.npz, MD5-checked)")
def read_mnist(argument, options) -> Arrays:
    return _idx(MNIST, options)


@register("digits", "scikit-learn's 1,797 handwritten digits, 8 x 8, grey levels 0..16 (first 1,500 train, "
          "last 297 test)")
def read_digits(argument, options) -> Arrays:
    from sklearn.datasets import load_digits

    digits = load_digits()
    # 17 levels: v / 16 is exact in float32, and 255 v / 16 is not an integer, so float32 it is.
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    labels = digits.target.astype(np.uint8)
    return Arrays(images[:DIGITS_TRAIN], labels[:DIGITS_TRAIN], images[DIGITS_TRAIN:], labels[DIGITS_TRAIN:],
                  tuple(str(digit) for digit in range(10)), None, "scikit-learn",
                  "scikit-learn's grey levels 0..16, held as float32 v / 16 in [0, 1]")


@register("npz", "a NumPy .npz with x_train, x_test (optionally y_train, y_test, class_names): (N, H, W) or "
          "(N, H, W, C), uint8 or floats in [0, 1]", argument="FILE")
def read_npz(argument, options) -> Arrays:
    path = _given_path("npz", argument, "file", "; give the path of a .npz file")
    if not zipfile.is_zipfile(path):  # numpy's own message would suggest allow_pickle: not the problem
        raise DataError(f"{path} is not a .npz file (a zip archive of .npy arrays); write it with "
                        "numpy.savez(path, x_train=..., x_test=...).")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            found = {name: arrays[name] for name in arrays.files}
    except Exception as error:  # a damaged member, a pickled object: one line naming the file
        raise DataError(f"{path} is not a readable .npz file ({type(error).__name__}: {error}); "
                        "write it with numpy.savez(path, x_train=..., x_test=...).") from None
    for name in ("x_train", "x_test"):
        if name not in found:
            raise DataError(f"{path} has no array {name!r} (it has {', '.join(sorted(found)) or 'none'}); "
                            "write it with numpy.savez(path, x_train=..., x_test=...).")
    # The labels first: nothing (class names, images) is built from labels not yet checked.
    y_train = check_labels(found.get("y_train"), len(found["x_train"]), f"{path}: y_train")
    y_test = check_labels(found.get("y_test"), len(found["x_test"]), f"{path}: y_test")
    if (y_train is None) != (y_test is None):
        raise DataError(f"{path} has labels for one split only; give both y_train and y_test, or neither.")
    x_train = images_of(found["x_train"], f"{path}: x_train")
    x_test = images_of(found["x_test"], f"{path}: x_test")
    names = found.get("class_names")
    class_names = None if names is None else tuple(str(name) for name in np.asarray(names).ravel())
    if y_train is not None:
        y_train, y_test, class_names = occurring_classes(y_train, y_test, class_names, str(path))
    return Arrays(x_train, y_train, x_test, y_test, class_names, str(path.resolve()), "file")


@register("folder", "image files (PNG, JPEG, ...) in one sub-folder per class, or all in DIR (no labels); "
          "DIR/train and DIR/test if present, else a fixed split of --test-fraction; loose images beside class "
          "sub-folders are refused", argument="DIR")
def read_folder(argument, options) -> Arrays:
    root = _given_path("folder", argument, "directory")
    files, is_test, class_names = list_folder(root, options.get("test_fraction", DEFAULT_TEST_FRACTION))
    images = _read_images(files, options.get("image_size"), options.get("color"), root)
    labels = None if class_names is None else np.array([label for _, label in files], dtype=np.int32)
    names = np.array([path.relative_to(root).as_posix() for path, _ in files], dtype=object)
    return Arrays(images[~is_test], _rows(labels, ~is_test), images[is_test], _rows(labels, is_test),
                  None if class_names is None else tuple(class_names), str(root.resolve()), "folder",
                  train_files=tuple(names[~is_test]), test_files=tuple(names[is_test]))


def _read_images(files, image_size, color, root: Path) -> np.ndarray:
    """The files as one uint8 array (N, H, W, C): resized to `image_size` (H, W) and converted to `color`."""
    from PIL import Image

    def opened(path):
        try:
            image = Image.open(path)
            image.load()
            return image
        except Exception as error:  # Pillow raises several kinds for a file that is not an image
            raise DataError(f"{path} is not a readable image ({type(error).__name__}: {error}); "
                            "delete or replace it.") from None

    images = [opened(path) for path, _ in files]
    if color is None:
        grey_modes = ("1", "L", "LA", "I", "I;16", "F")
        color = "grayscale" if all(image.mode in grey_modes for image in images) else "rgb"
    if image_size is None:
        sizes = {}
        for (path, _), image in zip(files, images):
            sizes.setdefault(image.size, path)
        if len(sizes) > 1:
            (size_a, file_a), (size_b, file_b) = list(sizes.items())[:2]
            raise DataError(f"images of different sizes in {root}: {file_a} is {size_a[0]}x{size_a[1]}, {file_b} is "
                            f"{size_b[0]}x{size_b[1]} (width x height); give --image-size H W to resize them all.")
    mode = "L" if color == "grayscale" else "RGB"
    if image_size is not None:  # refused before Pillow or numpy allocate it (uint8, held twice below)
        check_fits(2 * len(images) * image_size[0] * image_size[1] * (1 if color == "grayscale" else 3), "--image-size "
                   f"{image_size[0]} {image_size[1]} ({len(images):,} images)", "choose a smaller one", DataError)
    arrays = []
    for image in images:
        if image.mode in ("I", "I;16", "F"):  # 16-bit or float greyscale: to 8 bits first
            image = image.point(lambda value: value / 256).convert("L")
        image = image.convert(mode)
        if image_size is not None:
            height, width = image_size
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        arrays.append(np.asarray(image, dtype=np.uint8))
    stacked = np.stack(arrays)
    return stacked[..., None] if stacked.ndim == 3 else stacked


@register("shards", "NumPy array shards written by python -m vae_tf.data pack, streamed (docs/data.md)",
          argument="DIR")
def read_shards(argument, options) -> Arrays:
    from vae_tf.data.shards import read_arrays  # read whole here; training streams them (vae_tf.data.streaming)
    return Arrays(**read_arrays(argument, options))


@register("tfds", "a TensorFlow Datasets data set prepared in --data-dir, NAME or NAME:SPLIT (docs/data.md)",
          argument="NAME")
def read_tfds(argument, options) -> Arrays:
    from vae_tf.data.tfds_source import read_arrays  # read whole here; larger ones stream (vae_tf.data.streaming)
    return Arrays(**read_arrays(argument, options))


# --- one loader ---------------------------------------------------------------------------------

def load_data(dataset: str = "fashion_mnist", *, data_dir=None, image_size=None, color=None,
              test_fraction: float = 0.1, limit: int | None = None, test_limit: int | None = None,
              download: bool = True) -> Data:
    """Load a data set, check it, and describe it.

    Args:
      dataset: a `--dataset` value: "fashion_mnist", "mnist", "digits", "npz:FILE", "folder:DIR".
      data_dir: where the IDX collections' files are (fashion_mnist, mnist); ignored by the others.
      image_size: (H, W) to resize a folder's images to (None: keep their size, which must be one).
      color: "grayscale" or "rgb" for a folder's images (None: what the files are).
      test_fraction: a folder without train/ and test/: the share of images held out for testing.
      limit, test_limit: keep the first N training / test images (None: all).
      download: let the IDX collections fall back to Keras' downloader.

    Returns:
      A `Data`: images (N, H, W, C) uint8 or float32, labels or None, and the `DataSpec`.

    Raises:
      DataError, DataNotFoundError: one line naming the file or value and the fix.
    """
    source, argument = parse(dataset)
    if color is not None and color not in COLORS:
        raise DataError(f"--color {color!r}: choose one of {', '.join(COLORS)}.")
    if image_size is not None:
        image_size = tuple(int(size) for size in image_size)
        if len(image_size) != 2 or min(image_size) < 1:
            raise DataError(f"--image-size {' '.join(map(str, image_size))}: give two positive sizes, H W.")
    options = {"data_dir": data_dir, "image_size": image_size, "color": color, "test_fraction": test_fraction,
               "download": download}
    arrays = source.read(argument, options)
    where = arrays.path or source.name
    check_labels(arrays.y_train, len(arrays.x_train), f"{where}: the training labels")  # every source's
    check_labels(arrays.y_test, len(arrays.x_test), f"{where}: the test labels")
    x_train, stored = stored_as(arrays.x_train, f"{where}: the training images")
    x_test, stored_test = stored_as(arrays.x_test, f"{where}: the test images")
    if x_train.dtype != x_test.dtype:  # one exact split and one not: both as float32
        x_train, x_test = (x.astype(np.float32) / (255.0 if x.dtype == np.uint8 else 1.0) for x in (x_train, x_test))
        stored = "floats in [0, 1], held as float32"
    if x_test.shape[1:] != x_train.shape[1:]:
        raise DataError(f"{where}: the test images are {_shape(x_test)} but the training images are "
                        f"{_shape(x_train)}; give both splits one shape.")
    if len(x_train) == 0 or len(x_test) == 0:
        raise DataError(f"{where}: {len(x_train)} training and {len(x_test)} test images; both splits need images.")
    options_used = {key: value for key, value in (("image_size", list(image_size) if image_size else None),
                                                  ("color", color), ("test_fraction", test_fraction))
                    if source.name == "folder"}
    own = arrays.fingerprint or fingerprint(x_train, arrays.y_train, x_test, arrays.y_test)
    spec = DataSpec(
        source=dataset, name=source.name, image_shape=tuple(int(size) for size in x_train.shape[1:]),
        class_names=arrays.class_names, dtype=str(x_train.dtype), value_range=arrays.value_range or stored,
        path=arrays.path, found=arrays.found, fingerprint=own,
        train_images=len(x_train), test_images=len(x_test), options=options_used,
    )
    return Data(x_train[:limit], _rows(arrays.y_train, slice(limit)), x_test[:test_limit],
                _rows(arrays.y_test, slice(test_limit)), spec, _rows(arrays.train_files, slice(limit)),
                _rows(arrays.test_files, slice(test_limit)))


def _rows(labels, rows):  # labels[rows], or None for data without labels
    return None if labels is None else labels[rows]


def _shape(images: np.ndarray) -> str:
    return " x ".join(str(size) for size in images.shape[1:])


def load_config_data(settings, *, limit=None, test_limit=None, data_dir=None, download: bool = True) -> Data:
    """The data a `TrainConfig` (or its dict) names, as `load_data` loads it.

    Args:
      settings: a `vae_tf.config.settings.TrainConfig` or a dict of its fields; a dict without `dataset`
        (a run from before data sources) means fashion_mnist.
      limit, test_limit: as `load_data` (the training split's default: the settings' `limit`).
      data_dir: overrides the settings' `data_dir`.
    """
    values = settings if isinstance(settings, dict) else settings.to_dict()
    return load_data(values.get("dataset", "fashion_mnist"),
                     data_dir=data_dir if data_dir is not None else values.get("data_dir"),
                     image_size=values.get("image_size"), color=values.get("color"),
                     test_fraction=values.get("test_fraction", 0.1),
                     limit=limit if limit is not None else values.get("limit"), test_limit=test_limit,
                     download=download)


def run_spec(run) -> DataSpec | None:
    """The `DataSpec` a run directory recorded, or None for a run from before data sources."""
    record = run.config.get("data") or {}
    return DataSpec.from_dict(record) if "image_shape" in record else None


def load_run_data(run, *, data_dir=None, limit=None, test_limit=None) -> Data:
    """The data `run` (a `vae_tf.rundir.reading.Run`) was trained on, for analysis: never another data set.

    The source is the run's own (`config.json`: its settings and its "data" record; a run from
    before data sources means fashion_mnist). A file or folder source is read from the absolute
    path recorded at training time. The images must have the run's shape (else `DataError`);
    if the arrays' fingerprint differs from the recorded one (the files changed since), a note
    says so on stderr.

    Args:
      run: a `Run` (or anything with `.settings` and `.config`).
      data_dir: where the IDX files are now (default: the run's setting, then the usual search).
      limit, test_limit: keep the first N training / test images (default: all).
    """
    settings = dict(run.settings)
    spec = run_spec(run)
    if spec is not None and reread(spec.name, spec.path):
        settings["dataset"] = reread(spec.name, spec.path)
    settings["limit"] = None
    data = load_config_data(settings, limit=limit, test_limit=test_limit, data_dir=data_dir, download=False)
    if spec is not None:
        if tuple(data.spec.image_shape) != tuple(spec.image_shape):
            raise DataError(f"{run.path}: trained on {spec.source} images of shape {spec.image_shape}, but "
                            f"{data.spec.source} now gives {data.spec.image_shape}; restore the run's data.")
        if data.spec.fingerprint != spec.fingerprint:
            print(f"note: {data.spec.path or data.spec.source} changed since {run.path} was trained (fingerprint "
                  f"{data.spec.fingerprint}, recorded {spec.fingerprint})", file=sys.stderr)
    return data


def class_names_of(run) -> tuple[str, ...] | None:
    """The class names of a run's data (Fashion-MNIST's for a run from before data sources)."""
    spec = run_spec(run)
    return FASHION_MNIST.class_names if spec is None else spec.class_names


def load_data_for_run(run, dataset: str | None = None, *, data_dir=None, limit=None, test_limit=None) -> Data:
    """Images to feed a trained run: any source, in the run's image shape, or the run's own data.

    For the commands that *use* a trained model on images (encode, reconstruct, score, ...).
    `dataset=None` is `load_run_data(run)`. Any other source is loaded with the run's image size and
    colour for a folder (its files are resized and converted, as at training time); a source that
    gives another shape is refused in one line naming both shapes.

    Args:
      run: a `Run` (or anything with `.path`, `.settings` and `.config`).
      dataset: a `--dataset` value ("digits", "npz:FILE", "folder:DIR", ...), or None for the run's own.
      data_dir, limit, test_limit: as `load_data`.

    Raises:
      DataError: the images' shape is not the run's (both named), or the source cannot be read.
    """
    if dataset is None:
        return load_run_data(run, data_dir=data_dir, limit=limit, test_limit=test_limit)
    spec = run_spec(run)
    shape = tuple(spec.image_shape) if spec is not None else FASHION_MNIST_SHAPE
    source, _ = parse(dataset)
    image_size = color = None
    if source.name == "folder":
        image_size, color = shape[:2], "rgb" if shape[2] == 3 else "grayscale"
    data = load_data(dataset, data_dir=data_dir, image_size=image_size, color=color, limit=limit,
                     test_limit=test_limit, download=False)
    if tuple(data.spec.image_shape) != shape:
        raise DataError(f"{dataset}: its images are {' x '.join(map(str, data.spec.image_shape))} but {run.path} "
                        f"was trained on {' x '.join(map(str, shape))}; give images of the run's shape.")
    return data
