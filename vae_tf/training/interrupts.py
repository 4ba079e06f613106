"""Stopping a run on SIGTERM or SIGINT (Ctrl-C): one path for both, never lost, never stuck.

- `obey_interrupts`: SIGTERM and SIGINT both record that they were taken, then raise
  KeyboardInterrupt (the command prints one line and exits 130). Recorded, because a
  KeyboardInterrupt raised while Python runs a finalizer is lost ("Exception ignored in ..."),
  and TensorFlow leaves finalizers behind on many calls: training checks the record at every
  batch and epoch end (`vae_tf.training.callbacks.ObeyInterrupt`) and after `fit`.
- `ending_cleanly`: a cluster's worker only records the signal (raised while TensorFlow reports a
  lost peer, the KeyboardInterrupt became pybind11's "MISMATCH ... REPLACED BY KeyboardInterrupt"
  traceback), stops at the next batch end, prints its line and leaves at once (TensorFlow's
  shutdown would wait for the peers); a watchdog thread does the same within `GRACE_SECONDS`
  of the signal if the main thread is stuck in a collective with a worker that no longer answers.
- `state_of`: what an interrupted or failed run left in its directory, and the command that finishes it;
  `carry_on`: the same for a command that trains several runs.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

# How long a cluster's worker may take, after SIGTERM or SIGINT, to stop by itself (at the next
# batch end) before its watchdog ends it: a call of the workers' train function takes well under this.
GRACE_SECONDS = 3.0
INTERRUPTED = 130  # the exit code of an interrupted command (a shell's for SIGINT)

# The signal taken (None: none yet), and whether the handler only records it (a cluster's worker).
_TAKEN: dict = {"signal": None, "quiet": False}


def obey_interrupts() -> None:
    """Make SIGTERM and SIGINT interrupt training alike, and never be lost (`python -m vae_tf.train`,
    `vae_tf.sweep` and `vae_tf.compare` call it)."""
    _TAKEN.update(signal=None, quiet=False)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _interrupt)


def interrupt_taken() -> bool:
    """Whether the handler of `obey_interrupts` has run in this process (SIGTERM or SIGINT)."""
    return _TAKEN["signal"] is not None


def _interrupt(signum, frame):
    _TAKEN["signal"] = signum
    if not _TAKEN["quiet"]:
        raise KeyboardInterrupt


def state_of(out) -> str:
    """What an interrupted or failed training left in `out`, and the command that finishes it."""
    from vae_tf.rundir import CHECKPOINT, how_to_finish, is_run_directory

    if out is None or not is_run_directory(out):
        return "nothing was written"
    if (Path(out) / "summary.json").is_file():
        return f"{out} holds a finished run"
    kept = "every completed epoch is kept; " if (Path(out) / CHECKPOINT).is_dir() else ""
    return f"{out}: {kept}{how_to_finish(out)}"


def carry_on(module: str, argv: list[str]) -> str:
    """The line a command that trains several runs (`vae_tf.sweep`, `vae_tf.compare`) prints when interrupted:
    the command that carries on, e.g. "interrupted: ... run the same command again: `python -m vae_tf.sweep ...`"."""
    import shlex

    return ("\ninterrupted: every completed epoch is kept; to continue, run the same command again (finished runs "
            f"are reused, the interrupted one resumes): `{shlex.join(['python', '-m', module, *argv])}`")


def _leave(line: str, code: int) -> None:
    """Print `line` on stderr, remove the lock files this process holds, and exit at once with `code`.

    At once (`os._exit`): TensorFlow's own shutdown of a cluster's worker waits for the other workers.
    The run's files are each written atomically, so whatever was being written is the old file or the new."""
    from vae_tf.rundir import held_lock_files, remove_lock_for

    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        print(line, file=sys.stderr, flush=True)
    for path in held_lock_files():
        remove_lock_for(path, os.getpid())
    os._exit(code)


@contextlib.contextmanager
def ending_cleanly(in_a_cluster: bool, interrupted, grace: float = GRACE_SECONDS, scratch=None):
    """Within it, a cluster's worker stops on SIGTERM or SIGINT within `grace` seconds, with one line.

    It also leaves at once after the one line of an error it reports (a lost worker, workers that
    do not agree...), exit code 1. Outside a cluster this does nothing (the handler of
    `obey_interrupts` raises KeyboardInterrupt, and the command reports errors).

    Args:
      in_a_cluster: whether this process is a worker of a multi-worker cluster.
      interrupted: a function giving the line to print, e.g. "interrupted: runs/mw: every completed
        epoch is kept; continue it with ...".
      grace: how long the main thread may take to stop by itself before the watchdog ends the process.
      scratch: a directory to remove on leaving (a worker's scratch run directory), or None.
    """
    from vae_tf.core.errors import REPORTED

    if not in_a_cluster:
        yield
        return
    ending = threading.Lock()  # one line, from whichever ends the process first

    def end(line, code: int) -> None:
        if ending.acquire(blocking=False):
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            _leave(line() if callable(line) else line, code)

    read, write = os.pipe()
    os.set_blocking(write, False)
    previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)  # written by the C handler at once
    done = threading.Event()

    def watch() -> None:
        wanted = {signal.SIGTERM, signal.SIGINT}
        with contextlib.closing(os.fdopen(read, "rb", buffering=0)) as signals:
            while not wanted & set(signals.read(64) or b"\0"):
                if done.is_set():
                    return
        if not done.wait(grace):  # still running: stuck in a collective with a worker that does not answer
            end(interrupted, INTERRUPTED)

    _TAKEN["quiet"] = True
    threading.Thread(target=watch, daemon=True, name="vae_tf-interrupts").start()
    try:
        yield
    except KeyboardInterrupt:
        end(interrupted, INTERRUPTED)
        raise
    except REPORTED as error:  # its one line, as the command would print it
        end(f"error: {error}", 1)
        raise
    finally:
        _TAKEN["quiet"] = False
        signal.set_wakeup_fd(previous)
        done.set()
        os.close(write)  # the watchdog's read ends
