"""One writer at a time: the lock of a run directory.

Training, --resume and every command that writes into a run directory hold its lock (`lock`,
the file `.vae_tf-lock` with the writer's pid, host and command, locked with `fcntl.flock`), so
a second writer is refused with one line naming the holder. The kernel drops the lock of a
process that dies, so a killed writer's lock is simply taken over. A process that cannot release
its own lock (a cluster's worker ended by its watcher) has its file removed for it
(`remove_lock_for`, `remove_dead_lock`).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import os
import socket
import sys
import time
from pathlib import Path

from vae_tf.core.errors import RunBusy
from vae_tf.rundir.files import _UMASK, remove_temporaries
from vae_tf.rundir.layout import LOCK, is_run_directory


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
    waiting for its cluster (`vae_tf.training.cluster`) removes the file, then ends the worker. As in
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
    ends: `vae_tf.training.cluster`). The lock is taken first, as a new writer would take it, and the
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


@contextlib.contextmanager
def writing_into(directory):
    """Hold the lock of `directory` while writing there, if it is a run directory (other directories
    are not locked).

    The commands now write through `vae_tf.rundir.outputs.outputs`, which locks every output folder
    and writes the outputs as one unit; this remains for code written against it.
    """
    held = lock(directory) if is_run_directory(directory) else None
    try:
        yield
    finally:
        if held is not None:
            held.release()
