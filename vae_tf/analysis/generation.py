"""New images from a trained VAE: draws from its prior, paths between two codes, walks along one dimension.

```python
import numpy as np
import vae_tf
from vae_tf.analysis.generation import decode_codes, interpolation_path, prior_codes, traversal_codes

vae = vae_tf.VAE(image_shape=(8, 8, 1), latent_dim=3)   # untrained here; vae_tf.load_model(...) in use
z = prior_codes(vae, 16, temperature=0.8, seed=0)       # (16, 3) from the model's own prior
images = decode_codes(vae, z)                           # (16, 8, 8, 1): the likelihood's mean, in [0, 1]
drawn = decode_codes(vae, z, sample=True, seed=0)       # ... or one draw from p(x|z)
path = interpolation_path(z[0], z[1], 8, "spherical")   # (8, 3), both ends included
codes = traversal_codes(z[0], [2, 0], -3, 3, 9)         # (2, 9, 3): row r walks dimension dims[r]
assert np.array_equal(z, prior_codes(vae, 16, temperature=0.8, seed=0)) and images.shape == drawn.shape
assert path.shape == (8, 3) and codes.shape == (2, 9, 3)
```

Every draw comes from a NumPy generator seeded by `seed` (p(x|z) from TFP's stateless sampler
seeded by it), so the same call gives the same numbers. The temperature T scales the standard
normal noise behind each draw of z: N(0, T^2 I) for the standard normal prior; for the mixture, a
component k drawn by its weight, then means_k + T scales_k eps; for the VampPrior, a pseudo-input
u_k drawn uniformly, then q(z|u_k)'s reparameterised draw from T eps (every posterior family).

NumPy in and out; TensorFlow is imported inside the functions that call the model.
"""

from __future__ import annotations

import numpy as np

PATHS = ("linear", "spherical")


def prior_codes(vae, n: int, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
    """`n` codes z drawn from the run's prior p(z) at `temperature` (see the module's docstring), float32 (n, D)."""
    import tensorflow as tf

    from vae_tf.models.inference import as_pixels

    if n < 1 or not temperature > 0:
        raise ValueError(f"n={n}, temperature={temperature}: draw at least one code, at a temperature above 0.")
    rng = np.random.default_rng(seed)
    eps = (temperature * rng.standard_normal((n, vae.latent_dim))).astype(np.float32)
    prior = vae.prior_family
    if vae.prior_name == "mixture":
        logits = np.asarray(prior.logits, dtype=np.float64)
        weights = np.exp(logits - logits.max())
        k = rng.choice(len(weights), size=n, p=weights / weights.sum())
        return (np.asarray(prior.means)[k] + np.exp(np.asarray(prior.log_scales))[k] * eps).astype(np.float32)
    if vae.prior_name == "vamp":
        pseudo = np.asarray(prior.pseudo_inputs(), dtype=np.float32)
        k = rng.integers(len(pseudo), size=n)
        parts = []
        for start in range(0, n, 1024):
            params = vae.posterior_params(as_pixels(pseudo[k[start:start + 1024]], vae.image_shape))
            parts.append(np.asarray(vae.posterior_family.sample(params, tf.constant(eps[start:start + 1024]))[0]))
        return np.concatenate(parts).astype(np.float32)
    return eps


def decode_codes(vae, z, sample: bool = False, seed: int = 0) -> np.ndarray:
    """Images (N, H, W, C) float32 in [0, 1] decoded from codes z (N, D).

    Args:
      vae: a trained `vae_tf.VAE`.
      z: codes (N, D).
      sample: False: the likelihood's mean E[x|z] (`VAE.decode`); True: one draw x ~ p(x|z) per code
        (binary images for the Bernoulli likelihoods).
      seed: seeds the draw (TFP's stateless sampler).
    """
    if not sample:
        return vae.decode(z)
    logits = vae.decode(z, logits=True)
    draws = vae.pixel_model.pixel_distribution(logits).sample(seed=(int(seed), 1))
    return np.clip(np.asarray(draws, dtype=np.float32), 0, 1).reshape((len(logits), *vae.image_shape))


def interpolation_path(start, end, steps: int, path: str = "linear") -> np.ndarray:
    """`steps` codes from `start` to `end` (D,), both included, float32 (steps, D).

    "linear": (1 - t) start + t end. "spherical": slerp (Shoemake 1985; White 2016 for VAEs),
    sin((1 - t) w) / sin(w) start + sin(t w) / sin(w) end, w the angle between the two codes seen
    from the origin, which keeps the codes' norms near the ends' (equal norms: every code has it;
    draws of N(0, I) lie near a sphere, the middle of a straight line inside it); linear when the
    codes are (anti)parallel.
    """
    if steps < 2:
        raise ValueError(f"steps={steps}: a path needs at least 2 codes, its two ends.")
    if path not in PATHS:
        raise ValueError(f"path={path!r}: choose one of {', '.join(PATHS)}.")
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    norms = np.linalg.norm(start) * np.linalg.norm(end)
    omega = np.arccos(np.clip(start @ end / norms, -1, 1)) if norms > 0 else 0.0
    if path == "linear" or np.sin(omega) < 1e-6:
        return ((1 - t) * start + t * end).astype(np.float32)
    return ((np.sin((1 - t) * omega) * start + np.sin(t * omega) * end) / np.sin(omega)).astype(np.float32)


def traversal_codes(base, dims, low: float, high: float, steps: int) -> np.ndarray:
    """Codes that walk one dimension at a time: float32 (len(dims), steps, D).

    Row r holds `base` (D,) with dimension dims[r] replaced by linspace(low, high, steps).
    """
    base = np.asarray(base, dtype=np.float32)
    codes = np.broadcast_to(base, (len(dims), steps, len(base))).copy()
    values = np.linspace(low, high, steps, dtype=np.float32)
    for row, dim in enumerate(dims):
        codes[row, :, dim] = values
    return codes


def read_image_files(paths, image_shape) -> np.ndarray:
    """Image files as images of a run's `image_shape` (H, W, C): converted to its colour, resized to its size.

    Read exactly as a folder source's files are read for a run (`vae_tf.data.sources._read_images`: Pillow,
    16-bit greyscale to 8 bits, bilinear resizing). Returns uint8 (N, H, W, C).

    Raises:
      DataNotFoundError: a file does not exist. DataError: one is not a readable image.
    """
    from pathlib import Path

    from vae_tf.core.errors import DataNotFoundError
    from vae_tf.data.sources import _read_images

    height, width, channels = image_shape
    paths = [Path(path) for path in paths]
    for path in paths:
        if not path.is_file():
            raise DataNotFoundError(f"{path}: no such image file; give a test index or the path of an image.")
    return _read_images([(path, 0) for path in paths], (height, width), "rgb" if channels == 3 else "grayscale",
                        paths[0].parent)
