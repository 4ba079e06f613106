"""KL divergences of Gaussians in closed form (TensorFlow).

`kl_gaussian` (univariate, elementwise), `kl_diag_gaussian` (diagonal, summed over the last axis),
and the VAE's `kl_standard_normal` from `z_mean` and `z_log_var`. Arrays or tensors in, tensors
out, in nats.
"""

from __future__ import annotations

import tensorflow as tf


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
