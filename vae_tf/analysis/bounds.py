"""The bounds on log p(x) of a trained VAE, in nats per image: -ELBO and -IWAE_K by importance sampling.

Two numbers per image x, both negative log-likelihoods (lower is better), in nats:

- `-ELBO`: the textbook negative evidence lower bound, E_q[-log p(x|z)] + KL(q(z|x) || p(z)),
  whatever reduction the run was trained with. The reconstruction part is averaged over the
  same K samples of q(z|x) that the IWAE uses; the KL part is analytic (`vae_tf.kl.estimators`).
- `-IWAE_K`: minus the importance-weighted bound log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x),
  z_k ~ q(z|x) (Burda et al., 2016). -ELBO >= -IWAE_K >= -log p(x), and -IWAE_K decreases
  toward -log p(x) as K grows.

The third, -log p(x) integrated on a grid of z (latent size 2 only), is `vae_tf.analysis.grid`;
a run directory's evaluation (evaluation.json, per class) is `vae_tf.analysis.evaluation`.

p(x|z) is the run's likelihood (`vae_tf.models.likelihoods`), named in every table and in
evaluation.json:

- "bernoulli" (the report's): Bernoulli over the P = H x W x C values of an image with the
  decoder's logits, the greyscale (or colour) test values in [0, 1] used as continuous targets,
  so log p(x|z) is minus the binary cross-entropy summed over pixels, the training loss. It is not
  a normalised density of greyscale images; the numbers compare models under this same
  likelihood, not with papers.
- "binarized": the test images are binarised once, value = 1 with probability value / 255, by
  uniforms that depend only on (`EVALUATION_BINARIZATION_SEED`, the image's index)
  (`vae_tf.models.likelihoods.binarize_fixed`; the seed is recorded), and log p(x|z) is the Bernoulli
  log-probability of those binary images: comparable with papers that binarise dynamically.
- "continuous_bernoulli": the continuous Bernoulli density of the test values, a proper density
  on [0, 1]^P (log p(x) can be positive: densities exceed 1).
- "gaussian": the Normal density of the test values at the model's sigma^2 (for "optimal", the
  training's average, not the test batch's), a true density of real-valued pixels on R^P, which
  puts some of its mass outside [0, 1]^P; -ELBO and -IWAE_K are then bounds on a true negative
  log-density (also negative when sigma^2 is small).

Bits per dimension are nats / (P ln 2), P = H x W x C of the run's data (784 for Fashion-MNIST).

The math is pure functions of tensors; `importance_sampled` runs it over many images in chunks.
Nothing here imports TensorFlow at module level.
"""

from __future__ import annotations

import math
import sys
import time
import weakref

import numpy as np

from vae_tf.data import REPORT_SHAPE

REPORT_DIMS = math.prod(REPORT_SHAPE)  # the report's 28 x 28 x 1


# ---------------------------------------------------------------------------------------------
# The math: pure functions of tensors
# ---------------------------------------------------------------------------------------------


def bits_per_dim(nats_per_image, dims: int = REPORT_DIMS):
    """Converts nats per image to bits per dimension: nats / (dims * ln 2), dims = H * W * C."""
    return nats_per_image / (dims * math.log(2.0))


bits_per_pixel = bits_per_dim  # the report's greyscale images: one dimension per pixel


def log_mean_exp(log_values, axis: int = 0):
    """log(mean(exp(log_values))) along `axis`, stable for any magnitude of the log-values.

    Args:
      log_values: float tensor, e.g. (K, B) log importance weights.
      axis: the axis to average over.

    Returns:
      Tensor with `axis` removed.
    """
    import tensorflow as tf

    log_values = tf.convert_to_tensor(log_values)
    count = tf.cast(tf.shape(log_values)[axis], log_values.dtype)
    return tf.reduce_logsumexp(log_values, axis=axis) - tf.math.log(count)


def bernoulli_log_likelihood(x, logits):
    """log p(x|z) = -sum over pixels of the binary cross-entropy, in nats.

    Args:
      x: float tensor (..., P), pixel values in [0, 1] used as (continuous) Bernoulli targets.
      logits: float tensor (..., P), the decoder's logits; broadcasts against `x`.

    Returns:
      Tensor (...).
    """
    return log_likelihood(x, logits, "bernoulli")


