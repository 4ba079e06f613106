"""The Gaussian likelihood (learned, optimal or fixed sigma^2), the linear architecture, and the linear
Gaussian VAE against closed-form probabilistic PCA (`python -m vae_tf.ppca`, docs/linear-vae.md).

The full-data Fashion-MNIST figures are in docs/linear-vae.md (docs/make_linear_vae.py); here the same
claims hold on small synthetic data whose covariance has four known large eigenvalues."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from PIL import Image

import vae_tf
from vae_tf.analysis import ppca
from vae_tf.config import TrainConfig
from vae_tf.models import likelihoods
from vae_tf.rundir import Run
from vae_tf.training.run import train

SHAPE = (8, 8, 1)
FIXED = 0.2  # between the 2nd and 3rd eigenvalue (about 0.6 and 0.06): 2 of the 4 dimensions stay active


def synthetic_images(count: int = 2000, seed: int = 0) -> np.ndarray:
    """uint8 8 x 8 images: 0.5 + four orthogonal directions with variances 1, 0.6, 0.06, 0.03 + pixel noise."""
    rng = np.random.default_rng(seed)
    pixels = int(np.prod(SHAPE))
    basis = np.linalg.qr(rng.standard_normal((pixels, pixels)))[0][:, :4]
    codes = rng.standard_normal((count, 4)) * np.sqrt([1.0, 0.6, 0.06, 0.03])
    x = 0.5 + codes @ basis.T + 0.03 * rng.standard_normal((count, pixels))
    return np.clip(np.round(x * 255), 0, 255).astype(np.uint8).reshape(count, *SHAPE)


@pytest.fixture(scope="module")
def images():
    return synthetic_images()


@pytest.fixture(scope="module")
def fixed_run(images, tmp_path_factory):
    """A linear Gaussian run at sigma^2 = 0.2, latent size 4, trained by the package's own training."""
    root = tmp_path_factory.mktemp("gaussian")
    np.savez(root / "synthetic.npz", x_train=images, x_test=images[:200])
    settings = TrainConfig(dataset=f"npz:{root / 'synthetic.npz'}", architecture="linear", likelihood="gaussian",
                           gaussian_variance=str(FIXED), latent_dim=4, reduction="elbo", learning_rate=1e-2,
                           batch_size=256, epochs=80)
    return train(settings, root / "fixed", verbose=0)


@pytest.mark.parametrize("mode", ["learned", "optimal", "0.25"])
def test_gaussian_log_probabilities_are_tfps_normal_in_every_variance_mode(mode):
    vae = vae_tf.VAE(latent_dim=2, likelihood="gaussian", gaussian_variance=mode, image_shape=(1, 3, 1))
    x = tf.constant([[0.0, 0.5, 1.0], [0.2, 0.9, 0.4]])
    means = tf.constant([[0.1, 0.4, 1.3], [-0.2, 0.9, 0.5]])
    if mode == "learned":
        vae.pixel_variance.log_variance.assign(np.log(0.3))
    # In training, "optimal" takes the batch's mean squared error; elsewhere the training's average.
    expected_training = {"learned": 0.3, "optimal": float(np.mean((x - means) ** 2)), "0.25": 0.25}[mode]
    expected_evaluation = {"learned": 0.3, "optimal": 1.0, "0.25": 0.25}[mode]  # "optimal" before training: 1
    for training, variance in ((False, expected_evaluation), (True, expected_training)):
        model = vae.step_pixel_model(x, means, training=training)
        normal = tfp.distributions.Normal(means, np.float32(np.sqrt(variance))).log_prob(x)
        np.testing.assert_allclose(model.log_prob(x, means), tf.reduce_sum(normal, -1), rtol=1e-5)
        np.testing.assert_allclose(model.pixel_nll(x, means), -normal, rtol=1e-5)
    if mode == "optimal":  # the step also moved the average to the batch's value (bias-corrected)
        np.testing.assert_allclose(vae.pixel_model.variance, expected_training, rtol=1e-5)
    # p(x|z) as a distribution: the same Normal, event (1, 3, 1).
    p = vae.likelihood(np.zeros((2, 2), np.float32))
    assert p.event_shape == (1, 3, 1) and isinstance(p.distribution, tfp.distributions.Normal)


def test_the_gaussian_variance_flag_is_refused_without_the_gaussian_likelihood_or_with_a_bad_value(refused):
    from vae_tf.train import main

    refused(main, ["--gaussian-variance", "0.1", "--out", "/tmp/never"],
            "--gaussian-variance 0.1 cannot act: it needs --likelihood gaussian")
    refused(main, ["--likelihood", "gaussian", "--gaussian-variance", "-1", "--out", "/tmp/never"],
            "give learned, optimal, or sigma^2 as a number > 0")
    with pytest.raises(ValueError, match="sigma\\^2 as a number > 0"):
        vae_tf.VAE(likelihood="gaussian", gaussian_variance="big")


