"""`vae_tf.evaluate`: -ELBO >= -IWAE_K >= -log p(x), on a small trained run and on hand-made cases."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from vae_tf.config import TrainConfig
from vae_tf.data import flatten_images
from vae_tf.evaluate import (
    bernoulli_log_likelihood,
    bits_per_pixel,
    grid_log_marginal,
    importance_log_weights,
    importance_sampled,
    latent_grid,
    log_mean_exp,
    main,
    standard_normal_draws,
)
from vae_tf.rundir import Run
from vae_tf.training.run import train

# A grid fine and wide enough for the small run's posteriors (checked in the test that uses it).
GRID = {"extent": 8.0, "points": 321}


@pytest.fixture(scope="module")
def vae(tiny_run):
    """The shared tiny run's model: 2,000 training images, 2 epochs, 2-d codes."""
    return Run.open(tiny_run).model()


@pytest.fixture(scope="module")
def test_images(fashion_mnist):
    (_, (x_test, y_test)) = fashion_mnist
    return flatten_images(x_test[:6]).astype(np.float32) / 255.0


def test_bits_per_pixel_by_hand():
    assert bits_per_pixel(784 * math.log(2)) == pytest.approx(1.0)
    assert bits_per_pixel(100.0) == pytest.approx(100.0 / 784 / 0.6931471805599453)
    assert bits_per_pixel(np.array([0.0, 543.43])) == pytest.approx([0.0, 1.0], abs=1e-4)


def test_log_mean_exp_survives_huge_negative_log_weights():
    log_weights = np.array([[-10_000.0], [-10_000.0 + math.log(3.0)]], dtype=np.float32)
    # Naively the weights underflow to 0 and the log to -inf.
    with np.errstate(divide="ignore"):
        assert np.log(np.mean(np.exp(log_weights))) == -np.inf
    # mean(e^a, 3 e^a) = 2 e^a
    assert log_mean_exp(log_weights, axis=0).numpy() == pytest.approx([-10_000.0 + math.log(2.0)])
    assert log_mean_exp(np.array([1e4, 1e4], dtype=np.float64)).numpy() == pytest.approx(1e4)


def test_bernoulli_log_likelihood_is_tfp_bernoulli_on_binary_pixels_and_minus_bce_on_grey():
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 8.0, size=(3, 784)).astype(np.float32)
    binary = (rng.uniform(size=(3, 784)) < 0.3).astype(np.float32)
    pixels = tfp.distributions.Independent(tfp.distributions.Bernoulli(logits=logits), 1)
    assert bernoulli_log_likelihood(binary, logits).numpy() == pytest.approx(pixels.log_prob(binary).numpy(), rel=1e-5)
    grey = rng.uniform(size=(3, 784)).astype(np.float32)
    probabilities = 1 / (1 + np.exp(-logits.astype(np.float64)))
    by_hand = np.sum(grey * np.log(probabilities) + (1 - grey) * np.log1p(-probabilities), axis=-1)
    assert bernoulli_log_likelihood(grey, logits).numpy() == pytest.approx(by_hand, rel=1e-5)
    # x (B, 784) broadcasts against logits (S, B, 784)
    assert bernoulli_log_likelihood(grey, np.stack([logits, logits])).shape == (2, 3)


def test_draws_depend_only_on_the_image_index_and_nest_in_k():
    assert np.array_equal(standard_normal_draws([4, 7], 10, 2)[:, 1], standard_normal_draws([7], 10, 2)[:, 0])
    assert np.array_equal(standard_normal_draws([7], 10, 2)[:3], standard_normal_draws([7], 3, 2))
    assert not np.array_equal(standard_normal_draws([7], 3, 2, seed=1), standard_normal_draws([7], 3, 2))


def test_the_grid_integral_gets_the_cell_area_right():
    class ConstantDecoder:  # p(x|z) does not depend on z, so log p(x) = log p(x|z) + log P(grid) ~= log p(x|z)
        latent_dim = 2

        @staticmethod
        def decode_logits(z):
            return tf.zeros((tf.shape(z)[0], 784)) + tf.linspace(-3.0, 3.0, 784)

    x = np.random.default_rng(1).uniform(size=(2, 784)).astype(np.float32)
    expected = bernoulli_log_likelihood(x, tf.linspace(-3.0, 3.0, 784)[None]).numpy()
    result = grid_log_marginal(ConstantDecoder(), x, extent=7.0, points=71)
    assert result["log_px"] == pytest.approx(expected, abs=1e-3)
    assert result["coarse_log_px"] == pytest.approx(expected, abs=1e-3)


