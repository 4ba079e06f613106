"""Evaluate a trained VAE on its data's test images, in nats per image and bits per dimension.

    python -m vae_tf.evaluate runs/kl-report                    # -ELBO and -IWAE_1000
    python -m vae_tf.evaluate runs/kl-report --k 5000           # a tighter bound
    python -m vae_tf.evaluate runs/kl-report --exact            # also log p(x) on a grid of z
    python -m vae_tf.evaluate runs/kl-report --limit 100 --out /tmp/quick.json

Three numbers per image x, all negative log-likelihoods (lower is better), in nats:

- `-ELBO`: the textbook negative evidence lower bound, E_q[-log p(x|z)] + KL(q(z|x) || p(z)),
  whatever reduction the run was trained with. The reconstruction part is averaged over the
  same K samples of q(z|x) that the IWAE uses; the KL part is analytic (`vae_tf.kl.divergences`).
- `-IWAE_K`: minus the importance-weighted bound log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x),
  z_k ~ q(z|x) (Burda et al., 2016). -ELBO >= -IWAE_K >= -log p(x), and -IWAE_K decreases
  toward -log p(x) as K grows.
- `-log p(x)` by `--exact` (latent size 2 only): p(x) = integral of p(x|z) p(z) dz summed over a
  regular grid of z on [-L, L]^2 (a Riemann sum, cell area h^2), almost exact when the grid is
  fine and wide enough; the grid with every other point gives an estimate of its error.

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

Bits per dimension are nats / (P ln 2), P = H x W x C of the run's data (784 for Fashion-MNIST).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import weakref
from pathlib import Path

import numpy as np

from vae_tf.core import cli
from vae_tf.core.cli import UsageError, number
from vae_tf.data import REPORT_SHAPE

REPORT_DIMS = math.prod(REPORT_SHAPE)  # the report's 28 x 28 x 1
EVALUATION_FILE = "evaluation.json"




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
      likelihood: a name of `vae_tf.models.likelihoods.NAMES`.

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
    from vae_tf.models.vae import reparameterize

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

    indices = np.arange(len(x)) if indices is None else np.asarray(indices)
    x = _pixels(x, vae, indices)

    if jit_compile is None:
        jit_compile = k * len(x) >= 10**6 and uses_xla(vae)

    def build():
        @tf.function(jit_compile=jit_compile, reduce_retracing=True, autograph=False)
        def chunk(x_chunk, z_mean, z_log_var, eps):
            log_weights, log_px_z = importance_log_weights(x_chunk, z_mean, z_log_var, eps, vae.decode_logits,
                                                           pixel_model(vae).name)
            return tf.reduce_logsumexp(log_weights, axis=0), tf.reduce_sum(log_px_z, axis=0)

        return chunk

    chunk = _compiled(vae, ("importance_sampled", jit_compile), build)
    results = {name: np.empty(len(x)) for name in ("iwae", "reconstruction", "kl")}
    progress = _progress(len(x), verbose, "image")
    for start in range(0, len(x), images_per_chunk):
        stop = min(start + images_per_chunk, len(x))
        x_chunk = tf.constant(x[start:stop])
        z_mean, z_log_var = vae.encoder(x_chunk, training=False)
        eps = standard_normal_draws(indices[start:stop], k, vae.latent_dim, seed)
        log_sum_weights = np.full(stop - start, -np.inf)
        sum_log_likelihood = np.zeros(stop - start)
        for first in range(0, k, samples_per_chunk):
            lse, total = chunk(x_chunk, z_mean, z_log_var, tf.constant(eps[first:first + samples_per_chunk]))
            # Combine the chunks' log-sum-exps in float64: exact however K is split.
            log_sum_weights = np.logaddexp(log_sum_weights, lse.numpy().astype(np.float64))
            sum_log_likelihood += total.numpy()
        results["iwae"][start:stop] = log_sum_weights - math.log(k)
        results["reconstruction"][start:stop] = -sum_log_likelihood / k
        results["kl"][start:stop] = kl_standard_normal(z_mean, z_log_var).numpy()
        if progress is not None:
            progress.update(stop)
    results["neg_elbo"] = results["reconstruction"] + results["kl"]
    return results


def _importance_sampled_any(vae, x, k, *, seed, indices, images_per_chunk, samples_per_chunk, jit_compile,
                            verbose, analytic, kl_analytic) -> dict:
    """`importance_sampled` for any posterior and prior (`model_log_weights`)."""
    import tensorflow as tf

    indices = np.arange(len(x)) if indices is None else np.asarray(indices)
    x = _pixels(x, vae, indices)
    if jit_compile is None:
        jit_compile = k * len(x) >= 10**6 and uses_xla(vae)

    def build():
        @tf.function(jit_compile=jit_compile, reduce_retracing=True, autograph=False)
        def chunk(x_chunk, params, eps):
            log_weights, log_likelihood, log_ratio = model_log_weights(vae, x_chunk, params, eps)
            return (tf.reduce_logsumexp(log_weights, axis=0), tf.reduce_sum(log_likelihood, axis=0),
                    tf.reduce_sum(log_ratio, axis=0), tf.reduce_sum(tf.square(log_ratio), axis=0))

        return chunk

    chunk = _compiled(vae, ("importance_sampled_any", jit_compile), build)
    results = {name: np.empty(len(x)) for name in ("iwae", "reconstruction", "kl", "kl_variance")}
    progress = _progress(len(x), verbose, "image")
    for start in range(0, len(x), images_per_chunk):
        stop = min(start + images_per_chunk, len(x))
        x_chunk = tf.constant(x[start:stop])
        params = vae.posterior_params(x_chunk)
        eps = standard_normal_draws(indices[start:stop], k, vae.latent_dim, seed)
        sums = {name: np.zeros(stop - start) for name in ("log_likelihood", "ratio", "squared_ratio")}
        log_sum_weights = np.full(stop - start, -np.inf)
        for first in range(0, k, samples_per_chunk):
            lse, *totals = chunk(x_chunk, params, tf.constant(eps[first:first + samples_per_chunk]))
            log_sum_weights = np.logaddexp(log_sum_weights, lse.numpy().astype(np.float64))
            for name, total in zip(sums, totals):
                sums[name] += total.numpy().astype(np.float64)
        results["iwae"][start:stop] = log_sum_weights - math.log(k)
        results["reconstruction"][start:stop] = -sums["log_likelihood"] / k
        mean_ratio = sums["ratio"] / k
        results["kl_variance"][start:stop] = (np.maximum(sums["squared_ratio"] - k * mean_ratio**2, 0.0) / (k - 1)
                                              if k > 1 else np.nan)
        results["kl"][start:stop] = (kl_analytic(vae.posterior_family.distribution(params), vae.prior()).numpy()
                                     if analytic else mean_ratio)
        if progress is not None:
            progress.update(stop)
    results["neg_elbo"] = results["reconstruction"] + results["kl"]
    if analytic:
        del results["kl_variance"]
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


def latent_grid(extent: float, points: int) -> tuple[np.ndarray, float]:
    """The regular grid of z for `grid_log_marginal`: (points**2, 2) float32 codes and the spacing h."""
    if not extent > 0:
        raise ValueError(f"grid extent={extent!r} must be greater than 0.")
    if points < 3 or points % 2 == 0:
        raise ValueError(f"grid points={points!r} must be odd and at least 3 (so that the grid of every "
                         "other point, the error check, has the same ends).")
    axis = np.linspace(-extent, extent, points)
    first, second = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([first.ravel(), second.ravel()], axis=1).astype(np.float32), float(axis[1] - axis[0])


def grid_log_marginal(vae, x, *, extent: float = 8.0, points: int = 801, points_per_chunk: int = 4096,
                      jit_compile: bool | None = None, verbose: int = 0, indices=None) -> dict:
    """log p(x) = log of the integral of p(x|z) p(z) over z, by a Riemann sum over a regular 2-D grid.

    log p(x) ~= logsumexp_g [log p(x|z_g) + log p(z_g)] + log h^2, for the grid z_g on
    [-extent, extent]^2 with `points` points per axis and spacing h. The decoder is evaluated
    once per grid point for all images together: log p(x|z_g) = x . logits_g - sum softplus(logits_g)
    (the same as minus the summed binary cross-entropy), a matrix product; the continuous
    Bernoulli adds its log normalising constants, sum log C(logits_g).

    Args:
      vae: a `vae_tf.VAE` with latent_dim 2.
      x: images (N, H, W, C) (or (N, P)), uint8 or floats in [0, 1], of `vae.image_shape`.
      extent: L, the grid covers [-L, L]^2.
      points: points per axis (odd).
      points_per_chunk: grid points decoded at once (memory: points_per_chunk * N floats).
      jit_compile: compile with XLA; None: only for 10^8 (grid point, image) pairs or more, and
        never for an architecture XLA compiles slowly (`uses_xla`).
      verbose: 1 shows a progress bar.
      indices: each image's index in the test set (default 0..N-1), for the "binarized" likelihood's
        binarisation (`evaluation_images`).

    Returns:
      dict: `log_px` (N,) float64, log p(x) in nats; `coarse_log_px` (N,), the same on the grid of
      every other point (spacing 2h), so |log_px - coarse_log_px| bounds the discretisation error
      generously; `boundary_mass` (N,), the share of the sum on the grid's outer edge (should be ~0,
      else widen the grid); `spacing` h.
    """
    import tensorflow as tf

    from vae_tf.kl import standard_normal_prior

    if vae.latent_dim != 2:
        raise ValueError(f"the grid integral needs a 2-dimensional latent space; this model's is {vae.latent_dim}.")
    x = _pixels(x, vae, indices)
    grid, spacing = latent_grid(extent, points)
    index = np.arange(points)
    coarse = np.logical_and.outer(index % 2 == 0, index % 2 == 0).ravel()
    edge = ~np.logical_and.outer((index > 0) & (index < points - 1), (index > 0) & (index < points - 1)).ravel()
    x_tensor = tf.constant(x)
    if jit_compile is None:
        jit_compile = len(grid) * len(x) >= 10**8 and uses_xla(vae)

    def build():
        prior = vae.prior() if callable(getattr(vae, "prior", None)) else standard_normal_prior(2)
        likelihood = pixel_model(vae)

        @tf.function(jit_compile=jit_compile, reduce_retracing=True, autograph=False)
        def chunk(z, x, coarse_mask, edge_mask):
            logits = vae.decode_logits(z)  # (G, P)
            if likelihood.name == "continuous_bernoulli":  # log p(0|z_g) = sum of -softplus + log C
                at_zero = likelihood.log_prob(tf.zeros_like(logits), logits)[:, None]
            else:
                at_zero = -tf.reduce_sum(tf.nn.softplus(logits), axis=-1, keepdims=True)
            log_joint = tf.matmul(logits, x, transpose_b=True) + at_zero + prior.log_prob(z)[:, None]  # (G, N)
            coarse = tf.where(coarse_mask[:, None], log_joint, -np.inf)
            edge = tf.where(edge_mask[:, None], log_joint, -np.inf)
            return (tf.reduce_logsumexp(log_joint, axis=0), tf.reduce_logsumexp(coarse, axis=0),
                    tf.reduce_logsumexp(edge, axis=0))

        return chunk

    chunk = _compiled(vae, ("grid_log_marginal", jit_compile), build)

    totals = {name: np.full(len(x), -np.inf) for name in ("all", "coarse", "edge")}
    progress = _progress(len(grid), verbose, "grid point")
    for start in range(0, len(grid), points_per_chunk):
        stop = min(start + points_per_chunk, len(grid))
        parts = chunk(tf.constant(grid[start:stop]), x_tensor, tf.constant(coarse[start:stop]),
                      tf.constant(edge[start:stop]))
        for name, part in zip(totals, parts):
            totals[name] = np.logaddexp(totals[name], part.numpy().astype(np.float64))
        if progress is not None:
            progress.update(stop)
    return {
        "log_px": totals["all"] + 2 * math.log(spacing),
        "coarse_log_px": totals["coarse"] + 2 * math.log(2 * spacing),
        "boundary_mass": np.exp(totals["edge"] - totals["all"]),
        "spacing": spacing,
    }


# ---------------------------------------------------------------------------------------------
# A run directory's evaluation
# ---------------------------------------------------------------------------------------------


def _summary(per_image: dict, names, dims: int = REPORT_DIMS) -> dict:
    out = {}
    for name in names:
        nats = float(np.mean(per_image[name]))
        out[f"{name}_nats"] = nats
        if name not in ("reconstruction", "kl"):
            out[f"{name}_bits_per_dim"] = float(bits_per_dim(nats, dims))
    return out


def evaluate_run(run, k: int = 1000, *, exact: bool = False, limit: int | None = None, seed: int = 0,
                 grid_extent: float = 8.0, grid_points: int = 801, images_per_chunk: int = 100,
                 samples_per_chunk: int = 500, data_dir=None, verbose: int = 0) -> dict:
    """Evaluate a run directory's model on the test images (the first `limit` of them, if given).

    Args:
      run: a `vae_tf.rundir.rundir.Run`.
      k: importance samples per image.
      exact: also compute log p(x) on a grid (latent size 2 only).
      limit: evaluate on the first `limit` test images only (None: all 10,000).
      seed, grid_extent, grid_points, images_per_chunk, samples_per_chunk: see
        `importance_sampled` and `grid_log_marginal`.
      data_dir: where the IDX files of a fashion_mnist or mnist run are (None: the run's setting, else
        the usual search); other runs reload their own data (`vae_tf.data.sources.load_run_data`).
      verbose: 1 prints progress.

    Returns:
      The content of evaluation.json: overall and per-class means of `neg_elbo`,
      `reconstruction`, `kl`, `neg_iwae` (and `neg_log_px_grid`) in nats per image, with bits
      per dimension (P = H x W x C) for the three bounds, and the settings that produced them.
      Data without labels have no per-class rows.
    """
    from vae_tf.data.sources import load_run_data

    vae = run.model()
    if exact and vae.latent_dim != 2:
        raise UsageError(f"--exact integrates over a grid of 2-dimensional z, but {run.path} has latent size "
                         f"{vae.latent_dim}; drop --exact.")
    started = time.time()
    data = load_run_data(run, data_dir=data_dir, test_limit=limit)
    x, y, spec = data.x_test, data.y_test, data.spec
    if limit is not None and limit > len(x):  # refused, not recorded as if it had acted
        raise UsageError(f"--limit {limit} is more than the {len(x):,} test images there are; give at most {len(x)}, "
                         "or drop --limit to evaluate all of them.")
    dims = spec.pixels
    class_names = spec.class_names if spec.class_names is not None else (
        None if y is None else [str(label) for label in range(int(y.max(initial=0)) + 1)])
    if verbose:
        print(f"vae_tf.evaluate: {run.path} ({run.title}) on {len(x):,} test images of {spec.source} "
              f"({' x '.join(map(str, spec.image_shape))}), K = {k}", flush=True)

    sampling_started = time.time()
    sampled = importance_sampled(vae, x, k, seed=seed, images_per_chunk=images_per_chunk,
                                 samples_per_chunk=samples_per_chunk, verbose=verbose)
    per_image = {"neg_elbo": sampled["neg_elbo"], "reconstruction": sampled["reconstruction"],
                 "kl": sampled["kl"], "neg_iwae": -sampled["iwae"]}
    rate = rate_description(sampled, k)
    names = ["neg_elbo", "reconstruction", "kl", "neg_iwae"]
    seconds = {"importance_sampling": time.time() - sampling_started}
    grid_info = None
    if exact:
        grid_started = time.time()
        if verbose:
            print(f"grid: {grid_points} x {grid_points} points on [-{grid_extent:g}, {grid_extent:g}]^2", flush=True)
        grid = grid_log_marginal(vae, x, extent=grid_extent, points=grid_points, verbose=verbose)
        per_image["neg_log_px_grid"] = -grid["log_px"]
        names.append("neg_log_px_grid")
        difference = np.abs(grid["log_px"] - grid["coarse_log_px"])
        grid_info = {
            "extent": grid_extent,
            "points_per_axis": grid_points,
            "spacing": grid["spacing"],
            "coarse_grid_difference_nats": {"mean": float(difference.mean()), "max": float(difference.max())},
            "boundary_mass_max": float(grid["boundary_mass"].max()),
        }
        seconds["grid"] = time.time() - grid_started
    seconds["total"] = time.time() - started
    return {
        "run": str(run.path),
        "settings": run.settings,
        "test_images": len(x),
        "limit": limit,
        "k": k,
        "seed": seed,
        "units": f"nats per image (mean over images) and bits per dimension = nats / ({dims} ln 2), "
                 f"{dims} = H x W x C = {' x '.join(map(str, spec.image_shape))}; "
                 "all values are negative log-likelihoods or their bounds: neg_elbo >= neg_iwae >= -log p(x)",
        "likelihood": describe_likelihood(vae),
        "overall": _summary(per_image, names, dims),
        "per_class": {} if y is None else {
            name: {"images": int(np.sum(y == label)),
                   **_summary({key: value[y == label] for key, value in per_image.items()}, names, dims)}
            for label, name in enumerate(class_names) if np.any(y == label)
        },
        "grid": grid_info,
        "rate": {**rate, "prior": getattr(vae, "prior_name", "standard_normal"),
                 "posterior": getattr(vae, "posterior_name", "diagonal")},
        "diagnostics": diagnostics_of(vae, x, seed),  # is every latent dimension used?
        "data": {"source": spec.source, "image_shape": list(spec.image_shape), "dimensions": dims,
                 "path": spec.path, "found": spec.found},
        "seconds": seconds,
    }


def diagnostics_of(vae, x, seed: int = 0) -> dict:
    """`vae_tf.kl.diagnostics.latent_diagnostics` of the images x under `vae`'s encoder.

    The diagnostics assume a diagonal Gaussian posterior. For the others they are those of the
    encoder's diagonal Gaussian N(z_mean, exp(z_log_var)): for the full posterior, its diagonal part
    (the correlations, from another head, are left out); for the IAF, the flow's base distribution.
    The entry `posterior_used` says so, and `active_units_of_the_mean` counts the active units of
    E_q[z|x] itself (`vae.posterior_mean`: exact for the Gaussians, 64 draws per image for the IAF).
    With a learned prior the per-dimension KL is still against N(0, 1) (`prior_note` says so).
    """
    from vae_tf.kl.diagnostics import active_units, latent_diagnostics

    diagnostics = latent_diagnostics(*vae.encode(x), seed=seed)
    name = getattr(vae, "posterior_name", "diagonal")
    if name != "diagonal":
        diagnostics["posterior_used"] = (f"the encoder's diagonal Gaussian N(z_mean, exp(z_log_var)), not the {name} "
                                         "posterior itself (the diagnostics assume a diagonal posterior)")
        diagnostics["active_units_of_the_mean"] = int(active_units(vae.posterior_mean(x, seed=seed)).sum())
    prior = getattr(vae, "prior_name", "standard_normal")
    if prior != "standard_normal":
        diagnostics["prior_note"] = (f"kl and kl_per_dimension here are against N(0, I), not the run's {prior} prior; "
                                     "the run's own KL is the evaluation's rate (overall kl_nats)")
    return diagnostics


def describe_likelihood(vae) -> dict:
    """What evaluation.json says of the likelihood: its name, a description and, for "binarized",
    the seed and rule of the test images' one-off binarisation."""
    from vae_tf.models.likelihoods import EVALUATION_BINARIZATION_SEED

    model = pixel_model(vae)
    described = {"name": model.name, "description": model.description}
    if model.binarizes:
        described["binarization"] = {
            "seed": EVALUATION_BINARIZATION_SEED,
            "rule": "pixel = 1 where u < value / 255, u ~ U[0, 1) from numpy.random.default_rng([seed, image index])",
        }
    return described


