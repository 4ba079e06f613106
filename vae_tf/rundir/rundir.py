"""The run directory: the one module that writes it and reads it back.

    RUNDIR/
      config.json     every setting, the seed, where the data came from, library versions
      history.csv     one row per epoch: epoch, loss, reconstruction_loss, kl_loss,
                      [mse_loss,] [the same as val_* and val_seconds,] seconds
      model.keras     the trained VAE (`vae_tf.load_model`)
      latents.npz     z_mean, z_log_var, z (sampled codes), y for the training images,
                      in dataset order
      summary.json    final metrics, per-dimension min/max/std of z, the latent diagnostics
                      (`vae_tf.kl.diagnostics`) of the test images, wall time, device, and the
                      run's phases and peak memory (`vae_tf.training.phases`)
      snapshots.npz   with --snapshots: epoch (E,), z_mean (E, N, D) of fixed test images, y (N,)
      tensorboard/    with --tensorboard: TensorBoard's event files (train/, validation/, images/),
                      appended to by TensorBoard's own writers
      checkpoint/     while training: the last completed epoch (removed when the run finishes)
        state.json    the epoch, the history so far, the sampling noise's state
        epoch-NNNN.keras   weights and optimizer state
        snapshots.npz the snapshots so far (with --snapshots)

Training writes through `RunWriter` (`RunWriter.create`, `.write_config`, `.save_checkpoint`,
`.finish`); `RunWriter.resume` reopens an interrupted run; every later tool reads a finished run
through `Run.open`. Every file is written to a temporary name in the same directory, flushed
to disk (fsync), renamed, and the directory entry is flushed too: a run killed at any moment,
even by a power cut, leaves either the old file or the new one, never half of one.

`claim` is the one rule for output files: nothing a user made is replaced without --overwrite.

One writer at a time: training, --resume and every command that writes into a run directory
hold its lock (`lock`, the file `.vae_tf-lock` with the writer's pid, host and command, locked
with `fcntl.flock`), so a second writer is refused with one line naming the holder. The kernel
drops the lock of a process that dies, so a killed writer's lock is simply taken over. An
--overwrite clears the old run before the new one starts (`RunWriter.create`): files that
analysed the old model (evaluation.json, figures) go with it. Every file is checked as it is
read: a damaged one is a `RunDirError` naming the file and what is wrong with it.
See docs/reliability-guarantees.md.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import datetime
import errno
import io
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vae_tf.core.errors import RunBusy, RunDirError  # noqa: F401 (raised here; vae_tf.rundir.RunDirError)

FORMAT = "vae_tf.run"
FORMAT_VERSION = 1
RUN_FILES = ("config.json", "history.csv", "model.keras", "latents.npz", "summary.json")
CHECKPOINT = "checkpoint"
SNAPSHOTS = "snapshots.npz"
TENSORBOARD = "tensorboard"
LOCK = ".vae_tf-lock"
SCRATCH_PREFIX = "vae_tf-worker-"
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
    """What is in `directory`, apart from the lock and the temporaries of an interrupted write."""
    return [entry for entry in directory.iterdir() if entry.name != LOCK and not _TEMPORARY.match(entry.name)]


def is_run_directory(path) -> bool:
    """Whether `path` holds a vae_tf run, finished or not (its config.json or summary.json)."""
    path = Path(path)
    return path.is_dir() and any((path / name).is_file() for name in ("config.json", "summary.json"))


def how_to_finish(path) -> str:
    """What to do with the unfinished run directory `path`, as a sentence that names the command."""
    path = Path(path)
    if (path / CHECKPOINT / "state.json").is_file():
        return f"continue it with `python -m vae_tf.train --resume {path}`"
    if (path / "config.json").is_file():
        return (f"no epoch of it completed, so there is nothing to resume: train it again with "
                f"`python -m vae_tf.train --out {path} --overwrite` and its settings")
    return "train one with `python -m vae_tf.train --out DIR`"


# --- one writer per directory ----------------------------------------------------------------

class Lock:
    """An exclusive lock on a directory, held by this process until `release` (see `lock`)."""

    def __init__(self, directory: Path, handle: int):
        self.directory = directory
        self.path = directory / LOCK
        self._handle = handle
        _HELD.add(self.path)

    def release(self) -> None:
        """Drop the lock and remove the lock file (removed first, while still held: see `lock`)."""
        if self._handle is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._handle)
        self._handle = None
        _HELD.discard(self.path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def lock(directory, command: str | None = None) -> Lock:
    """Take the exclusive lock of `directory` (which must exist) for this process: one writer at a time.

    The lock file `.vae_tf-lock` holds the writer's pid, host, command and start time, for the
    message a second writer gets. `fcntl.flock` locks are dropped by the kernel when their
    process dies, so the lock of a killed writer is taken over (the file is rewritten). Then the
    temporaries an interrupted write may have left (`.model.keras.*`) are removed.

    Args:
      directory: the directory to write into.
      command: what this process is, for the message (default: its command line).

    Returns:
      A `Lock`; `release()` it (or use it as a context manager).

    Raises:
      RunBusy: another process holds the lock (the message names it).
      OSError: the lock file cannot be made (a read-only directory, no permission...).
    """
    import fcntl

    directory = Path(directory)
    path = directory / LOCK
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = _read_holder(handle)
            os.close(handle)
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OSError(error.errno, error.strerror, str(path)) from None
            raise RunBusy(f"{directory} is being written by another process ({holder}); wait for it to finish, "
                          "or stop it, or choose another directory.") from None
        try:  # the holder we waited for may have removed the file: then lock the new one
            same = os.stat(path).st_ino == os.fstat(handle).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(handle)
    command = command or _command_line()
    since = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    try:
        os.ftruncate(handle, 0)
        os.pwrite(handle, f"pid {os.getpid()} on {socket.gethostname()}, since {since}: {command}\n".encode(), 0)
        remove_temporaries(directory)
    except OSError:
        os.close(handle)
        raise
    return Lock(directory, handle)


_HELD: set[Path] = set()  # the lock files this process holds


def held_lock_files() -> list[Path]:
    """The lock files of the directories this process holds the lock of (see `lock`)."""
    return sorted(_HELD)


def remove_lock_for(path, pid: int) -> bool:
    """Remove the lock file `path` for process `pid`, which holds it and is about to be ended.

    For a process that cannot release its own lock: the watcher of a cluster's worker stuck
    waiting for its cluster (`vae_tf.training.distributed`) removes the file, then ends the worker. As in
    `Lock.release`, the file goes while its lock is still held, so no other writer can hold it.
    Only a file that names `pid` is removed.

    Args:
      path: the lock file (`DIR/.vae_tf-lock`).
      pid: the process that holds its lock.

    Returns:
      Whether the file was removed.
    """
    try:
        with open(path, "rb") as handle:
            if not handle.read(64).startswith(f"pid {pid} ".encode()):
                return False
        os.unlink(path)
    except OSError:
        return False
    return True


def remove_dead_lock(path, pid: int, wait: float = 5.0) -> bool:
    """Remove the lock file `path` that process `pid` held, once `pid` has died (within `wait` seconds).

    For a process that cannot release its own lock (the watcher of a cluster's worker that it
    ends: `vae_tf.training.distributed`). The lock is taken first, as a new writer would take it, and the
    file removed while held, and only if it still names `pid`: a writer that came since keeps its lock.

    Args:
      path: the lock file (`DIR/.vae_tf-lock`).
      pid: the process that held its lock.
      wait: how long `pid` may take to die (its lock is dropped when it has).

    Returns:
      Whether the file was removed.
    """
    import fcntl
    import time

    deadline = time.monotonic() + wait
    while True:
        try:
            handle = os.open(path, os.O_RDWR)
        except OSError:
            return False  # gone already
        try:
            ours = os.pread(handle, 64, 0).startswith(f"pid {pid} ".encode())
            if not ours:
                return False
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # `pid` is still dying
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.05)
                continue
            try:
                same = os.stat(path).st_ino == os.fstat(handle).st_ino
            except FileNotFoundError:
                same = False
            if same and os.pread(handle, 64, 0).startswith(f"pid {pid} ".encode()):
                os.unlink(path)
                return True
            return False
        finally:
            os.close(handle)


def _command_line() -> str:
    """This process's command, as the user typed it (`python -m vae_tf.train --out ...`)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    program = f"python -m {spec.name}" if spec is not None else f"python {sys.argv[0] if sys.argv else ''}"
    return " ".join([program, *sys.argv[1:]])


