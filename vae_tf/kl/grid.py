"""KL of densities tabulated on a grid, from their log-densities (TensorFlow, differentiable).

`kl_grid_integral` (the trapezoid-rule KL) and `kl_grid_mean` (the fitting experiment's "kl_div"
loss). Conventions: 0 log(0/q) = 0, and p log(p/0) = +inf for p > 0.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from vae_tf.kl.gaussian import _float_tensors


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