_COLUMNS = (("neg_elbo", "-ELBO"), ("reconstruction", "recon"), ("kl", "KL"), ("neg_iwae", "-IWAE_K"),
            ("neg_log_px_grid", "-log p(x) grid"))


def likelihood_line(likelihood) -> str:
    """The likelihood of an evaluation.json in a few words (older files hold a sentence)."""
    if isinstance(likelihood, dict):
        extra = (f" (test images binarised once, seed {likelihood['binarization']['seed']})"
                 if "binarization" in likelihood else "")
        return likelihood["name"] + extra
    return "bernoulli" if likelihood is None else str(likelihood)


def format_table(evaluation: dict) -> str:
    """The evaluation as a text table: nats per image, and bits per pixel for the bounds."""
    names = [(key, title.replace("_K", f"_{evaluation['k']}")) for key, title in _COLUMNS
             if f"{key}_nats" in evaluation["overall"]]
    header = f"{'':<12}{'images':>7}" + "".join(f"{title:>16}" for _, title in names)
    lines = [f"nats per image ({evaluation['test_images']:,} test images of {evaluation['run']}; lower is better)",
             f"likelihood: {likelihood_line(evaluation.get('likelihood'))}", header]
    rows = [("all", {"images": evaluation["test_images"], **evaluation["overall"]}),
            *evaluation["per_class"].items()]
    for label, values in rows:
        cells = "".join(f"{values[f'{key}_nats']:>16.2f}" for key, _ in names)
        lines.append(f"{label:<12}{values['images']:>7}{cells}")
    overall = evaluation["overall"]
    cells = "".join(f"{overall[f'{key}_bits_per_dim']:>16.4f}" if f"{key}_bits_per_dim" in overall else " " * 16
                    for key, _ in names)
    lines.append(f"{'bits/dim':<12}{'':>7}{cells}")
    rate = evaluation.get("rate")
    if rate and rate["estimator"] == "monte_carlo":
        lines.append(f"KL (the rate) under the run's own prior ({rate['prior']}): Monte Carlo, the mean of "
                     f"log q(z|x) - log p(z) over the K = {rate['samples']} samples per image; standard error "
                     f"{rate['standard_error_nats']:.2g} nats")
    grid = evaluation.get("grid")
    if grid:
        difference = grid["coarse_grid_difference_nats"]
        lines.append(f"grid: {grid['points_per_axis']}^2 points on [-{grid['extent']:g}, {grid['extent']:g}]^2, "
                     f"spacing {grid['spacing']:.4f}; vs. every other point: mean {difference['mean']:.2g}, "
                     f"max {difference['max']:.2g} nats; largest share of mass on the edge "
                     f"{grid['boundary_mass_max']:.2g}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python -m vae_tf.evaluate",
        "Evaluate a run directory's VAE on its data's test images (Fashion-MNIST for the report's runs): the "
        "textbook negative ELBO, the importance-weighted bound -IWAE_K and, with --exact, -log p(x) integrated on "
        "a grid of z, in nats per image and bits per dimension (H x W x C), overall and per class. Writes "
        "evaluation.json.",
    )
    cli.add_rundir(parser)
    parser.add_argument("--k", type=number(int, at_least=1), default=1000, metavar="K",
                        help="importance samples per image for IWAE_K (K = 1 gives a one-sample ELBO)")
    parser.add_argument("--exact", action="store_true",
                        help="also integrate p(x|z) p(z) over a grid of z (latent size 2 only; "
                             "combine with --limit: it decodes every grid point)")
    parser.add_argument("--limit", type=number(int, at_least=1), default=None, metavar="N",
                        help="evaluate the first N test images only (default: all of them)")
    parser.add_argument("--grid-extent", type=number(float, above=0), default=8.0, metavar="L",
                        help="the grid covers [-L, L]^2")
    parser.add_argument("--grid-points", type=number(int, at_least=3, odd=True), default=801, metavar="P",
                        help="grid points per axis (odd); spacing 2L/(P-1)")
    parser.add_argument("--seed", type=cli.seed_number(), default=0, help="seeds the importance samples")
    parser.add_argument("--images-per-chunk", type=number(int, at_least=1), default=100, metavar="B")
    parser.add_argument("--samples-per-chunk", type=number(int, at_least=1), default=500, metavar="S",
                        help="memory grows with B * S * P floats, P = H x W x C")
    cli.add_data_dir(parser)
    parser.add_argument("--out", default=None, metavar="PATH",
                        help="where to write: a .json file, or a directory to hold evaluation.json "
                             "(default: RUNDIR/evaluation.json)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing evaluation file")
    parser.add_argument("--verbose", type=int, choices=(0, 1), default=1, help="1: progress bars")
    return parser


