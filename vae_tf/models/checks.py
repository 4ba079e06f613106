"""The checks the Python API shares with the command line: a model's numeric settings, and many-images calls.

`value_problem` is the one check of a number against its range (`vae_tf.config.settings` uses it
for every flag's value, so the CLI and the API say the same sentence); `SETTING_RANGES` holds
the ranges of the numeric settings of `vae_tf.VAE` (tests/test_hostile_input.py checks that they
are `TrainConfig`'s); `check_model_settings` applies them. `check_batch_size`, `check_not_empty`
and `check_codes` guard the NumPy methods `encode`, `decode` and friends.
"""

from __future__ import annotations

import math

import numpy as np

from vae_tf.core.cli import SEED_RANGE

# setting -> (kind, at_least, above, at_most): TrainConfig's ranges of the numbers `VAE(...)` takes.
SETTING_RANGES = {
    "latent_dim": (int, 1, None, None), "hidden_units": (int, 1, None, None), "filters": (int, 1, None, None),
    "beta": (float, 0, None, None), "seed": (int, SEED_RANGE[0], None, SEED_RANGE[1]),
    "warmup_epochs": (float, None, 0, None), "cycles": (int, 1, None, None), "ramp_fraction": (float, None, 0, 1),
    "free_bits": (float, 0, None, None), "capacity": (float, 0, None, None), "capacity_epochs": (float, None, 0, None),
    "kl_samples": (int, 1, None, None), "flow_steps": (int, 1, None, None), "prior_components": (int, 1, None, None),
    "steps_per_epoch": (int, 1, None, None), "epochs": (int, 1, None, None),
}
OPTIONAL = ("seed", "steps_per_epoch", "epochs")  # None: not given


def value_problem(value, kind, at_least=None, above=None, at_most=None) -> str | None:
    """Why the number `value` is not a finite `kind` (int or float) within its range, or None.

    Integers of NumPy count as integers; bools are not numbers; floats are not integers.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return "must be an integer" if kind is int else "must be a number"
    if kind is int and not isinstance(value, (int, np.integer)):
        return "must be an integer"
    if not math.isfinite(value):
        return "must be finite"
    if at_least is not None and value < at_least:
        return f"must be at least {at_least}"
    if above is not None and not value > above:
        return f"must be greater than {above}"
    if at_most is not None and value > at_most:
        return f"must be at most {at_most}"
    return None


def check_model_settings(settings: dict) -> tuple[int, int, int]:
    """Refuse a `VAE` setting out of its range, as the command line would: "beta=nan: must be finite."

    Args:
      settings: the model's arguments by name (those of `SETTING_RANGES`, and `image_shape`, are checked).

    Returns:
      The `image_shape` (H, W, C) as a tuple of ints.

    Raises:
      ValueError: one sentence naming the setting, its value and its range.
    """
    shape = settings.get("image_shape")
    if (np.ndim(shape) != 1 or len(shape) != 3 or any(value_problem(size, int, at_least=1) for size in shape)):
        raise ValueError(f"image_shape={shape!r}: give (H, W, C), three positive integer sizes.")
    for name, (kind, at_least, above, at_most) in SETTING_RANGES.items():
        value = settings.get(name)
        if value is None and name in OPTIONAL:
            continue
        problem = value_problem(value, kind, at_least, above, at_most)
        if problem:
            raise ValueError(f"{name}={value!r}: {problem}.")
    return tuple(int(size) for size in shape)


def check_batch_size(batch_size) -> int:
    """`batch_size` of a many-images method, a positive integer (else ValueError)."""
    problem = value_problem(batch_size, int, at_least=1)
    if problem:
        raise ValueError(f"batch_size={batch_size!r}: {problem} (images per call, e.g. 4096).")
    return int(batch_size)


def check_not_empty(x, name: str = "images"):
    """`x` itself, which must hold at least one row (else ValueError)."""
    if len(np.shape(x)) == 0 or len(x) == 0:
        raise ValueError(f"{name} are empty (shape {np.shape(x)}); give at least one.")
    return x


def check_codes(z, latent_dim: int) -> np.ndarray:
    """Codes z as float32 (N, D), D = `latent_dim`, at least one, all finite (else ValueError)."""
    array = np.asarray(z)
    if array.ndim != 2 or array.shape[1] != latent_dim or not (np.issubdtype(array.dtype, np.number)):
        raise ValueError(f"codes must have shape (N, {latent_dim}) and be numbers; got shape {array.shape}, "
                         f"dtype {array.dtype}.")
    check_not_empty(array, "codes")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        rows = np.flatnonzero(~np.isfinite(array).all(axis=1))
        raise ValueError(f"codes contain NaN or infinite values (first in row {rows[0]}).")
    return array