def _read_holder(handle: int, patience: float = 1.0) -> str:
    """The lock file's line naming its holder. A holder that has just taken the lock writes its
    line a moment later: an empty file is read again for up to `patience` seconds."""
    deadline = time.monotonic() + patience
    while True:
        try:
            text = os.pread(handle, 4096, 0).decode("utf-8", "replace").strip()
        except OSError:
            text = ""
        if text or time.monotonic() >= deadline:
            return text or "it has just started"
        time.sleep(0.01)


def remove_temporaries(directory) -> list[Path]:
    """Remove the temporaries of writes a kill interrupted in `directory` and its checkpoint/.

    Only call it while holding the directory's lock (no write of ours is then under way).

    Returns:
      The paths removed.
    """
    removed = []
    for folder in (Path(directory), Path(directory) / CHECKPOINT):
        if folder.is_dir():
            for entry in folder.iterdir():
                if entry.is_file() and _TEMPORARY.match(entry.name):
                    entry.unlink()
                    removed.append(entry)
    return removed


@contextlib.contextmanager
def writing_into(directory):
    """Hold the lock of `directory` while a command writes its outputs there, if it is a run directory.

    Analysis commands (plot, evaluate, compress) write into the run they read by default: a
    training or an --overwrite of that run must not happen meanwhile. Other output directories
    are not locked.
    """
    held = lock(directory) if is_run_directory(directory) else None
    try:
        yield
    finally:
        if held is not None:
            held.release()


