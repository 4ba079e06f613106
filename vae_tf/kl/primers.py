"""The worked examples of the report and the KL primers, computed with the formulas of `vae_tf.kl`.

* `discrete_example`: the report's p, q, r and D(p||q), D(q||r), D(p||p).
* `histogram_example`: the report's "video compression" story: the report's figure (no bin
  width) next to the true KL of the histogram densities.
* `forward_reverse_landscape`: forward KL(P||Q) and reverse KL(Q||P) for every Q = N(mu, sigma)
  on a parameter grid, for a two-peaked P; their minimisers show mode covering vs mode seeking.

No formula lives here: every KL comes from `vae_tf.kl.discrete` and `vae_tf.kl.grid`.
Their figures are `vae_tf.plots.histograms` and `vae_tf.plots.forward_reverse`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vae_tf.kl.discrete import histogram_kl, kl_discrete
from vae_tf.kl.grid import kl_grid_integral

tfd = tfp.distributions

# The report's discrete example.
REPORT_P = (0.1, 0.4, 0.5)
REPORT_Q = (0.8, 0.15, 0.05)
REPORT_R = (0.85, 0.1, 0.05)

# The report's histogram example.
HISTOGRAM_SEED = 42
HISTOGRAM_BINS = np.linspace(1, 7, 20)  # 20 edges, 19 bins of width 6/19


def discrete_example(units: str = "nats") -> dict[str, float]:
    """D(p||q), D(q||r), D(p||p) (and the reverse D(q||p), for asymmetry) for the report's vectors.

    Returns:
      {"D(p||q)": ..., "D(q||r)": ..., "D(p||p)": ..., "D(q||p)": ...} in `units`.
    """
    p, q, r = REPORT_P, REPORT_Q, REPORT_R
    return {
        "D(p||q)": float(kl_discrete(p, q, units=units)),
        "D(q||r)": float(kl_discrete(q, r, units=units)),
        "D(p||p)": float(kl_discrete(p, p, units=units)),
        "D(q||p)": float(kl_discrete(q, p, units=units)),
    }


def histogram_samples(seed: int = HISTOGRAM_SEED):
    """The report's three samples, drawn in the report's order.

    The stream is NumPy's legacy one: `np.random.RandomState(seed)` gives the same draws as
    `np.random.seed(seed)` followed by `np.random.normal` calls, without touching global state.

    Returns:
      (A, B, C), each shape (1000,): A = 300 x N(3, 0.5^2) then 700 x N(5, 0.5^2) ("original
      data"); B = 1000 x N(4, 1) ("conventional compression"); C = 400 x N(3, 0.5^2) then
      600 x N(5, 0.5^2) ("deep-learning compression").
    """
    rng = np.random.RandomState(seed)
    a = np.concatenate([rng.normal(3, 0.5, 300), rng.normal(5, 0.5, 700)])
    b = rng.normal(4, 1, 1000)
    c = np.concatenate([rng.normal(3, 0.5, 400), rng.normal(5, 0.5, 600)])
    return a, b, c


def histogram_example(seed: int = HISTOGRAM_SEED, smoothing: float = 0.0, units: str = "nats"):
    """The report's histogram KLs: A against B and A against C on linspace(1, 7, 20).

    Returns:
      {"B": HistogramKL, "C": HistogramKL}; `.report_value` is the report's figure,
      `.kl` the true KL of the histogram densities (report_value times the bin width 6/19).
    """
    a, b, c = histogram_samples(seed)
    return {
        name: histogram_kl(a, other, HISTOGRAM_BINS, smoothing=smoothing, units=units)
        for name, other in (("B", b), ("C", c))
    }


# ---------------------------------------------------------------------------------------------
# Forward vs reverse KL
# ---------------------------------------------------------------------------------------------


def two_peaked_target(locs=(-5.0, 10.0), scales=(1.0, 1.0), weights=(0.5, 0.5)):
    """A normalised mixture of two Gaussians (by default the fitting target divided by 2).

    Returns:
      `tfd.MixtureSameFamily` with event shape () (float64).
    """
    return tfd.MixtureSameFamily(
        mixture_distribution=tfd.Categorical(probs=tf.constant(weights, tf.float64)),
        components_distribution=tfd.Normal(loc=tf.constant(locs, tf.float64), scale=tf.constant(scales, tf.float64)),
    )


@dataclasses.dataclass
class Landscape:
    """Forward and reverse KL over a grid of Q = N(mu, sigma).

    Attributes:
      mus: shape (M,); sigmas: shape (S,).
      forward: KL(P || Q), shape (S, M), nats; reverse: KL(Q || P), shape (S, M), nats.
      forward_best, reverse_best: (mu, sigma, KL) at the grid minimum.
      reverse_local: (mu, sigma, KL) at the best grid point with mu below and above
        `split_at`: the reverse KL's two local minima (one per peak).
    """

    mus: np.ndarray
    sigmas: np.ndarray
    forward: np.ndarray
    reverse: np.ndarray
    forward_best: tuple[float, float, float]
    reverse_best: tuple[float, float, float]
    reverse_local: list[tuple[float, float, float]]


def forward_reverse_landscape(
    target=None,
    mus=None,
    sigmas=None,
    x=None,
    split_at: float = 2.5,
) -> Landscape:
    """KL(P||Q) and KL(Q||P) for Q = N(mu, sigma) on a parameter grid, by the trapezoid rule.

    Args:
      target: a univariate TFP distribution P (default `two_peaked_target()`).
      mus: shape (M,), default -10 .. 15 in steps of 0.1.
      sigmas: shape (S,), default 0.3 .. 12 in steps of 0.1.
      x: the integration grid, shape (N,), default -60 .. 65 with 3001 points: wide enough for
        the widest Q, fine enough for the narrowest.
      split_at: the mu that separates P's peaks, for the reverse KL's two local minima
        (default 2.5, midway between -5 and 10).

    Returns:
      `Landscape`.
    """
    target = two_peaked_target() if target is None else target
    mus = np.round(np.arange(-10.0, 15.0 + 1e-9, 0.1), 10) if mus is None else np.asarray(mus, float)
    sigmas = np.round(np.arange(0.3, 12.0 + 1e-9, 0.1), 10) if sigmas is None else np.asarray(sigmas, float)
    x = np.linspace(-60.0, 65.0, 3001) if x is None else np.asarray(x, float)
    log_p = target.log_prob(tf.constant(x, tf.float64))  # shape (N,)
    forward = np.empty((sigmas.size, mus.size))
    reverse = np.empty((sigmas.size, mus.size))
    for row, sigma in enumerate(sigmas):  # one row at a time keeps memory at M x N
        q = tfd.Normal(loc=tf.constant(mus[:, None], tf.float64), scale=tf.constant(sigma, tf.float64))
        log_q = q.log_prob(tf.constant(x[None, :], tf.float64))  # shape (M, N)
        forward[row] = kl_grid_integral(log_p[None, :], log_q, x).numpy()
        reverse[row] = kl_grid_integral(log_q, log_p[None, :], x).numpy()

    def best(values, mask=None):
        values = np.where(mask, values, np.inf) if mask is not None else values
        s, m = np.unravel_index(np.argmin(values), values.shape)
        return float(mus[m]), float(sigmas[s]), float(values[s, m])

    left = np.broadcast_to(mus[None, :] < split_at, reverse.shape)
    return Landscape(
        mus=mus,
        sigmas=sigmas,
        forward=forward,
        reverse=reverse,
        forward_best=best(forward),
        reverse_best=best(reverse),
        reverse_local=[best(reverse, left), best(reverse, ~left)],
    )
