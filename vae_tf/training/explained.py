"""How well a run learned, in one number a user can judge: the share of the test images' pixel variance
that the reconstructions explain, beside what two baselines explain, and the warning when the model
does no better than they do.

`explained_variance(vae, x_test, x_train)` measures a trained model; these are the figures of the
conv model trained with the report's defaults on 3,000 photo patches (docs/your-own-photos.md):

```python
from vae_tf.training.explained import explained_warning, format_explained

figures = {"model": 0.032, "mean_colour": 0.854, "pca": 0.852, "pca_components": 2, "test_images": 300}
print(format_explained(figures))
print(explained_warning(figures, {"reduction": "report", "regularizer": "kl"}))  # ... likely fix: --reduction elbo
```

The share explained is 1 - sum (x - x_hat)^2 / sum (x - mean_x)^2 over every pixel (and channel) of
the test images, with mean_x the test images' mean image: 1 is a perfect reconstruction, 0 is no
better than drawing the average image. The reconstruction x_hat is the decoded mean E[x|z] at
z = z_mean (what reconstructions.png shows). The baselines need no training:

- mean colour: each image replaced by its own mean colour (one value per channel), the best a
  model that has learned only the brightness and tint of each image can do;
- PCA: each image projected on the first D principal components of the training images, D the
  latent size: the best linear code of the same size (fitted on at most `PCA_IMAGES` training images,
  fewer for images of more than 4,000 values: `pca_images`).

NumPy only, but for the model's `encode` and `decode`.
"""

from __future__ import annotations

import numpy as np

PCA_IMAGES = 5000  # training images the PCA baseline is fitted on (a fixed evenly spaced subset beyond that) ...
PCA_VALUES = 20_000_000  # ... fewer when they are large: its float64 copies and sketches then stay a few hundred MB
TEST_IMAGES = 10_000  # test images measured (the first ones), so that the measure stays a few seconds ...
TEST_VALUES = 20_000_000  # ... and its float64 copies a few hundred MB: fewer images when they are large
CHUNK = 1000  # test images whose float64 copies are held at once
MARGIN = 0.01  # the model must beat the simpler baseline by this share of the variance not to be warned about


def _as_unit_rows(images) -> np.ndarray:
    """Images (N, ...) as float64 rows (N, P) in [0, 1] (uint8 scaled by 1/255)."""
    images = np.asarray(images)
    rows = images.reshape(len(images), -1).astype(np.float64)
    return rows / 255.0 if images.dtype == np.uint8 else rows


def mean_colour_baseline(images, channels: int) -> np.ndarray:
    """Each image replaced by its mean colour: rows (N, P), P = pixels x `channels` (channels last)."""
    rows = _as_unit_rows(images)
    per_channel = rows.reshape(len(rows), -1, channels)
    return np.broadcast_to(per_channel.mean(axis=1, keepdims=True), per_channel.shape).reshape(rows.shape)


