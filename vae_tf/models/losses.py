"""The VAE's loss terms as pure functions of tensors.

Two reductions are offered:

- `"report"`: the report's code, exactly. The reconstruction term is the *sum over the batch*
  of the *mean over the P pixels* of the binary cross-entropy (P = H x W x C, 784 for
  Fashion-MNIST), and the KL term is the mean over the batch of the KL summed over latent
  dimensions. The reconstruction term therefore grows with the batch size, and relative to a
  textbook ELBO the KL term weighs P / batch_size times more (784 / 128 = 6.1 for the report).
- `"elbo"`: the textbook negative ELBO: cross-entropy summed over pixels, KL summed over latent
  dimensions, both averaged over the batch. In nats per image.

The regularisers are `"kl"` (KL(q(z|x) || N(0, I)) through TFP's analytic KL), `"none"`, and
`"mse"`, the report's "MSE instead of KL": per image, mean over latent dimensions of
(z_log_var - 1)^2 plus mean over latent dimensions of z_mean^2, summed over the batch under
`"report"` and averaged under `"elbo"`.

The reconstruction term is -log p(x|z) per pixel under the model's likelihood
(`vae_tf.models.likelihoods`: "bernoulli", the report's binary cross-entropy, by default; "binarized" on
binary pixels; "continuous_bernoulli" with its normalising constant), reduced the same way under
either reduction.

`global_batch_size` lets a replica that holds part of a batch compute its share of a loss
defined on the whole batch: every "mean over the batch" divides by the global batch size, so
that the replicas' contributions add up to the loss of the global batch.
"""

from __future__ import annotations

import tensorflow as tf

from vae_tf.kl import kl_gaussian, kl_standard_normal_tfp
from vae_tf.models import likelihoods
from vae_tf.models.choices import REDUCTIONS, REGULARIZERS


def check_choice(name: str, value: str, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, choices))}.")
    return value


def binary_cross_entropy_with_logits(x, logits):
    """Per-pixel binary cross-entropy of targets `x` in [0, 1] under Bernoulli(logits), in nats.

    Equal to Keras' `binary_crossentropy(x, sigmoid(logits))` (which, inside a traced graph,
    itself recovers the logits of a sigmoid output), but stable for large |logits|.

    Args:
      x: float tensor (B, P) of targets in [0, 1].
      logits: float tensor (B, P).

    Returns:
      Tensor (B, P).
    """
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits)


def _check_targets(x):
    """Refuse concrete targets outside [0, 1] (symbolic tensors in a traced graph are not checked)."""
    x = tf.convert_to_tensor(x)
    if hasattr(x, "numpy") and tf.size(x) > 0:
        low, high = float(tf.reduce_min(x)), float(tf.reduce_max(x))
        if not (0.0 <= low and high <= 1.0):  # also catches NaN
            raise ValueError(
                f"x must lie in [0, 1] (Bernoulli targets: pixels scaled by 1/255); got values in "
                f"[{low:.4g}, {high:.4g}]."
            )
    return x


def _batch_mean(per_image, global_batch_size):
    """Mean over the batch (axis 0) of per-image values (B,) or (B, D), over the global batch if given."""
    if global_batch_size is None:
        return tf.reduce_mean(per_image, axis=0)
    return tf.reduce_sum(per_image, axis=0) / tf.cast(global_batch_size, per_image.dtype)


def reconstruction_loss(x, logits, reduction: str = "report", global_batch_size=None,
                        likelihood: str = "bernoulli"):
    """The reconstruction term: -log p(x|z) per pixel under `likelihood`, reduced.

    Args:
      x: float tensor (B, P) of pixel values in [0, 1] (already binarised for "binarized").
      logits: float tensor (B, P), the decoder's logits.
      reduction: "report" (sum over images of the per-pixel mean) or "elbo" (mean over
        images of the per-pixel sum, nats per image).
      global_batch_size: see the module docstring; only "elbo" uses it.
      likelihood: a name of `vae_tf.models.likelihoods` ("bernoulli": the binary cross-entropy, the
        report's arithmetic), or a `Likelihood` (a Gaussian at its sigma^2: `VAE.step_pixel_model`).

    Returns:
      Scalar tensor.
    """
    nll = likelihoods.get(likelihood).pixel_nll(_check_targets(x), logits)
    if reduction == "report":
        return tf.reduce_sum(tf.reduce_mean(nll, axis=-1))
    return _batch_mean(tf.reduce_sum(nll, axis=-1), global_batch_size)


def kl_loss(z_mean, z_log_var, global_batch_size=None):
    """Mean over the batch of KL(q(z|x) || N(0, I)), from TFP's analytic KL. Scalar, nats."""
    return _batch_mean(kl_standard_normal_tfp(z_mean, z_log_var), global_batch_size)


