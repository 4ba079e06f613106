"""The likelihoods p(x|z): each one's log-probability against TFP's own distribution and a hand
computation, on hand-made logits; binarisation fresh per training batch and fixed for evaluation."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from vae_tf.models import likelihoods
from vae_tf.models.vae import VAE

tfd = tfp.distributions

# Three images of four pixels: large, small, zero and mixed-sign logits.
LOGITS = np.array([[-8.0, -1.5, 0.0, 2.0], [0.3, -0.3, 6.0, 1e-3], [-2.0, 3.0, -0.7, 0.7]], np.float32)
GREY = np.array([[0.0, 0.2, 0.5, 1.0], [0.9, 0.1, 0.75, 0.4], [0.3, 0.6, 0.0, 1.0]], np.float32)
BINARY = np.array([[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 0.0]], np.float32)


def softplus(values):
    return np.logaddexp(0.0, values)


def continuous_bernoulli_log_normalizer(logits):
    """log C(lambda), C = 2 artanh(1 - 2 lambda) / (1 - 2 lambda), C(1/2) = 2: Loaiza-Ganem and Cunningham's eq. (7)."""
    lam = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    safe = np.where(np.abs(lam - 0.5) < 1e-6, 0.25, lam)
    constant = 2.0 * np.arctanh(1.0 - 2.0 * safe) / (1.0 - 2.0 * safe)
    return np.where(np.abs(lam - 0.5) < 1e-6, np.log(2.0), np.log(constant))


def test_the_registry_holds_the_four_likelihoods_the_flags_offer():
    assert likelihoods.NAMES == ("bernoulli", "binarized", "continuous_bernoulli", "gaussian")
    assert [likelihoods.get(name).name for name in likelihoods.NAMES] == list(likelihoods.NAMES)
    with pytest.raises(ValueError, match="likelihood='poisson' is not one of 'bernoulli'"):
        likelihoods.get("poisson")


def test_bernoulli_log_prob_is_tfps_and_minus_the_summed_cross_entropy():
    bernoulli = likelihoods.get("bernoulli")
    log_prob = bernoulli.log_prob(GREY, LOGITS).numpy()
    by_hand = np.sum(GREY * LOGITS - softplus(LOGITS), axis=-1)
    tfp_own = tf.reduce_sum(tfd.Bernoulli(logits=LOGITS, dtype=tf.float32).log_prob(GREY), axis=-1)
    np.testing.assert_allclose(log_prob, by_hand, rtol=1e-5)
    np.testing.assert_allclose(log_prob, tfp_own, rtol=1e-5)
    np.testing.assert_allclose(bernoulli.distribution(tf.constant(LOGITS)).log_prob(GREY), log_prob, rtol=1e-6)
    # The training loss's per-pixel term is the report's arithmetic, bit for bit.
    np.testing.assert_array_equal(bernoulli.pixel_nll(GREY, LOGITS),
                                  tf.nn.sigmoid_cross_entropy_with_logits(labels=GREY, logits=LOGITS))


def test_binarized_log_prob_is_tfps_bernoulli_of_binary_pixels():
    binarized = likelihoods.get("binarized")
    assert binarized.binarizes and not likelihoods.get("bernoulli").binarizes
    tfp_own = tfd.Independent(tfd.Bernoulli(logits=LOGITS), reinterpreted_batch_ndims=1).log_prob(BINARY.astype(int))
    np.testing.assert_allclose(binarized.log_prob(BINARY, LOGITS), tfp_own, rtol=1e-5)
    np.testing.assert_allclose(binarized.distribution(tf.constant(LOGITS)).log_prob(BINARY), tfp_own, rtol=1e-5)
    # A true probability: over the 2^4 binary images of 4 pixels, p(x|z) sums to 1.
    every = np.array(np.meshgrid(*[[0.0, 1.0]] * 4, indexing="ij"), np.float32).reshape(4, -1).T  # (16, 4)
    total = np.exp(binarized.log_prob(every[:, None, :], LOGITS).numpy()).sum(axis=0)
    np.testing.assert_allclose(total, 1.0, rtol=1e-5)


