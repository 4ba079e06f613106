"""The checks of a source's arrays: images' layout and storage, and labels, before anything is built from them.

Images: (N, H, W) or (N, H, W, C) with C = 1 or 3 (`images_of`), held as uint8 or float32 in
[0, 1] (`stored_as`; the module docstring of `vae_tf.data.sources` says when each).


A source's labels must be integers >= 0, one per image (`check_labels`), checked before any class
name or per-class array is made from them: a single label of 10**12 must not make a billion class
names. The classes of a data set are the labels that occur (`occurring_classes`): labels 0, 3 and
1000 are three classes, held as 0, 1, 2, and their names say which stored label each one is
("0", "3", "1000", or the file's own `class_names` of those labels).
"""

from __future__ import annotations

import numpy as np

from vae_tf.core.errors import DataError

UINT8_TOLERANCE = 1e-3  # float values within 0.001 of k/255 (in units of 1/255) are the uint8 k


def check_labels(labels, count: int, name: str) -> np.ndarray | None:
    """`labels` as an array (count,) of integers >= 0, or None when there are none.

    Args:
      labels: the source's labels (any array-like), or None (unlabelled data).
      count: the number of images they label.
      name: what to call them in a message, e.g. "faces.npz: y_train".

    Raises:
      DataError: not one label per image, not integers, or a negative one (the message names the
        first offending value and the fix).
    """
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.shape != (count,) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{name} must be {count} integer labels >= 0 (one per image); got shape {labels.shape}, "
                        f"dtype {labels.dtype}; store them with y.astype('int64').reshape(-1).")
    if count and labels.min() < 0:
        raise DataError(f"{name} holds the label {int(labels.min())}; labels must be integers >= 0, one per image "
                        "(number the classes 0, 1, 2, ...).")
    return labels


def occurring_classes(y_train: np.ndarray, y_test: np.ndarray, class_names, where: str):
    """The classes that occur in either split: (y_train, y_test) numbered 0..K-1, and K class names.

    Labels already 0..K-1 with every class present are returned unchanged (the same arrays, so that
    the data's fingerprint does not change). Otherwise the K distinct labels, in increasing order,
    become 0..K-1, and each class keeps its name: `class_names[label]` when the source named its
    classes, else the stored label itself as text.

    Args:
      y_train, y_test: checked labels (`check_labels`).
      class_names: the source's names of the labels 0, 1, ... (a sequence of str), or None.
      where: the file, for a message.

    Raises:
      DataError: a label has no name in `class_names`.
    """
    present = np.unique(np.concatenate([y_train.ravel(), y_test.ravel()]))
    top = int(present[-1]) if present.size else -1
    if class_names is not None and top >= len(class_names):
        raise DataError(f"{where}: label {top} but only {len(class_names)} class_names (for the labels 0.."
                        f"{len(class_names) - 1}); give a name for every label, or renumber the labels.")
    if present.size == top + 1:  # already 0..K-1
        names = class_names if class_names is not None else [str(k) for k in range(top + 1)]
        return y_train, y_test, tuple(str(name) for name in names[:top + 1])
    names = [str(class_names[label] if class_names is not None else label) for label in present]
    return (np.searchsorted(present, y_train).astype(np.int32), np.searchsorted(present, y_test).astype(np.int32),
            tuple(names))


def images_of(array: np.ndarray, name: str) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) images -> (N, H, W, C), C in (1, 3); values checked later."""
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3):
        raise DataError(f"{name} has shape {array.shape}; images must be (N, H, W) or (N, H, W, C) "
                        "with C = 1 (greyscale) or 3 (RGB).")
    return array


def stored_as(images: np.ndarray, name: str) -> tuple[np.ndarray, str]:
    """Images as the loader holds them (see the module docstring): uint8, or float32 in [0, 1]."""
    if images.dtype == np.uint8:
        return images, "uint8 0..255, scaled by 1/255 in the model"
    if np.issubdtype(images.dtype, np.integer) or images.dtype == bool:
        low, high = (int(images.min()), int(images.max())) if images.size else (0, 0)
        if low < 0 or high > 255:
            raise DataError(f"{name} hold integers in {low}..{high}; integer images must be in 0..255 "
                            "(or give floats in [0, 1]).")
        return images.astype(np.uint8), "integers 0..255, held as uint8, scaled by 1/255 in the model"
    if not np.issubdtype(images.dtype, np.floating):
        raise DataError(f"{name} have dtype {images.dtype}; images must be uint8 0..255 or floats in [0, 1].")
    if not np.isfinite(images).all():
        raise DataError(f"{name} hold NaN or infinite values; images must be floats in [0, 1].")
    low, high = (float(images.min()), float(images.max())) if images.size else (0.0, 0.0)
    if low < 0 or high > 1:
        raise DataError(f"{name} hold values in [{low:.4g}, {high:.4g}]; float images must lie in [0, 1] "
                        "(divide uint8 pixels by 255, or store them as uint8).")
    levels = images.astype(np.float64) * 255
    rounded = np.round(levels)
    if np.abs(levels - rounded).max(initial=0) <= UINT8_TOLERANCE:
        return rounded.astype(np.uint8), "floats k/255 in [0, 1], held as uint8 k, scaled by 1/255 in the model"
    return images.astype(np.float32), "floats in [0, 1], held as float32"
