"""KL schedules, free bits and the capacity target: the formulas, the weight each compiled step uses, resume."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vae_tf.config import TrainConfig
from vae_tf.models.losses import free_bits_kl, vae_losses
from vae_tf.models.schedules import KLSchedule
from vae_tf.models.vae import VAE
from vae_tf.rundir import read_history
from vae_tf.training import engine
from vae_tf.training.callbacks import EpochCheckpoint
from vae_tf.training.loops import attach
from vae_tf.training.run import resume, train


def test_the_formulas_at_hand_picked_steps():
    # 10 steps per epoch: linear over 2 epochs reaches beta at step 20.
    linear = KLSchedule(beta=3.0, schedule="linear", warmup_epochs=2, steps_per_epoch=10)
    assert [float(linear.weight(s)) for s in (0, 5, 10, 20, 35)] == pytest.approx([0, 0.75, 1.5, 3.0, 3.0])
    # 4 epochs of 10 steps in 2 cycles of 20 steps, each ramping over its first half (10 steps).
    cyclical = KLSchedule(beta=2.0, schedule="cyclical", cycles=2, ramp_fraction=0.5, steps_per_epoch=10, epochs=4)
    assert [float(cyclical.weight(s)) for s in (0, 5, 10, 19, 20, 25, 39)] == pytest.approx([0, 1, 2, 2, 0, 1, 2])
    capacity = KLSchedule(capacity=25.0, capacity_epochs=5, steps_per_epoch=10)
    assert [float(capacity.capacity_target(s)) for s in (0, 10, 50, 80)] == pytest.approx([0, 5, 25, 25])
    assert KLSchedule(beta=0.5).at(7) == {"beta": 0.5, "capacity": None}  # constant: plain Python numbers
    with pytest.raises(ValueError, match="give steps_per_epoch"):
        VAE(beta_schedule="linear")


def test_free_bits_floors_each_dimensions_batch_mean_kl():
    # z_log_var = 0: KL of one dimension is z_mean^2 / 2. Dimension 1: (1/2 + 9/2) / 2 = 2.5; dimension 2: 0.
    z_mean = tf.constant([[1.0, 0.0], [3.0, 0.0]])
    z_log_var = tf.zeros((2, 2))
    assert float(free_bits_kl(z_mean, z_log_var, 0.5)) == pytest.approx(2.5 + 0.5)
    assert float(free_bits_kl(z_mean, z_log_var, 3.0)) == pytest.approx(3.0 + 3.0)
    x, logits = tf.fill((2, 784), 0.5), tf.zeros((2, 784))
    plain = vae_losses(x, logits, z_mean, z_log_var, reduction="elbo", beta=2.0)
    assert float(plain["kl_loss"]) == pytest.approx(2.5)
    floored = vae_losses(x, logits, z_mean, z_log_var, reduction="elbo", beta=2.0, free_bits=0.5, capacity=1.0)
    assert float(floored["kl_loss"]) == pytest.approx(2.5)  # the tracked KL stays the true one
    assert float(floored["loss"] - floored["reconstruction_loss"]) == pytest.approx(2.0 * abs(3.0 - 1.0))


class RecordingVAE(VAE):
    """Writes what every step's loss used (beta_t, C_t, loss, reconstruction, KL) into a variable, by step."""

    def __init__(self, total_steps, **kwargs):
        super().__init__(**kwargs)
        self.record = tf.Variable(tf.fill((total_steps, 5), -1.0), trainable=False)

    def update_trackers(self, losses):
        step = tf.cast(self.optimizer.iterations, tf.int32) - 1  # the step just taken
        capacity = losses.get("capacity", tf.constant(0.0))
        row = tf.stack([losses["beta"], capacity, losses["loss"], losses["reconstruction_loss"], losses["kl_loss"]])
        self.record.scatter_nd_update([[step]], [row])
        return super().update_trackers(losses)