def log_likelihood(x, logits, likelihood: str = "bernoulli"):
    """log p(x|z) under `likelihood` (`vae_tf.models.likelihoods`), summed over pixels, in nats.

    Args:
      x: float tensor (..., P), pixel values in [0, 1] (binary for "binarized").
      logits: float tensor (..., P), the decoder's logits; broadcasts against `x`.
      likelihood: a name of `vae_tf.models.likelihoods.NAMES`, or a `Likelihood` (a Gaussian at its sigma^2).

    Returns:
      Tensor (...).
    """
    import tensorflow as tf

    from vae_tf.models.likelihoods import get

    logits = tf.convert_to_tensor(logits)
    return get(likelihood).log_prob(tf.cast(x, logits.dtype), logits)


def importance_log_weights(x, z_mean, z_log_var, eps, decode_logits, likelihood: str = "bernoulli"):
    """log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x) for z_k = z_mean + exp(z_log_var / 2) eps_k.

    Args:
      x: float tensor (B, P), pixels in [0, 1].
      z_mean, z_log_var: float tensors (B, D), the encoder's outputs for `x`.
      eps: float tensor (S, B, D) of standard normal draws.
      decode_logits: function mapping codes (N, D) to logits (N, P).
      likelihood: p(x|z), a name of `vae_tf.models.likelihoods.NAMES`.

    Returns:
      (log_weights, log_likelihood): two tensors (S, B), in nats; the second is log p(x|z_k).
    """
    import tensorflow as tf

    from vae_tf.kl import diag_gaussian, standard_normal_prior
    from vae_tf.models.posteriors import reparameterize

    samples, images, latent_dim = tf.unstack(tf.shape(eps))
    z = reparameterize(z_mean, z_log_var, eps)  # broadcasts (B, D) against (S, B, D)
    logits = tf.reshape(decode_logits(tf.reshape(z, (-1, latent_dim))), (samples, images, -1))
    log_px_z = log_likelihood(x, logits, likelihood)
    posterior = diag_gaussian(z_mean, z_log_var)  # batch (B,), event (D,)
    prior = standard_normal_prior(z_mean.shape[-1], dtype=z_mean.dtype)
    return log_px_z + prior.log_prob(z) - posterior.log_prob(z), log_px_z


def uses_report_pair(vae) -> bool:
    """Whether `vae` has the report's diagonal posterior and N(0, I) prior (or predates the choice)."""
    return (getattr(vae, "posterior_name", "diagonal"), getattr(vae, "prior_name", "standard_normal")) == \
        ("diagonal", "standard_normal")


def model_log_weights(vae, x, params, eps):
    """The importance weights of any posterior and prior (`vae.posterior_family`, `vae.prior()`).

    Args:
      vae: a `vae_tf.VAE`.
      x: float tensor (B, P), pixels in [0, 1] (binary for the "binarized" likelihood).
      params: `vae.posterior_params(x)`.
      eps: float tensor (S, B, D) of standard normal draws, pushed through the posterior.

    Returns:
      (log_weights, log_likelihood, log_ratio): tensors (S, B), in nats: log p(x|z_k) + log p(z_k)
      - log q(z_k|x), log p(x|z_k), and log q(z_k|x) - log p(z_k) (the KL's Monte Carlo terms).
    """
    import tensorflow as tf

    samples, images, latent_dim = tf.unstack(tf.shape(eps))
    z, log_q = vae.posterior_family.sample(params, eps)
    log_p = vae.prior().log_prob(z)
    logits = tf.reshape(vae.decode_logits(tf.reshape(z, (-1, latent_dim))), (samples, images, -1))
    log_likelihood = pixel_model(vae).log_prob(tf.cast(x, logits.dtype), logits)
    return log_likelihood + log_p - log_q, log_likelihood, log_q - log_p


