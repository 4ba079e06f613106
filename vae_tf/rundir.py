"""The run directory: what training writes and every later tool reads.

    RUNDIR/
      config.json     every setting, the seed, where the data came from, library versions
      history.csv     one row per epoch: epoch, loss, reconstruction_loss, kl_loss,
                      [mse_loss,] seconds
      model.keras     the trained VAE (`keras.models.load_model` after `import vae_tf`)
      latents.npz     z_mean, z_log_var, z (sampled codes), y for the training images,
                      in dataset order
      summary.json    final metrics, per-dimension min/max/std of z, wall time, device

Every file is written to a temporary name in the same directory and then renamed, so a run
killed at any moment leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT = "vae_tf.run"
FORMAT_VERSION = 1
RUN_FILES = ("config.json", "history.csv", "model.keras", "latents.npz", "summary.json")


_UMASK = os.umask(0)
os.umask(_UMASK)


class RunDirError(ValueError):
    """A path that should be a vae_tf run directory is not one (or not a readable one)."""


def _atomic_write(path: Path, write) -> Path:
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def write_text(path, text: str) -> Path:
    def write(temporary):
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)

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
    # Keras insists on the .keras suffix, so the temporary name keeps it.
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.tmp.keras")
    try:
        model.save(temporary)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
    return path


def read_history(path) -> list[dict]:
    """history.csv as a list of dicts of floats (epoch as int)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [{key: (int(value) if key == "epoch" else float(value)) for key, value in row.items()} for row in rows]


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
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as error:
        raise RunDirError(f"cannot parse {config_path} ({error}).") from None
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
                    if (path / "checkpoint").is_dir() else "train one with `python -m vae_tf.train --out DIR`")
            raise RunDirError(
                f"{path} is not a finished vae_tf run directory (missing {', '.join(missing)}); {hint}."
            )
        config = read_config(path)
        try:
            summary = json.loads((path / "summary.json").read_text())
        except json.JSONDecodeError as error:
            raise RunDirError(f"cannot parse {path / 'summary.json'} ({error}).") from None
        return cls(path, config, summary)

    @property
    def settings(self) -> dict:
        """The TrainConfig values the run was trained with."""
        return self.config["config"]

    @property
    def label(self) -> str:
        settings = self.settings
        return f"regularizer={settings['regularizer']}, reduction={settings['reduction']}"

    def history(self) -> list[dict]:
        return read_history(self.path / "history.csv")

    def latents(self) -> dict:
        with np.load(self.path / "latents.npz") as arrays:
            return {name: arrays[name] for name in arrays.files}

    def model(self):
        import keras

        import vae_tf.model  # noqa: F401  (registers the VAE class for deserialisation)

        return keras.models.load_model(self.path / "model.keras")
