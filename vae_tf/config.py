"""One configuration object; its defaults are the report's setup."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from vae_tf.losses import REDUCTIONS, REGULARIZERS

STRATEGIES = ("default", "mirrored", "multiworker")


@dataclass
class TrainConfig:
    """Every setting of a training run. The defaults reproduce the report.

    Attributes:
      regularizer: "kl" (the report's VAE), "none" or "mse" (the report's "MSE instead of KL").
      reduction: "report" (the report's loss reduction) or "elbo" (textbook negative ELBO).
      beta: weight of the regulariser in the loss.
      latent_dim: size of the latent code z.
      hidden_units: width of the encoder's and the decoder's hidden layer.
      epochs: passes over the training images.
      batch_size: images per step (60,000 / 128 gives 469 steps, the last with 96 images).
      learning_rate: Adam's learning rate.
      seed: seeds Python, NumPy, TensorFlow, the shuffling and the sampling noise.
      limit: train on the first `limit` training images only (None: all 60,000).
      data_dir: directory holding the Fashion-MNIST IDX files (None: search, see vae_tf.data).
      fast: the fast input and compilation path (see vae_tf.engine); False trains the way the
        report's code does (float64 array, one uncompiled step per call), for comparison.
      strategy: "default" (one device), "mirrored" or "multiworker" (tf.distribute).
      devices: the devices of the "mirrored" strategy (None: every visible GPU, else the CPU).
      deterministic: TensorFlow's op determinism: the same seed gives the same bytes.
    """

    regularizer: str = "kl"
    reduction: str = "report"
    beta: float = 1.0
    latent_dim: int = 2
    hidden_units: int = 100
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-4
    seed: int = 0
    limit: int | None = None
    data_dir: str | None = None
    fast: bool = True
    strategy: str = "default"
    devices: list[str] | None = None
    deterministic: bool = False

    def __post_init__(self):
        if self.regularizer not in REGULARIZERS:
            raise ValueError(f"regularizer={self.regularizer!r}: choose one of {', '.join(REGULARIZERS)}.")
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction={self.reduction!r}: choose one of {', '.join(REDUCTIONS)}.")
        for name in ("latent_dim", "hidden_units", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}: must be a positive integer.")
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise ValueError(f"limit={self.limit!r}: must be a positive integer or None.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate={self.learning_rate!r}: must be positive.")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy={self.strategy!r}: choose one of {', '.join(STRATEGIES)}.")
        if self.devices is not None and self.strategy != "mirrored":
            raise ValueError("devices are only used by strategy='mirrored'.")
        if not self.beta >= 0:
            raise ValueError(f"beta={self.beta!r}: must be zero or positive.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig settings: {', '.join(unknown)}.")
        return cls(**values)
