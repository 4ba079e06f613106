"""The loss terms against hand computations on small hand-made batches."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vae_tf.kl import kl_standard_normal, kl_standard_normal_tfp
from vae_tf.models.losses import mse_loss, reconstruction_loss, vae_losses

rng = np.random.default_rng(0)
B, P, D = 4, 784, 2
X = rng.uniform(size=(B, P)).astype("float32")
X[:, :100] = 0.0  # background pixels, as in Fashion-MNIST
LOGITS = rng.normal(scale=3.0, size=(B, P)).astype("float32")
Z_MEAN = np.array([[0.0, 0.0], [1.0, -2.0], [0.5, 0.5], [-3.0, 4.0]], "float32")
Z_LOG_VAR = np.array([[0.0, 0.0], [-1.0, 0.5], [2.0, -3.0], [0.1, 0.2]], "float32")


def bce_by_hand(x, logits):
    p = 1.0 / (1.0 + np.exp(-logits.astype("float64")))
    return -(x * np.log(p) + (1 - x) * np.log(1 - p))


def test_tfp_kl_equals_the_closed_form():
    by_hand = -0.5 * np.sum(1 + Z_LOG_VAR - Z_MEAN**2 - np.exp(Z_LOG_VAR), axis=-1)
    np.testing.assert_allclose(kl_standard_normal_tfp(Z_MEAN, Z_LOG_VAR), by_hand, rtol=1e-6)
    np.testing.assert_allclose(kl_standard_normal(Z_MEAN, Z_LOG_VAR), by_hand, rtol=1e-6)
    assert kl_standard_normal_tfp(Z_MEAN, Z_LOG_VAR)[0] == 0.0  # q = prior


def test_report_reduction_is_a_sum_over_images_of_per_pixel_means():
    expected = bce_by_hand(X, LOGITS).mean(axis=1).sum()
    np.testing.assert_allclose(reconstruction_loss(X, LOGITS, "report"), expected, rtol=1e-5)


def test_report_reduction_equals_the_reports_keras_code():
    # The report: sum(keras.losses.binary_crossentropy(data, reconstruction)) on sigmoid outputs.
    reconstruction = keras.ops.sigmoid(LOGITS)
    report = tf.reduce_sum(keras.losses.binary_crossentropy(X, reconstruction))
    # Keras clips probabilities to [1e-7, 1 - 1e-7] when run eagerly, hence the tolerance.
    np.testing.assert_allclose(reconstruction_loss(X, LOGITS, "report"), report, rtol=1e-4)


def test_elbo_reduction_is_a_mean_over_images_of_per_pixel_sums():
    expected = bce_by_hand(X, LOGITS).sum(axis=1).mean()
    np.testing.assert_allclose(reconstruction_loss(X, LOGITS, "elbo"), expected, rtol=1e-5)
    # The two reductions differ by the factor B / 784 the spec describes.
    ratio = reconstruction_loss(X, LOGITS, "report") / reconstruction_loss(X, LOGITS, "elbo")
    np.testing.assert_allclose(ratio, B / P, rtol=1e-5)


def test_mse_regulariser_by_hand():
    per_image = ((Z_LOG_VAR - 1.0) ** 2).mean(axis=1) + (Z_MEAN**2).mean(axis=1)
    np.testing.assert_allclose(mse_loss(Z_MEAN, Z_LOG_VAR, "report"), per_image.sum(), rtol=1e-6)
    np.testing.assert_allclose(mse_loss(Z_MEAN, Z_LOG_VAR, "elbo"), per_image.mean(), rtol=1e-6)


@pytest.mark.parametrize("reduction", ["report", "elbo"])
def test_totals_of_the_three_variants(reduction):
    terms = {r: vae_losses(X, LOGITS, Z_MEAN, Z_LOG_VAR, r, reduction, beta=0.5) for r in ("kl", "none", "mse")}
    recon = terms["none"]["reconstruction_loss"]
    np.testing.assert_allclose(terms["none"]["loss"], recon)
    np.testing.assert_allclose(terms["kl"]["loss"], recon + 0.5 * terms["kl"]["kl_loss"], rtol=1e-6)
    np.testing.assert_allclose(terms["mse"]["loss"], recon + 0.5 * terms["mse"]["mse_loss"], rtol=1e-6)
    assert "mse_loss" not in terms["kl"] and "mse_loss" in terms["mse"]
    kl_mean = kl_standard_normal(Z_MEAN, Z_LOG_VAR).numpy().mean()
    np.testing.assert_allclose(terms["kl"]["kl_loss"], kl_mean, rtol=1e-6)


@pytest.mark.parametrize("reduction", ["report", "elbo"])
@pytest.mark.parametrize("regularizer", ["kl", "mse"])
def test_shares_of_a_split_batch_add_up_to_the_whole(reduction, regularizer):
    whole = vae_losses(X, LOGITS, Z_MEAN, Z_LOG_VAR, regularizer, reduction)
    halves = [
        vae_losses(X[s], LOGITS[s], Z_MEAN[s], Z_LOG_VAR[s], regularizer, reduction, global_batch_size=B)
        for s in (slice(0, 2), slice(2, 4))
    ]
    assert {"loss", "reconstruction_loss", "kl_loss"} <= set(whole)
    for name in whole:
        np.testing.assert_allclose(halves[0][name] + halves[1][name], whole[name], rtol=1e-5)


def test_unknown_choices_are_refused():
    with pytest.raises(ValueError, match="regularizer='kld' is not one of 'kl', 'none', 'mse'"):
        vae_losses(X, LOGITS, Z_MEAN, Z_LOG_VAR, regularizer="kld")
    with pytest.raises(ValueError, match="reduction='sum'"):
        vae_losses(X, LOGITS, Z_MEAN, Z_LOG_VAR, reduction="sum")