@pytest.mark.parametrize("settings, expected_beta, expected_capacity", [
    # 21 steps per epoch, 3 epochs: steps s = 0..62.
    ({"beta_schedule": "linear", "warmup_epochs": 2.0, "capacity": 4.0, "capacity_epochs": 1.5},
     lambda s: 1.5 * np.minimum(1, s / 42), lambda s: 4.0 * np.minimum(1, s / 31.5)),
    ({"beta_schedule": "cyclical", "cycles": 2, "ramp_fraction": 0.5},
     lambda s: 1.5 * np.minimum(1, ((2 * s) % 63 / 63) / 0.5), lambda s: 0 * s),
])
def test_each_compiled_step_uses_the_schedules_weight(settings, expected_beta, expected_capacity, fashion_mnist):
    images = fashion_mnist[0][0][:672].reshape(-1, 784)  # 21 batches of 32
    config = TrainConfig(epochs=3, batch_size=32, beta=1.5, learning_rate=1e-3, **settings)
    steps = engine.steps_per_epoch(len(images), config.batch_size)
    options = engine.compile_options(config, len(images))
    assert options["jit_compile"] and options["steps_per_execution"] > 1  # the fast path: XLA, many steps a call
    keras.utils.set_random_seed(0)
    vae = RecordingVAE(steps * config.epochs, **config.model_settings(), steps_per_epoch=steps, epochs=config.epochs)
    vae.compile(optimizer=keras.optimizers.Adam(config.learning_rate), **options)
    attach(vae)  # the loop over a call's batches that fit_inputs' dataset needs (build_vae attaches it)
    history = vae.fit(**engine.fit_inputs(images, config), epochs=config.epochs, verbose=0).history

    beta, capacity, loss, reconstruction, kl = vae.record.numpy().T
    s = np.arange(steps * config.epochs)
    np.testing.assert_allclose(beta, expected_beta(s), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(capacity, expected_capacity(s), rtol=1e-6, atol=1e-6)
    assert len(set(np.round(beta, 6))) > 10  # it changes within a call, not once per call
    # ... and it is the weight of the loss that was minimised.
    np.testing.assert_allclose(loss, reconstruction + beta * np.abs(kl - capacity), rtol=1e-5)
    # history.csv's beta is the epoch's mean weight.
    np.testing.assert_allclose(history["beta"], expected_beta(s).reshape(3, steps).mean(axis=1), rtol=1e-5)


RESUMABLE = TrainConfig(limit=2000, epochs=3, beta_schedule="linear", warmup_epochs=2.5, free_bits=0.1,
                        deterministic=True)


def test_a_run_resumed_mid_warm_up_is_the_uninterrupted_run(tmp_path, monkeypatch):
    whole = train(RESUMABLE, tmp_path / "whole", verbose=0)

    save = EpochCheckpoint.on_epoch_end

    def stop_after_the_first_epoch(self, epoch, logs=None):
        save(self, epoch, logs)
        raise KeyboardInterrupt

    monkeypatch.setattr(EpochCheckpoint, "on_epoch_end", stop_after_the_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(RESUMABLE, tmp_path / "cut", verbose=0)
    monkeypatch.setattr(EpochCheckpoint, "on_epoch_end", save)
    assert not (tmp_path / "cut" / "model.keras").exists()
    resumed = resume(tmp_path / "cut", verbose=0)

    rows = [[{k: v for k, v in row.items() if k != "seconds"} for row in read_history(run / "history.csv")]
            for run in (whole, resumed)]
    assert [row["epoch"] for row in rows[1]] == [1, 2, 3]
    assert rows[0] == rows[1]
    assert 0 < rows[1][1]["beta"] < 1  # epoch 2 is mid-warm-up
    models = [keras.models.load_model(run / "model.keras") for run in (whole, resumed)]
    assert int(models[1].optimizer.iterations) == 3 * 16
    for a, b in zip(models[0].get_weights() + models[0].optimizer.variables,
                    models[1].get_weights() + models[1].optimizer.variables, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