def _clear_run(directory: Path) -> None:
    """Remove an old run from `directory`, for a new run (--overwrite), while holding its lock.

    A run directory is emptied entirely: the files that analysed the old model (evaluation.json,
    figures) belong to it. summary.json goes first and config.json second, so that a clearing cut
    short leaves a directory that is refused as unfinished, never one that looks finished.
    Elsewhere only the files a run writes are removed, and the user's other files are kept.
    """
    whole = is_run_directory(directory)
    ordered = ["summary.json", "config.json"]
    entries = sorted(_entries(directory), key=lambda entry: ordered.index(entry.name) if entry.name in ordered else 2)
    for entry in entries:
        if not whole and entry.name not in (*RUN_FILES, CHECKPOINT, SNAPSHOTS, TENSORBOARD):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        if entry.name in ordered:
            _fsync_directory(directory)
    _fsync_directory(directory)


def _cleanup_scratch() -> None:
    """Remove the scratch directories of worker processes that are no longer running (on this host)."""
    for entry in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        match = re.match(rf"{SCRATCH_PREFIX}(\d+)-", entry.name)
        if match and entry.is_dir() and not _alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- reading ---------------------------------------------------------------------------------

DAMAGED = "the file is damaged; train the run again (`python -m vae_tf.train --out DIR --overwrite`)"


