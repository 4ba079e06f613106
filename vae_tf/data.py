"""Fashion-MNIST, found offline where it already is, checked byte by byte.

`load_fashion_mnist()` returns the same arrays as `keras.datasets.fashion_mnist.load_data()`
but looks for the four IDX files in these places, in order, before it downloads anything:

1. the `data_dir` argument (the CLI's `--data-dir`),
2. the directory in `$VAE_TF_DATA_DIR`,
3. Keras' own cache, `$KERAS_HOME/datasets/fashion-mnist` (default `~/.keras/datasets/fashion-mnist`),
4. Debian's `dataset-fashion-mnist` package, `/usr/share/datasets/fashion-mnist`,
5. Keras' downloader (needs internet).

A directory named explicitly (1 or 2) must hold the data: if it does not, that is an error,
not a reason to quietly read other files. Every file read is checked (IDX magic number,
dimensions, counts, labels in 0..9); a truncated or corrupt file raises `DataError` naming it.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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


class DataError(ValueError):
    """A Fashion-MNIST file exists but is not what it should be."""


class DataNotFoundError(FileNotFoundError):
    """Fashion-MNIST was found in none of the places searched."""


@dataclass(frozen=True)
class DataSource:
    """Where the data was read from: `kind` is one of data_dir, env, keras_cache, debian, download."""

    kind: str
    directory: str


def keras_cache_dir() -> Path:
    """Keras' cache for this dataset (honours `$KERAS_HOME`, as Keras does)."""
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return Path(keras_home) / "datasets" / "fashion-mnist"


def _file_in(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _missing_files(directory: Path) -> list[str]:
    stems = [stem for images, labels, _ in SPLITS.values() for stem in (images, labels)]
    return [stem + "[.gz]" for stem in stems if _file_in(directory, stem) is None]


def _candidates(data_dir) -> list[tuple[str, Path, bool]]:
    """(kind, directory, explicit) in search order."""
    places = []
    if data_dir is not None:
        places.append(("data_dir", Path(data_dir).expanduser(), True))
    if os.environ.get(ENV_VAR):
        places.append(("env", Path(os.environ[ENV_VAR]).expanduser(), True))
    places.append(("keras_cache", keras_cache_dir(), False))
    places.append(("debian", DEBIAN_DIR, False))
    return places


def locate_fashion_mnist(data_dir=None, download: bool = True) -> DataSource:
    """Find a directory holding the four Fashion-MNIST IDX files (gzipped or not).

    Args:
      data_dir: a directory to use; if given, it must hold the data.
      download: whether to fall back to Keras' downloader when no local copy exists.

    Returns:
      A `DataSource` naming the directory and how it was found.

    Raises:
      DataNotFoundError: listing every place tried and how to fix it.
    """
    tried = []
    for kind, directory, explicit in _candidates(data_dir):
        missing = _missing_files(directory) if directory.is_dir() else None
        if missing == []:
            return DataSource(kind, str(directory))
        label = {"data_dir": "--data-dir / data_dir", "env": f"${ENV_VAR}"}.get(kind, kind)
        reason = "no such directory" if missing is None else "missing " + ", ".join(missing)
        if explicit:
            raise DataNotFoundError(
                f"Fashion-MNIST not found in {directory} (given by {label}): {reason}. "
                f"Point it at a directory holding the four IDX files "
                f"(e.g. {DEBIAN_DIR} after `{APT_HINT}`), or leave it unset to search "
                f"Keras' cache and Debian's location."
            )
        tried.append(f"  - {label}: {directory} ({reason})")

    if download:
        try:
            import keras

            keras.datasets.fashion_mnist.load_data()
            directory = keras_cache_dir()
            if not _missing_files(directory):
                return DataSource("download", str(directory))
            tried.append(f"  - download: finished but files not in {directory}")
        except Exception as error:  # any network or HTTP failure: report it, don't crash
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            tried.append(f"  - download via keras.datasets.fashion_mnist: failed ({first_line})")
    else:
        tried.append("  - download: not attempted (download=False)")

    raise DataNotFoundError(
        "Fashion-MNIST was not found. Tried:\n"
        + "\n".join(tried)
        + f"\nFix: `{APT_HINT}` (Debian/Ubuntu, offline), or pass --data-dir DIR "
        f"(or set ${ENV_VAR}=DIR) to a directory with the four IDX files, "
        "or connect to the internet so Keras can download them."
    )


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
                    "not a Fashion-MNIST file of this kind."
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


def read_split(directory, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read and check one split ("train" or "test") from a directory of IDX files."""
    directory = Path(directory)
    images_stem, labels_stem, count = SPLITS[split]
    images_path = _file_in(directory, images_stem)
    labels_path = _file_in(directory, labels_stem)
    if images_path is None or labels_path is None:
        raise DataNotFoundError(f"{directory} lacks the {split} files {images_stem}[.gz] / {labels_stem}[.gz].")
    images = read_idx(images_path, _IMAGES_MAGIC, count, (28, 28))
    labels = read_idx(labels_path, _LABELS_MAGIC, count, ())
    if labels.max() > 9:
        raise DataError(f"{labels_path} has label {labels.max()}; Fashion-MNIST labels are 0..9.")
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
    """One split as the model takes it: (x, y, source).

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


def check_images(images, name: str = "images") -> np.ndarray:
    """Check that `images` are what the model takes, and return them as a NumPy array.

    Accepted: shape (N, 784) or (N, 28, 28); uint8 (0..255), or floats in [0, 1] with no NaN.

    Raises:
      ValueError: saying what was expected and what was given.
    """
    array = np.asarray(images)
    if array.ndim not in (2, 3) or array.shape[1:] not in ((784,), (28, 28)):
        raise ValueError(f"{name} must have shape (N, 784) or (N, 28, 28); got shape {array.shape}.")
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"{name} must be uint8 (0..255) or floats in [0, 1]; got dtype {array.dtype}. "
            "Convert with x.astype('uint8') or x / 255."
        )
    for start in range(0, len(array), 4096):  # in chunks: no temporary as large as the images
        chunk = array[start:start + 4096]
        if not np.isfinite(chunk).all():
            rows = f"{start}..{start + len(chunk) - 1}"
            raise ValueError(f"{name} contain NaN or infinite values (first in rows {rows}).")
        if chunk.size and (chunk.min() < 0 or chunk.max() > 1):
            raise ValueError(
                f"{name} must lie in [0, 1] (pixel intensities scaled by 1/255); got values in "
                f"[{chunk.min():.4g}, {chunk.max():.4g}] in rows {start}..{start + len(chunk) - 1}. "
                "Divide uint8 pixels by 255, or pass them as uint8."
            )
    return array


def flatten_images(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 images -> (N, 784) uint8 rows, the model's input layout."""
    images = np.asarray(images)
    return images.reshape(len(images), -1)
