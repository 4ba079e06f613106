"""Is every latent dimension used? Posterior-collapse diagnostics as pure functions of the codes.

```python
import numpy as np
from vae_tf.kl.diagnostics import latent_diagnostics

# The encoder's outputs for N = 1,000 images, D = 3: dimension 2 has collapsed to the prior.
rng = np.random.default_rng(0)
z_mean = np.stack([rng.normal(0, 1, 1000), rng.normal(0, 0.5, 1000), np.zeros(1000)], axis=1)
z_log_var = np.stack([np.full(1000, -3.0), np.full(1000, -2.0), np.zeros(1000)], axis=1)
stats = latent_diagnostics(z_mean, z_log_var, seed=0)
stats["kl_per_dimension"]    # (D,) nats: mean over images of KL(q(z_d|x) || N(0, 1)); here 1.50, 0.70, 0.0
stats["active_units"]        # how many d have Var_x[E_q[z_d | x]] > 0.01 (Burda et al., 2016): 2
stats["mutual_information"]  # I(x; z) under q, nats, <= log N (He et al., 2019); here 2.02 <= the KL, 2.20
assert stats["active"] == [True, True, False] and stats["kl_per_dimension"][2] == 0.0
assert stats["mutual_information"] <= stats["kl"]
```

A collapsed dimension is one the encoder does not use: its posterior q(z_d|x) is the prior for
every x, so its KL is ~0, its mean does not vary with x (inactive) and it carries no information
about x. The three numbers look at that from three sides: the KL is what the loss pays per
dimension, the active units count the dimensions whose *means* move with x, and the mutual
information is what the codes tell about the images at all. Since the mean KL is
I(x; z) + KL(q(z) || p(z)) (q(z) the aggregate posterior), I(x; z) never exceeds it.

Arrays in, arrays out (NumPy, float64): no Keras, no files. The KL formula is `vae_tf.kl.gaussian`'s.
"""

from __future__ import annotations

import math

import numpy as np

# Burda, Grosse and Salakhutdinov (2016), "Importance weighted autoencoders", section 5.2.
ACTIVE_THRESHOLD = 0.01
LOG_2PI = math.log(2.0 * math.pi)
# Draws scored by `latent_diagnostics`' mutual information against the mixture of all N images:
# 2,000 x 10,000 test images takes about a second; its Monte-Carlo spread is a few hundredths of a nat.
MI_SCORED = 2000


def _codes(z_mean, z_log_var) -> tuple[np.ndarray, np.ndarray]:
    z_mean = np.asarray(z_mean, dtype=np.float64)
    z_log_var = np.asarray(z_log_var, dtype=np.float64)
    if z_mean.ndim != 2 or z_mean.shape != z_log_var.shape or len(z_mean) < 1:
        raise ValueError(f"z_mean and z_log_var must both be (N, D) with N >= 1; got {z_mean.shape} and "
                         f"{z_log_var.shape}.")
    return z_mean, z_log_var


def kl_per_dimension(z_mean, z_log_var) -> np.ndarray:
    """Mean over images of KL(q(z_d|x) || N(0, 1)) for each latent dimension d.

    Args:
      z_mean, z_log_var: (N, D), the encoder's outputs for N images.

    Returns:
      float64 (D,), nats; it sums to the mean of the VAE's KL term.
    """
    from vae_tf.kl.gaussian import kl_gaussian

    z_mean, z_log_var = _codes(z_mean, z_log_var)
    return np.asarray(kl_gaussian(z_mean, np.exp(0.5 * z_log_var), 0.0, 1.0)).mean(axis=0)


def mean_variance(z_mean) -> np.ndarray:
    """Var over images of E_q[z_d | x] = z_mean[:, d], per dimension.

    Args:
      z_mean: (N, D), the posterior means of N images.

    Returns:
      float64 (D,).
    """
    return np.asarray(z_mean, dtype=np.float64).var(axis=0)


def active_units(z_mean, threshold: float = ACTIVE_THRESHOLD) -> np.ndarray:
    """Which dimensions are active: Var_x[E_q[z_d | x]] > `threshold` (Burda et al., 2016).

    Args:
      z_mean: (N, D), the posterior means of N images.
      threshold: 0.01, as in the paper.

    Returns:
      bool (D,); `.sum()` is the number of active units.
    """
    return mean_variance(z_mean) > threshold


def log_posterior_matrix(z, z_mean, z_log_var) -> np.ndarray:
    """log q(z_i | x_j) for every code z_i and every image j: (M, N), nats.

    The diagonal Gaussian log-density, expanded into one matrix product so that neither
    M x N x D nor a temporary M x N array is held:
    -1/2 sum_d [log 2 pi + v_jd + (z_id - m_jd)^2 e^{-v_jd}]
    = [z_i^2, z_i, 1] . [-e^{-v_j} / 2, m_j e^{-v_j}, -1/2 (D log 2 pi + sum_d (v_jd + m_jd^2 e^{-v_jd}))].

    Args:
      z: (M, D) codes; z_mean, z_log_var: (N, D), the posteriors of N images.

    Returns:
      float64 (M, N): entry (i, j) is log q(z_i | x_j), in nats.
    """
    z = np.asarray(z, dtype=np.float64)
    z_mean = np.asarray(z_mean, dtype=np.float64)
    z_log_var = np.asarray(z_log_var, dtype=np.float64)
    precision = np.exp(-z_log_var)  # (N, D)
    constant = -0.5 * (z.shape[1] * LOG_2PI + np.sum(z_log_var + z_mean**2 * precision, axis=1))
    codes = np.concatenate([z**2, z, np.ones((len(z), 1))], axis=1)  # (M, 2D + 1)
    images = np.concatenate([-0.5 * precision, z_mean * precision, constant[:, None]], axis=1)  # (N, 2D + 1)
    return codes @ images.T