def read_history(path) -> list[dict]:
    """history.csv as a list of dicts of floats (epoch as int), checked.

    Raises:
      RunDirError: the file is not text, has no epoch and loss columns, no rows, or a value that is
        not a number (the message names the file, the line and the fix).
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as error:
        raise RunDirError(f"{path} is not a readable CSV file ({error}); {DAMAGED}.") from None
    missing = [name for name in ("epoch", "loss") if name not in columns]
    if missing or not rows:
        what = f"has no {', '.join(missing)} column" if missing else "has no rows"
        raise RunDirError(f"{path} {what}; {DAMAGED}.")
    history = []
    for line, row in enumerate(rows, start=2):
        try:
            history.append({key: (int(value) if key == "epoch" else float(value)) for key, value in row.items()})
        except (TypeError, ValueError):
            raise RunDirError(f"{path} line {line} is not a row of numbers ({dict(row)!r:.120}); {DAMAGED}.") from None
    return history


def _read_json(path: Path, kind=dict):
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunDirError(f"cannot parse {path} ({error}); {DAMAGED}.") from None
    if kind is not None and not isinstance(value, kind):
        raise RunDirError(f"{path} holds a JSON {type(value).__name__}, not an object; {DAMAGED}.")
    return value


def read_config(path) -> dict:
    """The checked `config.json` of the run directory `path` (finished or not).

    Raises:
      RunDirError: `path` is missing, has no config.json, or one this version cannot read.
    """
    path = Path(path)
    config_path = path / "config.json"
    if not path.is_dir():
        raise RunDirError(f"{path} is not a directory; give the run directory that `python -m vae_tf.train` printed.")
    if not config_path.is_file():
        raise RunDirError(f"{path} is not a vae_tf run directory (no config.json).")
    config = _read_json(config_path, kind=None)
    if not isinstance(config, dict) or config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
        found = config if isinstance(config, dict) else {}
        raise RunDirError(
            f"{config_path} is format {found.get('format')!r} version {found.get('format_version')!r}; "
            f"this vae_tf reads {FORMAT!r} version {FORMAT_VERSION}. Retrain the run with this version."
        )
    return config


@dataclass
class Run:
    """A finished run directory, read lazily: `Run.open(path)`. Each file is checked as it is read
    (a damaged one raises `RunDirError` naming it) and read once."""

    path: Path
    config: dict
    summary: dict
    _read: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def open(cls, path) -> Run:
        """Open the finished run at `path`.

        Raises:
          RunDirError: not a run, an unfinished one (the message says how to finish it), or a
            damaged config.json or summary.json.
        """
        path = Path(path)
        missing = [name for name in RUN_FILES if not (path / name).is_file()] if path.is_dir() else []
        if missing:
            raise RunDirError(
                f"{path} is not a finished vae_tf run directory (missing {', '.join(missing)}); "
                f"{how_to_finish(path)}."
            )
        config = read_config(path)
        if not isinstance(config.get("config"), dict):
            raise RunDirError(f"{path / 'config.json'} has no \"config\" object (the run's settings); {DAMAGED}.")
        summary = _read_json(path / "summary.json")
        if not isinstance(summary.get("final"), dict):
            raise RunDirError(f"{path / 'summary.json'} has no \"final\" metrics; {DAMAGED}.")
        return cls(path, config, summary)

    def _once(self, name, read):
        if name not in self._read:
            self._read[name] = read()
        return self._read[name]

    @property
    def settings(self) -> dict:
        """The TrainConfig values the run was trained with."""
        return self.config["config"]

    @property
    def title(self) -> str:
        """The variant as the report names it, then the settings that differ (see `vae_tf.config.settings.title`)."""
        from vae_tf.config import title

        return title(self.settings)

    def history(self) -> list[dict]:
        """history.csv, checked (`read_history`)."""
        return self._once("history", lambda: read_history(self.path / "history.csv"))

    def latents(self) -> dict:
        """latents.npz, checked: z_mean, z_log_var, z (N, D) and, for labelled data, y (N,)."""
        def read():
            path = self.path / "latents.npz"
            arrays = read_npz(path, ("z_mean", "z_log_var", "z"))  # y: the labels, if the data has them
            _check_shapes(path, arrays, {"z_mean": "ND", "z_log_var": "ND", "z": "ND", "y": "N"})
            return arrays

        return self._once("latents", read)

    @property
    def has_snapshots(self) -> bool:
        """Whether the run was trained with --snapshots (it has snapshots.npz)."""
        return (self.path / SNAPSHOTS).is_file()

    def snapshots(self) -> dict | None:
        """snapshots.npz (`epoch` (E,), `z_mean` (E, N, D), `y` (N,)), checked, or None for a run trained
        without --snapshots."""
        def read():
            path = self.path / SNAPSHOTS
            arrays = read_npz(path, ("epoch", "z_mean"))
            _check_shapes(path, arrays, {"epoch": "E", "z_mean": "END", "y": "N"})
            return arrays

        return self._once("snapshots", read) if self.has_snapshots else None

    def model(self):
        """model.keras, checked (`load_model`)."""
        return self._once("model", lambda: load_model(self.path / "model.keras"))

    def check(self) -> Run:
        """Read every file of the run now (each is checked, and kept for later), so that a command fails
        before it writes anything. Returns the run."""
        self.history()
        self.latents()
        self.snapshots()
        self.model()
        return self


def _check_shapes(path: Path, arrays: dict, shapes: dict) -> None:
    """Check that `arrays` have the `shapes` named by letters (equal letters, equal sizes)."""
    sizes = {}
    for name, letters in shapes.items():
        if name not in arrays:  # an optional array (the labels of unlabelled data)
            continue
        shape = arrays[name].shape
        ok = len(shape) == len(letters) and all(sizes.setdefault(letter, size) == size
                                                for letter, size in zip(letters, shape))
        if not ok or arrays[name].dtype == object:
            raise RunDirError(f"{path}: {name} has shape {shape}, expected ({', '.join(letters)}) "
                              f"matching the other arrays; {DAMAGED}.")


def read_npz(path, names=()) -> dict:
    """The arrays of an .npz file, checked: a readable archive holding at least `names`.

    Raises:
      RunDirError: the file is not a readable .npz archive (empty, truncated, damaged), or lacks one
        of `names`.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as arrays:
            found = {name: arrays[name] for name in arrays.files}
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, KeyError) as error:
        what = "is empty" if path.stat().st_size == 0 else f"is not a readable .npz archive ({error})"
        raise RunDirError(f"{path} {what}; {DAMAGED}.") from None
    missing = [name for name in names if name not in found]
    if missing:
        raise RunDirError(f"{path} has no {', '.join(missing)} array; {DAMAGED}.")
    return found


