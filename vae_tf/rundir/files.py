"""Durable, atomic file writes, and the one rule for output files.

Every file is written to a temporary name in the same directory, flushed to disk (fsync),
renamed, and the directory entry is flushed too: a run killed at any moment, even by a power
cut, leaves either the old file or the new one, never half of one (`write_text`, `write_bytes`,
`write_json`, `write_csv`, `write_npz`, `save_model`, `write_figure`, `write_gif`, `write_with`,
`write_directory`). The temporaries of a write a kill interrupted are removed by the next writer
(`remove_temporaries`).

`claim` is the one rule for output files: nothing a user made is replaced without --overwrite.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from vae_tf.core.errors import RunDirError
from vae_tf.rundir.layout import CHECKPOINT, LOCK, OUTPUTS_SCRATCH

# `_atomic_write`'s temporaries: "." + the file's name + "." + mkstemp's 8 characters + a suffix.
_TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.[A-Za-z0-9]+$")

_UMASK = os.umask(0)
os.umask(_UMASK)


# --- durable, atomic writes ------------------------------------------------------------------

def _fsync_directory(directory: Path) -> None:
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _atomic_write(path, write, suffix: str = ".tmp") -> Path:
    """Write `path` through `write(temporary_name)`: temporary file, fsync, rename, fsync the directory."""
    path = Path(path)
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
        os.close(handle)
        write(temporary)
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(temporary, path)
        _fsync_directory(path.parent)
    except OSError as error:  # name the file the user knows, not the temporary (or nothing)
        raise OSError(error.errno, error.strerror or str(error), str(path)) from error
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.remove(temporary)
    return path


def write_text(path, text: str) -> Path:
    def write(temporary):
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)

    return _atomic_write(path, write)


def write_bytes(path, data: bytes) -> Path:
    def write(temporary):
        with open(temporary, "wb") as handle:
            handle.write(data)

    return _atomic_write(path, write)


def write_json(path, payload) -> Path:
    return write_text(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


def write_csv(path, rows: list[dict]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text(path, buffer.getvalue())


def write_npz(path, **arrays) -> Path:
    def write(temporary):
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)

    return _atomic_write(path, write)


def save_model(path, model) -> Path:
    """`model.save` to `path` (a .keras file), atomically and durably."""
    return _atomic_write(path, model.save, suffix=".keras")  # Keras insists on the suffix


def write_with(path, write, suffix: str = ".tmp") -> Path:
    """A file at `path` that `write(temporary_name)` makes (e.g. an exporter), atomically and durably;
    `suffix` ends the temporary's name, for writers that insist on one (".onnx", ".tflite")."""
    return _atomic_write(path, write, suffix=suffix)


def write_directory(path, write) -> Path:
    """A directory at `path` that `write(temporary_directory)` fills (e.g. a SavedModel), made beside it and
    renamed into place: a kill leaves the old directory or the new one (or, between the two renames, the old
    one under a temporary name that the next `remove_temporaries` of a run ignores), never half of one."""
    path = Path(path)
    temporary = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        write(str(temporary))
        for folder, _, files in os.walk(temporary):
            for name in files:
                with open(os.path.join(folder, name), "rb+") as written:
                    os.fsync(written.fileno())
        os.chmod(temporary, 0o777 & ~_UMASK)  # mkdtemp makes 0700; give the usual permissions
        if path.is_dir():  # --overwrite: move the old one aside, then drop it
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old / path.name)
            os.replace(temporary, path)
            shutil.rmtree(old)
        else:
            os.replace(temporary, path)
        _fsync_directory(path.parent)
    except OSError as error:
        raise OSError(error.errno, error.strerror or str(error), str(path)) from error
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)
    return path


def write_figure(path, figure, dpi: int = 90) -> Path:
    """A matplotlib figure as an image file at `path` (its suffix says which format), atomically."""
    return _atomic_write(path, lambda temporary: figure.savefig(temporary, dpi=dpi, format=Path(path).suffix[1:]),
                         suffix=Path(path).suffix)


