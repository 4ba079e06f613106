"""The IDX collections, Fashion-MNIST and MNIST: finding their four files, reading and checking them.

`load_fashion_mnist()` returns the same arrays as `keras.datasets.fashion_mnist.load_data()` but
looks for the four IDX files in these places, in order, before it downloads anything (MNIST: the
same, with its own names):

1. the `data_dir` argument (the CLI's `--data-dir`), or its sub-folder named for the data set,
2. the directory in `$VAE_TF_DATA_DIR` (or its sub-folder, e.g. `$VAE_TF_DATA_DIR/mnist`),
3. Keras' own cache, `$KERAS_HOME/datasets/fashion-mnist` (default `~/.keras/datasets/fashion-mnist`);
   for MNIST also Keras' `mnist.npz` there,
4. Debian's `dataset-fashion-mnist` package, `/usr/share/datasets/fashion-mnist` (Fashion-MNIST only),
5. Keras' downloader (needs internet).

A directory named explicitly (1 or 2) must hold the data: if it does not, that is an error,
not a reason to quietly read other files. Every file read is checked (IDX magic number,
dimensions, counts, labels in 0..9; MNIST also against its known MD5 checksums); a truncated or
corrupt file raises `DataError` naming it.

Any data set, these two included, is loaded by `vae_tf.data.sources.load_data`.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vae_tf.core.errors import DataError, DataNotFoundError
from vae_tf.data.spec import DataSource, flatten_images

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

ENV_VAR = "VAE_TF_DATA_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
APT_HINT = "apt-get install dataset-fashion-mnist"

# (images file, labels file, expected count) per split, as Zalando and Keras name them.
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60_000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10_000),
}
_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension


@dataclass(frozen=True)
class IdxCollection:
    """An IDX data set of 28 x 28 greyscale images in four files, as Fashion-MNIST and MNIST ship.

    Attributes:
      name: the `--dataset` name; title: how messages name it.
      cache: Keras' cache sub-folder; keras_npz: a Keras cache file holding all four arrays (or None).
      keras_loader: the `keras.datasets` module that downloads it.
      debian: whether Debian's package location (`DEBIAN_DIR`) is searched.
      md5: the known MD5 of each decompressed IDX file (by stem), or None (checked by structure only).
      class_names: the names of the labels 0..9.
    """

    name: str
    title: str
    cache: str
    keras_npz: str | None
    keras_loader: str
    debian: bool
    md5: dict | None
    class_names: tuple[str, ...]


FASHION_MNIST = IdxCollection("fashion_mnist", "Fashion-MNIST", "fashion-mnist", None, "fashion_mnist", True, None,
                              CLASS_NAMES)
# The MD5 of each decompressed MNIST file (LeCun's distribution, also what Keras' mnist.npz holds).
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
MNIST = IdxCollection("mnist", "MNIST", "mnist", "mnist.npz", "mnist", False, MNIST_MD5,
                      tuple(str(digit) for digit in range(10)))


def keras_cache_dir(collection: IdxCollection = FASHION_MNIST) -> Path:
    """Keras' cache for this dataset (honours `$KERAS_HOME`, as Keras does)."""
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    datasets = Path(keras_home) / "datasets"
    return datasets / collection.cache


def _keras_npz(collection: IdxCollection) -> Path | None:
    if collection.keras_npz is None:
        return None
    return keras_cache_dir(collection).parent / collection.keras_npz


