"""Run again after an interruption: what a command that trains several runs does with each run's directory.

`python -m vae_tf.sweep` and `python -m vae_tf.compare` train runs into sub-directories of their
`--out`. Stopped (Ctrl-C, SIGTERM) and started again with the same command, they carry on:
`next_step` says, for one directory and the settings it should hold, whether to train it,
reuse it (finished), resume it (an interrupted run with a checkpoint) or restart it (a run
stopped before its first epoch ended, which holds nothing to keep); `take_step` does it. A
directory with another run, or with something that is not a run, is refused, naming the fix.
"""

from __future__ import annotations

from pathlib import Path

from vae_tf.config import TrainConfig
from vae_tf.core.errors import UsageError

STEPS = ("train", "reuse", "resume", "restart")


def differences(asked: dict, found: dict) -> list[str]:
    """The settings in which a run's `found` settings differ from those `asked`, e.g. ["epochs 3 (asked: 2)"].

    The data directory is left out: the same data may be found elsewhere.
    """
    defaults = TrainConfig().to_dict()
    return [f"{key} {found.get(key, defaults[key])!r} (asked: {value!r})" for key, value in asked.items()
            if key != "data_dir" and found.get(key, defaults[key]) != value]


def next_step(path, settings: TrainConfig, overwrite: bool = False, rerun: str = "the same command") -> str:
    """What to do with `path`, where a run of `settings` belongs: one of `STEPS`.

    Args:
      path: the run's directory.
      settings: the settings it must be trained with.
      overwrite: the user passed --overwrite: an unfinished run is trained again from scratch.
      rerun: how the message names the command to run again.

    Raises:
      UsageError: `path` holds a run of other settings, or something that is not a run (one line).
    """
    from vae_tf.rundir import CHECKPOINT, Run, RunDirError, how_to_finish, is_run_directory, read_config

    path = Path(path)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return "train"
    try:
        found, finished = Run.open(path).settings, True
    except RunDirError:
        if overwrite:
            return "train"
        try:
            found, finished = (read_config(path).get("config") or {}) if is_run_directory(path) else None, False
        except RunDirError:
            found = None
        if found is None:
            raise UsageError(f"{path} holds something that is not a run of {rerun}; remove it, or pass --overwrite "
                             "to train there again from scratch.") from None
    changed = differences(settings.to_dict(), found)
    if changed and finished:
        raise UsageError(f"{path} holds a finished run with other settings ({'; '.join(changed)}); {rerun} never "
                         "retrains a finished run: choose another --out, or remove that directory.")
    if changed:
        raise UsageError(f"{path} holds an unfinished run with other settings ({'; '.join(changed)}); pass "
                         f"--overwrite to train it again with these settings, or finish it alone "
                         f"({how_to_finish(path)}).")
    if finished:
        return "reuse"
    return "resume" if (path / CHECKPOINT / "state.json").is_file() else "restart"


def take_step(step: str, path, settings: TrainConfig, overwrite: bool = False, verbose: int = 2,
              command: list[str] | None = None) -> Path:
    """Do `next_step`'s `step` for `path`; returns the finished run's directory."""
    from vae_tf.training.run import resume, train

    if step == "reuse":
        return Path(path)
    if step == "resume":
        return resume(path, verbose)
    return train(settings, path, overwrite or step == "restart", verbose, command=command)
