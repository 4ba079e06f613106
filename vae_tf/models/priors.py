"""The prior p(z): a registry of families, each a Keras layer owning its learned parameters.

    --prior standard_normal   the report's N(0, I)
    --prior mixture           a learned mixture of K diagonal Gaussians (tfd.MixtureSameFamily):
                              K means, K diagonal scales and K mixing logits, all trained
    --prior vamp              the VampPrior (Tomczak and Welling 2018): the mixture, with equal
                              weights, of the posteriors q(z|u_k) of K learned pseudo-inputs u_k

(`--prior-components K` for both learned priors.) `prior.distribution(posterior_of)` returns a
TFP distribution with event shape (D,); `posterior_of(images)` maps pseudo-images (K, P) in
[0, 1] to the encoder's posterior, batch (K,) (only the VampPrior calls it). The learned
parameters are Keras weights, saved in the .keras file and restored on --resume. Names must match
`vae_tf.models.choices.PRIORS` (a test checks it).
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


class Prior(keras.layers.Layer):
    """A prior family. Subclasses set `name_in_registry` and override `distribution`.

    Args:
      latent_dim: D.
      components: K (the learned priors).
      image_size: P, pixels of one (flattened) image (the VampPrior's pseudo-inputs).
    """

    name_in_registry = ""

    def __init__(self, latent_dim: int, components: int = 10, image_size: int = 784, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim, self.components, self.image_size = int(latent_dim), int(components), int(image_size)
        self.built = True

    def distribution(self, posterior_of=None):
        """p(z) as a TFP distribution, event shape (D,)."""
        raise NotImplementedError


class StandardNormalPrior(Prior):
    """N(0, I): no weights."""

    name_in_registry = "standard_normal"

    def distribution(self, posterior_of=None):
        return tfd.MultivariateNormalDiag(loc=tf.zeros([self.latent_dim]))


class MixturePrior(Prior):
    """A learned mixture of K diagonal Gaussians: sum_k softmax(logits)_k N(means_k, diag(exp(2 log_scales_k)))."""

    name_in_registry = "mixture"

    def __init__(self, latent_dim: int, components: int = 10, image_size: int = 784, **kwargs):
        super().__init__(latent_dim, components, image_size, **kwargs)
        # Means spread like draws of N(0, I), unit scales, equal weights: close to N(0, I) at the start.
        self.means = self.add_weight(shape=(self.components, self.latent_dim),
                                     initializer=keras.initializers.RandomNormal(stddev=1.0), name="means")
        self.log_scales = self.add_weight(shape=(self.components, self.latent_dim), initializer="zeros",
                                          name="log_scales")
        self.logits = self.add_weight(shape=(self.components,), initializer="zeros", name="logits")

    def distribution(self, posterior_of=None):
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(logits=self.logits),
            components_distribution=tfd.MultivariateNormalDiag(loc=self.means, scale_diag=tf.exp(self.log_scales)))


class VampPrior(Prior):
    """The VampPrior: (1/K) sum_k q(z | u_k), u_k = sigmoid(pseudo_input_logits_k), K learned pseudo-images (K, P)."""

    name_in_registry = "vamp"

    def __init__(self, latent_dim: int, components: int = 10, image_size: int = 784, **kwargs):
        super().__init__(latent_dim, components, image_size, **kwargs)
        # Grey noise images at the start (pixels sigmoid(N(0, 0.5^2)), around 0.5).
        self.pseudo_input_logits = self.add_weight(
            shape=(self.components, self.image_size), initializer=keras.initializers.RandomNormal(stddev=0.5),
            name="pseudo_input_logits")

    def pseudo_inputs(self):
        """The K pseudo-images u_k (K, P), pixels in [0, 1]."""
        return tf.sigmoid(self.pseudo_input_logits)

    def distribution(self, posterior_of=None):
        if posterior_of is None:
            raise ValueError("the VampPrior needs the encoder: pass posterior_of (images (K, P) -> q(z|u)).")
        components = posterior_of(self.pseudo_inputs())
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(logits=tf.zeros([self.components])),
            components_distribution=components)


def log_density_on_grid(distribution, extent: float = 4.0, points: int = 201):
    """log p(z) of a 2-D distribution on the regular grid [-extent, extent]^2, for a figure.

    Args:
      distribution: a TFP distribution with event shape (2,) (e.g. `vae.prior()`).
      extent, points: the grid, `points` per axis.

    Returns:
      (axis (points,), log_density (points, points)): NumPy float64, rows along the first coordinate.
    """
    import numpy as np

    axis = np.linspace(-extent, extent, points)
    first, second = np.meshgrid(axis, axis, indexing="ij")
    grid = np.stack([first.ravel(), second.ravel()], axis=1).astype("float32")
    log_density = np.asarray(distribution.log_prob(grid), dtype=np.float64).reshape(points, points)
    return axis, log_density


PRIORS = {family.name_in_registry: family for family in (StandardNormalPrior, MixturePrior, VampPrior)}


def build_prior(name: str, latent_dim: int, components: int = 10, image_size: int = 784) -> Prior:
    """The prior family `name` ("standard_normal", "mixture" or "vamp") as a Keras layer.

    Args:
      name: a key of `PRIORS`.
      latent_dim: D.
      components: K, components of the learned priors.
      image_size: P, pixels per flattened image (the VampPrior's pseudo-inputs).

    Returns:
      A `Prior` layer, its weights created.
    """
    if name not in PRIORS:
        raise ValueError(f"prior={name!r} is not one of {', '.join(map(repr, PRIORS))}.")
    return PRIORS[name](latent_dim, components, image_size, name=f"prior_{name}")
