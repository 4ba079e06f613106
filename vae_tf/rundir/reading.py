"""Reading a run directory back: every later tool reads a finished run through `Run.open`.

Every file is checked as it is read: a damaged one is a `RunDirError` naming the file and what
is wrong with it (`read_history`, `read_config`, `read_npz`, `check_keras_archive`,
`load_model`). An unfinished run is refused with what to do about it (`how_to_finish`).
"""

from __future__ import annotations

import csv
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vae_tf.core.errors import RunDirError
from vae_tf.rundir.layout import CHECKPOINT, FORMAT, FORMAT_VERSION, RUN_FILES, SNAPSHOTS
from vae_tf.rundir.records import check_config, check_model, check_summary

DAMAGED = "the file is damaged; train the run again (`python -m vae_tf.train --out DIR --overwrite`)"


def how_to_finish(path) -> str:
    """What to do with the unfinished run directory `path`, as a sentence that names the command."""
    path = Path(path)
    if (path / CHECKPOINT / "state.json").is_file():
        return f"continue it with `python -m vae_tf.train --resume {path}`"
    if (path / "config.json").is_file():
        return (f"no epoch of it completed, so there is nothing to resume: train it again with "
                f"`python -m vae_tf.train --out {path} --overwrite` and its settings")
    return "train one with `python -m vae_tf.train --out DIR`"


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
    return check_config(config, config_path)  # every field by type and range (records.py)


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
        config = check_config(read_config(path), path / "config.json", finished=True)
        summary = check_summary(_read_json(path / "summary.json"), path / "summary.json")
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
        def read():
            model = load_model(self.path / "model.keras")
            check_model(model, self.config, self.path / "model.keras")  # the model the other files describe
            return model

        return self._once("model", read)

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
    if path.is_dir():
        raise RunDirError(f"{path} is a directory, not a model file; pass the .keras file in it, e.g. "
                          f"{path / 'model.keras'} (a run's model), or open the run: vae_tf.Run.open({str(path)!r}).")
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
