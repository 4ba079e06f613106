"""The linear encoder's posterior variance: one learned vector, the same for every image.

`ConstantLogVariance` is the `z_log_var` head of `vae_tf.models.architectures`' "linear" encoder
(the module docstring there says why the linear model's posterior variance does not depend on x).
It lives apart from the builders because it imports Keras, which `architectures` does not at import.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="vae_tf")
class ConstantLogVariance(keras.layers.Layer):
    """z_log_var of the linear encoder: one learned vector (D,), initially 0, broadcast to every image (B, D).

    Args:
      latent_dim: D.
    """

    def __init__(self, latent_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.log_variance = self.add_weight(shape=(self.latent_dim,), name="log_variance", initializer="zeros")
        self.built = True

    def call(self, images):
        return keras.ops.zeros_like(images[:, :1]) + self.log_variance

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.latent_dim)

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim}
