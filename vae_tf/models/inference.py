"""What a VAE's networks answer once trained: images in and out, and the model as TFP distributions.

`Inference` is a mixin of `vae_tf.models.vae.VAE`: the networks as functions (`posterior_params`,
`decode_logits`), the model as distributions (`posterior`, `prior`, `likelihood`, and the KL term
between the first two, `kl_per_image`), and the NumPy methods that take many images at once in
batches (`encode`, `sample_codes`, `posterior_mean`, `decode`). `as_pixels` is how every image
enters the model: flattened float32 (B, P) in [0, 1].
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from vae_tf.data import REPORT_SHAPE, check_images
from vae_tf.kl import kl_analytic, kl_sample_mean
from vae_tf.models import architectures, likelihoods
from vae_tf.models.checks import check_batch_size, check_codes, check_not_empty
from vae_tf.models.posteriors import reparameterize

# Images per batch when encoding or decoding many at once (memory: 4096 x P floats).
BATCH = 4096


def as_pixels(x, image_shape=REPORT_SHAPE):
    """Images as flattened float32 (B, P) in [0, 1]: uint8 is scaled by 1/255 inside the graph.

    Args:
      x: images (B, P), (B, H, W, C), or (B, H, W) when C = 1; uint8 or floats in [0, 1].
      image_shape: (H, W, C); P = H * W * C.

    Concrete arrays are checked first (`vae_tf.data.spec.check_images`: shape, dtype, NaN, range);
    symbolic tensors inside a traced graph are not.
    """
    if not isinstance(x, tf.Tensor) or hasattr(x, "numpy"):
        x = check_images(x, image_shape=image_shape)
    x = tf.convert_to_tensor(x)
    if x.dtype == tf.uint8:
        x = tf.cast(x, tf.float32) / 255.0
    else:
        x = tf.cast(x, tf.float32)
    height, width, channels = image_shape
    return tf.reshape(x, (-1, height * width * channels))


def pixel_likelihood(logits, image_shape=None, likelihood: str = "bernoulli"):
    """p(x|z): independent pixels with the decoder's logits (..., P), as a TFP distribution.

    For "bernoulli" its `log_prob(x)` is minus the binary cross-entropy summed over pixels, in
    nats, also for greyscale x in [0, 1] used as continuous targets (the training loss); see
    `vae_tf.models.likelihoods` for "binarized" and "continuous_bernoulli".

    Args:
      logits: float tensor (..., P).
      image_shape: (H, W, C) with H * W * C = P for event shape (H, W, C); None: event shape (P,).
      likelihood: a name of `vae_tf.models.likelihoods.NAMES`, or a `Likelihood` (a Gaussian with its sigma^2).
    """
    model = likelihoods.get(likelihood)
    if image_shape is None:
        return model.distribution(logits)
    shaped = tf.reshape(logits, tf.concat([tf.shape(logits)[:-1], tf.constant(image_shape, tf.int32)], 0))
    return model.distribution(shaped, event_ndims=3)


class Inference:
    """The VAE's networks as functions, its distributions and its NumPy many-images methods (a mixin).

    The class that mixes it in sets `encoder`, `decoder` (`vae_tf.models.architectures`), `sampling`
    (`vae_tf.models.sampling.Sampling`), `posterior_family`, `prior_family` (`vae_tf.models.posteriors`,
    `vae_tf.models.priors`), `settings` (its settings by name), `image_shape` (H, W, C), `latent_dim`,
    `posterior_name`, `kl_estimator`, `kl_samples`, and `_untracked.heads` (the encoder with its features
    as a third output, or None).
    """

    @property
    def pixel_model(self) -> likelihoods.Likelihood:
        """The `vae_tf.models.likelihoods.Likelihood` of this model's `likelihood` setting (for "gaussian", at
        the model's sigma^2 now: the one evaluation uses)."""
        variance = getattr(self, "pixel_variance", None)
        return likelihoods.get(self.likelihood_name) if variance is None else variance.likelihood()

    def step_pixel_model(self, x, logits, training=False) -> likelihoods.Likelihood:
        """The likelihood of one step on images x and means `logits` (B, P): `pixel_model`, except for a
        Gaussian of "optimal" sigma^2 in training, which takes the batch's mean squared error."""
        variance = getattr(self, "pixel_variance", None)
        return self.pixel_model if variance is None else variance.likelihood(x, logits, training)

    @property
    def likelihood_name(self) -> str:
        """The `likelihood` setting: "bernoulli", "binarized", "continuous_bernoulli" or "gaussian"."""
        return self.settings["likelihood"]

    def decode_logits(self, z):
        """The decoder's logits, flattened (B, P), for codes z (B, D)."""
        return architectures.decoder_logits(self.decoder, z)

    def posterior_params(self, x, training=False) -> dict:
        """The encoder's outputs for flattened images x (B, P): `z_mean`, `z_log_var` (B, D) and, for
        the families that read them, `features` (B, F) (see `vae_tf.models.posteriors`)."""
        if self._untracked.heads is None:
            z_mean, z_log_var = self.encoder(x, training=training)
            return {"z_mean": z_mean, "z_log_var": z_log_var}
        z_mean, z_log_var, features = self._untracked.heads(x, training=training)
        return {"z_mean": z_mean, "z_log_var": z_log_var, "features": features}

    def _posterior_of_pixels(self, images):
        """q(z|u) for flattened images u (K, P) in [0, 1]: the VampPrior's components."""
        return self.posterior_family.distribution(self.posterior_params(images))

    def kl_per_image(self, params, z, log_q):
        """The KL term's estimate per image (B,), nats, as `kl_estimator` says.

        Args:
          params: `posterior_params` of the batch.
          z, log_q: the reconstruction's draw z (B, D) from q(z|x) and its log q(z|x) (B,).

        Returns:
          analytic: KL(q(z|x) || p(z)) (`vae_tf.kl.estimators.kl_analytic`); monte_carlo: the mean over
          `kl_samples` draws (the first is z) of log q(z|x) - log p(z) (`vae_tf.kl.estimators.kl_sample_mean`).
        """
        prior = self.prior()
        if self.kl_estimator == "analytic":
            return kl_analytic(self.posterior_family.distribution(params), prior)
        log_q, log_p = log_q[None], prior.log_prob(z)[None]
        if self.kl_samples > 1:
            shape = tf.concat([[self.kl_samples - 1], tf.shape(params["z_mean"])], axis=0)
            more_z, more_log_q = self.posterior_family.sample(params, self.sampling.noise(tf.zeros(shape)))
            log_q = tf.concat([log_q, more_log_q], axis=0)
            log_p = tf.concat([log_p, prior.log_prob(more_z)], axis=0)
        return kl_sample_mean(log_q, log_p)

    # --- many images at once, in batches: NumPy in, NumPy out -----------------------------------

    def encode(self, x, batch_size: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
        """(z_mean, z_log_var) of images x, float32 (N, D) each.

        Args:
          x: images (N, H, W, C), (N, H, W) when C = 1, or (N, P); uint8 or floats in [0, 1].
          batch_size: images per call of the encoder.
        """
        batch_size, x = check_batch_size(batch_size), check_not_empty(x)
        parts = [self.encoder(as_pixels(x[start:start + batch_size], self.image_shape), training=False)
                 for start in range(0, len(x), batch_size)]
        return tuple(np.concatenate([np.asarray(part[i]) for part in parts]) for i in range(2))

    def sample_codes(self, x, seed: int, batch_size: int = BATCH) -> dict:
        """The codes of every image of x, in order: `z_mean`, `z_log_var` and a sampled `z`, (N, D) each.

        The noise of z is a function of `seed` (N(0, I) draws seeded with seed + 1).
        """
        z_mean, z_log_var = self.encode(x, batch_size)
        eps = np.asarray(keras.random.normal(z_mean.shape, seed=seed + 1))
        if self.posterior_name == "diagonal":
            return {"z_mean": z_mean, "z_log_var": z_log_var, "z": np.asarray(reparameterize(z_mean, z_log_var, eps))}
        z = np.concatenate([np.asarray(self.posterior_family.sample(
            self.posterior_params(as_pixels(x[start:start + batch_size], self.image_shape)),
            eps[start:start + batch_size])[0]) for start in range(0, len(x), batch_size)])
        return {"z_mean": z_mean, "z_log_var": z_log_var, "z": z}

    def posterior_mean(self, x, samples: int = 64, seed: int = 0, batch_size: int = BATCH) -> np.ndarray:
        """E_q[z|x] (N, D) of images x: z_mean for the Gaussian posteriors; for the IAF, the mean of
        `samples` draws per image (seeded by `seed`)."""
        if self.posterior_name != "iaf":
            return self.encode(x, batch_size)[0]
        batch_size, x = check_batch_size(batch_size), check_not_empty(x)
        parts = []
        for start in range(0, len(x), batch_size):
            params = self.posterior_params(as_pixels(x[start:start + batch_size], self.image_shape))
            eps = keras.random.normal((samples, *params["z_mean"].shape), seed=seed + start)
            parts.append(np.asarray(self.posterior_family.mean(params, eps)))
        return np.concatenate(parts)

    def decode(self, z, batch_size: int = BATCH, logits: bool = False) -> np.ndarray:
        """Images for codes z (N, D): the likelihood's mean E[x|z] in [0, 1], (N, H, W, C).

        That is the pixel probabilities for the Bernoulli likelihoods, the continuous
        Bernoulli's mean (not sigmoid(logits)) for "continuous_bernoulli", and the Gaussian's mean
        (the logits) clipped to [0, 1] for "gaussian".

        Args:
          z: codes (N, D).
          batch_size: codes per call of the decoder.
          logits: return the decoder's logits instead, flattened (N, P).
        """
        batch_size, z = check_batch_size(batch_size), check_codes(z, self.latent_dim)  # as encode checks images
        if logits:
            step = self.decode_logits
        elif self.likelihood_name == "continuous_bernoulli":
            step = lambda codes: self.pixel_model.mean(self.decode_logits(codes))  # noqa: E731
        elif self.likelihood_name == "gaussian":  # the mean may leave [0, 1]: clipped, to be shown as pixels
            step = lambda codes: tf.clip_by_value(self.decode_logits(codes), 0.0, 1.0)  # noqa: E731
        else:
            step = lambda codes: self.decoder(codes, training=False)  # noqa: E731
        flat = np.concatenate([np.asarray(step(z[start:start + batch_size])) for start in range(0, len(z), batch_size)])
        return flat if logits else flat.reshape((len(flat), *self.image_shape))

    # --- the model as distributions ------------------------------------------------------------

    def posterior(self, x):
        """q(z|x) for images x (B, H, W, C) (or (B, P)), a TFP distribution with batch shape (B,) and event
        shape (D,): `MultivariateNormalDiag` (the report's), `MultivariateNormalTriL` (full) or a
        `TransformedDistribution` (iaf); see `vae_tf.models.posteriors`."""
        return self.posterior_family.distribution(self.posterior_params(as_pixels(x, self.image_shape)))

    def prior(self):
        """p(z), a TFP distribution with event shape (D,): N(0, I) (the report's), a learned
        `MixtureSameFamily` of Gaussians, or the VampPrior; see `vae_tf.models.priors`."""
        return self.prior_family.distribution(self._posterior_of_pixels)

    def likelihood(self, z):
        """p(x|z) for codes z (B, D): the model's likelihood (`vae_tf.models.likelihoods`) as a TFP distribution,
        batch shape (B,), event (H, W, C)."""
        return pixel_likelihood(self.decode_logits(z), self.image_shape, self.pixel_model)
