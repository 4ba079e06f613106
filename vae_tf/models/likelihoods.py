"""The decoder's likelihoods p(x|z): a small registry of pure functions of tensors.

Each likelihood turns the decoder's logits (..., P), P = the pixels of an image (H * W * C),
into independent per-pixel distributions:

- `"bernoulli"` (the report's, the default): Bernoulli(logits) with the greyscale pixels in
  [0, 1] used as continuous targets, so log p(x|z) is minus the binary cross-entropy summed over
  pixels. It is the report's training loss, but not a normalised density of greyscale images:
  its nats compare models with each other, not with papers.
- `"binarized"`: dynamic binarisation (as in the IWAE paper, Burda et al. 2016): in training,
  every batch's pixels are replaced by fresh draws x ~ Bernoulli(pixel value), inside the
  compiled step with the model's seeded noise (`binarize`); evaluation binarises the test images
  once, with a fixed, recorded seed (`binarize_fixed`). log p(x|z) is then a true log-probability
  of binary images.
- `"continuous_bernoulli"`: the continuous Bernoulli of Loaiza-Ganem and Cunningham (NeurIPS
  2019), `tfd.ContinuousBernoulli(logits=...)`, a proper density on [0, 1] (its normalising
  constant included): log p(x|z) = sum over pixels of x*l - softplus(l) + log C(l), l the logit.
- `"gaussian"`: a Normal N(x_i; m_i, sigma^2) per pixel with the decoder's last layer as its mean
  m (no sigmoid: the mean is the decoder's "logits") and one sigma^2 shared by every pixel and
  image: learned (a weight), optimal (sigma-VAE, Rybkin et al. 2021: in training, the batch's
  mean squared error) or fixed (`parse_variance`). The density is of real-valued pixels: on
  images scaled to [0, 1] it still puts mass outside [0, 1] (a pixel at 0 or 1 has half its mass
  outside when its mean is there), so its nats are a true negative log-density of the data read
  as real numbers, comparable with other Gaussian models (pPCA), not with the Bernoulli nats. The
  sigma^2 lives in the model (`vae_tf.models.gaussian.GaussianVariance`); `Gaussian(variance)`
  here is the likelihood at one value of it (`get("gaussian")` has none, and says so when used).

`get(name)` returns a `Likelihood`; `pixel_nll(x, logits)` (per pixel) is what the training
losses reduce (the "report" and "elbo" reductions of `vae_tf.models.losses`), and `log_prob(x, logits)`
(per image) is what `vae_tf.evaluate` sums. For "bernoulli" the per-pixel loss is
`tf.nn.sigmoid_cross_entropy_with_logits`, the report's arithmetic unchanged.

To add a likelihood: subclass `Likelihood` here, register it in `LIKELIHOODS`, `NAMES` and
`DESCRIPTIONS`, add it to the tests (tests/test_likelihoods.py); `--likelihood` and config.json
follow from `NAMES` (`vae_tf.config.settings`).
"""

from __future__ import annotations

import numpy as np

# The flags' choices; `vae_tf.config.settings` reads these without importing TensorFlow.
NAMES = ("bernoulli", "binarized", "continuous_bernoulli", "gaussian")
DESCRIPTIONS = {
    "bernoulli": "Bernoulli pixels with greyscale targets in [0, 1] (the report's; not a normalised density)",
    "binarized": "Bernoulli pixels of binarised images: x ~ Bernoulli(pixel) afresh every training batch, "
                 "test images binarised once with a fixed seed (a true log-probability of binary images)",
    "continuous_bernoulli": "continuous Bernoulli pixels (Loaiza-Ganem and Cunningham 2019), a proper density "
                            "on [0, 1], normalising constant included",
    "gaussian": "Normal pixels N(mean, sigma^2), one sigma^2 for every pixel (learned, optimal or fixed): a true "
                "density of real-valued pixels, which puts mass outside [0, 1]",
}
# `--gaussian-variance`'s two modes besides a fixed float.
VARIANCE_MODES = ("learned", "optimal")
# The seed of the evaluation's one-off binarisation of the test images (recorded in evaluation.json).
EVALUATION_BINARIZATION_SEED = 20190101


