"""The codes of images under a trained VAE: the posterior's parameters per image, and how active each
latent dimension is.

```python
import numpy as np
import vae_tf
from vae_tf.analysis.codes import dimension_usage, encode_images, write_codes

vae = vae_tf.VAE(image_shape=(8, 8, 1), latent_dim=3)  # untrained here; vae_tf.load_model(...) in use
images = np.random.default_rng(0).random((50, 8, 8, 1), dtype="float32")
codes = encode_images(vae, images)         # z_mean, z_log_var (50, 3) (and more: POSTERIOR_PARAMETERS)
write_codes("codes.csv", codes)            # or .npz: one row / entry per image
usage = dimension_usage(vae, images)       # kl (3,) nats, activity (3,), active (3,) bool
assert codes["z_mean"].shape == (50, 3) and usage["kl"].shape == usage["active"].shape == (3,)
```

What `encode` writes per posterior family is `POSTERIOR_PARAMETERS`. The per-dimension KL is
that of the one-dimensional marginals, KL(q(z_d|x) || p(z_d)), averaged over the images, in nats:
in closed form for the Gaussian posteriors against N(0, I); by Monte Carlo against the learned
priors (mixtures of Gaussians along each dimension); for the IAF, q(z_d|x) is the Gaussian with the
flow's mean and variance along d (moment-matched from draws). A dimension is inactive when its
posterior mean barely moves with the image (Burda et al. 2016: Var_x E_q[z_d|x] < 0.01).

NumPy in and out; TensorFlow is imported inside the functions that call the model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Burda et al. (2016): a unit is active when Var_x E_q[z_d|x] exceeds 0.01.
ACTIVITY_THRESHOLD = 0.01
# Draws per image where a quantity is estimated by sampling (the IAF's moments, the learned priors' KL).
SAMPLES = 64
CODE_SUFFIXES = (".npz", ".csv")

# What `encode_images` returns besides z_mean and z_log_var, per posterior family, for the docs and --help.
POSTERIOR_PARAMETERS = {
    "diagonal": "z_mean, z_log_var: q(z|x) = N(z_mean, diag(exp(z_log_var)))",
    "full": "z_mean, z_log_var and z_scale_tril (D x D per image): q(z|x) = N(z_mean, L L^T), L lower "
            "triangular with diagonal exp(z_log_var / 2)",
    "iaf": "z_mean, z_log_var of the flow's base Gaussian, and z_posterior_mean: E_q[z|x], the mean of "
           f"{SAMPLES} draws through the flow (seeded)",
}


def _in_batches(vae, images, step, batch_size: int = 1024) -> list:
    """`step(params)` for each batch of `images` (`vae.posterior_params` of its pixels): the list of results."""
    from vae_tf.models.inference import as_pixels

    return [step(vae.posterior_params(as_pixels(images[start:start + batch_size], vae.image_shape)))
            for start in range(0, len(images), batch_size)]


def encode_images(vae, images, seed: int = 0, batch_size: int = 1024) -> dict[str, np.ndarray]:
    """The posterior q(z|x)'s parameters of each image, float32 (see `POSTERIOR_PARAMETERS`).

    Args:
      vae: a trained `vae_tf.VAE`.
      images: (N, H, W, C) uint8 or floats in [0, 1], in the model's image shape.
      seed: seeds the IAF's draws (other families draw nothing).
      batch_size: images per call of the encoder.

    Returns:
      `z_mean`, `z_log_var` (N, D), exactly `vae.encode(images)`; for "full" also `z_scale_tril`
      (N, D, D); for "iaf" also `z_posterior_mean` (N, D).
    """
    z_mean, z_log_var = vae.encode(images, batch_size)
    codes = {"z_mean": z_mean, "z_log_var": z_log_var}
    if vae.posterior_name == "full":
        codes["z_scale_tril"] = np.concatenate(_in_batches(
            vae, images, lambda params: np.asarray(vae.posterior_family.scale_tril(params)), batch_size))
    elif vae.posterior_name == "iaf":
        codes["z_posterior_mean"] = vae.posterior_mean(images, samples=SAMPLES, seed=seed, batch_size=batch_size)
    return codes


def write_codes(path, codes: dict[str, np.ndarray], labels=None, files=None) -> Path:
    """Write codes (`encode_images`) with each image's index, label and file, as .npz or .csv (by `path`'s suffix).

    The .npz holds the arrays as they are, plus `index` (N,), `label` (N,) when the data has labels
    and `image_file` (N,) strings for a folder source. The .csv has one row per image: index, label, image_file,
    then one column per number (z_mean_0, ..., z_log_var_0, ...; z_scale_tril_i_j for i > j).
    Written atomically.
    """
    from vae_tf.rundir import write_csv, write_npz

    path = Path(path)
    count = len(codes["z_mean"])
    extra = {"index": np.arange(count)}
    if labels is not None:
        extra["label"] = np.asarray(labels)
    if files is not None:
        extra["image_file"] = np.asarray(files, dtype=str)
    if path.suffix.lower() == ".npz":
        return write_npz(path, **extra, **codes)
    columns = {name: list(values) for name, values in extra.items()}
    for name, values in codes.items():
        if values.ndim == 3:  # a scale_tril: its strictly lower part (the diagonal is exp(z_log_var / 2))
            rows, cols = np.tril_indices(values.shape[1], -1)
            for i, j in zip(rows, cols):
                columns[f"{name}_{i}_{j}"] = values[:, i, j]
        else:
            for d in range(values.shape[1]):
                columns[f"{name}_{d}"] = values[:, d]
    names = list(columns)
    return write_csv(path, [{name: _cell(columns[name][row]) for name in names} for row in range(count)])


def _cell(value):
    """A CSV cell: floats with every digit float32 needs (repr of the float32), others as they are."""
    if isinstance(value, np.floating):
        return repr(float(value)) if value.dtype == np.float64 else str(value)
    return value.item() if isinstance(value, np.generic) else value


# --- how much each latent dimension is used ----------------------------------------------------

def posterior_marginals(vae, images, seed: int = 0, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Means and variances (N, D) of the one-dimensional marginals q(z_d|x) of each image.

    Exact for the Gaussian posteriors (the full one's variances are the diagonal of L L^T); for the
    IAF, the mean and variance of `SAMPLES` draws through the flow (seeded by `seed`).
    """
    import keras

    def moments(params):
        if vae.posterior_name == "diagonal":
            return np.asarray(params["z_mean"]), np.exp(np.asarray(params["z_log_var"]))
        if vae.posterior_name == "full":
            scale = np.asarray(vae.posterior_family.scale_tril(params))
            return np.asarray(params["z_mean"]), (scale ** 2).sum(axis=-1)
        eps = keras.random.normal((SAMPLES, *params["z_mean"].shape), seed=seed)
        draws = np.asarray(vae.posterior_family.sample(params, eps)[0])
        return draws.mean(axis=0), draws.var(axis=0)

    parts = _in_batches(vae, images, moments, batch_size)
    return (np.concatenate([part[0] for part in parts]).astype(np.float64),
            np.concatenate([part[1] for part in parts]).astype(np.float64))


