"""Writing a training run's directory: `RunWriter`.

Training writes through `RunWriter` (`RunWriter.create`, `.write_config`, `.save_checkpoint`,
`.finish`); `RunWriter.resume` reopens an interrupted run. The writer holds the directory's lock
(`vae_tf.rundir.locks`) from `create` or `resume` until `close`, and writes every file
atomically (`vae_tf.rundir.files`). An --overwrite clears the old run before the new one starts
(`RunWriter.create`): files that analysed the old model (evaluation.json, figures) go with it.
"""

from __future__ import annotations

import atexit
import datetime
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from vae_tf.core.errors import RunDirError
from vae_tf.rundir.files import _entries, _fsync_directory, claim, save_model, write_csv, write_json, write_npz
from vae_tf.rundir.layout import (
    CHECKPOINT,
    FORMAT,
    FORMAT_VERSION,
    RUN_FILES,
    SCRATCH_PREFIX,
    SNAPSHOTS,
    TENSORBOARD,
    is_run_directory,
)
from vae_tf.rundir.locks import Lock, lock
from vae_tf.rundir.outputs import _make_directories, _remove_made
from vae_tf.rundir.reading import _read_json, check_keras_archive, load_model, read_config, read_npz
from vae_tf.rundir.records import check_state


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
        self.made = None  # the outermost folder `create` made, removed by `close` if nothing was written

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
        made = _make_directories(path)
        try:
            held = lock(path)
        except BaseException:
            _remove_made(path, made)
            raise
        try:
            if overwrite:
                _clear_run(path)
            claim(path, None, overwrite)
        except BaseException:
            held.release()
            _remove_made(path, made)
            raise
        writer = cls(path, lock=held)
        writer.made = made
        return writer

    def close(self) -> None:
        """Release the run directory's lock (training is over, finished or not); a directory `create`
        made is removed if nothing was written into it (a run that failed at once leaves no empty --out)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        _remove_made(self.path, self.made)

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
            state = _checkpoint_state(path)
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
        write_json(self.path / "summary.json", _summary(history, latents["z"], **summary))
        shutil.rmtree(self.path / CHECKPOINT, ignore_errors=True)
        return self.home

    def add_to_summary(self, **entries) -> None:
        """Add `entries` to the finished run's summary.json (e.g. `phases`, timed after `finish`)."""
        path = self.path / "summary.json"
        write_json(path, {**json.loads(path.read_text(encoding="utf-8")), **entries})


def _checkpoint_state(path: Path) -> dict:
    """The checked state.json of the interrupted run `path`, whose model file is checked too.

    Raises:
      RunDirError: a finished run, a run without a completed epoch, or a damaged checkpoint.
    """
    state_path = path / CHECKPOINT / "state.json"
    if (path / "summary.json").is_file():
        raise RunDirError(f"--resume {path}: this run has finished; there is nothing to resume.")
    if not state_path.is_file():
        raise RunDirError(f"--resume {path}: no completed epoch was checkpointed ({state_path} is missing); "
                          "start the run again instead (`python -m vae_tf.train --out "
                          f"{path} --overwrite` and its settings).")
    state = check_state(_read_json(state_path), state_path)  # every field by type and range (records.py)
    check_keras_archive(path / CHECKPOINT / state["model"])
    return state


def _summary(history: list[dict], z, **summary) -> dict:
    """summary.json of a finished run: the last epoch's metrics, the spread of its codes `z` (N, D),
    and the `summary` entries."""
    return {
        "final": {name: value for name, value in history[-1].items()
                  if name not in ("epoch", "seconds", "val_seconds")},
        "epochs": history[-1]["epoch"],
        "train_images": len(z),
        "z": {"min": z.min(axis=0).tolist(), "max": z.max(axis=0).tolist(), "std": z.std(axis=0).tolist()},
        "train_seconds": sum(row["seconds"] for row in history),
        "resumed_after_epoch": None,
        **summary,
    }


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
    others = [entry.name + "/" * entry.is_dir() for entry in entries if entry.name not in (*RUN_FILES, CHECKPOINT,
                                                                                       SNAPSHOTS, TENSORBOARD)]
    if whole and others:  # said, not only documented: these are not the run's own files
        print(f"note: --overwrite empties the run directory {directory}, with its other entries too: "
              f"{', '.join(others[:5])}{' ...' if len(others) > 5 else ''}", file=sys.stderr)
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
