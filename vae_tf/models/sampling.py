"""The reparameterisation's noise as a Keras layer: `Sampling` draws z = z_mean + exp(0.5 * z_log_var) * eps.

Its seed generator is the run's noise: the VAE's sampling of z, the "binarized" likelihood's
binarisation and, under `tf.distribute`, every replica's rows of the global batch's noise all draw
from it, so that a run's noise follows its seed (a resumed run restores the generator's state).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from vae_tf.models.posteriors import reparameterize


@keras.saving.register_keras_serializable(package="vae_tf")
class Sampling(keras.layers.Layer):
    """Draws z = z_mean + exp(0.5 * z_log_var) * eps with eps ~ N(0, I), shape (B, D).

    In training under a `tf.distribute` strategy, `VAE` draws the noise of the whole global
    batch and gives each replica its rows (`draw`), so R replicas use the noise one device
    would. Called on its own under a strategy, each replica folds its replica id into the seed,
    so the replicas draw independent noise for their shares of the batch.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def draw(self, shape, dtype=tf.float32):
        """eps ~ N(0, I) of `shape`, from this layer's seed generator, the same on every replica."""
        return tf.random.stateless_normal(shape, seed=self.seed_generator.next(), dtype=dtype)

    def draw_uniform(self, shape, dtype=tf.float32):
        """u ~ U[0, 1) of `shape`, from this layer's seed generator, the same on every replica.

        The "binarized" likelihood's noise (`vae_tf.models.likelihoods.binarize`): drawn from the
        sampling's generator, so that it follows the run's seed and is resumed with it.
        """
        # Philox named explicitly: XLA on a CPU draws the default ("auto_select") algorithm about a
        # hundred times slower (0.4 s for 128 x 784 uniforms, against 5 ms for Philox).
        return tf.random.stateless_uniform(shape, seed=self.seed_generator.next(), dtype=dtype, alg="philox")

    def noise(self, z_mean):
        """eps ~ N(0, I) of the shape and dtype of `z_mean`, from this layer's seed generator."""
        seed = self.seed_generator.next()
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            replica = tf.cast(context.replica_id_in_sync_group, seed.dtype)
            seed = seed + tf.stack([tf.zeros_like(replica), replica + 1])
        return tf.random.stateless_normal(tf.shape(z_mean), seed=seed, dtype=z_mean.dtype)

    def call(self, inputs, eps=None):
        z_mean, z_log_var = inputs
        if eps is None:
            eps = self.noise(z_mean)
        return reparameterize(z_mean, z_log_var, eps)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
