"""How the KL term is weighed as training goes: pure formulas of the training step.

With `step` the number of optimizer steps already taken (`optimizer.iterations`, 0 at the first
step), t = step / steps_per_epoch is the number of epochs completed, fractions included, and

    constant:  beta_t = beta
    linear:    beta_t = beta * min(1, t / E)                         E = warmup_epochs
    cyclical:  beta_t = beta * min(1, tau / R),  tau = frac(t * M / epochs)
               (Fu et al. 2019: M cycles over the whole training, each ramping from 0 to beta
               over its first fraction R, then holding beta)
    capacity:  C_t = C * min(1, t / E_C)                             E_C = capacity_epochs
               (Burgess et al. 2018)

The loss is then reconstruction + beta_t * penalty, where the penalty is |KL' - C_t| with a
capacity C > 0 and KL' otherwise, and KL' is sum_d max(lambda, KL_d) with free bits lambda > 0
(Kingma et al. 2016; `vae_tf.models.losses.free_bits_kl`) and the KL otherwise. Every quantity is in
nats. A schedule is evaluated inside the compiled train step, so beta_t changes every step also
when Keras runs 67 steps per call.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from vae_tf.models.choices import SCHEDULES


def ramp(step, length):
    """min(1, step / length): 0 at step 0, 1 from step `length` on (a float32 tensor)."""
    return tf.minimum(1.0, tf.cast(step, tf.float32) / float(length))


def cycle_position(step, total_steps, cycles: int):
    """tau = frac(step * M / total_steps), the position in [0, 1) within the current of M cycles.

    Computed as floormod(step * M, total_steps) / total_steps, exact in float32 for any step
    count of ours (integers below 2^24).
    """
    return tf.math.floormod(tf.cast(step, tf.float32) * cycles, float(total_steps)) / float(total_steps)


@dataclass(frozen=True)
class KLSchedule:
    """The KL weight beta_t and the capacity target C_t at any step (formulas: the module docstring).

    Args:
      beta: the weight reached (the whole time for "constant").
      schedule: "constant", "linear" or "cyclical".
      warmup_epochs: E of "linear".
      cycles, ramp_fraction: M and R of "cyclical".
      capacity, capacity_epochs: C (nats, 0: off) and E_C.
      steps_per_epoch: steps of one epoch; needed by every formula of t.
      epochs: the whole training; needed by "cyclical".
    """

    beta: float = 1.0
    schedule: str = "constant"
    warmup_epochs: float = 5.0
    cycles: int = 4
    ramp_fraction: float = 0.5
    capacity: float = 0.0
    capacity_epochs: float = 5.0
    steps_per_epoch: int | None = None
    epochs: int | None = None

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"beta_schedule={self.schedule!r} is not one of {', '.join(map(repr, SCHEDULES))}.")
        if self.uses_step and not (self.steps_per_epoch or 0) >= 1:
            raise ValueError(f"beta_schedule={self.schedule!r} with capacity={self.capacity!r} follows the training "
                             "step: give steps_per_epoch (e.g. 469 for 60,000 images in batches of 128).")
        if self.schedule == "cyclical" and not (self.epochs or 0) >= 1:
            raise ValueError("beta_schedule='cyclical' spreads its cycles over the whole training: give epochs.")

    @property
    def uses_step(self) -> bool:
        """Whether beta_t or C_t changes during training (else the loss is the plain beta-weighted one)."""
        return self.schedule != "constant" or self.capacity > 0

    def weight(self, step):
        """beta_t at `step` (steps already taken); a Python float for "constant"."""
        if self.schedule == "constant":
            return self.beta
        if self.schedule == "linear":
            return self.beta * ramp(step, self.warmup_epochs * self.steps_per_epoch)
        tau = cycle_position(step, self.epochs * self.steps_per_epoch, self.cycles)
        return self.beta * tf.minimum(1.0, tau / self.ramp_fraction)

    def capacity_target(self, step):
        """C_t at `step`, or None without a capacity."""
        if not self.capacity > 0:
            return None
        return self.capacity * ramp(step, self.capacity_epochs * self.steps_per_epoch)

    def at(self, step) -> dict:
        """{"beta": beta_t, "capacity": C_t (None without one)}; `step` None: the values at the end of training."""
        if step is None or not self.uses_step:
            return {"beta": self.beta, "capacity": self.capacity if self.capacity > 0 else None}
        return {"beta": self.weight(step), "capacity": self.capacity_target(step)}