def standard_normal_draws(indices, samples: int, latent_dim: int, seed: int = 0) -> np.ndarray:
    """eps (samples, len(indices), latent_dim), float32: image i's draws depend only on (seed, i).

    So the same test image gets the same samples whatever the chunking, `--limit` or order, and
    the first k of K samples are those that K = k would use.
    """
    draws = [np.random.default_rng([seed, int(index)]).standard_normal((samples, latent_dim))
             for index in indices]
    return np.stack(draws, axis=1).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The estimators over many images, in chunks
# ---------------------------------------------------------------------------------------------


_COMPILED = weakref.WeakKeyDictionary()


def _compiled(vae, name, build):
    """The tf.function `build()` for this model, built once: XLA compiles each new shape only once."""
    functions = _COMPILED.setdefault(vae, {})
    if name not in functions:
        functions[name] = build()
    return functions[name]


def uses_xla(vae) -> bool:
    """Whether `vae`'s architecture is compiled with XLA (`vae_tf.models.architectures.XLA`: not the conv model)."""
    from vae_tf.models import architectures

    return architectures.XLA[getattr(vae, "architecture", "mlp")]


class PlainProgress:
    """Progress off a terminal (a pipe, a log file): a plain line every `interval` seconds and at the
    end, e.g. `  3,000/10,000 images (30%), 61 s`, with none of a progress bar's escape codes."""

    def __init__(self, target: int, unit_name: str, interval: float = 30.0):
        self.target, self.unit_name, self.interval = int(target), unit_name, interval
        self.start = self.last = time.monotonic()

    def update(self, current: int) -> None:
        now = time.monotonic()
        if current >= self.target or now - self.last >= self.interval:
            share = 100.0 * current / max(self.target, 1)
            print(f"  {current:,}/{self.target:,} {self.unit_name}s ({share:.0f}%), {now - self.start:.0f} s",
                  flush=True)
            self.last = now


def _progress(target, verbose, unit_name):
    if not verbose:
        return None
    if not sys.stdout.isatty():
        return PlainProgress(target, unit_name)  # Keras' bar writes escape codes even into a file
    import keras

    return keras.utils.Progbar(target, verbose=1, interval=0.05, unit_name=unit_name)


def pixel_model(vae):
    """`vae`'s `vae_tf.models.likelihoods.Likelihood` (a model without one, e.g. a stand-in with only
    `encoder`, `decode_logits` and `latent_dim`: the report's Bernoulli)."""
    from vae_tf.models.likelihoods import get

    return getattr(vae, "pixel_model", None) or get("bernoulli")


def evaluation_images(vae, x, indices=None):
    """The images `vae`'s likelihood is evaluated on: x itself, or, for "binarized", x binarised
    once by `vae_tf.models.likelihoods.binarize_fixed` (seed `EVALUATION_BINARIZATION_SEED`; `indices`:
    each image's index in its split, default 0..N-1), the same every time."""
    from vae_tf.models.likelihoods import EVALUATION_BINARIZATION_SEED, binarize_fixed

    if pixel_model(vae).binarizes:
        return binarize_fixed(x, EVALUATION_BINARIZATION_SEED, indices)
    return x


def _pixels(x, vae=None, indices=None) -> np.ndarray:
    """Checked images as flattened float32 (N, P) in [0, 1] (`vae_tf.models.vae.as_pixels`), of
    `vae.image_shape`, binarised once if `vae`'s likelihood asks for it (`evaluation_images`)."""
    from vae_tf.models.vae import as_pixels

    if vae is not None:
        x = evaluation_images(vae, x, indices)
    # A stand-in decoder may have no shape: the report's.
    return as_pixels(x, getattr(vae, "image_shape", REPORT_SHAPE)).numpy()


