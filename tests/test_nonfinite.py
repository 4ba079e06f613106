"""Training that diverges stops at once, says where and why, and leaves no finished-looking run."""

import pytest

from vae_tf.config import TrainConfig
from vae_tf.core.errors import NonFiniteLoss
from vae_tf.training.run import train


def test_a_non_finite_loss_stops_training_and_names_where(tmp_path):
    out = tmp_path / "diverged"
    with pytest.raises(NonFiniteLoss) as caught:
        train(TrainConfig(limit=1024, epochs=3, batch_size=32, learning_rate=1e12, reduction="elbo"), out, verbose=0)
    message = str(caught.value)
    assert "the loss became non-finite at epoch 1, step" in message
    assert "learning rate too high" in message
    assert not (out / "model.keras").exists() and not (out / "summary.json").exists()
