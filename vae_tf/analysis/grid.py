"""log p(x) of a VAE with 2-dimensional codes, integrated on a grid of z: almost exact, in nats per image.

p(x) = integral of p(x|z) p(z) dz summed over a regular grid of z on [-L, L]^2 (a Riemann sum, cell
area h^2), almost exact when the grid is fine and wide enough; the grid with every other point gives
an estimate of its error. It is the number the bounds of `vae_tf.analysis.bounds` approach from above
(-ELBO >= -IWAE_K >= -log p(x)); p(x|z) is the run's likelihood, as there.
"""

from __future__ import annotations

import math

import numpy as np

from vae_tf.analysis.bounds import _compiled, _pixels, _progress, pixel_model, uses_xla


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
            cross = tf.matmul(logits, x, transpose_b=True)  # (G, N)
            if likelihood.name == "gaussian":  # -(|x|^2 - 2 m.x + |m|^2) / (2 s^2) - P/2 log(2 pi s^2)
                variance = tf.cast(likelihood.variance, logits.dtype)
                squares = tf.reduce_sum(tf.square(logits), -1)[:, None] + tf.reduce_sum(tf.square(x), -1)[None]
                log_px_z = (cross - 0.5 * squares) / variance \
                    - 0.5 * tf.cast(tf.shape(x)[-1], logits.dtype) * tf.math.log(2 * np.pi * variance)
            elif likelihood.name == "continuous_bernoulli":  # log p(0|z_g) = sum of -softplus + log C
                log_px_z = cross + likelihood.log_prob(tf.zeros_like(logits), logits)[:, None]
            else:
                log_px_z = cross - tf.reduce_sum(tf.nn.softplus(logits), axis=-1, keepdims=True)
            log_joint = log_px_z + prior.log_prob(z)[:, None]  # (G, N)
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
