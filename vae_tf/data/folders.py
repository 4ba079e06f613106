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

from vae_tf.core.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
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
