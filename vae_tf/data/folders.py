"""Which files of a `folder:DIR` are images, and of which class: the folder rule, one place.

The rule (docs/data.md says it too):

- Splits: DIR/train is the training split. DIR/test, if it exists beside it, is the test split;
  without it, a fixed share (--test-fraction) of DIR/train is held out. Without DIR/train, DIR is
  the one folder, split by --test-fraction. DIR/test without DIR/train is refused, and so is
  anything but test/ beside train/.
- Classes: in a split's folder, each sub-folder is a class (sorted by name); its images are every
  image file in it at any depth. A folder without sub-folders holds unlabelled images.
- Nothing is dropped: image files loose beside class sub-folders are refused (how many, where, and
  the fix), and so is a class sub-folder with no image in it (named as empty).
- Image files are those with a suffix of `IMAGE_SUFFIXES` (any case); hidden files and folders
  (a name starting with ".") are skipped; other files (a README) are not images and are ignored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vae_tf.core.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
DEFAULT_TEST_FRACTION = 0.1  # --test-fraction's default (TrainConfig.test_fraction)
SPLIT_SEED = 0  # the folder source's train/test split: the same for every run (and every --seed)
RULE = ("folder:DIR takes one sub-folder of images per class, or images with no sub-folders (unlabelled), "
        "optionally under DIR/train and DIR/test; see docs/data.md")


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _images_under(folder: Path, deep: bool) -> list[Path]:
    """The image files in `folder` (at any depth when `deep`), sorted, hidden ones skipped."""
    found = folder.rglob("*") if deep else folder.iterdir()
    return sorted(path for path in found if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
                  and all(_visible(part) for part in path.relative_to(folder).parents if part.name)
                  and _visible(path))


def split_folders(root: Path) -> tuple[Path, Path | None]:
    """(the training folder, the test folder or None) of `folder:root`, as the rule above says.

    Raises:
      DataError: test/ without train/, or something beside train/ and test/.
    """
    train, test = root / "train", root / "test"
    if not train.is_dir():
        if test.is_dir():
            raise DataError(f"{root} has a test/ sub-folder but no train/; add {train} beside it, or rename "
                            f"test/ ({RULE}).")
        return root, None
    extra = sorted(path.name for path in root.iterdir() if _visible(path) and path.name not in ("train", "test")
                   and (path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES))
    if extra:
        raise DataError(f"{root} holds {', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''} beside train/; "
                        f"move them into {train} (or {test}) ({RULE}).")
    return train, (test if test.is_dir() else None)


def _image_files(directory: Path) -> tuple[list[tuple[Path, int]], list[str] | None]:
    """(file, class index) pairs in sorted order, and the class names (None: no class sub-folders).

    Raises:
      DataError: no image at all; images loose beside class sub-folders (how many, where, the fix);
        a class sub-folder without images (named as empty).
    """
    classes = sorted(path.name for path in directory.iterdir() if path.is_dir() and _visible(path))
    loose = _images_under(directory, deep=False)
    if not classes:
        if not loose:
            raise DataError(f"no image files ({', '.join(IMAGE_SUFFIXES[:3])}, ...) in {directory}; {RULE}.")
        return [(path, 0) for path in loose], None
    if loose:
        raise DataError(f"{directory} holds {len(loose)} image file{'s' if len(loose) != 1 else ''} (e.g. "
                        f"{loose[0].name}) beside its class sub-folders {', '.join(classes[:3])}"
                        f"{' ...' if len(classes) > 3 else ''}; move them into a class sub-folder (their own, "
                        f"e.g. {directory / 'other'}), or out of {directory} ({RULE}).")
    files = []
    for index, name in enumerate(classes):
        images = _images_under(directory / name, deep=True)
        if not images:
            raise DataError(f"{directory / name} is an empty class sub-folder (no image files at any depth); "
                            f"put its images in it or remove it ({RULE}).")
        files += [(path, index) for path in images]
    return files, classes


def list_folder(root: Path, test_fraction: float = DEFAULT_TEST_FRACTION):
    """Every image of `folder:root` by the rule above: (files, is_test, class names).

    Returns:
      files: (path, class index) pairs, the training folder's first; is_test: a bool array, True for
      the test split's files (DIR/test's, or a fixed share `test_fraction` drawn with `SPLIT_SEED`);
      the class names, or None for unlabelled images.

    Raises:
      DataError: the folder breaks the rule, --test-fraction given beside train/ and test/, or fewer
      than 2 images to split.
    """
    train_dir, test_dir = split_folders(root)
    if test_dir is not None:
        if test_fraction != DEFAULT_TEST_FRACTION:
            raise DataError(f"--test-fraction {test_fraction:g} cannot act: {root} has train/ and test/, which are "
                            "its split; drop --test-fraction, or merge them into one folder.")
        train_files, class_names = _image_files(train_dir)
        test_files, test_classes = _image_files(test_dir)
        if (class_names is None) != (test_classes is None) or (
                class_names is not None and not set(test_classes) <= set(class_names)):
            raise DataError(f"{test_dir} has classes {test_classes} but {train_dir} has {class_names}; "
                            "give the test images the training images' class sub-folders.")
        if class_names is not None:
            test_files = [(path, class_names.index(test_classes[label])) for path, label in test_files]
        files = train_files + test_files
        test_rows = np.arange(len(train_files), len(files))
    else:
        files, class_names = _image_files(train_dir)
        if len(files) < 2:
            raise DataError(f"{train_dir} holds {len(files)} image; a train/test split needs at least 2.")
        count = min(len(files) - 1, max(1, round(test_fraction * len(files))))
        test_rows = np.sort(np.random.default_rng(SPLIT_SEED).permutation(len(files))[:count])
    is_test = np.zeros(len(files), dtype=bool)
    is_test[test_rows] = True
    return files, is_test, class_names
