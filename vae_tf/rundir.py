"""The run directory: the one module that writes it and reads it back.

    RUNDIR/
      config.json     every setting, the seed, where the data came from, library versions
      history.csv     one row per epoch: epoch, loss, reconstruction_loss, kl_loss,
                      [mse_loss,] [the same as val_* and val_seconds,] seconds
      model.keras     the trained VAE (`vae_tf.load_model`)
      latents.npz     z_mean, z_log_var, z (sampled codes), y for the training images,
                      in dataset order
      summary.json    final metrics, per-dimension min/max/std of z, the latent diagnostics
                      (`vae_tf.diagnostics`) of the test images, wall time, device, and the
                      run's phases and peak memory (`vae_tf.phases`)
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
"""

from __future__ import annotations

import atexit
import csv
import datetime
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT = "vae_tf.run"
FORMAT_VERSION = 1
RUN_FILES = ("config.json", "history.csv", "model.keras", "latents.npz", "summary.json")
CHECKPOINT = "checkpoint"
SNAPSHOTS = "snapshots.npz"
TENSORBOARD = "tensorboard"

_UMASK = os.umask(0)
os.umask(_UMASK)


class RunDirError(ValueError):
    """A path that should be a vae_tf run directory is not one (or not a readable one)."""


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
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(handle)
    try:
        write(temporary)
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(temporary, path)
        _fsync_directory(path.parent)
    finally:
        if os.path.exists(temporary):
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

    Args:
      directory: where the files go.
      names: the files that will be written there; None: the directory must be empty (a run).
      overwrite: the user passed --overwrite.
      flag: the flag that named `directory`, for the message.

    Returns:
      `directory` as a Path, created if missing.

    Raises:
      RunDirError: `directory` is a file, or holds files that would be replaced.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise RunDirError(f"{flag} {directory} is a file, not a directory; choose another path.")
    if directory.is_dir() and not overwrite:
        if names is None and any(directory.iterdir()):
            raise RunDirError(f"{flag} {directory} already exists and is not empty; choose another directory or "
                              "pass --overwrite to replace the files in it.")
        existing = [name for name in names or () if (directory / name).exists()]
        if existing:
            raise RunDirError(f"{directory} already has {', '.join(existing)}; pass --overwrite to replace "
                              f"{'it' if len(existing) == 1 else 'them'}, or choose another {flag}.")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


# --- reading ---------------------------------------------------------------------------------

