"""Posteriors, priors and KL estimators beyond the closed form (issue 20), and the loss audit."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from vae_tf import config
from vae_tf.kl import kl_analytic, kl_sample_mean, kl_standard_normal
from vae_tf.models.audit import describe, loss_audit
from vae_tf.models.posteriors import LOG_SCALE_BOUND, POSTERIORS, build_posterior
from vae_tf.models.priors import PRIORS, build_prior

tfd = tfp.distributions

B, D, F = 4, 2, 5
RNG = np.random.default_rng(20)
PARAMS = {"z_mean": tf.constant([[0.5, -1.0], [0.0, 0.2], [2.0, 1.0], [-0.3, 0.4]]),
          "z_log_var": tf.constant([[0.1, -0.5], [0.0, 0.3], [-1.0, 0.2], [0.5, -0.2]]),
          "features": tf.constant(RNG.normal(size=(B, F)), tf.float32)}
Z = tf.constant(RNG.normal(size=(3, B, D)), tf.float32)  # points to score, (S, B, D)


def test_the_registries_are_the_flags_choices():
    assert tuple(POSTERIORS) == config.POSTERIORS
    assert tuple(PRIORS) == config.PRIORS


def test_diagonal_posterior_is_tfps_diagonal_gaussian():
    posterior = build_posterior("diagonal", D, F)
    expected = tfd.MultivariateNormalDiag(PARAMS["z_mean"], tf.exp(0.5 * PARAMS["z_log_var"]))
    np.testing.assert_allclose(posterior.distribution(PARAMS).log_prob(Z), expected.log_prob(Z), rtol=1e-6)
    z, log_q = posterior.sample(PARAMS, Z)  # Z as noise: z = mean + sigma eps, the report's sampling
    np.testing.assert_allclose(z, PARAMS["z_mean"] + tf.exp(0.5 * PARAMS["z_log_var"]) * Z, rtol=1e-6)
    np.testing.assert_allclose(log_q, expected.log_prob(z), rtol=1e-6)


def test_full_posterior_is_tfps_multivariate_normal_tril():
    posterior = build_posterior("full", D, F)
    off_diagonal = 0.7  # the head's bias gives every image the same L[1, 0]
    posterior.head.bias.assign([off_diagonal])
    sigma = np.exp(0.5 * PARAMS["z_log_var"].numpy())
    scale_tril = np.zeros((B, D, D), np.float32)
    scale_tril[:, 0, 0], scale_tril[:, 1, 1], scale_tril[:, 1, 0] = sigma[:, 0], sigma[:, 1], off_diagonal
    expected = tfd.MultivariateNormalTriL(PARAMS["z_mean"], scale_tril)
    np.testing.assert_allclose(posterior.distribution(PARAMS).log_prob(Z), expected.log_prob(Z), rtol=1e-5)
    z, log_q = posterior.sample(PARAMS, Z)
    np.testing.assert_allclose(z, PARAMS["z_mean"] + np.einsum("bij,sbj->sbi", scale_tril, Z.numpy()), rtol=1e-5)
    np.testing.assert_allclose(log_q, expected.log_prob(z), rtol=1e-5)
    # Still a closed-form KL against N(0, I), and TFP's equals the Gaussian formula with the full covariance.
    covariance = scale_tril @ np.transpose(scale_tril, (0, 2, 1))
    formula = 0.5 * (np.trace(covariance, axis1=1, axis2=2) + np.sum(PARAMS["z_mean"].numpy() ** 2, axis=1)
                     - D - np.log(np.linalg.det(covariance)))
    np.testing.assert_allclose(kl_analytic(posterior.distribution(PARAMS), build_prior("standard_normal", D)
                                           .distribution()), formula, rtol=1e-5)


def test_an_iaf_with_constant_steps_is_the_gaussian_tfp_makes_of_it():
    # With its MADE networks' kernels at zero, each step is the affine map z -> (z - shift) exp(-log_scale):
    # the flow of a diagonal Gaussian is again one, whose log-density TFP gives directly.
    posterior = build_posterior("iaf", D, F, flow_steps=2)
    shifts, log_scales = np.array([[0.3, -0.2], [1.0, 0.5]]), np.array([[0.4, -0.1], [-0.3, 0.2]])
    for step, made in enumerate(posterior.steps):
        raw = LOG_SCALE_BOUND * np.arctanh(log_scales[step] / LOG_SCALE_BOUND)  # the step bounds its log-scales
        made.output_bias.assign(np.concatenate([shifts[step], raw]).astype(np.float32))
    mean, sigma = PARAMS["z_mean"].numpy(), np.exp(0.5 * PARAMS["z_log_var"].numpy())
    for step in range(2):
        if step:  # the order of z is reversed between steps
            mean, sigma = mean[:, ::-1], sigma[:, ::-1]
        mean, sigma = (mean - shifts[step]) * np.exp(-log_scales[step]), sigma * np.exp(-log_scales[step])
    expected = tfd.MultivariateNormalDiag(mean.astype(np.float32), sigma.astype(np.float32))
    np.testing.assert_allclose(posterior.distribution(PARAMS).log_prob(Z), expected.log_prob(Z), rtol=1e-5)
    z, log_q = posterior.sample(PARAMS, Z)
    np.testing.assert_allclose(log_q, expected.log_prob(z), rtol=1e-5)


def test_an_iafs_sampled_log_density_is_its_distributions():
    # Any weights: the one-pass log q of a sample equals TFP's log_prob, which inverts the flow.
    posterior = build_posterior("iaf", 3, F, flow_steps=3)
    for weight in posterior.weights:
        weight.assign(RNG.normal(scale=0.3, size=weight.shape).astype(np.float32))
    params = {"z_mean": tf.zeros((B, 3)), "z_log_var": tf.zeros((B, 3)), "features": PARAMS["features"]}
    z, log_q = posterior.sample(params, tf.constant(RNG.normal(size=(5, B, 3)), tf.float32))
    np.testing.assert_allclose(log_q, posterior.distribution(params).log_prob(tf.identity(z)), atol=1e-4)


def hand_made_mixture(weights, means, scales, z):
    """log sum_k w_k N(z; means_k, diag(scales_k^2)), NumPy."""
    z = np.asarray(z)[..., None, :]
    log_normal = -0.5 * np.sum(((z - means) / scales) ** 2 + np.log(2 * np.pi * scales**2), axis=-1)
    return np.logaddexp.reduce(np.log(weights) + log_normal, axis=-1)


def test_standard_normal_prior():
    expected = tfd.MultivariateNormalDiag(tf.zeros(D))
    np.testing.assert_allclose(build_prior("standard_normal", D).distribution().log_prob(Z), expected.log_prob(Z))


def test_mixture_prior_against_tfp_and_by_hand():
    prior = build_prior("mixture", D, components=3)
    means, log_scales, logits = RNG.normal(size=(3, D)), RNG.normal(scale=0.3, size=(3, D)), np.array([0.0, 1.0, -1.0])
    for weight, value in ((prior.means, means), (prior.log_scales, log_scales), (prior.logits, logits)):
        weight.assign(value.astype(np.float32))
    log_p = prior.distribution().log_prob(Z)
    tfp_mixture = tfd.MixtureSameFamily(tfd.Categorical(logits=logits.astype(np.float32)),
                                        tfd.MultivariateNormalDiag(means.astype(np.float32),
                                                                   np.exp(log_scales).astype(np.float32)))
    np.testing.assert_allclose(log_p, tfp_mixture.log_prob(Z), rtol=1e-5)
    weights = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(log_p, hand_made_mixture(weights, means, np.exp(log_scales), Z), rtol=1e-4)


def test_vamp_prior_mixes_the_posteriors_of_its_pseudo_inputs():
    prior = build_prior("vamp", D, components=3, image_size=6)
    posterior = build_posterior("diagonal", D, F)

    def posterior_of(images):  # a stand-in encoder: mean and log-variance from the pixels
        return posterior.distribution({"z_mean": 4.0 * images[:, :D] - 2.0, "z_log_var": images[:, D:2 * D] - 0.5})

    pixels = prior.pseudo_inputs().numpy()
    np.testing.assert_allclose(pixels, 1 / (1 + np.exp(-prior.pseudo_input_logits.numpy())), rtol=1e-6)
    means, scales = 4.0 * pixels[:, :D] - 2.0, np.exp(0.5 * (pixels[:, D:2 * D] - 0.5))
    np.testing.assert_allclose(prior.distribution(posterior_of).log_prob(Z),
                               hand_made_mixture(np.full(3, 1 / 3), means, scales, Z), rtol=1e-4)


def test_monte_carlo_kl_of_a_diagonal_gaussian_is_the_analytic_within_four_standard_errors():
    posterior = build_posterior("diagonal", D, F)
    prior = build_prior("standard_normal", D).distribution()
    samples = 20_000
    z, log_q = posterior.sample(PARAMS, tf.random.stateless_normal((samples, B, D), seed=[20, 1]))
    log_ratio = (log_q - prior.log_prob(z)).numpy()
    estimate = kl_sample_mean(log_q, prior.log_prob(z)).numpy()
    standard_error = log_ratio.std(axis=0, ddof=1) / np.sqrt(samples)
    analytic = kl_standard_normal(PARAMS["z_mean"], PARAMS["z_log_var"]).numpy()
    assert np.all(standard_error > 0)
    assert np.all(np.abs(estimate - analytic) < 4 * standard_error), (estimate, analytic, standard_error)


def test_an_analytic_kl_without_a_closed_form_is_refused_with_the_reason():
    prior = build_prior("standard_normal", D).distribution()
    iaf = build_posterior("iaf", D, F).distribution(PARAMS)
    with pytest.raises(NotImplementedError, match="no analytic KL for TransformedDistribution"):
        kl_analytic(iaf, prior)
    mixture = build_prior("mixture", D, components=2).distribution()
    with pytest.raises(NotImplementedError, match="MixtureSameFamily.*--kl-estimator monte_carlo"):
        kl_analytic(build_posterior("diagonal", D, F).distribution(PARAMS), mixture)
    assert config.analytic_kl_problem("full", "standard_normal") is None
    with pytest.raises(ValueError, match="no closed-form KL between a TransformedDistribution"):
        config.TrainConfig(posterior="iaf")


def test_the_command_line_refuses_an_analytic_kl_without_a_closed_form(refused):
    from vae_tf.train import main

    refused(main, ["--prior", "vamp"], "no closed-form KL between a MultivariateNormalDiag posterior and a "
                                       "MixtureSameFamily (the VampPrior) prior; use --kl-estimator monte_carlo")
    refused(main, ["--kl-samples", "10"], "the analytic KL draws no samples")


def test_the_loss_audit():
    report = loss_audit("kl", "report", 1.0, 128, 784, 60_000)
    assert report["kl_weight"] == 6.125 and report["last_batch"] == {"images": 96, "kl_weight": 784 / 96}
    assert describe(report).startswith("loss audit: KL weight 6.125 x the textbook ELBO's (beta 1 * 784 values")
    assert loss_audit("kl", "elbo", 0.5, 128, 784, 60_000)["kl_weight"] == 0.5
    assert loss_audit("kl", "report", 2.0, 64, 3072)["kl_weight"] == 96.0
    assert loss_audit("none", "report", 1.0, 128, 784)["kl_weight"] == 0.0


def test_every_run_records_its_loss_audit(tiny_run):
    written = json.loads((tiny_run / "config.json").read_text())["loss_audit"]
    assert written == json.loads((tiny_run / "summary.json").read_text())["loss_audit"]
    assert written["kl_weight"] == 6.125 and written["last_batch"] == {"images": 80, "kl_weight": 9.8}


COMBINATIONS = [(posterior, prior) for posterior in config.POSTERIORS for prior in config.PRIORS]


def settings_for(posterior, prior, **more):
    """A TrainConfig of the pair: the analytic KL where TFP has one, else Monte Carlo with 2 samples."""
    from vae_tf.config import TrainConfig

    estimator = "analytic" if config.analytic_kl_problem(posterior, prior) is None else "monte_carlo"
    learned_prior = {"prior_components": 3} if prior in ("mixture", "vamp") else {}  # else it cannot act
    return TrainConfig(posterior=posterior, prior=prior, kl_estimator=estimator,
                       kl_samples=1 if estimator == "analytic" else 2, flow_steps=2, **learned_prior, **more)


@pytest.mark.parametrize("posterior, prior", COMBINATIONS)
def test_every_combination_round_trips_through_keras(posterior, prior, tmp_path):
    from vae_tf.models.vae import VAE

    settings = settings_for(posterior, prior)
    vae = VAE(**settings.model_settings())
    learned = vae.posterior_family.weights + vae.prior_family.weights
    assert len(learned) == {"diagonal": 0, "full": 2, "iaf": 2 + 2 * 6}[posterior] + \
        {"standard_normal": 0, "mixture": 3, "vamp": 1}[prior]
    for weight in learned:  # away from their initial values, so that a lost weight would show
        weight.assign(RNG.normal(scale=0.2, size=weight.shape).astype(np.float32))
    vae.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert (loaded.posterior_name, loaded.prior_name, loaded.kl_estimator) == (posterior, prior, settings.kl_estimator)
    for a, b in zip(vae.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = RNG.integers(0, 256, size=(3, 784)).astype(np.uint8)
    z = Z[0, :3]
    np.testing.assert_allclose(loaded.posterior(x).log_prob(z), vae.posterior(x).log_prob(z), rtol=1e-5)
    np.testing.assert_allclose(loaded.prior().log_prob(z), vae.prior().log_prob(z), rtol=1e-5)


# Between them, every learned weight: the full posterior's, the IAF's, the mixture's and the VampPrior's.
@pytest.mark.parametrize("posterior, prior", [("full", "vamp"), ("iaf", "mixture")])
def test_resume_continues_a_learned_posterior_and_prior_exactly(posterior, prior, tmp_path, monkeypatch):
    from vae_tf.training import callbacks
    from vae_tf.training.run import resume, train

    settings = settings_for(posterior, prior, limit=256, epochs=2, deterministic=True)
    whole = train(settings, tmp_path / "whole", verbose=0)

    save = callbacks.EpochCheckpoint.on_epoch_end

    def stop_after_the_first_epoch(self, epoch, logs=None):
        save(self, epoch, logs)
        raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.EpochCheckpoint, "on_epoch_end", stop_after_the_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(settings, tmp_path / "stopped", verbose=0)
    monkeypatch.setattr(callbacks.EpochCheckpoint, "on_epoch_end", save)
    resumed = resume(tmp_path / "stopped", verbose=0)

    saved, continued = (keras.models.load_model(path / "model.keras") for path in (whole, resumed))
    for a, b in zip(saved.get_weights(), continued.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # --resume continued exactly where the checkpoint stopped
    fresh = build_prior(prior, 2, 3)  # the learned prior was trained, saved and restored
    assert not np.allclose(saved.prior_family.weights[0].numpy(), fresh.weights[0].numpy())


def test_the_monte_carlo_kl_terms_noise_shrinks_as_one_over_s():
    from vae_tf.klcost import kl_estimate_variance
    from vae_tf.models.vae import VAE

    x = RNG.integers(0, 256, size=(64, 784)).astype(np.uint8)
    noise = {}
    for estimator, samples in (("analytic", 1), ("monte_carlo", 1), ("monte_carlo", 4)):
        keras.utils.set_random_seed(0)  # the same weights for all three
        vae = VAE(kl_estimator=estimator, kl_samples=samples)
        noise[estimator, samples] = kl_estimate_variance(vae, x, batch_size=32, draws=400, batches=2)
    assert noise["analytic", 1]["variance"] == 0.0
    np.testing.assert_allclose(noise["monte_carlo", 1]["mean_kl"], noise["analytic", 1]["mean_kl"], rtol=0.05)
    ratio = noise["monte_carlo", 1]["variance"] / noise["monte_carlo", 4]["variance"]
    assert 2.5 < ratio < 6.5, ratio  # 4 in expectation; 400 draws put it within about +-30%


def test_the_prior_figure_draws_a_learned_density_beside_the_standard_normal():
    from vae_tf import plots
    from vae_tf.models.priors import log_density_on_grid

    mixture = build_prior("mixture", 2, components=3)
    panels = []
    for title, prior in (("N(0, I)", build_prior("standard_normal", 2)), ("mixture", mixture)):
        axis, log_density = log_density_on_grid(prior.distribution(), extent=3.0, points=31)
        assert axis.shape == (31,) and log_density.shape == (31, 31)
        panels.append((title, axis, log_density, RNG.normal(size=(50, 2)), RNG.integers(0, 10, 50)))
    figure = plots.prior_densities(panels)
    assert [ax.get_title() for ax in figure.axes[:2]] == ["N(0, I)", "mixture"]
    standard = panels[0][2]
    assert np.unravel_index(np.argmax(standard), standard.shape) == (15, 15)  # N(0, I) peaks at the origin


@pytest.mark.parametrize("likelihood", ["binarized", "continuous_bernoulli"])
def test_the_importance_weights_of_a_richer_pair_use_the_runs_likelihood(likelihood):
    # The posteriors and priors of issue 20 meet the likelihoods of issue 16 in evaluate: the
    # log p(x|z) of every importance weight is the run's own likelihood, on the images it is
    # evaluated on (binarised once for "binarized").
    from vae_tf.analysis.bounds import _pixels, model_log_weights
    from vae_tf.models.vae import VAE

    vae = VAE(**settings_for("iaf", "mixture", likelihood=likelihood).model_settings())
    x = tf.constant(_pixels(RNG.integers(0, 256, size=(3, 784)).astype(np.uint8), vae))
    if likelihood == "binarized":
        assert set(np.unique(x.numpy())) <= {0.0, 1.0}
    params = vae.posterior_params(x)
    eps = tf.constant(RNG.normal(size=(4, 3, 2)).astype(np.float32))
    _, log_likelihood, _ = model_log_weights(vae, x, params, eps)
    z, _ = vae.posterior_family.sample(params, eps)
    expected = vae.likelihood(tf.reshape(z, (-1, 2))).log_prob(tf.reshape(tf.tile(x[None], (4, 1, 1)), (-1, 28, 28, 1)))
    np.testing.assert_allclose(log_likelihood.numpy().ravel(), expected.numpy().ravel(), rtol=1e-5)