def importance_sampled(vae, x, k: int, *, seed: int = 0, indices=None, images_per_chunk: int = 100,
                       samples_per_chunk: int = 500, jit_compile: bool | None = None, verbose: int = 0) -> dict:
    """Per-image ELBO parts and the IWAE_K bound, chunked over images and over the K samples.

    Memory grows with images_per_chunk * samples_per_chunk * P floats (157 MB at 100 * 500 * 784),
    not with K or the number of images.

    Args:
      vae: a `vae_tf.VAE`.
      x: images (N, H, W, C) (or (N, P)), uint8 or floats in [0, 1], of `vae.image_shape`;
        binarised once for the "binarized" likelihood (`evaluation_images`).
      k: K >= 1, importance samples per image.
      seed: seeds the draws (see `standard_normal_draws`).
      indices: each image's index in the test set (default 0..N-1), for the draws and the binarisation.
      images_per_chunk, samples_per_chunk: the chunk sizes.
      jit_compile: compile with XLA (twice as fast on a CPU for the MLP, but a second or more per
        new chunk shape; three times slower for the conv model); None: only for a million
        samples or more, and never for an architecture XLA compiles slowly (`uses_xla`).
      verbose: 1 shows a progress bar.

    Returns:
      dict of float64 arrays (N,), in nats: `iwae` (log p(x) >= IWAE_K), `reconstruction`
      (mean over the K samples of -log p(x|z)), `kl` (KL(q(z|x) || p(z)) under the model's own
      posterior and prior: analytic where TFP has a closed form, else the mean over the K samples
      of log q(z|x) - log p(z)), `neg_elbo` (reconstruction + kl); with a Monte Carlo KL also
      `kl_variance`, each image's sample variance of log q - log p (its KL's standard error is
      sqrt(kl_variance / K)).
    """
    import tensorflow as tf

    from vae_tf.config import analytic_kl_problem
    from vae_tf.kl import kl_analytic, kl_standard_normal

    if k < 1:
        raise ValueError(f"k={k!r}: the number of importance samples must be at least 1.")
    if not uses_report_pair(vae):
        return _importance_sampled_any(vae, x, k, seed=seed, indices=indices, images_per_chunk=images_per_chunk,
                                       samples_per_chunk=samples_per_chunk, jit_compile=jit_compile,
                                       verbose=verbose, analytic=analytic_kl_problem(
                                           vae.posterior_name, vae.prior_name) is None, kl_analytic=kl_analytic)

    def build(jit_compile):
        @tf.function(jit_compile=jit_compile, reduce_retracing=True, autograph=False)
        def chunk(x_chunk, z_mean, z_log_var, eps):
            log_weights, log_px_z = importance_log_weights(x_chunk, z_mean, z_log_var, eps, vae.decode_logits,
                                                           pixel_model(vae))
            return tf.reduce_logsumexp(log_weights, axis=0), tf.reduce_sum(log_px_z, axis=0)

        return chunk

    def columns(encoded, sums):
        (z_mean, z_log_var), (sum_log_likelihood,) = encoded, sums
        return {"reconstruction": -sum_log_likelihood / k, "kl": kl_standard_normal(z_mean, z_log_var).numpy()}

    results = _in_chunks(vae, x, k, seed=seed, indices=indices, images_per_chunk=images_per_chunk,
                         samples_per_chunk=samples_per_chunk, jit_compile=jit_compile, verbose=verbose,
                         name="importance_sampled", build=build, columns=columns, names=("reconstruction", "kl"),
                         encode=lambda x_chunk: vae.encoder(x_chunk, training=False))
    results["neg_elbo"] = results["reconstruction"] + results["kl"]
    return results


def _importance_sampled_any(vae, x, k, *, seed, indices, images_per_chunk, samples_per_chunk, jit_compile,
                            verbose, analytic, kl_analytic) -> dict:
    """`importance_sampled` for any posterior and prior (`model_log_weights`)."""
    import tensorflow as tf

    def build(jit_compile):
        @tf.function(jit_compile=jit_compile, reduce_retracing=True, autograph=False)
        def chunk(x_chunk, params, eps):
            log_weights, log_likelihood, log_ratio = model_log_weights(vae, x_chunk, params, eps)
            return (tf.reduce_logsumexp(log_weights, axis=0), tf.reduce_sum(log_likelihood, axis=0),
                    tf.reduce_sum(log_ratio, axis=0), tf.reduce_sum(tf.square(log_ratio), axis=0))

        return chunk

    def columns(encoded, sums):
        (params,), (log_likelihood, ratio, squared_ratio) = encoded, sums
        mean_ratio = ratio / k
        found = {"reconstruction": -log_likelihood / k,
                 "kl": (kl_analytic(vae.posterior_family.distribution(params), vae.prior()).numpy()
                        if analytic else mean_ratio)}
        if not analytic:
            found["kl_variance"] = (np.maximum(squared_ratio - k * mean_ratio**2, 0.0) / (k - 1)
                                    if k > 1 else np.nan)
        return found

    results = _in_chunks(vae, x, k, seed=seed, indices=indices, images_per_chunk=images_per_chunk,
                         samples_per_chunk=samples_per_chunk, jit_compile=jit_compile, verbose=verbose,
                         name="importance_sampled_any", build=build, columns=columns,
                         names=("reconstruction", "kl", *(() if analytic else ("kl_variance",))),
                         encode=lambda x_chunk: (vae.posterior_params(x_chunk),))
    results["neg_elbo"] = results["reconstruction"] + results["kl"]
    return results


