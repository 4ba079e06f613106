"""KL(p || q) of any pair of TFP distributions: TFP's closed form where it has one, else an estimate.

`kl_analytic` (TFP's registered closed form, refused with the reason where TFP has none),
`kl_monte_carlo` (an estimate with its standard error), `kl_sample_mean` (the VAE's Monte Carlo
KL term from given draws, `--kl-estimator monte_carlo`), `kl_numerical` (quadrature on a grid,
univariate only), and the VAE's `kl_standard_normal_tfp` with its posterior (`diag_gaussian`) and
prior (`standard_normal_prior`) as TFP distributions. In nats.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vae_tf.kl.grid import kl_grid_integral

tfd = tfp.distributions


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