def write_gif(path, figures, fps: float = 2.0) -> Path:
    """Matplotlib figures of one size as the frames of an animated GIF at `path` (looping), atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    frames = []
    for figure in figures:
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        frames.append(Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB").quantize(colors=256))
    if not frames:
        raise ValueError(f"{path}: no frames to write.")

    def write(temporary):
        frames[0].save(temporary, format="GIF", save_all=True, append_images=frames[1:],
                       duration=round(1000 / fps), loop=0)

    return _atomic_write(path, write, suffix=".gif")


# --- the one rule for output files -----------------------------------------------------------

def claim(directory, names=None, overwrite: bool = False, flag: str = "--out") -> Path:
    """The rule for output files: refuse to replace what a user made unless asked; create `directory`.

    The directory is also tried for writing (a file is made and removed), so that an output that
    cannot be written fails before the work, not after it.

    Args:
      directory: where the files go.
      names: the files that will be written there; None: the directory must be empty (a run).
      overwrite: the user passed --overwrite.
      flag: the flag that named `directory`, for the message.

    Returns:
      `directory` as a Path, created if missing.

    Raises:
      RunDirError: `directory` is a file, or holds files that would be replaced.
      OSError: `directory` cannot be created or written (read-only, no permission, disk full...).
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise RunDirError(f"{flag} {directory} is a file, not a directory; choose another path.")
    if directory.is_dir() and not overwrite:
        if names is None and _entries(directory):
            raise RunDirError(f"{flag} {directory} already exists and is not empty; choose another directory or "
                              "pass --overwrite to replace the files in it.")
        existing = [name for name in names or () if (directory / name).exists()]
        if existing:
            raise RunDirError(f"{directory} already has {', '.join(existing)}; pass --overwrite to replace "
                              f"{'it' if len(existing) == 1 else 'them'}, or choose another {flag}.")
    directory.mkdir(parents=True, exist_ok=True)
    _try_writing(directory)
    return directory


def claim_file(path, overwrite: bool = False, flag: str = "--json") -> Path:
    """`claim` for one output file named by the user: not a directory, not replaced unless asked.

    Returns:
      `path` as a Path (its directory created and tried for writing).

    Raises:
      RunDirError: `path` is a directory, or an existing file and `overwrite` is False.
      OSError: its directory cannot be created or written.
    """
    path = Path(path)
    if path.is_dir():
        raise RunDirError(f"{flag} {path} is a directory; give a file name, e.g. {path / 'results.json'}.")
    if path.exists() and not overwrite:
        raise RunDirError(f"{flag} {path} already exists; pass --overwrite to replace it, or choose another file.")
    claim(path.parent, [], overwrite, flag)
    return path


def _try_writing(directory: Path) -> None:
    handle, probe = tempfile.mkstemp(dir=directory, prefix=".vae_tf-probe.", suffix=".tmp")
    os.close(handle)
    os.remove(probe)


def _entries(directory: Path) -> list[Path]:
    """What is in `directory`, apart from the lock and the temporaries of an interrupted write (or command)."""
    return [entry for entry in directory.iterdir() if entry.name != LOCK and not _TEMPORARY.match(entry.name)
            and not entry.name.startswith(OUTPUTS_SCRATCH)]


# --- the temporaries of interrupted writes ---------------------------------------------------

def remove_temporaries(directory) -> list[Path]:
    """Remove the temporaries of writes a kill interrupted in `directory` and its checkpoint/, and the
    scratch folders of commands killed while writing their outputs there (`vae_tf.rundir.outputs`).

    Only call it while holding the directory's lock (no write of ours is then under way).

    Returns:
      The paths removed.
    """
    removed = []
    for entry in Path(directory).glob(OUTPUTS_SCRATCH + "*"):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    for folder in (Path(directory), Path(directory) / CHECKPOINT):
        if folder.is_dir():
            for entry in folder.iterdir():
                if entry.is_file() and _TEMPORARY.match(entry.name):
                    entry.unlink()
                    removed.append(entry)
    return removed