def test_continuous_bernoulli_log_prob_is_tfps_with_its_normalising_constant():
    cb = likelihoods.get("continuous_bernoulli")
    log_prob = cb.log_prob(GREY, LOGITS).numpy()
    tfp_own = tf.reduce_sum(tfd.ContinuousBernoulli(logits=LOGITS).log_prob(GREY), axis=-1)
    by_hand = np.sum(GREY * LOGITS - softplus(LOGITS) + continuous_bernoulli_log_normalizer(LOGITS), axis=-1)
    np.testing.assert_allclose(log_prob, tfp_own, rtol=1e-5)
    np.testing.assert_allclose(log_prob, by_hand, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(cb.distribution(tf.constant(LOGITS)).log_prob(GREY), log_prob, rtol=1e-6)
    # It differs from the Bernoulli's "log-probability" of the same greyscale pixels by exactly log C.
    difference = log_prob - likelihoods.get("bernoulli").log_prob(GREY, LOGITS).numpy()
    np.testing.assert_allclose(difference, continuous_bernoulli_log_normalizer(LOGITS).sum(axis=-1), atol=1e-4)


def test_only_the_continuous_bernoulli_is_a_density_on_0_1():
    grid = np.linspace(0.0, 1.0, 20001, dtype=np.float32)[:, None]  # (G, 1): one pixel per image
    for logit in (-4.0, -0.5, 0.0, 1.0, 5.0):
        logits = np.full((1, 1), logit, np.float32)
        cb = np.exp(likelihoods.get("continuous_bernoulli").log_prob(grid, logits).numpy())
        bernoulli = np.exp(likelihoods.get("bernoulli").log_prob(grid, logits).numpy())
        assert np.trapezoid(cb, grid[:, 0]) == pytest.approx(1.0, abs=1e-4), logit
        assert np.trapezoid(bernoulli, grid[:, 0]) < 0.99, logit
        # Its mean (what a decoded image shows) is E[x], not sigmoid(logit).
        mean = float(likelihoods.get("continuous_bernoulli").mean(tf.constant(logits))[0, 0])
        assert mean == pytest.approx(np.trapezoid(grid[:, 0] * cb, grid[:, 0]), abs=1e-4), logit


def test_binarize_draws_bernoulli_pixels_and_keeps_binary_images():
    x = tf.constant(GREY)
    uniform = tf.constant(np.full(GREY.shape, 0.45, np.float32))
    np.testing.assert_array_equal(likelihoods.binarize(x, uniform), (GREY > 0.45).astype(np.float32))
    draws = tf.random.stateless_uniform((20000, 4), seed=[1, 2])
    frequency = tf.reduce_mean(likelihoods.binarize(tf.tile(x[:1], [20000, 1]), draws), axis=0).numpy()
    np.testing.assert_allclose(frequency, GREY[0], atol=0.015)
    np.testing.assert_array_equal(likelihoods.binarize(tf.constant(BINARY), draws[:3]), BINARY)


def test_the_evaluations_binarisation_is_fixed_per_image(fashion_mnist):
    (_, _), (x_test, _) = fashion_mnist
    images = x_test[:50]
    once = likelihoods.binarize_fixed(images)
    assert once.dtype == np.uint8 and once.shape == images.shape and set(np.unique(once)) == {0, 255}
    np.testing.assert_array_equal(likelihoods.binarize_fixed(images), once)  # the same twice
    # Image i's pixels depend on (seed, i) only: a subset, in another order, binarises the same.
    np.testing.assert_array_equal(likelihoods.binarize_fixed(images[[7, 3]], indices=[7, 3]), once[[7, 3]])
    assert not np.array_equal(likelihoods.binarize_fixed(images, seed=1), once)
    assert abs(once.mean() / 255 - images.mean() / 255) < 0.01
    np.testing.assert_array_equal(likelihoods.binarize_fixed(once), once)  # binary stays binary


def one_batch_dataset(images, eps, repeats):
    """The same (images, eps) batch `repeats` times: the only noise left is the binarisation's."""
    return tf.data.Dataset.from_tensors((images, eps)).repeat(repeats)


@pytest.mark.parametrize("likelihood", ["bernoulli", "binarized"])
def test_binarisation_is_fresh_for_every_batch_of_the_compiled_training_step(fashion_mnist, likelihood):
    (x_train, _), _ = fashion_mnist
    images = x_train[:64].reshape(64, -1)
    eps = np.zeros((64, 2), np.float32)
    keras.utils.set_random_seed(0)
    vae = VAE(seed=0, likelihood=likelihood)
    # Learning rate 0: the weights stay, so the loss changes only if the pixels do.
    vae.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=True, steps_per_execution=2)
    history = vae.fit(one_batch_dataset(images, eps, 4), epochs=4, steps_per_epoch=1, verbose=0).history
    losses = history["reconstruction_loss"]
    if likelihood == "binarized":
        assert len(set(losses)) == 4, losses
    else:
        assert len(set(losses)) == 1, losses


def test_a_training_step_binarises_with_the_noise_it_is_given(fashion_mnist):
    (x_train, _), _ = fashion_mnist
    images = (x_train[:32].reshape(32, -1) / 255.0).astype(np.float32)
    keras.utils.set_random_seed(0)
    vae = VAE(seed=0, likelihood="binarized", reduction="elbo")
    eps = tf.random.normal((32, 2), seed=3)
    uniform = tf.random.uniform(images.shape, seed=4)
    trained = vae.compute_losses(images, training=True, eps=eps, uniform=uniform)
    binary = likelihoods.binarize(tf.constant(images), uniform)
    assert set(np.unique(binary)) == {0.0, 1.0}
    given = vae.compute_losses(binary, training=False, eps=eps)
    assert float(trained["reconstruction_loss"]) == pytest.approx(float(given["reconstruction_loss"]), rel=1e-6)
    # Without training, the images are taken as they are (evaluation binarises them once, beforehand).
    as_given = vae.compute_losses(images, training=False, eps=eps)["reconstruction_loss"]
    assert abs(float(as_given) - float(given["reconstruction_loss"])) > 0.1