def _tfd():
    import tensorflow_probability as tfp

    return tfp.distributions


class Likelihood:
    """One p(x|z): per-pixel distributions given the decoder's logits.

    Attributes:
      name: the registry's name (the `--likelihood` value).
      binarizes: whether the images are binarised (training: afresh per batch; evaluation: once).
      description: one line for tables and JSON.
    """

    name = ""
    binarizes = False

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self.name]

    def pixel_distribution(self, logits):
        """The per-pixel TFP distribution, batch shape = logits' shape, event shape ()."""
        raise NotImplementedError

    def distribution(self, logits, event_ndims: int = 1):
        """p(x|z) as a TFP distribution whose event is the last `event_ndims` axes of `logits`.

        Args:
          logits: float tensor (..., P) (or (..., H, W, C) with event_ndims=3).
          event_ndims: how many trailing axes make one image.

        Returns:
          `tfd.Independent` of the per-pixel distribution: `log_prob` sums over the image, in nats.
        """
        return _tfd().Independent(self.pixel_distribution(logits), reinterpreted_batch_ndims=event_ndims)

    def pixel_nll(self, x, logits):
        """-log p(x_i | logit_i) per pixel, in nats.

        Args:
          x: float tensor (B, P), pixel values in [0, 1] (binary for "binarized").
          logits: float tensor (B, P), the decoder's logits; broadcasts against `x`.

        Returns:
          Tensor of the broadcast shape of `x` and `logits`.
        """
        return -self.pixel_distribution(logits).log_prob(x)

    def log_prob(self, x, logits):
        """log p(x|z) per image: the per-pixel log-probabilities summed over the last axis, in nats.

        Args:
          x: float tensor (..., P), pixel values in [0, 1].
          logits: float tensor (..., P); broadcasts against `x`.

        Returns:
          Tensor (...).
        """
        import tensorflow as tf

        return -tf.reduce_sum(self.pixel_nll(x, logits), axis=-1)

    def mean(self, logits):
        """E[x|z] per pixel: what a decoded image shows. Same shape as `logits`, values in [0, 1]."""
        import tensorflow as tf

        return tf.sigmoid(logits)


class Bernoulli(Likelihood):
    """The report's: Bernoulli(logits), greyscale targets used as they are."""

    name = "bernoulli"

    def pixel_distribution(self, logits):
        return _tfd().Bernoulli(logits=logits, dtype=logits.dtype)

    def pixel_nll(self, x, logits):
        # The report's arithmetic: the binary cross-entropy from logits, unchanged.
        import tensorflow as tf

        logits = tf.convert_to_tensor(logits)
        x = tf.cast(x, logits.dtype)
        if x.shape != logits.shape:  # e.g. images (B, P) against K samples' logits (K, B, P)
            shape = tf.broadcast_dynamic_shape(tf.shape(x), tf.shape(logits))
            x, logits = tf.broadcast_to(x, shape), tf.broadcast_to(logits, shape)
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits)


class Binarized(Bernoulli):
    """Bernoulli(logits) of binarised images (`binarize` in training, `binarize_fixed` to evaluate)."""

    name = "binarized"
    binarizes = True


class ContinuousBernoulli(Likelihood):
    """The continuous Bernoulli CB(lambda = sigmoid(logit)) per pixel: a density on [0, 1]."""

    name = "continuous_bernoulli"

    def pixel_distribution(self, logits):
        return _tfd().ContinuousBernoulli(logits=logits)

    def mean(self, logits):
        # The continuous Bernoulli's mean is not sigmoid(logit) (the paper's point about
        # decoded images): lambda / (2 lambda - 1) + 1 / (2 artanh(1 - 2 lambda)).
        return self.pixel_distribution(logits).mean()


