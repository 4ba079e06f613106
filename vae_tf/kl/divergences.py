"""Kullback-Leibler divergences: the one home of every KL formula in vae_tf.

All functions are pure: arrays in, arrays out, in nats unless said otherwise.
They know nothing about Keras, files or the command line.

The module has four parts:

* Discrete distributions (NumPy): `kl_discrete`, `entropy`, `cross_entropy` for probability
  vectors along the last axis, in nats or bits; `histogram_kl` for two samples binned on
  shared bins (the report's figure and the true KL of the histogram densities).
* Gaussians in closed form (TensorFlow): `kl_gaussian` (univariate), `kl_diag_gaussian`
  (diagonal), and the VAE's `kl_standard_normal` from `z_mean` and `z_log_var`.
* Any pair of TFP distributions: `kl_analytic` (TFP's registered closed form, refused with the
  reason where TFP has none), `kl_monte_carlo` (an estimate with its standard error),
  `kl_sample_mean` (the VAE's Monte Carlo KL term from given draws, `--kl-estimator monte_carlo`),
  `kl_numerical` (quadrature on a grid, univariate only), and the VAE's `kl_standard_normal_tfp`.
* Densities tabulated on a grid (TensorFlow, differentiable): `kl_grid_integral` (the
  trapezoid-rule KL) and `kl_grid_mean` (the fitting experiment's "kl_div" loss).

Conventions for every formula here: 0 log(0/q) = 0, and p log(p/0) = +inf for p > 0.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

UNITS = ("nats", "bits")


# ---------------------------------------------------------------------------------------------
# Discrete distributions (NumPy)
# ---------------------------------------------------------------------------------------------


def _log_scale(units: str) -> float:
    """Factor that turns nats into `units`."""
    if units == "nats":
        return 1.0
    if units == "bits":
        return 1.0 / np.log(2.0)
    raise ValueError(f"units must be 'nats' or 'bits', got {units!r}")


def _where(batch_index: tuple) -> str:
    return f" (at batch index {batch_index})" if batch_index else ""


def _as_probabilities(p, name: str, *, normalize: bool, atol: float) -> np.ndarray:
    """Check that `p` holds probability vectors along its last axis; return it as float64.

    With `normalize=True`, `p` may hold non-negative counts (or weights) that are divided by
    their total along the last axis instead of being required to sum to 1.
    """
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim == 0:
        raise ValueError(f"{name} is a scalar ({float(arr)!r}); pass a probability vector, shape (..., K)")
    if arr.shape[-1] == 0:
        raise ValueError(f"{name} has shape {arr.shape}: the last axis (outcomes) is empty")
    if not np.all(np.isfinite(arr)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name} has a non-finite entry ({float(arr[bad])!r} at index {bad})")
    if np.any(arr < 0):
        bad = tuple(int(i) for i in np.argwhere(arr < 0)[0])
        raise ValueError(
            f"{name} has a negative entry ({float(arr[bad])!r} at index {bad}); probabilities and counts must be >= 0"
        )
    totals = arr.sum(axis=-1, keepdims=True)
    if normalize:
        if np.any(totals == 0):
            bad = tuple(int(i) for i in np.argwhere(totals[..., 0] == 0)[0])
            raise ValueError(f"{name} sums to 0 along the last axis{_where(bad)}; cannot normalise an all-zero vector")
        return arr / totals
    off = np.abs(totals - 1.0) > atol
    if np.any(off):
        bad = tuple(int(i) for i in np.argwhere(off[..., 0])[0])
        raise ValueError(
            f"{name} sums to {float(totals[..., 0][bad])!r} along the last axis{_where(bad)}, "
            f"not 1 within atol={atol}; "
            "pass normalize=True to divide counts by their total"
        )
    return arr


def _pair(p, q, *, normalize: bool, atol: float) -> tuple[np.ndarray, np.ndarray]:
    p = _as_probabilities(p, "p", normalize=normalize, atol=atol)
    q = _as_probabilities(q, "q", normalize=normalize, atol=atol)
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"p has shape {p.shape} and q has shape {q.shape}: the last axes (outcomes) must have the same length"
        )
    try:
        np.broadcast_shapes(p.shape, q.shape)
    except ValueError:
        raise ValueError(f"p has shape {p.shape} and q has shape {q.shape}: the batch axes do not broadcast") from None
    return p, q


def entropy(p, *, units: str = "nats", normalize: bool = False, atol: float = 1e-6):
    """Shannon entropy H(P) = -sum_x P(x) log P(x), with 0 log 0 = 0.

    Args:
      p: probability vectors, shape (..., K), non-negative, each summing to 1 (within `atol`).
      units: "nats" (natural log) or "bits" (log base 2).
      normalize: if True, `p` may hold non-negative counts; they are divided by their total.
      atol: tolerance on the sum to 1.

    Returns:
      float64 array of shape (...) (a NumPy scalar for a single vector), in `units`.

    Raises:
      ValueError: negative or non-finite entries, vectors not summing to 1, bad `units`.
    """
    scale = _log_scale(units)
    p = _as_probabilities(p, "p", normalize=normalize, atol=atol)
    terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(axis=-1) * scale


def cross_entropy(p, q, *, units: str = "nats", normalize: bool = False, atol: float = 1e-6):
    """Cross-entropy H(P, Q) = -sum_x P(x) log Q(x); +inf if Q(x) = 0 where P(x) > 0.

    Args:
      p, q: probability vectors, shape (..., K) each (batch axes broadcast; K must match).
      units: "nats" or "bits".
      normalize: if True, `p` and `q` may hold counts; each is divided by its total.
      atol: tolerance on the sums to 1.

    Returns:
      float64 array of shape broadcast(p, q)[:-1], in `units`.

    Raises:
      ValueError: as `entropy`, plus mismatched shapes.
    """
    scale = _log_scale(units)
    p, q = _pair(p, q, normalize=normalize, atol=atol)
    with np.errstate(divide="ignore"):
        log_q = np.log(q)
    terms = np.where(p > 0, -p * np.where(p > 0, log_q, 0.0), 0.0)
    return terms.sum(axis=-1) * scale


def kl_discrete(p, q, *, units: str = "nats", normalize: bool = False, atol: float = 1e-6):
    """D(P || Q) = sum_x P(x) log(P(x) / Q(x)) for discrete distributions.

    Equals `cross_entropy(p, q) - entropy(p)`; it is >= 0, zero iff P = Q, and not symmetric.
    Term by term it is `scipy.special.rel_entr`: 0 where P(x) = 0, +inf where P(x) > 0 and
    Q(x) = 0.

    Args:
      p, q: probability vectors, shape (..., K) each (batch axes broadcast; K must match).
      units: "nats" (natural log) or "bits" (log base 2).
      normalize: if True, `p` and `q` may hold non-negative counts; each is divided by its
        total along the last axis.
      atol: tolerance on the sums to 1 when `normalize` is False.

    Returns:
      float64 array of shape broadcast(p, q)[:-1] (a NumPy scalar for two vectors), in `units`.

    Raises:
      ValueError: negative or non-finite entries, vectors not summing to 1 (without
        `normalize`), all-zero counts (with it), mismatched shapes, bad `units`.
    """
    scale = _log_scale(units)
    p, q = _pair(p, q, normalize=normalize, atol=atol)
    p, q = np.broadcast_arrays(p, q)
    positive = p > 0
    with np.errstate(divide="ignore"):  # log(0) = -inf is wanted: it gives the +inf terms
        log_ratio = np.log(np.where(positive, p, 1.0)) - np.log(np.where(positive, q, 1.0))
    terms = np.where(positive, p * log_ratio, 0.0)
    return terms.sum(axis=-1) * scale


@dataclasses.dataclass(frozen=True)
class HistogramKL:
    """KL between two samples binned on shared bins; see `histogram_kl`.

    Attributes:
      report_value: sum over bins of p_i log(p_i / q_i) on the *density* values p_i, q_i,
        without the bin width: the figure the report prints. Not a KL of anything: for equal
        bins it is `kl / bin_width`, so it changes when only the bins change.
      kl: sum over bins of w_i p_i log(p_i / q_i): the true KL between the two histogram
        densities (piecewise constant), equal to the discrete KL of the bin probabilities.
      p_density, q_density: the histogram densities, shape (n_bins,), each integrating to 1.
      bin_edges: shape (n_bins + 1,).
      outside_p, outside_q: how many samples fell outside the bins (NumPy drops them).
      units: "nats" or "bits".
    """

    report_value: float
    kl: float
    p_density: np.ndarray
    q_density: np.ndarray
    bin_edges: np.ndarray
    outside_p: int
    outside_q: int
    units: str


def histogram_kl(samples_p, samples_q, bins, *, smoothing: float = 0.0, units: str = "nats") -> HistogramKL:
    """KL between the histograms of two samples over shared bins.

    With `smoothing=0` the densities are exactly `np.histogram(..., bins, density=True)`, and
    `report_value` is the report's `sum(rel_entr(p_hist, q_hist))`.

    Args:
      samples_p, samples_q: 1-D samples (any lengths).
      bins: bin edges, shape (n_bins + 1,), increasing; or an int, the number of equal bins
        spanning both samples. Samples outside the edges are dropped, as NumPy does.
      smoothing: pseudo-count added to every bin of both histograms before normalising
        (additive / Laplace smoothing). An empty bin of Q under a non-empty bin of P makes
        the KL +inf; any smoothing > 0 keeps it finite.
      units: "nats" or "bits".

    Returns:
      `HistogramKL` with both the report's figure and the true KL.

    Raises:
      ValueError: empty samples, bad bins, negative smoothing, a histogram with no samples
        inside the bins (and no smoothing), bad `units`.
    """
    scale = _log_scale(units)
    if smoothing < 0 or not np.isfinite(smoothing):
        raise ValueError(f"smoothing must be a finite number >= 0, got {smoothing!r}")
    a = np.asarray(samples_p, dtype=np.float64).ravel()
    b = np.asarray(samples_q, dtype=np.float64).ravel()
    for name, s in (("samples_p", a), ("samples_q", b)):
        if s.size == 0:
            raise ValueError(f"{name} is empty; pass at least one sample")
    if np.ndim(bins) == 0:
        edges = np.histogram_bin_edges(np.concatenate([a, b]), bins=int(bins))
    else:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError(
                f"bins must be an int or increasing edges of shape (n_bins + 1,), got {np.asarray(bins)!r}"
            )
    widths = np.diff(edges)
    densities = []
    for name, s in (("samples_p", a), ("samples_q", b)):
        counts = np.histogram(s, bins=edges)[0].astype(np.float64) + smoothing
        if counts.sum() == 0:
            raise ValueError(
                f"none of {name} falls inside the bins [{edges[0]}, {edges[-1]}]; widen the bins or pass smoothing > 0"
            )
        densities.append(counts / (counts.sum() * widths))
    p_density, q_density = densities
    positive = p_density > 0
    with np.errstate(divide="ignore"):
        log_ratio = np.log(np.where(positive, p_density, 1.0)) - np.log(np.where(positive, q_density, 1.0))
    density_terms = np.where(positive, p_density * log_ratio, 0.0)
    inside = lambda s: (s >= edges[0]) & (s <= edges[-1])  # noqa: E731
    return HistogramKL(
        report_value=float(density_terms.sum() * scale),
        kl=float((widths * density_terms).sum() * scale),
        p_density=p_density,
        q_density=q_density,
        bin_edges=edges,
        outside_p=int((~inside(a)).sum()),
        outside_q=int((~inside(b)).sum()),
        units=units,
    )


# ---------------------------------------------------------------------------------------------
# Gaussians in closed form (TensorFlow)
# ---------------------------------------------------------------------------------------------


def _float_tensors(*values):
    """Tensors of one float dtype: float64 if any input is float64 (tensor or NumPy), else float32."""
    dtypes = [tf.as_dtype(v.dtype) for v in values if hasattr(v, "dtype")]
    dtype = tf.float64 if tf.float64 in dtypes else tf.float32
    return [
        tf.cast(v, dtype) if isinstance(v, (tf.Tensor, tf.Variable)) else tf.convert_to_tensor(v, dtype=dtype)
        for v in values
    ]


def _check_positive(x, name: str) -> None:
    """Reject non-positive standard deviations when running eagerly (graphs skip the check)."""
    if tf.executing_eagerly():
        smallest = float(tf.reduce_min(x))
        if not smallest > 0:
            raise ValueError(f"{name} must be > 0 everywhere, got a minimum of {smallest}")


def kl_gaussian(mean_p, std_p, mean_q, std_q):
    """KL(N(mean_p, std_p^2) || N(mean_q, std_q^2)) of univariate Gaussians, elementwise.

    KL = log(std_q / std_p) + (std_p^2 + (mean_p - mean_q)^2) / (2 std_q^2) - 1/2.

    Args:
      mean_p, std_p, mean_q, std_q: float tensors or arrays, broadcastable to a common shape
        (...); standard deviations (not variances), > 0. Computed in float64 if any input is
        float64, else in float32.

    Returns:
      float tensor of the broadcast shape (...), in nats.

    Raises:
      ValueError: a standard deviation <= 0 (checked when running eagerly).
    """
    mean_p, std_p, mean_q, std_q = _float_tensors(mean_p, std_p, mean_q, std_q)
    _check_positive(std_p, "std_p")
    _check_positive(std_q, "std_q")
    return tf.math.log(std_q / std_p) + (tf.square(std_p) + tf.square(mean_p - mean_q)) / (2.0 * tf.square(std_q)) - 0.5


def kl_diag_gaussian(mean_p, std_p, mean_q, std_q):
    """KL between diagonal Gaussians: `kl_gaussian` summed over the last axis.

    Args:
      mean_p, std_p, mean_q, std_q: float tensors broadcastable to shape (..., D).

    Returns:
      float tensor of shape (...), in nats.
    """
    return tf.reduce_sum(kl_gaussian(mean_p, std_p, mean_q, std_q), axis=-1)


def kl_standard_normal(z_mean, z_log_var):
    """Closed-form KL(N(z_mean, exp(z_log_var)) || N(0, I)) of a diagonal Gaussian.

    KL = -1/2 * sum_d (1 + z_log_var - z_mean**2 - exp(z_log_var)), the VAE regulariser.

    Args:
      z_mean: float tensor, shape (..., D): the means.
      z_log_var: float tensor, shape (..., D): the log-variances.

    Returns:
      Tensor of shape (...): the KL in nats, summed over the last axis.
    """
    z_mean = tf.convert_to_tensor(z_mean)
    z_log_var = tf.convert_to_tensor(z_log_var, dtype=z_mean.dtype)
    return -0.5 * tf.reduce_sum(1.0 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var), axis=-1)


# ---------------------------------------------------------------------------------------------
# Any pair of TFP distributions
# ---------------------------------------------------------------------------------------------


def diag_gaussian(z_mean, z_log_var):
    """The encoder's posterior q(z|x) as a TFP distribution.

    Args:
      z_mean: float tensor, shape (..., D).
      z_log_var: float tensor, shape (..., D).

    Returns:
      `tfd.MultivariateNormalDiag` with batch shape (...) and event shape (D,).
    """
    return tfd.MultivariateNormalDiag(loc=z_mean, scale_diag=tf.exp(0.5 * z_log_var))


def standard_normal_prior(latent_dim: int, dtype=tf.float32):
    """The prior p(z) = N(0, I) as a TFP distribution with event shape (latent_dim,)."""
    return tfd.MultivariateNormalDiag(loc=tf.zeros([latent_dim], dtype=dtype))


def kl_standard_normal_tfp(z_mean, z_log_var):
    """KL(q(z|x) || N(0, I)) through TFP's analytic `tfd.kl_divergence`.

    Equal to `kl_standard_normal` up to float rounding; this is what the VAE trains with.

    Args:
      z_mean: float tensor, shape (..., D).
      z_log_var: float tensor, shape (..., D).

    Returns:
      Tensor of shape (...): the KL in nats.
    """
    z_mean = tf.convert_to_tensor(z_mean)
    z_log_var = tf.convert_to_tensor(z_log_var, dtype=z_mean.dtype)
    posterior = diag_gaussian(z_mean, z_log_var)
    prior = standard_normal_prior(z_mean.shape[-1], dtype=z_mean.dtype)
    return tfd.kl_divergence(posterior, prior)


def kl_analytic(p, q):
    """KL(p || q) from TFP's registered closed form (`tfd.kl_divergence`).

    Args:
      p, q: TFP distributions with the same event shape and broadcastable batch shapes.

    Returns:
      float tensor of the broadcast batch shape, in nats.

    Raises:
      NotImplementedError: TFP has no closed form for this pair; use `kl_monte_carlo`.
    """
    try:
        return tfd.kl_divergence(p, q)
    except NotImplementedError as error:
        raise NotImplementedError(
            f"TFP has no analytic KL for {type(p).__name__.lstrip('_')} || {type(q).__name__.lstrip('_')}; "
            "estimate it with kl_monte_carlo(p, q) (in training: --kl-estimator monte_carlo) instead"
        ) from error


class MonteCarloKL(NamedTuple):
    """A Monte-Carlo estimate of KL(p || q), in nats.

    Attributes:
      estimate: mean of log p(x) - log q(x) over x ~ p; shape = the batch shape.
      standard_error: sample standard deviation of that log-ratio / sqrt(num_samples).
      num_samples: how many draws from p were used.
    """

    estimate: tf.Tensor
    standard_error: tf.Tensor
    num_samples: int


def kl_monte_carlo(p, q, num_samples: int = 100_000, seed: int | None = None) -> MonteCarloKL:
    """Monte-Carlo estimate of KL(p || q) = E_{x~p}[log p(x) - log q(x)], with standard error.

    Works for any pair of TFP distributions over the same space, with or without a closed form.

    Args:
      p, q: TFP distributions with the same event shape and broadcastable batch shapes.
      num_samples: draws from p, >= 2.
      seed: an int makes the draws reproducible (stateless sampling); None draws fresh ones.

    Returns:
      `MonteCarloKL(estimate, standard_error, num_samples)`; the tensors have the batch shape.

    Raises:
      ValueError: num_samples < 2.
    """
    if int(num_samples) != num_samples or num_samples < 2:
        raise ValueError(f"num_samples must be an integer >= 2, got {num_samples!r}")
    num_samples = int(num_samples)
    if seed is not None:
        seed = tf.constant([0, int(seed)], dtype=tf.int32)
    x = p.sample(num_samples, seed=seed)
    log_ratio = p.log_prob(x) - q.log_prob(x)  # shape (num_samples, *batch)
    estimate = tf.reduce_mean(log_ratio, axis=0)
    variance = tf.reduce_sum(tf.square(log_ratio - estimate), axis=0) / (num_samples - 1)
    standard_error = tf.sqrt(variance / num_samples)
    return MonteCarloKL(estimate, standard_error, num_samples)


def kl_sample_mean(log_q, log_p):
    """Monte-Carlo KL(q || p) from S draws z_s ~ q: the mean over axis 0 of log q(z_s) - log p(z_s).

    The estimator of the VAE's KL term when the pair has no closed form (`--kl-estimator
    monte_carlo`); unbiased, its variance shrinking as 1/S.

    Args:
      log_q, log_p: float tensors (S, ...): the log-densities of the draws under q and under p.

    Returns:
      float tensor (...), nats.
    """
    return tf.reduce_mean(tf.convert_to_tensor(log_q) - tf.convert_to_tensor(log_p), axis=0)


def kl_numerical(p, q, x=None, num_points: int = 20_001, width: float = 15.0):
    """KL(p || q) of univariate distributions by the trapezoid rule on a grid.

    Args:
      p, q: TFP distributions with event shape () and broadcastable batch shapes.
      x: the grid, shape (N,), increasing and wide enough to hold p's mass. By default,
        `num_points` points over p.mean() +- `width` * p.stddev() (per batch member, the union).
      num_points, width: the default grid, used only when `x` is None.

    Returns:
      float tensor of the batch shape, in nats.

    Raises:
      ValueError: p or q is not univariate (event shape other than ()).
    """
    for name, dist in (("p", p), ("q", q)):
        if dist.event_shape.rank != 0:
            raise ValueError(
                f"kl_numerical integrates univariate distributions only; {name} has event "
                f"shape {dist.event_shape}. Use kl_monte_carlo for multivariate ones"
            )
    if x is None:
        centre = tf.reshape(p.mean(), [-1])
        spread = width * tf.reshape(p.stddev(), [-1])
        low = float(tf.reduce_min(centre - spread))
        high = float(tf.reduce_max(centre + spread))
        x = np.linspace(low, high, num_points)
    x = tf.convert_to_tensor(x, dtype=p.dtype)
    batch_rank = len(tf.broadcast_static_shape(p.batch_shape, q.batch_shape))
    x_column = tf.reshape(x, [-1] + [1] * batch_rank)  # shape (N, 1, ..., 1)
    log_p = p.log_prob(x_column)  # shape (N, *batch)
    log_q = q.log_prob(x_column)
    shape = tf.broadcast_dynamic_shape(tf.shape(log_p), tf.shape(log_q))
    grid_last = list(range(1, batch_rank + 1)) + [0]  # kl_grid_integral wants the grid last
    log_p = tf.transpose(tf.broadcast_to(log_p, shape), grid_last)
    log_q = tf.transpose(tf.broadcast_to(log_q, shape), grid_last)
    return kl_grid_integral(log_p, log_q, x)


# ---------------------------------------------------------------------------------------------
# Densities tabulated on a grid (TensorFlow, differentiable)
# ---------------------------------------------------------------------------------------------


def _kl_integrand(log_p, log_q):
    """p (log p - log q) pointwise, with 0 where p = 0 (log p = -inf); +inf where q = 0 < p.

    The inner `tf.where` keeps the gradient finite where p = 0.
    """
    log_p, log_q = _float_tensors(log_p, log_q)
    positive = log_p > -np.inf
    safe_log_p = tf.where(positive, log_p, tf.zeros_like(log_p))
    return tf.where(positive, tf.exp(safe_log_p) * (safe_log_p - log_q), tf.zeros_like(log_p))


def kl_grid_mean(log_p, log_q):
    """Mean over grid points of p(x) (log p(x) - log q(x)): the fitting experiment's "kl_div".

    This is the spec's loss, a forward KL up to a constant factor: on an evenly spaced grid it
    is KL / (N * dx) when p and q are normalised densities that vanish off the grid. Log-densities
    go in (not densities) because exp-then-log underflows to -inf and the loss to +inf.

    Args:
      log_p, log_q: log-densities on the same grid, shape (..., N); broadcastable.

    Returns:
      float tensor of shape (...), in nats per grid point.
    """
    return tf.reduce_mean(_kl_integrand(log_p, log_q), axis=-1)


def kl_grid_integral(log_p, log_q, x):
    """Trapezoid-rule KL(p || q) = integral of p(x) (log p(x) - log q(x)) dx over a grid.

    Args:
      log_p, log_q: log-densities at the grid points, shape (..., N); broadcastable.
      x: the grid, shape (N,), increasing.

    Returns:
      float tensor of shape (...), in nats.
    """
    integrand = _kl_integrand(log_p, log_q)
    x = tf.cast(x, integrand.dtype) if isinstance(x, tf.Tensor) else tf.convert_to_tensor(x, integrand.dtype)
    dx = x[1:] - x[:-1]
    return tf.reduce_sum(0.5 * (integrand[..., 1:] + integrand[..., :-1]) * dx, axis=-1)
