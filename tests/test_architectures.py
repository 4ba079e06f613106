"""The architectures registry: the report's MLP and the convolutional encoder/decoder of Keras' VAE example."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import vae_tf
from vae_tf.benchmarks.floors import train_flops_per_image
from vae_tf.models import architectures
from vae_tf.models.vae import VAE


def layer_summary(model):
    return [(type(layer).__name__, getattr(layer, "filters", getattr(layer, "units", None)),
             getattr(layer, "strides", None)) for layer in model.layers]


def test_conv_is_the_keras_examples_shape_and_size():
    # keras-io examples/generative/vae.py: latent 2, Dense(16); its summaries give 69,076 and 65,089 weights.
    encoder, decoder = architectures.build("conv", (28, 28, 1), 2, hidden_units=16, filters=32)
    assert layer_summary(encoder) == [
        ("InputLayer", None, None), ("Reshape", None, None), ("Conv2D", 32, (2, 2)), ("Conv2D", 64, (2, 2)),
        ("Flatten", None, None), ("Dense", 16, None), ("Dense", 2, None), ("Dense", 2, None)]
    assert layer_summary(decoder) == [
        ("InputLayer", None, None), ("Dense", 7 * 7 * 64, None), ("Reshape", None, None),
        ("Conv2DTranspose", 64, (2, 2)), ("Conv2DTranspose", 32, (2, 2)), ("Conv2DTranspose", 1, (1, 1)),
        ("Flatten", None, None), ("Activation", None, None)]
    assert encoder.count_params() == 69076 and decoder.count_params() == 65089


@pytest.mark.parametrize("image_shape", [(28, 28, 1), (32, 32, 3), (30, 30, 3), (7, 5, 2)])
def test_conv_takes_any_image_size_and_channel_count(image_shape):
    pixels = int(np.prod(image_shape))
    encoder, decoder = architectures.build("conv", image_shape, 3, hidden_units=8, filters=4)
    z_mean, z_log_var = encoder(tf.random.uniform((5, pixels)))
    assert z_mean.shape == z_log_var.shape == (5, 3)
    z = tf.random.normal((5, 3))
    probabilities = decoder(z)
    assert probabilities.shape == (5, pixels)
    np.testing.assert_allclose(tf.sigmoid(architectures.decoder_logits(decoder, z)), probabilities, rtol=1e-6)
    # Sizes not divisible by 4: the decoder builds ceil(H/4)*4 x ceil(W/4)*4 and crops the bottom and right.
    cropped = [layer for layer in decoder.layers if isinstance(layer, keras.layers.Cropping2D)]
    extra = (-image_shape[0] % 4, -image_shape[1] % 4)
    assert [layer.cropping for layer in cropped] == ([((0, extra[0]), (0, extra[1]))] if any(extra) else [])


def test_unknown_architectures_are_refused():
    with pytest.raises(ValueError, match="architecture='resnet' is not one of 'mlp', 'conv'"):
        architectures.build("resnet", (28, 28, 1), 2)
    with pytest.raises(ValueError, match="architecture='resnet'"):
        VAE(architecture="resnet")


def test_training_flops_count_every_layer():
    encoder, decoder = architectures.build("mlp", (28, 28, 1), 2, hidden_units=100)
    assert architectures.train_flops_per_image(encoder, decoder) == train_flops_per_image() == 787600
    encoder, decoder = architectures.build("conv", (28, 28, 1), 2, hidden_units=100, filters=32)
    forward = [2 * 14 * 14 * 9 * 1 * 32, 2 * 7 * 7 * 9 * 32 * 64, 2 * 3136 * 100, 2 * 100 * 2, 2 * 100 * 2,
               2 * 2 * 3136, 2 * 7 * 7 * 9 * 64 * 64, 2 * 14 * 14 * 9 * 64 * 32, 2 * 28 * 28 * 9 * 32 * 1]
    assert architectures.train_flops_per_image(encoder, decoder) == 3 * sum(forward) - forward[0]


def test_a_conv_model_with_a_continuous_bernoulli_round_trips_through_keras_files(fashion_mnist, tmp_path):
    (x_train, _), _ = fashion_mnist
    images = x_train[:128].reshape(128, -1)
    keras.utils.set_random_seed(0)
    vae = VAE(seed=0, architecture="conv", filters=8, hidden_units=16, latent_dim=3,
              likelihood="continuous_bernoulli", reduction="elbo")
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    vae.fit(images, epochs=1, batch_size=64, verbose=0)
    vae.save(tmp_path / "model.keras")
    reloaded = vae_tf.load_model(tmp_path / "model.keras")
    assert (reloaded.architecture, reloaded.filters, reloaded.likelihood_name) == ("conv", 8, "continuous_bernoulli")
    z = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    np.testing.assert_array_equal(vae.decode(z, logits=True), reloaded.decode(z, logits=True))
    for original, restored in zip(vae.encode(images[:10]), reloaded.encode(images[:10])):
        np.testing.assert_array_equal(original, restored)
    # p(x|z) is the model's likelihood, and a decoded image is its mean, not sigmoid(logits).
    likelihood = reloaded.likelihood(z)
    assert isinstance(likelihood.distribution, tfp.distributions.ContinuousBernoulli)
    assert likelihood.event_shape == (28, 28, 1) and likelihood.batch_shape == (6,)
    np.testing.assert_allclose(reloaded.decode(z), likelihood.mean(), rtol=1e-5)
    sigmoid = tf.sigmoid(reloaded.decode(z, logits=True)).numpy().reshape(6, 28, 28, 1)
    assert not np.allclose(reloaded.decode(z), sigmoid, atol=1e-3)
    reloaded.fit(images, epochs=1, batch_size=64, verbose=0)  # and it trains on


@pytest.fixture(scope="module")
def rgb_npz(tmp_path_factory):
    """A tiny RGB data set of 10 x 9 images (not a multiple of 4: the conv decoder crops)."""
    rng = np.random.default_rng(5)
    path = tmp_path_factory.mktemp("rgb") / "colours.npz"
    np.savez(path, x_train=rng.integers(0, 256, (96, 10, 9, 3), dtype=np.uint8),
             x_test=rng.integers(0, 256, (24, 10, 9, 3), dtype=np.uint8))
    return path


@pytest.mark.parametrize("likelihood", ["bernoulli", "binarized", "continuous_bernoulli"])
def test_conv_with_each_likelihood_trains_reopens_and_evaluates_on_rgb_images(rgb_npz, likelihood, tmp_path):
    from vae_tf.evaluate import main as evaluate
    from vae_tf.rundir import Run
    from vae_tf.train import main as train

    out = tmp_path / "run"
    assert train(["--dataset", f"npz:{rgb_npz}", "--architecture", "conv", "--filters", "4", "--hidden-units", "8",
                  "--latent-dim", "3", "--likelihood", likelihood, "--reduction", "elbo", "--epochs", "1",
                  "--batch-size", "32", "--verbose", "0", "--out", str(out)]) == 0
    run = Run.open(out)
    vae = run.model()
    assert (vae.architecture, vae.likelihood_name, vae.image_shape) == ("conv", likelihood, (10, 9, 3))
    z = np.zeros((2, 3), np.float32)
    assert vae.decode(z).shape == (2, 10, 9, 3) and vae.likelihood(z).event_shape == (10, 9, 3)
    assert evaluate([str(out), "--k", "8", "--limit", "12", "--out", str(tmp_path / "evaluation.json")]) == 0
    evaluation = json.loads((tmp_path / "evaluation.json").read_text())
    assert evaluation["likelihood"]["name"] == likelihood
    assert evaluation["overall"]["neg_elbo_nats"] >= evaluation["overall"]["neg_iwae_nats"]
    assert ("binarization" in evaluation["likelihood"]) == (likelihood == "binarized")


def test_the_fast_path_compiles_the_mlp_with_xla_and_the_conv_model_without():
    # XLA's CPU convolutions are many times slower than TensorFlow's own kernels (docs/models.md);
    # the report's MLP keeps XLA, so its runs stay bit for bit what they were.
    from vae_tf import evaluate
    from vae_tf.config import TrainConfig
    from vae_tf.training import engine

    assert architectures.XLA == {"mlp": True, "conv": False, "linear": True}
    for name, xla in architectures.XLA.items():
        config = TrainConfig(architecture=name, latent_dim=2)
        assert engine.compile_options(config, 1024)["jit_compile"] is xla
        assert engine.compile_options(TrainConfig(architecture=name, deterministic=True), 1024)["jit_compile"] is False
        vae = engine.build_vae(config, 1024)
        assert vae.jit_compile is xla and evaluate.uses_xla(vae) is xla
        for flag, forced in (("on", True), ("off", False)):  # --xla on / off win over the registry
            assert engine.compile_options(TrainConfig(architecture=name, xla=flag), 1024)["jit_compile"] is forced
