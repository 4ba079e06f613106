"""The report's variational autoencoder as a Keras 3 model.

    encoder: 784 -> Dense(hidden, relu) -> Dense(latent) z_mean, Dense(latent) z_log_var
    sampling: z = z_mean + exp(0.5 * z_log_var) * eps,  eps ~ N(0, I)
    decoder: latent -> Dense(hidden, relu) -> Dense(784, sigmoid)

The decoder's last layer is split into its logits (`decoder_logits`) and the sigmoid, so that
training computes the cross-entropy from logits (stable) while `decoder(z)` still returns
pixel probabilities in [0, 1], as in the report.

Usage:

    import keras, vae_tf
    vae = vae_tf.VAE(regularizer="kl", reduction="report")
    vae.compile(optimizer=keras.optimizers.Adam(1e-4))
    vae.fit(x_train, epochs=10, batch_size=128)      # uint8 (N, 784) or floats in [0, 1]
    z_mean, z_log_var = vae.encoder(x)                # floats in [0, 1], shape (N, 784)
    images = vae.decoder(z)                           # (N, 784) probabilities
"""

from __future__ import annotations

import keras
import tensorflow as tf

from vae_tf.losses import REDUCTIONS, REGULARIZERS, check_choice, vae_losses

IMAGE_SIZE = 784


@keras.saving.register_keras_serializable(package="vae_tf")
class Sampling(keras.layers.Layer):
    """Draws z = z_mean + exp(0.5 * z_log_var) * eps with eps ~ N(0, I), shape (B, D)."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(tf.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return reparameterize(z_mean, z_log_var, eps)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def reparameterize(z_mean, z_log_var, eps):
    """z = z_mean + exp(0.5 * z_log_var) * eps, all of shape (B, D)."""
    return z_mean + tf.exp(0.5 * z_log_var) * eps


def build_encoder(latent_dim: int = 2, hidden_units: int = 100) -> keras.Model:
    """The encoder q(z|x).

    Args:
      latent_dim: D, the size of z.
      hidden_units: width of the hidden layer.

    Returns:
      A functional `keras.Model` mapping images (B, 784) with values in [0, 1] to
      `[z_mean, z_log_var]`, each (B, D).
    """
    images = keras.Input(shape=(IMAGE_SIZE,), name="images")
    hidden = keras.layers.Dense(hidden_units, activation="relu", name="encoder_hidden")(images)
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(hidden)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(hidden)
    return keras.Model(images, [z_mean, z_log_var], name="encoder")


def build_decoder(latent_dim: int = 2, hidden_units: int = 100) -> keras.Model:
    """The decoder p(x|z).

    Args:
      latent_dim: D, the size of z.
      hidden_units: width of the hidden layer.

    Returns:
      A functional `keras.Model` mapping codes (B, D) to pixel probabilities (B, 784).
      Its layers `decoder_hidden` and `decoder_logits` give the logits (see `VAE.decode_logits`).
    """
    z = keras.Input(shape=(latent_dim,), name="z")
    hidden = keras.layers.Dense(hidden_units, activation="relu", name="decoder_hidden")(z)
    logits = keras.layers.Dense(IMAGE_SIZE, name="decoder_logits")(hidden)
    images = keras.layers.Activation("sigmoid", name="pixel_probabilities")(logits)
    return keras.Model(z, images, name="decoder")


def as_pixels(x):
    """Images as float32 (B, 784) in [0, 1]: uint8 is scaled by 1/255 inside the graph."""
    x = tf.convert_to_tensor(x)
    if x.dtype == tf.uint8:
        x = tf.cast(x, tf.float32) / 255.0
    else:
        x = tf.cast(x, tf.float32)
    return tf.reshape(x, (-1, IMAGE_SIZE))


@keras.saving.register_keras_serializable(package="vae_tf")
class VAE(keras.Model):
    """The report's VAE with a custom `train_step` that tracks every loss term.

    Args:
      latent_dim: size of z (the report: 2).
      hidden_units: width of the encoder's and the decoder's hidden layer (the report: 100).
      regularizer: "kl" (the report's VAE), "none" (a plain autoencoder with noise) or "mse"
        (the report's "MSE instead of KL").
      reduction: "report" (the report's loss reduction) or "elbo" (the textbook negative ELBO);
        see `vae_tf.losses`.
      beta: weight of the regulariser.
      seed: seed of the sampling noise.

    `fit` accepts uint8 images (scaled inside the graph) or floats in [0, 1], shaped (N, 784)
    or (N, 28, 28). It logs `loss`, `reconstruction_loss`, `kl_loss` and, for "mse", `mse_loss`.
    """

    def __init__(
        self,
        latent_dim: int = 2,
        hidden_units: int = 100,
        regularizer: str = "kl",
        reduction: str = "report",
        beta: float = 1.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.hidden_units = int(hidden_units)
        self.regularizer = check_choice("regularizer", regularizer, REGULARIZERS)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        self.beta = float(beta)
        self.seed = seed
        self.encoder = build_encoder(self.latent_dim, self.hidden_units)
        self.decoder = build_decoder(self.latent_dim, self.hidden_units)
        self.sampling = Sampling(seed=seed, name="sampling")
        names = ["loss", "reconstruction_loss", "kl_loss"]
        if self.regularizer == "mse":
            names.append("mse_loss")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers.values())

    def decode_logits(self, z):
        """The decoder's logits (B, 784) for codes z (B, D)."""
        hidden = self.decoder.get_layer("decoder_hidden")(z)
        return self.decoder.get_layer("decoder_logits")(hidden)

    def call(self, inputs, training=False):
        """Reconstructs images: encode, sample z, decode. Returns probabilities (B, 784)."""
        z_mean, z_log_var = self.encoder(as_pixels(inputs), training=training)
        return self.decoder(self.sampling([z_mean, z_log_var]), training=training)

    def compute_losses(self, data, training=False, global_batch_size=None) -> dict:
        """Every loss term of one batch of images (see `vae_tf.losses.vae_losses`)."""
        x = as_pixels(data)
        z_mean, z_log_var = self.encoder(x, training=training)
        z = self.sampling([z_mean, z_log_var])
        logits = self.decode_logits(z)
        return vae_losses(
            x, logits, z_mean, z_log_var, self.regularizer, self.reduction, self.beta,
            global_batch_size,
        )

    def _global_batch_size(self, x):
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas == 1:
            return None
        return tf.shape(x)[0] * replicas

    def _update_trackers(self, losses):
        for name, tracker in self.trackers.items():
            tracker.update_state(losses[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    @staticmethod
    def _images(data):
        return data[0] if isinstance(data, (tuple, list)) else data

    def train_step(self, data):
        x = self._images(data)
        with tf.GradientTape() as tape:
            losses = self.compute_losses(x, training=True, global_batch_size=self._global_batch_size(x))
        gradients = tape.gradient(losses["loss"], self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self._update_trackers(losses)

    def test_step(self, data):
        x = self._images(data)
        losses = self.compute_losses(x, training=False, global_batch_size=self._global_batch_size(x))
        return self._update_trackers(losses)

    def get_config(self):
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "hidden_units": self.hidden_units,
            "regularizer": self.regularizer,
            "reduction": self.reduction,
            "beta": self.beta,
            "seed": self.seed,
        }