def _in_chunks(vae, x, k, *, seed, indices, images_per_chunk, samples_per_chunk, jit_compile, verbose, name,
               build, encode, columns, names) -> dict:
    """The loop both ways of `importance_sampled` share: over chunks of images, then of their K samples.

    Args:
      vae, x, k, seed, indices, images_per_chunk, samples_per_chunk, jit_compile, verbose: see
        `importance_sampled`.
      name: the compiled function's name for this model (`_compiled`).
      build: build(jit_compile) -> a tf.function chunk(x_chunk, *encoded, eps) of eps (S, B, D) returning
        (logsumexp over the S samples of log w, then sums over them of other per-image terms), each (B,).
      encode: encode(x_chunk) -> the tuple `encoded` of the encoder's outputs for `chunk`.
      columns: columns(encoded, sums) -> {name: (B,) values} of the chunk's images, from the sums over
        all K samples (float64 arrays, in the order `chunk` returns them).
      names: the names `columns` returns.

    Returns:
      dict of float64 arrays (N,): `iwae` (log (1/K) sum_k w_k) and the `names`.
    """
    import tensorflow as tf

    indices = np.arange(len(x)) if indices is None else np.asarray(indices)
    x = _pixels(x, vae, indices)
    if jit_compile is None:
        jit_compile = k * len(x) >= 10**6 and uses_xla(vae)
    chunk = _compiled(vae, (name, jit_compile), lambda: build(jit_compile))
    results = {column: np.empty(len(x)) for column in ("iwae", *names)}
    progress = _progress(len(x), verbose, "image")
    for start in range(0, len(x), images_per_chunk):
        stop = min(start + images_per_chunk, len(x))
        x_chunk = tf.constant(x[start:stop])
        encoded = encode(x_chunk)
        eps = standard_normal_draws(indices[start:stop], k, vae.latent_dim, seed)
        log_sum_weights, sums = np.full(stop - start, -np.inf), None
        for first in range(0, k, samples_per_chunk):
            lse, *totals = chunk(x_chunk, *encoded, tf.constant(eps[first:first + samples_per_chunk]))
            # Combine the chunks' log-sum-exps in float64: exact however K is split.
            log_sum_weights = np.logaddexp(log_sum_weights, lse.numpy().astype(np.float64))
            totals = [total.numpy().astype(np.float64) for total in totals]
            sums = totals if sums is None else [before + total for before, total in zip(sums, totals)]
        results["iwae"][start:stop] = log_sum_weights - math.log(k)
        for column, values in columns(encoded, sums).items():
            results[column][start:stop] = values
        if progress is not None:
            progress.update(stop)
    return results


def rate_description(sampled: dict, k: int) -> dict:
    """How the rate (the mean KL) was computed: `estimator`, and for Monte Carlo the `samples` per image and
    the `standard_error_nats` of the mean over the images, sqrt(sum_i Var_i / K) / N (the noise of the draws,
    not the spread over images)."""
    if "kl_variance" not in sampled:  # the KL was analytic
        return {"estimator": "analytic", "samples": None, "standard_error_nats": 0.0}
    variance = sampled["kl_variance"]
    return {"estimator": "monte_carlo", "samples": k,
            "standard_error_nats": float(math.sqrt(np.sum(variance) / k) / len(variance))}