@pytest.fixture(scope="module")
def binarized_run(tmp_path_factory):
    from vae_tf.config import TrainConfig
    from vae_tf.training.run import train

    settings = TrainConfig(limit=600, epochs=1, likelihood="binarized", reduction="elbo", validation=True)
    return train(settings, tmp_path_factory.mktemp("binarized") / "run", verbose=0)


def test_evaluation_binarises_the_test_images_once_and_says_so(binarized_run, fashion_mnist):
    from vae_tf.evaluate import evaluate_run, format_table, importance_sampled
    from vae_tf.rundir import Run

    run = Run.open(binarized_run)
    first = evaluate_run(run, k=20, limit=30)
    second = evaluate_run(run, k=20, limit=30)
    assert first["overall"] == second["overall"]  # the same test images give the same nats twice
    assert first["likelihood"]["name"] == "binarized"
    assert first["likelihood"]["binarization"]["seed"] == likelihoods.EVALUATION_BINARIZATION_SEED
    assert "likelihood: binarized (test images binarised once, seed" in format_table(first)
    overall = first["overall"]
    assert overall["neg_elbo_nats"] >= overall["neg_iwae_nats"]
    # What it evaluates is the binarised images: the same numbers from images binarised beforehand.
    (_, _), (x_test, _) = fashion_mnist
    vae = run.model()
    on_grey = importance_sampled(vae, x_test[:30], 20)
    on_binary = importance_sampled(vae, likelihoods.binarize_fixed(x_test[:30]), 20)
    np.testing.assert_array_equal(on_grey["iwae"], on_binary["iwae"])
    assert np.mean(-on_grey["iwae"]) == pytest.approx(overall["neg_iwae_nats"])


def test_validation_of_a_binarized_run_uses_the_evaluations_binary_test_images(binarized_run, fashion_mnist):
    import json

    from vae_tf.models.vae import VAE  # noqa: F401
    from vae_tf.rundir import Run

    run = Run.open(binarized_run)
    history = (binarized_run / "history.csv").read_text().splitlines()
    header, row = history[0].split(","), history[1].split(",")
    logged = float(row[header.index("val_reconstruction_loss")])
    (_, _), (x_test, _) = fashion_mnist
    from vae_tf.training.monitor import validation_noise

    vae = run.model()
    binary = likelihoods.binarize_fixed(x_test)
    eps = validation_noise(len(x_test), vae.latent_dim, 0)
    per_batch = [float(vae.compute_losses(binary[i:i + 128].reshape(-1, 784), eps=eps[i:i + 128])
                       ["reconstruction_loss"]) * len(binary[i:i + 128]) for i in range(0, len(binary), 128)]
    assert logged == pytest.approx(sum(per_batch) / len(binary), rel=1e-4)
    assert json.loads((binarized_run / "config.json").read_text())["config"]["likelihood"] == "binarized"


def test_the_grid_integral_includes_the_continuous_bernoullis_normalising_constant():
    from vae_tf.evaluate import grid_log_marginal

    logits = tf.linspace(-3.0, 3.0, 784)

    class ConstantDecoder:  # p(x|z) does not depend on z, so log p(x) = log p(x|z) + log P(grid) ~= log p(x|z)
        latent_dim = 2
        pixel_model = likelihoods.get("continuous_bernoulli")

        @staticmethod
        def decode_logits(z):
            return tf.zeros((tf.shape(z)[0], 784)) + logits

    x = np.random.default_rng(1).uniform(size=(2, 784)).astype(np.float32)
    expected = tf.reduce_sum(tfd.ContinuousBernoulli(logits=logits).log_prob(x), axis=-1).numpy()
    assert np.all(np.abs(expected - likelihoods.get("bernoulli").log_prob(x, logits[None]).numpy()) > 50)
    result = grid_log_marginal(ConstantDecoder(), x, extent=7.0, points=71)
    assert result["log_px"] == pytest.approx(expected, abs=2e-3)


def test_a_sweep_refuses_to_put_two_likelihoods_on_one_plane(tiny_run, tmp_path, refused):
    from vae_tf.sweep import main

    out = tmp_path / "sweep"
    refused(main, ["--betas", "1", "--likelihood", "binarized", "--extra", str(tiny_run), "--out", str(out)],
            f"{tiny_run}: bernoulli; the runs of this sweep: binarized), whose nats are not comparable")
    assert not (out / "beta-1").exists()  # refused before training anything
