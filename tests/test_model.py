import keras
import numpy as np
import pytest
import tensorflow as tf

import vae_tf
from vae_tf.data import flatten_images
from vae_tf.models.vae import VAE, as_pixels


@pytest.fixture(scope="module")
def batch(fashion_mnist):
    (x_train, _), _ = fashion_mnist
    return flatten_images(x_train[:256])


def make_vae(**kwargs):
    keras.utils.set_random_seed(0)
    vae = VAE(seed=0, **kwargs)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    return vae


def test_architecture_is_the_reports():
    vae = make_vae()
    assert [layer.name for layer in vae.encoder.layers] == ["images", "encoder_hidden", "z_mean", "z_log_var"]
    assert vae.encoder.get_layer("encoder_hidden").units == 100
    assert vae.decoder.get_layer("decoder_hidden").units == 100
    assert vae.decoder.output.shape == (None, 784)
    # 784*100+100 + 2*(100*2+2) + 2*100+100 + 100*784+784
    assert vae.count_params() == 78500 + 404 + 300 + 79184


def test_decoder_gives_probabilities_whose_logits_drive_the_loss(batch):
    vae = make_vae()
    z = tf.random.normal((16, 2), stddev=5.0)
    probabilities = vae.decoder(z)
    assert float(tf.reduce_min(probabilities)) >= 0.0 and float(tf.reduce_max(probabilities)) <= 1.0
    np.testing.assert_allclose(tf.sigmoid(vae.decode_logits(z)), probabilities, rtol=1e-6)


def test_uint8_and_float_images_give_the_same_inputs(batch):
    np.testing.assert_array_equal(as_pixels(batch), (batch / 255.0).astype("float32"))
    np.testing.assert_array_equal(as_pixels(batch.reshape(-1, 28, 28)), as_pixels(batch))


def test_one_train_step_lowers_the_loss_on_the_same_noise(batch):
    for regularizer in ("kl", "none", "mse"):
        vae = make_vae(regularizer=regularizer)
        noise_state = vae.sampling.seed_generator.state.numpy()
        before = vae.compute_losses(batch)["loss"]
        vae.sampling.seed_generator.state.assign(noise_state)
        vae.train_step(batch)
        vae.sampling.seed_generator.state.assign(noise_state)
        after = vae.compute_losses(batch)["loss"]
        assert after < before, regularizer


def test_fit_logs_every_loss_term(batch):
    logs = make_vae(regularizer="mse").fit(batch, epochs=1, batch_size=128, verbose=0).history
    assert sorted(logs) == ["kl_loss", "loss", "mse_loss", "reconstruction_loss"]
    logs = make_vae().fit(batch, epochs=1, batch_size=128, verbose=0).history
    assert sorted(logs) == ["kl_loss", "loss", "reconstruction_loss"]


def test_save_and_reload_round_trip(batch, tmp_path):
    vae = make_vae(regularizer="mse", reduction="elbo", beta=0.5, latent_dim=3, hidden_units=32)
    vae.fit(batch, epochs=1, batch_size=64, verbose=0)
    path = tmp_path / "model.keras"
    vae.save(path)
    reloaded = keras.models.load_model(path)  # works because `import vae_tf` registered the class
    assert isinstance(reloaded, vae_tf.VAE)
    assert (reloaded.regularizer, reloaded.reduction, reloaded.beta, reloaded.latent_dim) == ("mse", "elbo", 0.5, 3)
    x = as_pixels(batch)
    for original, restored in zip(vae.encoder(x), reloaded.encoder(x)):
        np.testing.assert_array_equal(original, restored)
    z = tf.random.normal((8, 3))
    np.testing.assert_array_equal(vae.decoder(z), reloaded.decoder(z))
    assert int(reloaded.optimizer.iterations) == int(vae.optimizer.iterations) == 4
    reloaded.fit(batch, epochs=1, batch_size=64, verbose=0)  # and it trains on