def check_keras_archive(path) -> Path:
    """Check that `path` is a non-empty, complete .keras archive before Keras reads it.

    Keras says "File not found" of an empty or truncated file; this says what is wrong.

    Raises:
      RunDirError: the file is missing, empty, or not a complete zip archive.
    """
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path} is missing; {DAMAGED}.")
    if path.stat().st_size == 0:
        raise RunDirError(f"{path} is empty (0 bytes), e.g. a write cut short; {DAMAGED}.")
    if not zipfile.is_zipfile(path):
        raise RunDirError(f"{path} is not a complete .keras archive (truncated or not written by Keras); {DAMAGED}.")
    return path


def load_model(path):
    """A `vae_tf.VAE` saved by training (`RUNDIR/model.keras` or a checkpoint), checked.

    Raises:
      RunDirError: the file is empty, truncated, or Keras cannot rebuild a model from it.
    """
    import keras

    import vae_tf.models.vae  # noqa: F401  (registers the VAE class for deserialisation)

    check_keras_archive(path)
    try:
        return keras.models.load_model(path)
    except Exception as error:  # noqa: BLE001  (Keras raises many kinds; each is one line here)
        first = (str(error).strip().splitlines() or [""])[0][:200]
        raise RunDirError(f"{path} cannot be loaded as a vae_tf model ({type(error).__name__}: {first}); "
                          f"{DAMAGED}.") from None


# --- writing a run ---------------------------------------------------------------------------