def output_path(rundir: Path, out, overwrite: bool) -> Path:
    """The file to write (`vae_tf.rundir.rundir.claim`s rule: never replaced unless asked)."""
    from vae_tf.rundir import claim

    directory, name = _output_location(rundir, out)
    return claim(directory, [name], overwrite) / name


def _output_location(rundir, out) -> tuple[Path, str]:
    """(directory, file name) of the evaluation file."""
    out = Path(rundir) if out is None else Path(out)
    return (out.parent, out.name) if out.suffix == ".json" and not out.is_dir() else (out, EVALUATION_FILE)


def work(args) -> int:
    from vae_tf.kl.diagnostics import format_diagnostics
    from vae_tf.rundir import Run, write_json, writing_into

    with writing_into(_output_location(args.rundir, args.out)[0]):  # one writer per run directory
        run = Run.open(args.rundir)
        output_path(run.path, args.out, args.overwrite)
        evaluation = evaluate_run(
            run, args.k, exact=args.exact, limit=args.limit, seed=args.seed, grid_extent=args.grid_extent,
            grid_points=args.grid_points, images_per_chunk=args.images_per_chunk,
            samples_per_chunk=args.samples_per_chunk, data_dir=args.data_dir, verbose=args.verbose,
        )
        path = output_path(run.path, args.out, args.overwrite)  # again: another process may have written it
        write_json(path, evaluation)
    print(format_table(evaluation))
    print(format_diagnostics(evaluation["diagnostics"]))
    for note in ("posterior_used", "prior_note"):
        if note in evaluation["diagnostics"]:
            print(f"note: {note.replace('_', ' ')}: {evaluation['diagnostics'][note]}")
    print(f"wrote {path} ({evaluation['seconds']['total']:.0f} s)")
    return 0


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work, interrupted="interrupted; nothing written")


if __name__ == "__main__":
    sys.exit(main())

