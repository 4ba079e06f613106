"""Kullback-Leibler divergences: the one home of every KL formula in vae_tf.

All functions are pure: arrays in, arrays out, in nats unless said otherwise.
They know nothing about Keras, files or the command line.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


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
    return -0.5 * tf.reduce_sum(
        1.0 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var), axis=-1
    )


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