class RunWriter:
    """Writes one training run's directory. `RunWriter.create(out)` for a new run, `.resume(out)` for
    an interrupted one; then `write_config` (new runs), `save_checkpoint` after every epoch, `finish`.

    `path` is where it writes; `home` is the run directory, where a resumed run's checkpoint is
    read from: the same, except for a `scratch` writer.
    """

    def __init__(self, path, state: dict | None = None, home=None, lock: Lock | None = None):
        self.path = Path(path)
        self.home = Path(home) if home is not None else self.path
        self.state = state  # the last checkpoint's state.json, when resuming
        self.lock = lock  # held from `create`/`resume` until `close`

    @classmethod
    def create(cls, path, overwrite: bool = False) -> RunWriter:
        """A new run in `path`: the directory is created and locked first, then checked under the lock
        (empty, or with `overwrite` an old run cleared away: see `_clear_run`).

        Raises:
          RunBusy: another process is writing there.
          RunDirError: `path` is a file, or not empty and `overwrite` is False.
          OSError: `path` cannot be created or written.
        """
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise RunDirError(f"--out {path} is a file, not a directory; choose another path.")
        path.mkdir(parents=True, exist_ok=True)
        held = lock(path)
        try:
            if overwrite:
                _clear_run(path)
            claim(path, None, overwrite)
        except BaseException:
            held.release()
            raise
        return cls(path, lock=held)

    def close(self) -> None:
        """Release the run directory's lock (training is over, finished or not)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def scratch(self) -> RunWriter:
        """The same run written into a temporary directory deleted at exit, for a worker whose files
        nobody keeps (a non-chief worker of a cluster: it must save too, because saving takes part in
        the workers' collectives). It reads the checkpoint from this writer's `home`.

        The directory is named after this process (`/tmp/vae_tf-worker-<pid>-*`): the scratch
        directories of killed workers, which no exit handler removed, are removed here."""
        _cleanup_scratch()
        directory = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        return RunWriter(directory, self.state, home=self.home)

    @classmethod
    def resume(cls, path, write=True) -> tuple[RunWriter, dict]:
        """An interrupted run: (its writer, with `.state` the last checkpoint's; its TrainConfig as a dict).

        Args:
          path: the run directory.
          write: lock it (False for a worker that only reads the chief's checkpoint), or a function of
            the run's settings (a dict) that says whether to.

        Raises:
          RunBusy: another process is writing there.
          RunDirError: not a run, a finished run, a run without a completed epoch, or a damaged checkpoint.
        """
        path = Path(path)
        try:
            settings = read_config(path).get("config")
        except RunDirError as error:
            raise RunDirError(f"--resume: {error}") from None
        held = lock(path) if (write(settings or {}) if callable(write) else write) else None
        try:
            state_path = path / CHECKPOINT / "state.json"
            if (path / "summary.json").is_file():
                raise RunDirError(f"--resume {path}: this run has finished; there is nothing to resume.")
            if not state_path.is_file():
                raise RunDirError(f"--resume {path}: no completed epoch was checkpointed ({state_path} is missing); "
                                  "start the run again instead (`python -m vae_tf.train --out "
                                  f"{path} --overwrite` and its settings).")
            state = _read_json(state_path)
            if not (isinstance(state.get("epochs_done"), int) and isinstance(state.get("model"), str)
                    and isinstance(state.get("history"), list)):
                raise RunDirError(f"{state_path} lacks epochs_done, model or history; {DAMAGED}.")
            check_keras_archive(path / CHECKPOINT / state["model"])
        except BaseException:
            if held is not None:
                held.release()
            raise
        return cls(path, state, lock=held), settings

    @property
    def epochs_done(self) -> int:
        return self.state["epochs_done"] if self.state else 0

    @property
    def history(self) -> list[dict]:
        """The rows of the epochs already done (a resumed run's earlier epochs)."""
        return list(self.state["history"]) if self.state else []

    def write_config(self, settings: dict, *, data: dict, device: str, versions: dict, command=None, **extra) -> None:
        """config.json: the settings, the data, the device, the versions, the command, and `extra` entries
        (e.g. `loss_audit`, `vae_tf.models.audit.loss_audit`'s)."""
        write_json(self.path / "config.json", {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": settings,
            "data": data,
            "device": device,
            "versions": versions,
            "command": command,
            "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            **extra,
        })

    @property
    def tensorboard_dir(self) -> Path:
        """Where TensorBoard's writers put their event files (they append; a resumed run adds files)."""
        return self.path / TENSORBOARD

    @property
    def snapshots(self) -> dict | None:
        """A resumed run's snapshots of its completed epochs (None: none were stored)."""
        path = self.home / CHECKPOINT / SNAPSHOTS  # a scratch writer resumes from the run's own checkpoint
        if not self.state or not path.is_file():
            return None
        arrays = read_npz(path, ("epoch", "z_mean"))
        keep = arrays["epoch"] <= self.epochs_done  # written before state.json: it may be an epoch ahead
        return {**arrays, "epoch": arrays["epoch"][keep], "z_mean": arrays["z_mean"][keep]}

    def save_checkpoint(self, model, history: list[dict], snapshots: dict | None = None, **extra) -> None:
        """After a completed epoch: the snapshots and the model (weights and optimizer state), then
        state.json naming them.

        state.json is replaced last, so it always names a complete model file.

        Args:
          model: the VAE.
          history: every row so far; its last row's `epoch` is the epoch just completed.
          snapshots: the arrays of snapshots.npz so far, or None.
          **extra: more state to restore (JSON-serialisable), e.g. the sampling noise's state.
        """
        directory = self.path / CHECKPOINT
        directory.mkdir(exist_ok=True)
        epoch = history[-1]["epoch"]
        if snapshots is not None:
            write_npz(directory / SNAPSHOTS, **snapshots)
        model_file = f"epoch-{epoch:04d}.keras"
        save_model(directory / model_file, model)
        self.state = {"epochs_done": epoch, "model": model_file, "history": list(history), **extra}
        write_json(directory / "state.json", self.state)
        for old in directory.glob("epoch-*.keras"):
            if old.name != model_file:
                old.unlink()

    def checkpoint_model(self):
        """The model saved with the last checkpoint (a `vae_tf.VAE` with its optimizer), checked."""
        return load_model(self.home / CHECKPOINT / self.state["model"])

    def finish(self, model, history: list[dict], latents: dict, labels, snapshots: dict | None = None,
               **summary) -> Path:
        """Write the finished run's files and drop the checkpoint, which they supersede.

        Args:
          model: the trained VAE.
          history: one row per epoch (`epoch`, the loss terms, `seconds`).
          latents: `z_mean`, `z_log_var`, `z` of the training images (N, D) each.
          labels: y (N,), or None for data without labels (then latents.npz holds no `y`).
          snapshots: the arrays of snapshots.npz, or None (not written).
          **summary: more entries for summary.json (e.g. wall_seconds, device).
        """
        write_csv(self.path / "history.csv", history)
        save_model(self.path / "model.keras", model)
        write_npz(self.path / "latents.npz", **latents, **({} if labels is None else {"y": labels}))
        if snapshots is not None:
            write_npz(self.path / SNAPSHOTS, **snapshots)
        z = latents["z"]
        write_json(self.path / "summary.json", {
            "final": {name: value for name, value in history[-1].items()
                      if name not in ("epoch", "seconds", "val_seconds")},
            "epochs": history[-1]["epoch"],
            "train_images": len(z),
            "z": {"min": z.min(axis=0).tolist(), "max": z.max(axis=0).tolist(), "std": z.std(axis=0).tolist()},
            "train_seconds": sum(row["seconds"] for row in history),
            "resumed_after_epoch": None,
            **summary,
        })
        shutil.rmtree(self.path / CHECKPOINT, ignore_errors=True)
        return self.home

    def add_to_summary(self, **entries) -> None:
        """Add `entries` to the finished run's summary.json (e.g. `phases`, timed after `finish`)."""
        path = self.path / "summary.json"
        write_json(path, {**json.loads(path.read_text(encoding="utf-8")), **entries})
