"""The JSON files of a run directory, checked field by field as they are read.

config.json (the settings, the data's record, the device, the versions, the command), summary.json
(the last epoch's metrics, the codes' spread, the timings) and a checkpoint's state.json (the
epochs done, the model file, the history): every field a command reads is checked by type and
range, so that a hand-edited or damaged file is one line naming the file, the field, the value
and the fix (`RunDirError`), never a traceback, and never copied into another command's output.
A field a run of an earlier version did not write is not required. `check_model` checks that a
run's model is the one its files describe (its image shape and code size).
"""

from __future__ import annotations

from pathlib import Path

from vae_tf.config.settings import setting_problem
from vae_tf.core.errors import RunDirError
from vae_tf.data.spec import REPORT_SHAPE
from vae_tf.models.checks import value_problem

FIX = ("put back the value the run was written with, or train the run again (`python -m vae_tf.train --out DIR "
       "--overwrite` and its settings)")


def refuse(path, field: str, value, problem: str):
    """Raise the one line: FILE: "FIELD" is VALUE: PROBLEM; FIX."""
    raise RunDirError(f"{path}: \"{field}\" is {value!r:.80}: {problem}; {FIX}.")


def _number(path, field, value, kind=float, at_least=None, optional=False):
    if value is None and optional:
        return
    problem = value_problem(value, kind, at_least=at_least)
    if problem:
        refuse(path, field, value, problem)


def _kind(path, field, value, kinds, what: str, optional=True):
    if not (isinstance(value, kinds) or (optional and value is None)):
        refuse(path, field, value, f"must be {what}")


def check_config(config: dict, path, finished: bool = False) -> dict:
    """config.json's fields (the format is checked by `reading.read_config`): each setting by its
    `TrainConfig` rule, the data's record, the device, the versions, the command. Returns `config`.

    `finished`: the settings must be there (a finished run's); a run cut short may lack them.
    """
    settings = config.get("config")
    if not isinstance(settings, dict) and (finished or "config" in config):
        refuse(path, "config", settings, "must be an object of the run's settings")
    for name, value in (settings or {}).items():
        problem = setting_problem(name, value)
        if problem:
            refuse(path, f"config.{name}", value, problem)
    data = config.get("data")
    _kind(path, "data", data, dict, "an object (the data's record)")
    if data and "image_shape" in data:  # a run from before data sources has none
        shape = data["image_shape"]
        if not (isinstance(shape, list) and len(shape) == 3 and not any(value_problem(s, int, 1) for s in shape)):
            refuse(path, "data.image_shape", shape, "must be [H, W, C], three positive integers")
        for name in ("source", "name", "dtype", "fingerprint"):
            _kind(path, f"data.{name}", data.get(name), str, "a string", optional=False)
        for name in ("train_images", "test_images"):
            _number(path, f"data.{name}", data.get(name), int, at_least=1)
        names = data.get("class_names")
        if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            refuse(path, "data.class_names", names, "must be a list of strings, or null")
        _kind(path, "data.options", data.get("options"), dict, "an object")
        _kind(path, "data.path", data.get("path"), str, "a string, or null")
    _kind(path, "device", config.get("device"), str, "a string")
    _kind(path, "versions", config.get("versions"), dict, "an object")
    _kind(path, "command", config.get("command"), list, "a list of the command's words, or null")
    return config


def check_summary(summary: dict, path) -> dict:
    """summary.json's fields: `final` (metric -> number), the counts, the codes' spread, the timings."""
    final = summary.get("final")
    if not isinstance(final, dict) or not final:
        refuse(path, "final", final, "must be an object of the last epoch's metrics")
    for name, value in final.items():
        _number(path, f"final.{name}", value)
    for name in ("epochs", "train_images"):
        if name in summary:
            _number(path, name, summary[name], int, at_least=1)
    _number(path, "resumed_after_epoch", summary.get("resumed_after_epoch"), int, at_least=0, optional=True)
    _number(path, "train_seconds", summary.get("train_seconds"), at_least=0, optional=True)
    for name in ("z", "diagnostics", "phases"):
        _kind(path, name, summary.get(name), dict, "an object")
    for name, values in (summary.get("z") or {}).items():
        if not (isinstance(values, list) and not any(value_problem(v, float) for v in values)):
            refuse(path, f"z.{name}", values, "must be a list of numbers, one per latent dimension")
    return summary


def check_state(state: dict, path) -> dict:
    """A checkpoint's state.json: `epochs_done` >= 1, `model` a file beside it, `history` one row per epoch."""
    _number(path, "epochs_done", state.get("epochs_done"), int, at_least=1)
    model = state.get("model")
    if not (isinstance(model, str) and model.endswith(".keras") and Path(model).name == model):
        refuse(path, "model", model, "must be the name of the .keras file beside state.json")
    history = state.get("history")
    if not (isinstance(history, list) and len(history) == state["epochs_done"]):
        refuse(path, "history", history, f"must be a list of {state['epochs_done']} rows, one per epoch done")
    for index, row in enumerate(history):
        if not isinstance(row, dict):
            refuse(path, f"history[{index}]", row, "must be an object of the epoch's metrics")
        for name, value in row.items():
            _number(path, f"history[{index}].{name}", value)
    sampling = state.get("sampling_state")
    if sampling is not None and not (isinstance(sampling, list) and not any(value_problem(v, int) for v in sampling)):
        refuse(path, "sampling_state", sampling, "must be a list of integers (the noise generator's state)")
    return state


def check_model(model, config: dict, path) -> None:
    """Refuse a model (`path`) whose image shape or code size is not the one config.json records."""
    data = config.get("data") or {}
    shape = tuple(data.get("image_shape") or REPORT_SHAPE)
    latent_dim = config.get("config", {}).get("latent_dim", model.latent_dim)
    if tuple(model.image_shape) != shape or model.latent_dim != latent_dim:
        raise RunDirError(f"{path} is a model of {' x '.join(map(str, model.image_shape))} images and "
                          f"{model.latent_dim} latent dimensions, but its config.json records "
                          f"{' x '.join(map(str, shape))} images and {latent_dim}; the run's files do not belong "
                          "together: train the run again (`python -m vae_tf.train --out DIR --overwrite`).")