class Gaussian(Likelihood):
    """N(x_i; m_i, sigma^2) per pixel, m = the decoder's last layer (its "logits"), one shared sigma^2.

    Args:
      variance: sigma^2, a float or a scalar tensor (> 0); None for the registry's unbound entry,
        whose log-probabilities are refused (the variance is the model's: `vae.pixel_model`).
    """

    name = "gaussian"

    def __init__(self, variance=None):
        self.variance = variance

    def _variance(self, logits):
        import tensorflow as tf

        if self.variance is None:
            raise ValueError("the gaussian likelihood needs its sigma^2: use the model's, vae.pixel_model.")
        return tf.cast(self.variance, tf.convert_to_tensor(logits).dtype)

    def pixel_distribution(self, logits):
        import tensorflow as tf

        return _tfd().Normal(loc=logits, scale=tf.sqrt(self._variance(logits)))

    def pixel_nll(self, x, logits):
        # 0.5 (x - m)^2 / sigma^2 + 0.5 log(2 pi sigma^2): tfd.Normal's log_prob, written out so
        # that x and the K samples' means broadcast as in the other likelihoods.
        import tensorflow as tf

        logits = tf.convert_to_tensor(logits)
        variance = self._variance(logits)
        x = tf.cast(x, logits.dtype)
        return 0.5 * tf.square(x - logits) / variance + 0.5 * tf.math.log(2.0 * np.pi * variance)

    def mean(self, logits):
        # The mean itself, which may leave [0, 1]: `VAE.decode` clips it for display.
        return logits


LIKELIHOODS = {likelihood.name: likelihood
               for likelihood in (Bernoulli(), Binarized(), ContinuousBernoulli(), Gaussian())}
assert tuple(LIKELIHOODS) == NAMES


def parse_variance(value):
    """`--gaussian-variance` read: "learned", "optimal", or sigma^2 as a float > 0 (a number or its text).

    Returns:
      "learned", "optimal" or a float.

    Raises:
      ValueError: anything else (one sentence naming the value).
    """
    if value in VARIANCE_MODES:
        return value
    try:
        variance = float(value)
    except (TypeError, ValueError):
        variance = float("nan")
    if isinstance(value, bool) or not (0 < variance < float("inf")):
        raise ValueError(f"gaussian_variance={value!r}: give learned, optimal, or sigma^2 as a number > 0 "
                         "(e.g. 0.01).")
    return variance


def get(name) -> Likelihood:
    """The registered likelihood called `name` (one of `NAMES`); a `Likelihood` itself is returned as it is.

    Raises:
      ValueError: an unknown name (the message lists the known ones).
    """
    if isinstance(name, Likelihood):
        return name
    if name not in LIKELIHOODS:
        raise ValueError(f"likelihood={name!r} is not one of {', '.join(map(repr, NAMES))}.")
    return LIKELIHOODS[name]


def binarize(x, uniform):
    """Binary pixels x_b = 1 where u < x, else 0: x_b ~ Bernoulli(x) for u ~ U[0, 1).

    Binary images stay as they are (u < 0 never holds, u < 1 always does).

    Args:
      x: float tensor (B, P), pixel values in [0, 1].
      uniform: float tensor (B, P) of U[0, 1) draws (the model's seeded noise in training).

    Returns:
      Float tensor (B, P) of 0s and 1s, the dtype of `x`.
    """
    import tensorflow as tf

    return tf.cast(uniform < x, x.dtype)


def binarize_fixed(images, seed: int = EVALUATION_BINARIZATION_SEED, indices=None) -> np.ndarray:
    """Images binarised once, image i by uniforms that depend only on (seed, index of i).

    So the same test image is binarised the same way whatever `--limit`, the chunking or the
    order: evaluating twice gives the same nats, and validation sees the same binary test set as
    `vae_tf.evaluate`.

    Args:
      images: uint8 (N, ...) in 0..255, or floats in [0, 1], any image shape.
      seed: the binarisation's seed (recorded in evaluation.json).
      indices: each image's index in its split (default 0..N-1).

    Returns:
      uint8 array of the shape of `images`, each pixel 0 or 255 (1 with probability pixel / 255).
    """
    images = np.asarray(images)
    values = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
    indices = np.arange(len(images)) if indices is None else np.asarray(indices)
    shape = images.shape[1:]
    uniform = np.stack([np.random.default_rng([seed, int(index)]).random(shape, dtype=np.float32)
                        for index in indices]) if len(images) else np.zeros(images.shape, np.float32)
    return np.where(uniform < values, 255, 0).astype(np.uint8)
