"""What a data set is: its description (`DataSpec`, `DataSource`), and the checks and layouts of its images.

`DataSpec` describes a data set (where it came from, the image shape H x W x C, the class names,
how its stored values map to [0, 1], a fingerprint of the arrays); the run directory records it
in config.json under "data", and every command reloads a run's data through
`vae_tf.data.sources.load_run_data`. The sources themselves (fashion_mnist, mnist, digits, npz:FILE,
folder:DIR) are a registry in `vae_tf.data.sources`; the IDX files of Fashion-MNIST and MNIST are
found and read by `vae_tf.data.idx`.

The images the model takes: `check_images` (shape, dtype, NaN, range), the layouts it accepts
(`image_layouts`), and the conversions `flatten_images`, `as_images` and `to_unit`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class DataSource:
    """Where the data was read from: `kind` is one of data_dir, env, keras_cache, debian, download
    (the IDX collections), scikit-learn, file, folder (the other sources)."""

    kind: str
    directory: str


@dataclass(frozen=True)
class DataSpec:
    """What a data set is, as config.json records it under "data" and as every command reloads it.

    Attributes:
      source: the `--dataset` value, e.g. "fashion_mnist", "digits", "npz:faces.npz", "folder:photos".
      name: the registry entry of `vae_tf.data.sources.SOURCES` ("fashion_mnist", "mnist", "digits", "npz", "folder").
      image_shape: (H, W, C) of one image; the model's input and output are P = H * W * C values.
      class_names: the names of the labels 0, 1, ... or None (no labels).
      dtype: how the loader holds the pixels: "uint8" (the model scales them by 1/255) or "float32"
        (already in [0, 1]).
      value_range: the stored values and how they map to [0, 1], in words.
      path: the file or directory read (absolute), or None (scikit-learn's digits).
      found: how it was found (`DataSource.kind`).
      fingerprint: SHA-256 (first 16 hex digits) of the full training and test arrays as loaded.
      train_images, test_images: the images in each split (all of them, before `--limit`).
      options: the source's own settings that shaped the arrays (image_size, color, test_fraction).
    """

    source: str
    name: str
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...] | None
    dtype: str
    value_range: str
    path: str | None
    found: str
    fingerprint: str
    train_images: int
    test_images: int
    options: dict = field(default_factory=dict)

    @property
    def pixels(self) -> int:
        """P = H * W * C, the values per image (the model's input size)."""
        height, width, channels = self.image_shape
        return height * width * channels

    def to_dict(self) -> dict:
        """The JSON form config.json holds."""
        return {"source": self.source, "name": self.name, "image_shape": list(self.image_shape),
                "class_names": None if self.class_names is None else list(self.class_names),
                "dtype": self.dtype, "value_range": self.value_range, "path": self.path, "found": self.found,
                "fingerprint": self.fingerprint, "train_images": self.train_images,
                "test_images": self.test_images, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, values: dict) -> DataSpec:
        """The inverse of `to_dict`."""
        names = values.get("class_names")
        return cls(source=values["source"], name=values["name"], image_shape=tuple(values["image_shape"]),
                   class_names=None if names is None else tuple(names), dtype=values["dtype"],
                   value_range=values["value_range"], path=values.get("path"), found=values.get("found", ""),
                   fingerprint=values["fingerprint"], train_images=values["train_images"],
                   test_images=values["test_images"], options=dict(values.get("options") or {}))


def fingerprint(*arrays) -> str:
    """SHA-256 (first 16 hex digits) of arrays' shapes, dtypes and bytes: equal data, equal fingerprint."""
    digest = hashlib.sha256()
    for array in arrays:
        if array is None:
            digest.update(b"none")
            continue
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()[:16]


REPORT_SHAPE = (28, 28, 1)


def image_layouts(image_shape) -> tuple[tuple[int, ...], ...]:
    """The shapes of one image that the model accepts: (P,), (H, W, C), and (H, W) when C = 1."""
    height, width, channels = (int(size) for size in image_shape)
    layouts = [(height * width * channels,), (height, width, channels)]
    if channels == 1:
        layouts.append((height, width))
    return tuple(layouts)


def check_images(images, name: str = "images", image_shape=REPORT_SHAPE) -> np.ndarray:
    """Check that `images` are what the model takes, and return them as a NumPy array.

    Accepted: shape (N, P), (N, H, W, C), or (N, H, W) when C = 1, with (H, W, C) = `image_shape`
    and P = H * W * C; uint8 (0..255), or floats in [0, 1] with no NaN.

    Raises:
      ValueError: saying what was expected and what was given.
    """
    array = np.asarray(images)
    layouts = image_layouts(image_shape)
    if array.ndim < 2 or array.shape[1:] not in layouts:
        expected = " or ".join(str(("N",) + layout).replace("'", "") for layout in layouts)
        raise ValueError(f"{name} must have shape {expected}; got shape {array.shape}.")
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
    """(N, H, W[, C]) images -> (N, P) rows, P = H * W * C, the model's input layout (a view, no copy)."""
    images = np.asarray(images)
    return images.reshape(len(images), -1)


def as_images(rows: np.ndarray, image_shape) -> np.ndarray:
    """(N, P) rows (or images already) -> (N, H, W, C) images of `image_shape`."""
    rows = np.asarray(rows)
    return rows.reshape((len(rows), *tuple(int(size) for size in image_shape)))


def to_unit(images) -> np.ndarray:
    """Images as float32 in [0, 1], same shape: uint8 scaled by 1/255, floats as they are."""
    images = np.asarray(images)
    return images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