def prior_marginals(vae, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p(z_d) as a mixture of Gaussians along each dimension: weights (K,), means and variances (K, D).

    N(0, I) is one component; the mixture prior its K learned ones; the VampPrior the marginals
    of its pseudo-inputs' posteriors (`posterior_marginals`), with equal weights.
    """
    prior = vae.prior_family
    if vae.prior_name == "mixture":
        logits = np.asarray(prior.logits, dtype=np.float64)
        weights = np.exp(logits - logits.max())
        return (weights / weights.sum(), np.asarray(prior.means, dtype=np.float64),
                np.exp(2 * np.asarray(prior.log_scales, dtype=np.float64)))
    if vae.prior_name == "vamp":
        pseudo = np.asarray(prior.pseudo_inputs(), dtype=np.float32)
        means, variances = posterior_marginals(vae, pseudo, seed)
        return np.full(len(pseudo), 1 / len(pseudo)), means, variances
    return np.ones(1), np.zeros((1, vae.latent_dim)), np.ones((1, vae.latent_dim))


def _log_normal(z, mean, variance):
    return -0.5 * (np.log(2 * np.pi * variance) + (z - mean) ** 2 / variance)


def dimension_usage(vae, images, seed: int = 0) -> dict[str, np.ndarray]:
    """How much each latent dimension is used on `images`: its KL and its activity.

    Args:
      vae: a trained `vae_tf.VAE`.
      images: (N, H, W, C), e.g. a thousand test images.
      seed: seeds the draws (the IAF's moments, the Monte Carlo KL against a learned prior).

    Returns:
      `kl` (D,): the mean over the images of KL(q(z_d|x) || p(z_d)) between one-dimensional
      marginals, nats (see the module's docstring); `activity` (D,): Var_x E_q[z_d|x];
      `active` (D,) bool: activity above `ACTIVITY_THRESHOLD`.
    """
    means, variances = posterior_marginals(vae, images, seed)
    weights, prior_means, prior_variances = prior_marginals(vae, seed)
    if len(weights) == 1 and not prior_means.any() and (prior_variances == 1).all():
        kl = 0.5 * (means ** 2 + variances - np.log(variances) - 1)
    else:  # a mixture along each dimension: log p(z_d) by log-sum-exp over its components
        eps = np.random.default_rng(seed).standard_normal((SAMPLES, *means.shape))
        z = means + np.sqrt(variances) * eps  # (S, N, D)
        log_q = _log_normal(z, means, variances)
        log_p = np.full(z.shape, -np.inf)
        for weight, prior_mean, prior_variance in zip(weights, prior_means, prior_variances):
            log_p = np.logaddexp(log_p, np.log(weight) + _log_normal(z, prior_mean, prior_variance))
        kl = (log_q - log_p).mean(axis=0)
    activity = means.var(axis=0)
    return {"kl": kl.mean(axis=0), "activity": activity, "active": activity > ACTIVITY_THRESHOLD}
