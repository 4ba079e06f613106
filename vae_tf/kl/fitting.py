"""The fitting experiment: fit one Gaussian to a two-peaked target by minimising KL, MSE, L1 or cosine loss.

The spec's fitting experiment (section 2): the target is the plain sum
P(x) = N(x; -5, 1) + N(x; 10, 1) (it integrates to 2), tabulated on x = linspace(-15, 15, 1000);
Q = N(mu, sigma) with mu and sigma themselves trained by Adam (learning rate 1e-3, 10,000 steps).
Losses on the grid:

* ``kl_div``: mean over grid points of P (log P - log Q), a forward KL (`vae_tf.kl.grid.kl_grid_mean`);
* ``reverse_kl``: mean over grid points of Q (log Q - log P);
* ``mse``: mean of (Q - P)^2;  ``l1``: mean of |Q - P|;
* ``cosine``: minus the cosine similarity of the vectors Q(x) and P(x) (so it is maximised).

`fit_gaussian` runs one fit and returns its per-step history (`FitResult`); `fit_table` runs
every loss from both starts, `format_table` makes the Markdown table of them. The command
``python -m vae_tf.fit`` (see ``--help``) runs them and writes the figures, which are
`vae_tf.plots.fit_summary`, `final_fits` and `save_fit_animation`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys

import numpy as np

# TensorFlow is imported when a fit runs, not when the command parses its flags.

LOSSES = ("kl_div", "reverse_kl", "mse", "l1", "cosine")
LOSS_HELP = {
    "kl_div": "forward KL: mean over the grid of P (log P - log Q)",
    "reverse_kl": "reverse KL: mean over the grid of Q (log Q - log P)",
    "mse": "mean over the grid of (Q - P)^2",
    "l1": "mean over the grid of |Q - P|",
    "cosine": "minus the cosine similarity of Q(x) and P(x)",
}
PEAKS = (-5.0, 10.0)  # the target's two unit-variance peaks
GRID = np.linspace(-15.0, 15.0, 1000)
DEFAULT_STEPS = 10_000
DEFAULT_LEARNING_RATE = 1e-3
TABLE_STARTS = ((0.0, 1.0), (5.0, 1.0))


def target_log_density(x):
    """log P(x) for P(x) = N(x; -5, 1) + N(x; 10, 1), computed stably (log-sum-exp).

    Args:
      x: float array, shape (N,).

    Returns:
      float32 tensor, shape (N,).
    """
    import tensorflow as tf
    import tensorflow_probability as tfp

    x = tf.convert_to_tensor(x, dtype=tf.float32)
    peaks = tfp.distributions.Normal(loc=tf.constant(PEAKS, tf.float32)[:, None], scale=1.0)
    return tf.reduce_logsumexp(peaks.log_prob(x[None, :]), axis=0)


def grid_loss(loss: str, mu, sigma, x, log_p):
    """The fitting loss of Q = N(mu, sigma) against the target, on the grid.

    Args:
      loss: one of `LOSSES`.
      mu, sigma: scalar float tensors (sigma > 0).
      x: the grid, float32 tensor, shape (N,).
      log_p: log P on the grid, float32 tensor, shape (N,).

    Returns:
      scalar float32 tensor (nats per grid point for the two KLs).
    """
    import tensorflow as tf
    import tensorflow_probability as tfp

    from vae_tf.kl.grid import kl_grid_mean

    # log Q straight from the log-density: exp-then-log underflows to -inf far from mu.
    log_q = tfp.distributions.Normal(loc=mu, scale=sigma).log_prob(x)
    if loss == "kl_div":
        return kl_grid_mean(log_p, log_q)
    if loss == "reverse_kl":
        return kl_grid_mean(log_q, log_p)
    q, p = tf.exp(log_q), tf.exp(log_p)
    if loss == "mse":
        return tf.reduce_mean(tf.square(q - p))
    if loss == "l1":
        return tf.reduce_mean(tf.abs(q - p))
    if loss == "cosine":
        return -tf.reduce_sum(q * p) / (tf.norm(q) * tf.norm(p))
    raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")


@dataclasses.dataclass
class FitResult:
    """The history of one fit. Arrays have length steps_done + 1: entry k is the state after k
    Adam steps (entry 0 is the start), and loss[k] is the loss at (mu[k], sigma[k]).

    Attributes:
      loss_name, mu0, sigma0, learning_rate: the setup.
      steps: the number of steps asked for; steps_done: how many were taken.
      loss, mu, sigma: float64 arrays, shape (steps_done + 1,).
      message: empty when the fit ran to the end; otherwise why it stopped early.
    """

    loss_name: str
    mu0: float
    sigma0: float
    learning_rate: float
    steps: int
    steps_done: int
    loss: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    message: str = ""
    non_finite: bool = False  # the loss or a gradient went NaN or infinite (the fit stopped before that step)

    @property
    def stopped_early(self) -> bool:
        return bool(self.message)

    @property
    def final_mu(self) -> float:
        return float(self.mu[-1])

    @property
    def final_sigma(self) -> float:
        return float(self.sigma[-1])

    @property
    def final_loss(self) -> float:
        return float(self.loss[-1])

    def summary(self) -> dict:
        """JSON-ready setup and final state (no per-step arrays); a non-finite number is None (JSON null)."""
        return {key: None if isinstance(value, float) and not math.isfinite(value) else value for key, value in {
            "loss": self.loss_name,
            "mu0": self.mu0,
            "sigma0": self.sigma0,
            "learning_rate": self.learning_rate,
            "steps": self.steps,
            "steps_done": self.steps_done,
            "final_mu": self.final_mu,
            "final_sigma": self.final_sigma,
            "final_loss": self.final_loss,
            "stopped_early": self.stopped_early,
            "non_finite": self.non_finite,
            "message": self.message,
        }.items()}


# Adam's constants: Keras' defaults (keras.optimizers.Adam), which tests/test_fit.py checks.
ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON = 0.9, 0.999, 1e-7

# Why a fit stopped early (codes returned by the graph loop).
_RUNNING, _SIGMA_NOT_POSITIVE, _NOT_FINITE = 0, 1, 2


def _check_setup(loss: str, mu0: float, sigma0: float, steps: int, learning_rate: float) -> None:
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    if not math.isfinite(mu0):
        raise ValueError(f"mu0 must be a finite number, got {mu0!r}")
    if not (math.isfinite(sigma0) and sigma0 > 0):
        raise ValueError(f"sigma0 must be > 0 (it is Q's standard deviation), got {sigma0!r}")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a whole number >= 1, got {steps!r}")
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")


@functools.cache
def _adam_steps_function():
    """`_adam_steps` as one `tf.function`, made on first use (TensorFlow is imported then)."""
    import tensorflow as tf

    return tf.function(_adam_steps)


def _adam_steps(loss_index, theta, m, v, t, learning_rate, n):
    """Take up to n Adam steps on theta = [mu, sigma], in-graph.

    Adam is written out (Keras' update rule) rather than taken from `keras.optimizers.Adam`
    so that this function is traced once for every loss, start and learning rate: its state
    (m, v, t) goes in and out as tensors. The loss is picked by index with `tf.switch_case`.

    Returns:
      losses, mus, sigmas: shape (n,), entries [0, done) valid: the loss at the state before
        each step, and mu, sigma after it;
      done: steps taken; status: one of _RUNNING, _SIGMA_NOT_POSITIVE, _NOT_FINITE;
      bad_value: the offending sigma or loss; theta, m, v, t: the state after `done` steps.
    """
    import tensorflow as tf

    x = tf.constant(GRID, tf.float32)
    log_p = target_log_density(x)
    losses = tf.TensorArray(tf.float32, size=n)
    mus = tf.TensorArray(tf.float32, size=n)
    sigmas = tf.TensorArray(tf.float32, size=n)
    status = tf.constant(_RUNNING)
    bad_value = tf.constant(0.0)
    done = tf.constant(0)
    for i in tf.range(n):
        with tf.GradientTape() as tape:
            tape.watch(theta)
            branches = [functools.partial(grid_loss, name, theta[0], theta[1], x, log_p) for name in LOSSES]
            value = tf.switch_case(loss_index, branches)
        grad = tape.gradient(value, theta)
        if not (tf.math.is_finite(value) and tf.reduce_all(tf.math.is_finite(grad))):
            status = tf.constant(_NOT_FINITE)
            bad_value = value
            break
        step = t + 1.0
        m_next = m + (grad - m) * (1.0 - ADAM_BETA_1)
        v_next = v + (tf.square(grad) - v) * (1.0 - ADAM_BETA_2)
        alpha = learning_rate * tf.sqrt(1.0 - ADAM_BETA_2**step) / (1.0 - ADAM_BETA_1**step)
        theta_next = theta - alpha * m_next / (tf.sqrt(v_next) + ADAM_EPSILON)
        if theta_next[1] <= 0.0:
            # Keep the last valid state rather than a Gaussian with sigma <= 0.
            status = tf.constant(_SIGMA_NOT_POSITIVE)
            bad_value = theta_next[1]
            break
        theta, m, v, t = theta_next, m_next, v_next, step
        losses = losses.write(i, value)
        mus = mus.write(i, theta[0])
        sigmas = sigmas.write(i, theta[1])
        done = i + 1
    # A TensorArray must be written everywhere before it is stacked: pad the unused tail.
    for j in tf.range(done, n):
        losses = losses.write(j, 0.0)
        mus = mus.write(j, 0.0)
        sigmas = sigmas.write(j, 0.0)
    return losses.stack(), mus.stack(), sigmas.stack(), done, status, bad_value, theta, m, v, t


def fit_gaussian(
    loss: str = "kl_div",
    mu0: float = 0.0,
    sigma0: float = 1.0,
    steps: int = DEFAULT_STEPS,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    *,
    print_every: int | None = None,
    out=None,
) -> FitResult:
    """Fit Q = N(mu, sigma) to the two-peaked target by Adam on `loss`.

    If an Adam step would make sigma <= 0, or the loss or a gradient turns non-finite, the fit
    stops before that step, keeps the last valid state and says why in `FitResult.message`
    (also printed when `print_every` is set). It never returns NaN.

    Args:
      loss: one of `LOSSES` ("kl_div", "reverse_kl", "mse", "l1", "cosine").
      mu0, sigma0: the start; sigma0 > 0.
      steps: Adam steps, >= 1.
      learning_rate: Adam's learning rate, > 0 (Keras' Adam: betas 0.9, 0.999, epsilon 1e-7).
      print_every: print step, loss, mu and sigma every this many steps (None: silent).
      out: where to print (default: sys.stdout at the call).

    Returns:
      `FitResult` with the per-step history.

    Raises:
      ValueError: unknown loss, non-finite mu0, sigma0 <= 0, steps < 1, learning_rate <= 0.
    """
    import tensorflow as tf

    out = sys.stdout if out is None else out  # the stream of now, not of import time (a test's capture)

    mu0, sigma0, learning_rate = float(mu0), float(sigma0), float(learning_rate)
    _check_setup(loss, mu0, sigma0, steps, learning_rate)
    steps = int(steps)
    loss_index = tf.constant(LOSSES.index(loss))
    theta = tf.constant([mu0, sigma0], tf.float32)
    m = v = tf.zeros([2], tf.float32)
    t = tf.constant(0.0)
    lr = tf.constant(learning_rate, tf.float32)
    x = tf.constant(GRID, tf.float32)
    log_p = target_log_density(x)

    def loss_at(theta) -> float:
        return float(grid_loss(loss, theta[0], theta[1], x, log_p))

    loss_hist, mu_hist, sigma_hist = [], [mu0], [sigma0]
    steps_done, message = 0, ""
    while steps_done < steps and not message:
        n = min(print_every or steps, steps - steps_done)
        losses, mus, sigmas, done, status, bad_value, theta, m, v, t = _adam_steps_function()(
            loss_index, theta, m, v, t, lr, tf.constant(n)
        )
        done, status = int(done), int(status)
        loss_hist.extend(losses.numpy()[:done])
        mu_hist.extend(mus.numpy()[:done])
        sigma_hist.extend(sigmas.numpy()[:done])
        steps_done += done
        if status == _SIGMA_NOT_POSITIVE:
            message = (
                f"Adam step {steps_done + 1} would have made sigma {float(bad_value):.4g} "
                f"(it must be > 0), so the fit stopped after step {steps_done} at "
                f"mu={mu_hist[-1]:.4f}, sigma={sigma_hist[-1]:.4f}; try a smaller learning "
                f"rate (now {learning_rate:g}) or a larger sigma0 (now {sigma0:g})"
            )
        elif status == _NOT_FINITE:
            message = (
                f"the {loss} loss or its gradient became non-finite ({float(bad_value)}) at "
                f"step {steps_done + 1}, so the fit stopped after step {steps_done} at "
                f"mu={mu_hist[-1]:.4f}, sigma={sigma_hist[-1]:.4f}"
            )
        if print_every:
            print(
                f"step {steps_done:>6}/{steps}  loss {loss_at(theta): .6g}  "
                f"mu {mu_hist[-1]: .4f}  sigma {sigma_hist[-1]:.4f}",
                file=out,
                flush=True,
            )
    loss_hist.append(loss_at(theta))
    if message and print_every:
        print(f"stopped early: {message}", file=out, flush=True)
    return FitResult(
        loss_name=loss,
        mu0=mu0,
        sigma0=sigma0,
        learning_rate=learning_rate,
        steps=steps,
        steps_done=steps_done,
        loss=np.asarray(loss_hist, dtype=np.float64),
        mu=np.asarray(mu_hist, dtype=np.float64),
        sigma=np.asarray(sigma_hist, dtype=np.float64),
        message=message,
        non_finite=status == _NOT_FINITE,
    )


def fit_table(
    losses=LOSSES,
    starts=TABLE_STARTS,
    steps: int = DEFAULT_STEPS,
    learning_rate: float = DEFAULT_LEARNING_RATE,
) -> list[FitResult]:
    """Run `fit_gaussian` for every loss from every (mu0, sigma0) start, in that order."""
    return [fit_gaussian(loss, mu0, sigma0, steps, learning_rate) for mu0, sigma0 in starts for loss in losses]


def format_table(results) -> str:
    """A Markdown table: loss, start, steps, final mu, final sigma, final loss, note."""
    lines = [
        "| loss | start (mu0, sigma0) | steps | final mu | final sigma | final loss |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        steps = f"{r.steps_done}" + ("" if r.steps_done == r.steps else f" of {r.steps} (stopped)")
        lines.append(
            f"| {r.loss_name} | ({r.mu0:g}, {r.sigma0:g}) | {steps} | {r.final_mu:.4f} | "
            f"{r.final_sigma:.4f} | {r.final_loss:.6g} |"
        )
    return "\n".join(lines)