def _file_in(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _missing_files(directory: Path) -> list[str]:
    stems = [stem for images, labels, _ in SPLITS.values() for stem in (images, labels)]
    return [stem + "[.gz]" for stem in stems if _file_in(directory, stem) is None]


def _candidates(data_dir, collection: IdxCollection) -> list[tuple[str, Path, bool]]:
    """(kind, directory, explicit) in search order."""
    places = []
    if data_dir is not None:
        places.append(("data_dir", Path(data_dir).expanduser(), True))
    if os.environ.get(ENV_VAR):
        places.append(("env", Path(os.environ[ENV_VAR]).expanduser(), True))
    places.append(("keras_cache", keras_cache_dir(collection), False))
    npz = _keras_npz(collection)
    if npz is not None:
        places.append(("keras_cache", npz, False))
    if collection.debian:
        places.append(("debian", DEBIAN_DIR, False))
    return places


def _holds(place: Path, collection: IdxCollection) -> tuple[Path | None, str]:
    """The directory (or npz file) at `place` holding `collection`, else None and why not."""
    if place.suffix == ".npz":
        return (place, "") if place.is_file() else (None, "no such file")
    if not place.is_dir():
        return None, "no such directory"
    missing = _missing_files(place)
    if not missing:
        return place, ""
    for sub in dict.fromkeys((collection.cache, collection.name)):  # e.g. DIR/fashion-mnist, DIR/mnist
        if (place / sub).is_dir() and not _missing_files(place / sub):
            return place / sub, ""
    return None, "missing " + ", ".join(missing)


def locate(collection: IdxCollection = FASHION_MNIST, data_dir=None, download: bool = True) -> DataSource:
    """Find a directory holding the four IDX files of `collection` (gzipped or not), or Keras' npz of them.

    Args:
      collection: `FASHION_MNIST` or `MNIST`.
      data_dir: a directory to use; if given, it (or its sub-folder named for the data set) must hold the data.
      download: whether to fall back to Keras' downloader when no local copy exists.

    Returns:
      A `DataSource` naming the directory (or npz file) and how it was found.

    Raises:
      DataNotFoundError: listing every place tried and how to fix it.
    """
    tried = []
    hint = f"`{APT_HINT}` (Debian/Ubuntu, offline), or " if collection.debian else ""
    for kind, place, explicit in _candidates(data_dir, collection):
        found, reason = _holds(place, collection)
        if found is not None:
            return DataSource(kind, str(found))
        label = {"data_dir": "--data-dir / data_dir", "env": f"${ENV_VAR}"}.get(kind, kind)
        if explicit:
            example = f" (e.g. {DEBIAN_DIR} after `{APT_HINT}`)" if collection.debian else ""
            raise DataNotFoundError(
                f"{collection.title} not found in {place} (given by {label}): {reason}. "
                f"Point it at a directory holding the four IDX files{example}, or leave it unset to search "
                f"Keras' cache{' and Debian' + chr(39) + 's location' if collection.debian else ''}."
            )
        tried.append(f"  - {label}: {place} ({reason})")

    if download:
        try:
            import keras

            getattr(keras.datasets, collection.keras_loader).load_data()
            for place in (keras_cache_dir(collection), _keras_npz(collection)):
                if place is not None and _holds(place, collection)[0] is not None:
                    return DataSource("download", str(place))
            tried.append(f"  - download: finished but files not in {keras_cache_dir(collection)}")
        except Exception as error:  # any network or HTTP failure: report it, don't crash
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            tried.append(f"  - download via keras.datasets.{collection.keras_loader}: failed ({first_line})")
    else:
        tried.append("  - download: not attempted (download=False)")

    raise DataNotFoundError(
        f"{collection.title} was not found. Tried:\n"
        + "\n".join(tried)
        + f"\nFix: {hint}pass --data-dir DIR "
        f"(or set ${ENV_VAR}=DIR) to a directory with the four IDX files, "
        "or connect to the internet so Keras can download them."
    )


def locate_fashion_mnist(data_dir=None, download: bool = True) -> DataSource:
    """Find a directory holding the four Fashion-MNIST IDX files (gzipped or not); see `locate`."""
    return locate(FASHION_MNIST, data_dir, download)


def _corrupt(path: Path, error) -> DataError:
    return DataError(
        f"{path} is truncated or corrupt ({error}). Delete it and reinstall the data "
        f"(`{APT_HINT}`, or let Keras download it again)."
    )


def _read_exactly(handle, buffer, chunk: int = 1 << 20) -> int:
    """Fill `buffer` from `handle`; return how many bytes there were (fewer at end of file).

    Reads in chunks: gzip's `readinto` decompresses into a temporary as large as its target.
    """
    view = memoryview(buffer).cast("B")
    filled = 0
    while filled < len(view):
        got = handle.readinto(view[filled:filled + chunk])
        if not got:
            break
        filled += got
    return filled


def read_idx(path, magic: int, count: int, item_shape: tuple[int, ...]) -> np.ndarray:
    """Read one IDX file of unsigned bytes and check its header and length.

    The pixels are decompressed straight into the returned array, with no intermediate copy.

    Args:
      path: a `.gz` or uncompressed IDX file.
      magic: the expected magic number (0x803 for images, 0x801 for labels).
      count: the expected number of items.
      item_shape: the expected shape of one item, e.g. (28, 28) or ().

    Returns:
      uint8 array of shape (count, *item_shape).
    """
    path = Path(path)
    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    expected_dims = (count, *item_shape)
    items = np.empty(expected_dims, dtype=np.uint8)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            header = handle.read(header_size)
            if len(header) < header_size:
                raise DataError(f"{path} is {len(header)} bytes long, too short for an IDX header.")
            (found_magic,) = struct.unpack(">I", header[:4])
            if found_magic != magic:
                raise DataError(
                    f"{path} has IDX magic number {found_magic:#010x}, expected {magic:#010x}: "
                    "not an IDX file of this kind."
                )
            dims = struct.unpack(f">{ndim}I", header[4:])
            if dims != expected_dims:
                raise DataError(f"{path} declares shape {dims}, expected {expected_dims}.")
            filled = _read_exactly(handle, items)
            padded = bool(handle.read(1))
    except (OSError, EOFError, zlib.error) as error:
        raise _corrupt(path, error) from None
    expected_length = header_size + items.size
    if filled < items.size or padded:
        found = f"more than {expected_length}" if padded else str(header_size + filled)
        raise DataError(
            f"{path} holds {found} bytes, expected {expected_length}: the file is "
            "truncated or padded. Delete it and reinstall the data."
        )
    return items


def _idx_md5(items: np.ndarray, magic: int) -> str:
    """The MD5 of the decompressed IDX file holding `items`: its header, then its bytes."""
    digest = hashlib.md5(struct.pack(f">I{items.ndim}I", magic, *items.shape))
    digest.update(memoryview(np.ascontiguousarray(items)).cast("B"))  # no copy of the pixels
    return digest.hexdigest()


def _check_md5(collection: IdxCollection, stem: str, items: np.ndarray, magic: int, path) -> None:
    if collection.md5 is None:
        return
    found = _idx_md5(items, magic)
    if found != collection.md5[stem]:
        raise DataError(
            f"{path}: {stem} has MD5 {found}, expected {collection.md5[stem]} ({collection.title}'s own "
            f"file): it is not {collection.title} or it is damaged. Delete it and let Keras download it again."
        )


def _read_keras_npz(path: Path, split: str, collection: IdxCollection) -> tuple[np.ndarray, np.ndarray]:
    images_stem, labels_stem, count = SPLITS[split]
    prefix = "x_train" if split == "train" else "x_test"
    try:
        with np.load(path) as arrays:
            images, labels = arrays[prefix], arrays["y" + prefix[1:]]
    except Exception as error:  # a damaged zip, a missing array: one line naming the file
        raise _corrupt(path, error) from None
    if images.shape != (count, 28, 28) or labels.shape != (count,) or images.dtype != np.uint8:
        raise DataError(f"{path}: {prefix} has shape {images.shape} ({images.dtype}), expected ({count}, 28, 28) "
                        "uint8. Delete it and let Keras download it again.")
    labels = labels.astype(np.uint8)
    _check_md5(collection, images_stem, images, _IMAGES_MAGIC, path)
    _check_md5(collection, labels_stem, labels, _LABELS_MAGIC, path)
    return images, labels


def read_split(directory, split: str, collection: IdxCollection = FASHION_MNIST) -> tuple[np.ndarray, np.ndarray]:
    """Read and check one split ("train" or "test") from a directory of IDX files (or Keras' mnist.npz).

    Returns:
      images uint8 (N, 28, 28) and labels uint8 (N,).
    """
    directory = Path(directory)
    if directory.suffix == ".npz":
        images, labels = _read_keras_npz(directory, split, collection)
    else:
        images_stem, labels_stem, count = SPLITS[split]
        images_path = _file_in(directory, images_stem)
        labels_path = _file_in(directory, labels_stem)
        if images_path is None or labels_path is None:
            raise DataNotFoundError(
                f"{directory} lacks the {split} files {images_stem}[.gz] / {labels_stem}[.gz].")
        images = read_idx(images_path, _IMAGES_MAGIC, count, (28, 28))
        labels = read_idx(labels_path, _LABELS_MAGIC, count, ())
        _check_md5(collection, images_stem, images, _IMAGES_MAGIC, images_path)
        _check_md5(collection, labels_stem, labels, _LABELS_MAGIC, labels_path)
    if labels.max() > 9:
        raise DataError(f"{directory} has label {labels.max()} in its {split} labels; "
                        f"{collection.title} labels are 0..9.")
    return images, labels


def load_fashion_mnist(data_dir=None, download: bool = True, return_source: bool = False):
    """Load Fashion-MNIST as Keras' loader does, preferring local copies.

    Args:
      data_dir: a directory holding the four IDX files; searched first and required if given.
      download: fall back to Keras' downloader when no local copy exists.
      return_source: also return the `DataSource` the arrays were read from.

    Returns:
      `(x_train, y_train), (x_test, y_test)`: uint8 arrays of shapes (60000, 28, 28),
      (60000,), (10000, 28, 28), (10000,); with `return_source`, a `(data, source)` pair.
    """
    source = locate_fashion_mnist(data_dir, download=download)
    data = (read_split(source.directory, "train"), read_split(source.directory, "test"))
    return (data, source) if return_source else data


def load_split(split: str = "train", data_dir=None, limit: int | None = None, download: bool = True):
    """One split of Fashion-MNIST as the report's model takes it: (x, y, source).

    Any data set: `vae_tf.data.sources.load_data`.

    Args:
      split: "train" or "test".
      data_dir, download: as `load_fashion_mnist`.
      limit: keep the first `limit` images only (None: all).

    Returns:
      x: uint8 (N, 784); y: uint8 (N,); source: the `DataSource` they were read from.
    """
    source = locate_fashion_mnist(data_dir, download=download)
    x, y = read_split(source.directory, split)
    return flatten_images(x[:limit]), y[:limit], source