def free_bits_kl(z_mean, z_log_var, free_bits: float, global_batch_size=None):
    """The free-bits KL (Kingma et al. 2016): sum_d max(lambda, KL_d), KL_d the batch mean of dimension d's KL.

    A dimension whose KL is below lambda costs lambda and gets no gradient from the KL term, so
    the encoder is not pushed to switch it off. Under tf.distribute each replica floors its own
    share of the batch (not exactly the floor of the global batch's KL_d).

    Args:
      z_mean, z_log_var: float tensors (B, D).
      free_bits: lambda, in nats per dimension.
      global_batch_size: see the module docstring.

    Returns:
      Scalar tensor, nats.
    """
    per_dimension = kl_gaussian(z_mean, tf.exp(0.5 * z_log_var), 0.0, 1.0)  # (B, D)
    kl_d = _batch_mean(per_dimension, global_batch_size)
    return tf.reduce_sum(tf.maximum(tf.cast(free_bits, kl_d.dtype), kl_d))


def mse_loss(z_mean, z_log_var, reduction: str = "report", global_batch_size=None):
    """The report's "MSE instead of KL" regulariser. Scalar.

    Per image: mean_d (z_log_var - 1)^2 + mean_d z_mean^2; summed over the batch under
    "report", averaged under "elbo".
    """
    per_image = tf.reduce_mean(tf.square(z_log_var - 1.0), axis=-1) + tf.reduce_mean(
        tf.square(z_mean), axis=-1
    )
    if reduction == "report":
        return tf.reduce_sum(per_image)
    return _batch_mean(per_image, global_batch_size)


def vae_losses(
    x,
    logits,
    z_mean,
    z_log_var,
    regularizer: str = "kl",
    reduction: str = "report",
    beta: float = 1.0,
    global_batch_size=None,
    free_bits: float = 0.0,
    capacity=None,
    kl_per_image=None,
    likelihood: str = "bernoulli",
) -> dict:
    """All loss terms of one batch.

    Args:
      x: float tensor (B, P), pixels in [0, 1].
      logits: float tensor (B, P), the decoder's logits for the sampled codes.
      z_mean, z_log_var: float tensors (B, D), the encoder's outputs.
      regularizer: "kl", "none" or "mse".
      reduction: "report" or "elbo".
      beta: weight of the regulariser in the total.
      global_batch_size: the whole batch's size when this is one replica's share of it.
      free_bits: lambda > 0 replaces the KL term by `free_bits_kl` ("kl" only); with `kl_per_image`,
        by max(D * lambda, KL), the free bits of one group of all D dimensions.
      capacity: C_t (nats) replaces the KL term KL' by |KL' - C_t| ("kl" only; None: off). See
        `vae_tf.models.schedules` for how beta and C_t follow the training step.
      kl_per_image: the KL term's estimate per image (B,), for a posterior, prior or estimator other
        than the report's (`vae_tf.VAE.kl_per_image`); None: the analytic KL of the diagonal
        Gaussian (z_mean, z_log_var) against N(0, I).
      likelihood: p(x|z), a name of `vae_tf.models.likelihoods`, or a `Likelihood` (a Gaussian at its sigma^2).

    Returns:
      dict of scalar tensors: `loss` (what is minimised), `reconstruction_loss`, `kl_loss`
      (always computed, so that runs without it show what it would be) and, for "mse",
      `mse_loss`.
    """
    check_choice("regularizer", regularizer, REGULARIZERS)
    check_choice("reduction", reduction, REDUCTIONS)
    terms = {
        "reconstruction_loss": reconstruction_loss(x, logits, reduction, global_batch_size, likelihood),
        "kl_loss": (kl_loss(z_mean, z_log_var, global_batch_size) if kl_per_image is None
                    else _batch_mean(kl_per_image, global_batch_size)),
    }
    total = terms["reconstruction_loss"]
    if regularizer == "kl":
        penalty = terms["kl_loss"]
        if free_bits > 0 and kl_per_image is None:
            penalty = free_bits_kl(z_mean, z_log_var, free_bits, global_batch_size)
        elif free_bits > 0:  # a KL that does not split by dimension: one group of all D dimensions
            penalty = tf.maximum(tf.cast(free_bits * z_mean.shape[-1], penalty.dtype), penalty)
        if capacity is not None:
            penalty = tf.abs(penalty - capacity)
        total = total + beta * penalty
    elif regularizer == "mse":
        terms["mse_loss"] = mse_loss(z_mean, z_log_var, reduction, global_batch_size)
        total = total + beta * terms["mse_loss"]
    return {"loss": total, **terms}