def read_history(path) -> list[dict]:
    """history.csv as a list of dicts of floats (epoch as int)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [{key: (int(value) if key == "epoch" else float(value)) for key, value in row.items()} for row in rows]


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise RunDirError(f"cannot parse {path} ({error}).") from None


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
    config = _read_json(config_path)
    if not isinstance(config, dict) or config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
        found = config if isinstance(config, dict) else {}
        raise RunDirError(
            f"{config_path} is format {found.get('format')!r} version {found.get('format_version')!r}; "
            f"this vae_tf reads {FORMAT!r} version {FORMAT_VERSION}. Retrain the run with this version."
        )
    return config


@dataclass
class Run:
    """A finished run directory, read lazily: `Run.open(path)`."""

    path: Path
    config: dict
    summary: dict

    @classmethod
    def open(cls, path) -> Run:
        path = Path(path)
        missing = [name for name in RUN_FILES if not (path / name).is_file()] if path.is_dir() else []
        if missing:
            hint = (f"it was interrupted; continue it with `python -m vae_tf.train --resume {path}`"
                    if (path / CHECKPOINT).is_dir() else "train one with `python -m vae_tf.train --out DIR`")
            raise RunDirError(
                f"{path} is not a finished vae_tf run directory (missing {', '.join(missing)}); {hint}."
            )
        return cls(path, read_config(path), _read_json(path / "summary.json"))

    @property
    def settings(self) -> dict:
        """The TrainConfig values the run was trained with."""
        return self.config["config"]

    @property
    def title(self) -> str:
        """The variant as the report names it, then the settings that differ (see `vae_tf.config.title`)."""
        from vae_tf.config import title

        return title(self.settings)

    def history(self) -> list[dict]:
        return read_history(self.path / "history.csv")

    def latents(self) -> dict:
        return read_npz(self.path / "latents.npz")

    @property
    def has_snapshots(self) -> bool:
        """Whether the run was trained with --snapshots (it has snapshots.npz)."""
        return (self.path / SNAPSHOTS).is_file()

    def snapshots(self) -> dict | None:
        """snapshots.npz (`epoch`, `z_mean`, `y`), or None for a run trained without --snapshots."""
        return read_npz(self.path / SNAPSHOTS) if self.has_snapshots else None

    def model(self):
        return load_model(self.path / "model.keras")


def read_npz(path) -> dict:
    with np.load(path) as arrays:
        return {name: arrays[name] for name in arrays.files}


def load_model(path):
    """A `vae_tf.VAE` saved by training (`RUNDIR/model.keras` or a checkpoint)."""
    import keras

    import vae_tf.model  # noqa: F401  (registers the VAE class for deserialisation)

    return keras.models.load_model(path)


# --- writing a run ---------------------------------------------------------------------------

class RunWriter:
    """Writes one training run's directory. `RunWriter.create(out)` for a new run, `.resume(out)` for
    an interrupted one; then `write_config` (new runs), `save_checkpoint` after every epoch, `finish`.

    `path` is where it writes; `home` is the run directory, where a resumed run's checkpoint is
    read from: the same, except for a `scratch` writer.
    """

    def __init__(self, path, state: dict | None = None, home=None):
        self.path = Path(path)
        self.home = Path(home) if home is not None else self.path
        self.state = state  # the last checkpoint's state.json, when resuming

    @classmethod
    def create(cls, path, overwrite: bool = False) -> RunWriter:
        return cls(claim(path, None, overwrite))

    def scratch(self) -> RunWriter:
        """The same run written into a temporary directory deleted at exit, for a worker whose files
        nobody keeps (a non-chief worker of a cluster: it must save too, because saving takes part in
        the workers' collectives). It reads the checkpoint from this writer's `home`."""
        directory = Path(tempfile.mkdtemp(prefix="vae_tf-worker-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        return RunWriter(directory, self.state, home=self.home)

    @classmethod
    def resume(cls, path) -> tuple[RunWriter, dict]:
        """An interrupted run: (its writer, with `.state` the last checkpoint's; its TrainConfig as a dict).

        Raises:
          RunDirError: not a run, a finished run, or a run without a completed epoch.
        """
        path = Path(path)
        try:
            settings = read_config(path).get("config")
        except RunDirError as error:
            raise RunDirError(f"--resume: {error}") from None
        state_path = path / CHECKPOINT / "state.json"
        if (path / "summary.json").is_file():
            raise RunDirError(f"--resume {path}: this run has finished; there is nothing to resume.")
        if not state_path.is_file():
            raise RunDirError(f"--resume {path}: no completed epoch was checkpointed ({state_path} is missing); "
                              "start the run again instead.")
        return cls(path, _read_json(state_path)), settings

    @property
    def epochs_done(self) -> int:
        return self.state["epochs_done"] if self.state else 0

    @property
    def history(self) -> list[dict]:
        """The rows of the epochs already done (a resumed run's earlier epochs)."""
        return list(self.state["history"]) if self.state else []

    def write_config(self, settings: dict, *, data: dict, device: str, versions: dict, command=None) -> None:
        write_json(self.path / "config.json", {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": settings,
            "data": data,
            "device": device,
            "versions": versions,
            "command": command,
            "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
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
        arrays = read_npz(path)
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
        """The model saved with the last checkpoint (a `vae_tf.VAE` with its optimizer)."""
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