def measured_images(values: int) -> int:
    """Test images the measure takes (the first ones), for images of `values` numbers each: `TEST_IMAGES`, or as
    many as `TEST_VALUES` holds."""
    return max(1, min(TEST_IMAGES, TEST_VALUES // max(1, values)))


def pca_images(values: int) -> int:
    """Training images the PCA baseline is fitted on, for images of `values` numbers each: `PCA_IMAGES`, or as
    many as `PCA_VALUES` holds (1,627 of 64 x 64 x 3), so that its memory does not grow with the image size."""
    return max(1, min(PCA_IMAGES, PCA_VALUES // max(1, values)))


def pca_baseline(train, test, components: int) -> np.ndarray:
    """The test images (N, P) projected on the first `components` principal components of `train`."""
    return pca_project(test, *pca_fit(train, components))


def pca_fit(train, components: int) -> tuple[np.ndarray, np.ndarray]:
    """(centre (P,), basis (components, P)): the mean and first principal directions of `train` (at most
    `pca_images` of them, evenly spaced)."""
    train = np.asarray(train)
    fitted = pca_images(train[0].size) if len(train) else 0
    if len(train) > fitted:
        train = train[np.linspace(0, len(train) - 1, fitted).astype(int)]
    train = _as_unit_rows(train)
    centre = train.mean(axis=0)
    return centre, top_components(train - centre, components)


def pca_project(test, centre, basis) -> np.ndarray:
    """The images `test` as rows (N, P), projected on `basis` around `centre` (`pca_fit`)."""
    test = _as_unit_rows(test)
    return centre + ((test - centre) @ basis.T) @ basis


def top_components(rows, count: int, iterations: int = 4, seed: int = 0) -> np.ndarray:
    """The first `count` principal directions (count, P) of centred rows (N, P), by a randomised SVD
    (Halko et al. 2011: `iterations` power iterations over count + 10 directions): a second where the
    full SVD of 5,000 x 3,072 takes minutes on a busy CPU, and the same directions to a few digits."""
    count = min(count, *rows.shape)
    sketch = np.random.default_rng(seed).normal(size=(rows.shape[1], min(count + 10, rows.shape[1])))
    basis = np.linalg.qr(rows @ sketch)[0]
    for _ in range(iterations):
        basis = np.linalg.qr(rows @ np.linalg.qr(rows.T @ basis)[0])[0]
    return np.linalg.svd(basis.T @ rows, full_matrices=False)[2][:count]


def explained_variance(vae, x_test, x_train) -> dict:
    """The share of the test images' pixel variance the model's reconstructions explain, and the baselines'.

    Args:
      vae: a trained `vae_tf.VAE` (its `encode` and `decode`, and `image_shape`).
      x_test: test images (N, H, W, C) or flattened (N, P), uint8 or floats in [0, 1]; the first
        `TEST_IMAGES` are measured (fewer if they hold more than `TEST_VALUES` values).
      x_train: training images, the same layout: the PCA baseline is fitted on them.

    Returns:
      {"model", "mean_colour", "pca": shares in [-inf, 1] (1 - residual / total variance),
      "pca_components": D, "test_images": N measured, "definition": one sentence}.
    """
    x_test = np.asarray(x_test)
    x_test = x_test[:measured_images(x_test[0].size)]
    reconstructed = np.asarray(vae.decode(vae.encode(x_test)[0]))  # as the model gives it (float32)
    channels = int(vae.image_shape[-1])
    components = int(vae.latent_dim)
    pca = pca_fit(x_train, components)
    mean = sum(_as_unit_rows(x_test[start:start + CHUNK]).sum(axis=0) for start in range(0, len(x_test), CHUNK))
    mean = mean / len(x_test)
    total, residuals = 0.0, {"model": 0.0, "mean_colour": 0.0, "pca": 0.0}
    for start in range(0, len(x_test), CHUNK):  # float64 copies of a chunk at a time, not of every test image
        images = x_test[start:start + CHUNK]
        rows = _as_unit_rows(images)
        total += float(np.sum((rows - mean) ** 2))
        for name, rebuilt in (("model", _as_unit_rows(reconstructed[start:start + CHUNK])),
                              ("mean_colour", mean_colour_baseline(images, channels)),
                              ("pca", pca_project(images, *pca))):
            residuals[name] += float(np.sum((rows - rebuilt) ** 2))
    return {
        **{name: float(1.0 - residual / total) if total > 0 else float("nan") for name, residual in residuals.items()},
        "pca_components": components,
        "test_images": len(x_test),
        "definition": "1 - sum (x - x_hat)^2 / sum (x - mean test image)^2 over the test images' pixels; x_hat: "
                      "the decoded mean at z_mean (model), each image's mean colour, or its projection on the "
                      "training images' first pca_components principal components",
    }


def format_explained(figures: dict) -> str:
    """One line: the model's share of the pixel variance explained, and the two baselines'."""
    return (f"pixel variance of {figures['test_images']:,} test images explained by the reconstructions: "
            f"{figures['model']:.1%} (each image's mean colour: {figures['mean_colour']:.1%}; "
            f"PCA with {figures['pca_components']} components: {figures['pca']:.1%})")


def explained_warning(figures: dict, settings: dict) -> str | None:
    """One line when the model explains no more than the simpler baseline (+ `MARGIN`), with the likely fix.

    The simpler baseline is the one that explains less (each image's mean colour, as a rule), or the
    average test image (0) where that explains more (a flat image of its mean is worse than the
    average image on dark backgrounds, Fashion-MNIST's and the digits'): a model below it has learned
    less than a code of one colour per image. PCA, the best linear code of the model's size, is a
    reference a VAE's blurry reconstructions need not reach.

    Args:
      figures: `explained_variance`'s.
      settings: the run's settings (a `TrainConfig` as a dict): the fix depends on them.
    """
    simpler = min(figures["mean_colour"], figures["pca"])
    bar = max(simpler, 0.0)
    if not figures["model"] < bar + MARGIN:
        return None
    which = ("the average test image" if bar > simpler else "each image's mean colour"
             if figures["mean_colour"] <= figures["pca"] else f"PCA with {figures['pca_components']} components")
    return (f"warning: the reconstructions explain {figures['model']:.1%} of the pixel variance, no better than "
            f"{which} ({bar:.1%}): the model has learned little; likely fix: {likely_fix(settings)}")


def likely_fix(settings: dict) -> str:
    """What most likely makes a run that learned little learn: the first of these that applies."""
    if settings.get("reduction") == "report" and settings.get("regularizer", "kl") == "kl":
        return ("--reduction elbo (the report's loss averages the reconstruction over the pixels, weighing the "
                "KL term once per pixel more) or a smaller --beta")
    if settings.get("learning_rate", 1e-3) < 1e-3:
        return f"a larger --learning-rate (1e-3, Keras' Adam default, instead of {settings['learning_rate']:g})"
    if settings.get("latent_dim", 2) < 8:
        return f"a larger --latent-dim (8 or more instead of {settings['latent_dim']})"
    return "more --epochs, or --architecture conv for photographs"


def report_explained(vae, x_test, x_train, settings: dict, progress=print) -> dict:
    """`explained_variance`, printed (`format_explained`, and `explained_warning` when it applies): the
    end of every run. Returns summary.json's "explained_variance": the figures and the warning (or None)."""
    figures = explained_variance(vae, x_test, x_train)
    figures["warning"] = explained_warning(figures, settings)
    progress(format_explained(figures))
    if figures["warning"]:
        progress(figures["warning"])
    return figures