def test_the_grid_matrix_product_equals_summing_the_cross_entropy(vae, test_images):
    grid, spacing = latent_grid(2.0, 21)
    logits = vae.decode_logits(tf.constant(grid)).numpy().astype(np.float64)
    log_joint = np.stack([bernoulli_log_likelihood(image.astype(np.float64), logits).numpy()
                          for image in test_images[:3]], axis=1)
    log_joint += -0.5 * np.sum(grid.astype(np.float64) ** 2, axis=1, keepdims=True) - math.log(2 * math.pi)
    by_sum = np.log(np.sum(np.exp(log_joint - log_joint.max(axis=0)), axis=0)) + log_joint.max(axis=0)
    assert grid_log_marginal(vae, test_images[:3], extent=2.0, points=21)["log_px"] == pytest.approx(
        by_sum + 2 * math.log(spacing), abs=2e-3)


def test_chunked_results_equal_unchunked(vae, test_images):
    whole = importance_sampled(vae, test_images, 60, images_per_chunk=6, samples_per_chunk=60)
    pieces = importance_sampled(vae, test_images, 60, images_per_chunk=4, samples_per_chunk=7)
    assert {"neg_elbo", "iwae"} <= set(whole) and set(pieces) == set(whole)
    for name in whole:
        np.testing.assert_allclose(pieces[name], whole[name], rtol=1e-5, err_msg=name)
    whole_grid = grid_log_marginal(vae, test_images, **GRID, points_per_chunk=10**6)
    pieces_grid = grid_log_marginal(vae, test_images, **GRID, points_per_chunk=1000)
    for name in ("log_px", "coarse_log_px"):
        np.testing.assert_allclose(pieces_grid[name], whole_grid[name], rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(pieces_grid["boundary_mass"], whole_grid["boundary_mass"], rtol=1e-3, atol=1e-9)


def test_one_sample_iwae_is_the_elbo_in_expectation(vae, test_images):
    x = tf.constant(test_images)
    z_mean, z_log_var = vae.encoder(x)
    log_weights, _ = importance_log_weights(x, z_mean, z_log_var, tf.random.normal((4000, 6, 2), seed=3),
                                            vae.decode_logits)
    iwae_1 = log_weights.numpy()  # (4000, 6): 4000 draws of IWAE_1 per image
    elbo = -importance_sampled(vae, test_images, 4000, seed=5)["neg_elbo"]  # analytic KL
    standard_error = iwae_1.std(axis=0) / math.sqrt(len(iwae_1))
    assert np.all(np.abs(iwae_1.mean(axis=0) - elbo) < 4 * standard_error + 0.05)


def test_iwae_climbs_toward_the_grid_value_and_the_elbo_stays_below_both(vae, test_images):
    grid = grid_log_marginal(vae, test_images, **GRID)
    # The grid is converged: halving the points changes nothing, and no mass sits on its edge.
    assert np.max(np.abs(grid["log_px"] - grid["coarse_log_px"])) < 1e-3
    assert np.max(grid["boundary_mass"]) < 1e-6
    log_px = grid["log_px"]
    # This barely trained encoder is a poor proposal, so IWAE_K is noisy: repeat it with 5 seeds.
    seeds = range(5)
    iwae = {k: np.stack([importance_sampled(vae, test_images, k, seed=seed)["iwae"] for seed in seeds])
            for k in (1, 10, 100, 1000)}  # (seeds, images)
    elbo = -importance_sampled(vae, test_images, 1000)["neg_elbo"]
    gaps = {k: float(np.mean(log_px - bound)) for k, bound in iwae.items()}
    # The standard error of gaps[1000], from the spread over seeds of each image's IWAE_1000.
    noise = float(np.sqrt(np.sum(np.var(iwae[1000], axis=0, ddof=1) / len(seeds))) / len(log_px))
    print(f"log p(x) - IWAE_K, nats: {gaps}, noise {noise:.3f}; log p(x) - ELBO: {np.mean(log_px - elbo):.3f}")
    assert gaps[1] > gaps[10] > gaps[100] > gaps[1000]  # each bound tighter...
    assert gaps[1000] > -3 * noise  # ...but not above log p(x)...
    assert gaps[1000] < 0.2 * gaps[1]  # ...and close to it
    assert np.all(elbo < log_px) and np.all(elbo < iwae[1000].mean(axis=0))  # the ELBO stays below both


@pytest.fixture(scope="module")
def run(copy_of_tiny_run):
    """A copy of the shared tiny run: the command writes evaluation.json into it."""
    return copy_of_tiny_run()


@pytest.fixture(scope="module")
def evaluated(run):
    assert main([str(run), "--k", "20", "--limit", "30", "--exact", "--grid-extent", "6",
                 "--grid-points", "101", "--verbose", "0"]) == 0
    return run / "evaluation.json"


def test_cli_writes_evaluation_json_with_overall_and_per_class_numbers(evaluated, capsys):
    evaluation = json.loads(evaluated.read_text())
    overall = evaluation["overall"]
    assert evaluation["test_images"] == 30 and evaluation["k"] == 20 and evaluation["grid"]["points_per_axis"] == 101
    assert overall["neg_elbo_nats"] == pytest.approx(overall["reconstruction_nats"] + overall["kl_nats"])
    assert overall["neg_elbo_nats"] > overall["neg_iwae_nats"] > overall["neg_log_px_grid_nats"] - 0.05
    assert overall["neg_iwae_bits_per_dim"] == pytest.approx(bits_per_pixel(overall["neg_iwae_nats"]))
    per_class = evaluation["per_class"]
    assert sum(values["images"] for values in per_class.values()) == 30
    for name in ("neg_elbo_nats", "neg_iwae_nats", "neg_log_px_grid_nats"):
        weighted = sum(values["images"] * values[name] for values in per_class.values()) / 30
        assert weighted == pytest.approx(overall[name])


def test_progress_off_a_terminal_is_plain_lines(run, tmp_path, capsys):
    assert main([str(run), "--k", "5", "--limit", "20", "--exact", "--grid-extent", "4", "--grid-points", "21",
                 "--out", str(tmp_path / "e.json"), "--verbose", "1"]) == 0
    out = capsys.readouterr().out  # captured: not a terminal, as in a pipe or a log file
    assert "\x1b" not in out and "\b" not in out and "\r" not in out
    assert "20/20 images (100%)" in out and "441/441 grid points (100%)" in out


def test_cli_never_overwrites_an_evaluation_without_overwrite(evaluated, run, refused):
    before = evaluated.read_bytes()
    refused(main, [str(run), "--k", "2", "--limit", "3", "--verbose", "0"],
            f"error: {evaluated.parent} already has evaluation.json; pass --overwrite")
    assert evaluated.read_bytes() == before
    assert main([str(run), "--k", "2", "--limit", "3", "--verbose", "0", "--overwrite"]) == 0
    assert json.loads(evaluated.read_text())["test_images"] == 3


def test_cli_out_names_a_file_or_a_directory(tiny_run, tmp_path):
    quick = [str(tiny_run), "--k", "2", "--limit", "2", "--verbose", "0"]
    assert main([*quick, "--out", str(tmp_path / "a.json")]) == 0
    assert main([*quick, "--out", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "a.json").read_text())["k"] == 2
    assert json.loads((tmp_path / "b" / "evaluation.json").read_text())["k"] == 2


@pytest.fixture(scope="module")
def three_dimensional_run(tmp_path_factory):
    return train(TrainConfig(limit=256, epochs=1, latent_dim=3), tmp_path_factory.mktemp("runs") / "d3", verbose=0)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["{missing}"], "is not a directory"),
        (["{empty}"], "is not a finished vae_tf run directory"),
        (["{three}", "--exact"], "latent size 3; drop --exact"),
        (["{small}", "--k", "0"], "argument --k: '0' must be at least 1"),
        (["{small}", "--k", "many"], "argument --k: 'many' is not an integer"),
        (["{small}", "--grid-points", "100"], "must be odd"),
        (["{small}", "--grid-extent", "-1"], "'-1' must be greater than 0"),
        (["{small}", "--limit", "0"], "must be at least 1"),
    ],
)
def test_cli_rejects_bad_input_in_one_line(arguments, message, tiny_run, three_dimensional_run, tmp_path, refused):
    places = {"missing": tmp_path / "nowhere", "empty": tmp_path, "three": three_dimensional_run, "small": tiny_run}
    argv = [argument.format(**places) for argument in arguments] + ["--verbose", "0", "--out", str(tmp_path / "e.json")]
    err = refused(main, argv, message)
    assert err.startswith("error: ") and err.count("\n") == 1  # no usage lines either: this parser prints one
    assert not (tmp_path / "e.json").exists()


def test_the_command_fails_without_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "vae_tf.evaluate", str(tmp_path / "nowhere")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in result.stderr