def _logsumexp_rows(matrix: np.ndarray) -> np.ndarray:
    """log sum_j exp(matrix[i, j]) per row (M,), computed in place (`matrix` is overwritten)."""
    peak = matrix.max(axis=1)
    matrix -= peak[:, None]
    np.exp(matrix, out=matrix)
    return np.log(matrix.sum(axis=1)) + peak


def mutual_information(z_mean, z_log_var, *, samples: int = 1, scored: int | None = None, seed: int = 0,
                       chunk: int = 64) -> float:
    """I(x; z) under the encoder, E_x E_q(z|x) [log q(z|x) - log q(z)], by Monte Carlo (He et al., 2019).

    q(z) is the aggregate posterior, the mixture (1/N) sum_j q(z | x_j) over the N images given;
    each z_i is drawn from q(z | x_i) (`samples` draws per image, for all N images or for `scored`
    of them chosen at random; q(z) always mixes all N, so the cost is scored x N). Unlike He et al.'s code, which
    takes E_q log q(z|x) in closed form, both terms are evaluated at the same draws, so every
    term is at most log N: the estimate lies in [about 0, log N], and it is exactly 0 for an
    encoder that ignores x. Near log N it says "as much as N images can show", no more.

    Args:
      z_mean, z_log_var: (N, D), the encoder's outputs for N images.
      samples: draws of z per image.
      scored: how many images' draws are scored (None: all N).
      seed: seeds the draws and the choice of images.
      chunk: codes scored at once (memory: chunk x N floats).

    Returns:
      The estimate in nats.
    """
    z_mean, z_log_var = _codes(z_mean, z_log_var)
    count, dims = z_mean.shape
    rng = np.random.default_rng(seed)
    chosen = np.arange(count)
    if scored is not None and scored < count:
        chosen = np.sort(rng.choice(count, scored, replace=False))
    total = 0.0
    for _ in range(samples):
        z = z_mean[chosen] + np.exp(0.5 * z_log_var[chosen]) * rng.standard_normal((len(chosen), dims))
        for start in range(0, len(chosen), chunk):
            rows = np.arange(start, min(start + chunk, len(chosen)))
            log_q = log_posterior_matrix(z[rows], z_mean, z_log_var)  # (chunk, N)
            own = log_q[np.arange(len(rows)), chosen[rows]]
            total += float(np.sum(own - (_logsumexp_rows(log_q) - math.log(count))))
    return total / (samples * len(chosen))


def latent_diagnostics(z_mean, z_log_var, *, seed: int = 0, threshold: float = ACTIVE_THRESHOLD,
                       scored: int | None = MI_SCORED) -> dict:
    """Every diagnostic of this module, JSON-ready (summary.json, evaluation.json).

    Args:
      z_mean, z_log_var: (N, D), the encoder's outputs for N images (the test images).
      seed: seeds the mutual information's draws.
      threshold: of the active units.
      scored: images whose draws score the mutual information (see `mutual_information`).

    Returns:
      dict: `images` N; `kl_per_dimension` (D,) nats and its sum `kl`; `mean_variance` (D,),
      Var_x z_mean per dimension; `active` (D,) bools and `active_units` their count;
      `mutual_information` nats and its ceiling `log_images` = log N.
    """
    z_mean, z_log_var = _codes(z_mean, z_log_var)
    kl = kl_per_dimension(z_mean, z_log_var)
    active = active_units(z_mean, threshold)
    return {
        "images": len(z_mean),
        "kl": float(kl.sum()),
        "kl_per_dimension": kl.tolist(),
        "mean_variance": mean_variance(z_mean).tolist(),
        "active_threshold": threshold,
        "active": active.tolist(),
        "active_units": int(active.sum()),
        "mutual_information": mutual_information(z_mean, z_log_var, scored=scored, seed=seed),
        "mutual_information_scored": min(scored or len(z_mean), len(z_mean)),
        "log_images": math.log(len(z_mean)),
    }


def format_diagnostics(diagnostics: dict) -> str:
    """The diagnostics as text: one line of totals, one line per latent dimension.

    Args:
      diagnostics: the dict `latent_diagnostics` returns (as stored in summary.json).

    Returns:
      The lines, joined by newlines.
    """
    lines = [f"latent dimensions ({diagnostics['images']:,} images): {diagnostics['active_units']} of "
             f"{len(diagnostics['active'])} active (Var z_mean > {diagnostics['active_threshold']:g}); "
             f"KL {diagnostics['kl']:.3f} nats; I(x; z) {diagnostics['mutual_information']:.3f} nats "
             f"(at most log N = {diagnostics['log_images']:.2f})",
             f"{'dim':>5}{'KL (nats)':>12}{'Var z_mean':>12}{'active':>8}"]
    for d, (kl, variance, active) in enumerate(zip(diagnostics["kl_per_dimension"], diagnostics["mean_variance"],
                                                   diagnostics["active"])):
        lines.append(f"{d + 1:>5}{kl:>12.4f}{variance:>12.4g}{'yes' if active else 'no':>8}")
    return "\n".join(lines)