def test_a_trained_linear_gaussian_vae_reaches_ppcas_optimum_and_collapses_exactly_below_sigma2(
        fixed_run, tmp_path):
    from vae_tf.ppca import main

    assert main([str(fixed_run), "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "ppca.json").read_text())
    assert (tmp_path / "ppca.png").stat().st_size > 0
    assert result["variance"] == pytest.approx(FIXED) and result["images"] == 2000
    # Its exact log-likelihood is pPCA's optimum, and its ELBO the log-likelihood (within 0.5 nats).
    assert abs(result["below_optimum"]) < 0.5
    assert 0 <= result["gap"] < 0.5
    # Exactly the dimensions whose eigenvalue exceeds sigma^2 are active.
    eigenvalues = np.array(result["eigenvalues"][:4])
    assert result["ppca"]["above"] == int(np.sum(eigenvalues > FIXED)) == 2
    assert result["active_units"] == 2
    # The model is saved with its sigma^2 and reopens: the closed form agrees with the bounds' sampling.
    model = Run.open(fixed_run).model()
    assert float(model.pixel_model.variance) == pytest.approx(FIXED)


def test_learned_sigma2_reaches_ppcas_maximum_likelihood_value(images):
    # Latent size 2: sigma^2 then also absorbs the two small directions (the mean of the 62 discarded eigenvalues).
    vae = vae_tf.VAE(latent_dim=2, architecture="linear", likelihood="gaussian", gaussian_variance="learned",
                     reduction="elbo", image_shape=SHAPE, seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(3e-2))
    vae.fit(images, epochs=60, batch_size=256, verbose=0)
    _, eigenvalues = ppca.spectrum(images)
    ml = ppca.ml_variance(eigenvalues, 2)
    assert float(vae.pixel_model.variance) == pytest.approx(ml, rel=0.05)


def test_ppca_refuses_a_run_that_is_not_linear_and_gaussian(tiny_run, refused):
    from vae_tf.ppca import main

    refused(main, [str(tiny_run)], "needs a run trained with --architecture linear --likelihood gaussian")


def test_ppca_closed_form_matches_the_exact_marginal_at_its_own_solution(images):
    # W = U (Lambda - sigma^2)^1/2 on the data's own eigenvectors: the Woodbury log-likelihood is pPCA's formula.
    x = images.reshape(len(images), -1).astype(np.float64) / 255
    mean = x.mean(0)
    values, vectors = np.linalg.eigh(np.cov(x, rowvar=False, bias=True))
    values, vectors = values[::-1], vectors[:, ::-1]
    W = vectors[:, :2] * np.sqrt(values[:2] - FIXED)
    exact = ppca.exact_log_likelihood(images, W, mean, FIXED).mean()
    assert exact == pytest.approx(ppca.ppca_log_likelihood(values, 4, FIXED)["log_likelihood"], abs=1e-6)


def test_the_conv_model_with_optimal_sigma2_trains_evaluates_and_plots_on_rgb_photos(tmp_path):
    from sklearn.datasets import load_sample_images

    from vae_tf.evaluate import main as evaluate
    from vae_tf.plot import main as plot
    from vae_tf.train import main as train_main

    folder = tmp_path / "photos"
    folder.mkdir()
    for k, photo in enumerate(load_sample_images().images):  # 16 x 16 patches of the two photos
        for row in range(6):
            for column in range(6):
                patch = photo[40 + 60 * row:56 + 60 * row, 40 + 80 * column:56 + 80 * column]
                Image.fromarray(patch).save(folder / f"{k}-{row}-{column}.png")
    run = tmp_path / "run"
    assert train_main(["--dataset", f"folder:{folder}", "--architecture", "conv", "--likelihood", "gaussian",
                       "--gaussian-variance", "optimal", "--filters", "8", "--hidden-units", "16", "--epochs", "2",
                       "--batch-size", "16", "--verbose", "0", "--out", str(run)]) == 0
    model = Run.open(run).model()
    variance = float(model.pixel_model.variance)
    # The training batches' mean squared error (moving average), kept with the model: no longer the untrained 1.
    assert 0 < variance < 1
    assert evaluate([str(run), "--k", "3", "--out", str(tmp_path / "evaluation.json")]) == 0
    evaluation = json.loads((tmp_path / "evaluation.json").read_text())
    assert evaluation["likelihood"]["name"] == "gaussian"
    assert "mass outside [0, 1]" in evaluation["likelihood"]["description"]
    assert np.isfinite(evaluation["overall"]["neg_elbo_nats"])
    assert plot([str(run), "--out", str(tmp_path / "figures")]) == 0
    assert (tmp_path / "figures" / "reconstructions.png").exists()
    decoded = model.decode(np.zeros((1, model.latent_dim), np.float32))
    assert decoded.shape == (1, 16, 16, 3) and 0 <= decoded.min() and decoded.max() <= 1
    assert likelihoods.get("gaussian").name == "gaussian"
