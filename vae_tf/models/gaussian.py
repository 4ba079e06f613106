"""The Gaussian likelihood's sigma^2 as a part of the model: one value shared by every pixel and image.

`GaussianVariance` is a Keras layer of the VAE (built only for `likelihood="gaussian"`), so that
its state is saved in model.keras with the other weights. Its three modes
(`vae_tf.models.likelihoods.parse_variance`):

- a float: sigma^2 fixed, no weight. For a Gaussian decoder sigma^2 plays beta's part: the
  negative ELBO is sum_i (x_i - m_i)^2 / (2 sigma^2) + KL + a constant, so beta and 2 sigma^2
  weigh reconstruction against the KL the same way (docs/linear-vae.md).
- "learned": log sigma^2 is a trainable weight, initially log 0.1 (about the per-pixel variance of
  Fashion-MNIST or a photo in [0, 1], the error of a decoder that draws the mean image: Adam moves a
  log-variance by about the learning rate a step, so a start far off costs many steps).
- "optimal": sigma-VAE's (Rybkin, Daniilidis and Levine, ICML 2021): in a training step sigma^2 is
  the batch's mean squared error over its images and pixels, the value that maximises the batch's
  likelihood for the current means. Evaluation needs one sigma^2 that does not depend on the test
  batch, so the layer keeps the bias-corrected exponential moving average (decay 0.99) of the
  training batches' values and evaluates with it (also validation, `evaluate`, `sweep`, `compare`).
  Under tf.distribute each replica takes its own share's mean squared error.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from vae_tf.models import likelihoods

INITIAL_VARIANCE = 0.1  # "learned"'s start (see the module docstring)
DECAY = 0.99  # "optimal"'s moving average of the training batches' mean squared errors
FLOOR = 1e-6  # the smallest sigma^2 of "optimal" (a batch reconstructed exactly would give log 0)


@keras.saving.register_keras_serializable(package="vae_tf")
class GaussianVariance(keras.layers.Layer):
    """sigma^2 of the Gaussian likelihood: fixed, learned or optimal (see the module docstring).

    Args:
      mode: "learned", "optimal", or sigma^2 as a float > 0 (or its text).
    """

    def __init__(self, mode="learned", **kwargs):
        super().__init__(**kwargs)
        self.mode = likelihoods.parse_variance(mode)
        if self.mode == "learned":
            self.log_variance = self.add_weight(shape=(), name="log_variance",
                                                initializer=keras.initializers.Constant(math.log(INITIAL_VARIANCE)))
        elif self.mode == "optimal":
            self.average = self.add_weight(shape=(), name="mse_average", initializer="zeros", trainable=False)
            self.updates = self.add_weight(shape=(), name="mse_updates", initializer="zeros", trainable=False)
        self.built = True

    def value(self):
        """sigma^2 now (scalar tensor): the fixed value, exp of the weight, or the training's average MSE
        (1 before any training step)."""
        if self.mode == "learned":
            return tf.exp(self.log_variance)
        if self.mode == "optimal":
            corrected = self.average / tf.maximum(1.0 - tf.pow(DECAY, self.updates), 1e-12)
            return tf.where(self.updates > 0, tf.maximum(corrected, FLOOR), 1.0)
        return tf.constant(self.mode, tf.float32)

    def likelihood(self, x=None, logits=None, training=False) -> likelihoods.Gaussian:
        """The Gaussian likelihood at this sigma^2; for "optimal" in training, at the batch's mean squared
        error of `x` against the means `logits` ((B, P) each), which also updates the moving average."""
        if self.mode != "optimal" or not training:
            return likelihoods.Gaussian(self.value())
        # The optimum for the current means: its gradient through sigma^2 is zero, so it is held fixed.
        mse = tf.maximum(tf.stop_gradient(tf.reduce_mean(tf.square(tf.cast(x, logits.dtype) - logits))), FLOOR)
        self.average.assign(DECAY * self.average + (1.0 - DECAY) * mse)
        self.updates.assign_add(1.0)
        return likelihoods.Gaussian(mse)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def build_variance(likelihood: str, mode) -> GaussianVariance | None:
    """The model's sigma^2 layer for `likelihood="gaussian"` (mode None: "learned"); None for the others."""
    if likelihood != "gaussian":
        return None
    return GaussianVariance("learned" if mode is None else mode, name="gaussian_variance")
