"""Defaults that learn off the report's setup, and a run that says how well it learned.

- `vae_tf.config.defaults`: the report's configuration keeps the report's defaults; other data or
  another architecture get a learning rate, a loss, a latent size and epochs that train; a setting
  the user gives always wins; the run's first line and config.json say what was chosen and why.
- `vae_tf.training.explained`: every run ends with the share of the test images' pixel variance its
  reconstructions explain, against each image's mean colour and PCA, in summary.json, and warns
  (with the likely fix) when the model does no better; `evaluate` prints the same.

The runs are tiny (256 of scikit-learn's 8 x 8 digits, one epoch), in this process.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vae_tf.config import TrainConfig
from vae_tf.config.defaults import ADAM_LEARNING_RATE, LATENT_DIM, TARGET_STEPS, choose, describe, given_settings
from vae_tf.training import explained
from vae_tf.training.explained import explained_variance, explained_warning

OLD_RUNS = Path(__file__).resolve().parent / "fixtures" / "runs-d0f4593"
TINY = ["--dataset", "digits", "--limit", "256", "--batch-size", "64", "--epochs", "1", "--verbose", "0"]


def test_the_reports_configuration_keeps_the_reports_defaults():
    settings, record = choose(TrainConfig(), given=set(), train_images=60_000)
    assert settings == TrainConfig()  # Fashion-MNIST, the MLP: 1e-4, 10 epochs, the report's loss, latent size 2
    assert record["learning_rate"] == {"value": 1e-4, "source": "the report's"}
    assert describe(record) == ""  # nothing chosen: the first line says nothing more


def test_other_data_get_defaults_that_learn_with_their_reasons():
    settings, record = choose(TrainConfig(dataset="digits"), given={"dataset"}, train_images=1500)
    steps = -(-1500 // 128)  # 12 batches of 128 per epoch
    assert (settings.learning_rate, settings.reduction, settings.latent_dim) == (ADAM_LEARNING_RATE, "elbo", LATENT_DIM)
    assert settings.epochs == -(-TARGET_STEPS // steps)
    assert "learning rate 1e-3 (Keras' Adam default; the report's 1e-4 is for its MLP)" in describe(record)
    assert f"epochs {settings.epochs} (about {TARGET_STEPS:,} steps of 12 batches of 128)" in describe(record)
    # another architecture on the report's data is not the report's configuration either
    conv, _ = choose(TrainConfig(architecture="conv"), given={"architecture"}, train_images=60_000)
    assert conv.learning_rate == ADAM_LEARNING_RATE and conv.epochs >= 2


def test_a_setting_the_user_gives_always_wins_even_at_the_reports_value():
    given = given_settings(_parser(), ["--dataset", "digits", "--learning-rate", "1e-4", "--epochs", "10"])
    assert given == {"dataset", "learning_rate", "epochs"}
    settings, record = choose(TrainConfig(dataset="digits"), given, train_images=1500)
    assert (settings.learning_rate, settings.epochs, settings.reduction) == (1e-4, 10, "elbo")
    assert record["learning_rate"]["source"] == record["epochs"]["source"] == "given"
    # the Python API's TrainConfig is taken as it is unless `given` says otherwise
    assert choose(TrainConfig(dataset="digits"), None, 1500)[0] == TrainConfig(dataset="digits")


def _parser():
    from vae_tf.train import build_parser

    return build_parser()


@pytest.fixture(scope="module")
def learned_nothing(tmp_path_factory):
    """A tiny digits run at learning rate 1e-7 (it cannot learn), and what `train` printed."""
    import contextlib
    import io

    from vae_tf.train import main

    out = tmp_path_factory.mktemp("defaults") / "lr1e-7"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main([*TINY, "--learning-rate", "1e-7", "--out", str(out)]) == 0
    return out, printed.getvalue()


def test_the_first_line_and_config_json_say_which_defaults_were_chosen(learned_nothing):
    out, printed = learned_nothing
    first = printed.splitlines()[0]
    assert "defaults chosen (docs/defaults.md): reduction elbo" in first
    assert "latent size 8 (" in first and "learning rate" not in first and "epochs" not in first  # given
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["defaults"]["reduction"] == {"value": "elbo", "source": config["defaults"]["reduction"]["source"]}
    assert config["defaults"]["learning_rate"] == {"value": 1e-7, "source": "given"}
    assert config["config"]["reduction"] == "elbo" and config["config"]["latent_dim"] == LATENT_DIM


def test_a_run_that_learned_nothing_ends_with_the_warning_and_its_fix(learned_nothing):
    out, printed = learned_nothing
    last = printed.splitlines()[-3:]
    assert any(line.startswith("pixel variance of 297 test images explained by the reconstructions: ")
               for line in last)
    warning = next(line for line in last if line.startswith("warning: "))
    assert "no better than the average test image (0.0%)" in warning  # digits: a flat image is worse still
    assert "likely fix: a larger --learning-rate" in warning
    explained = json.loads((out / "summary.json").read_text(encoding="utf-8"))["explained_variance"]
    assert explained["model"] < explained["mean_colour"] < explained["pca"] <= 1
    assert explained["pca_components"] == LATENT_DIM and explained["warning"] == warning


def test_evaluate_prints_the_same_figures_and_warning(learned_nothing, tmp_path, capsys):
    from vae_tf import evaluate

    out, _ = learned_nothing
    assert evaluate.main([str(out), "--k", "2", "--out", str(tmp_path / "e.json"), "--verbose", "0"]) == 0
    printed = capsys.readouterr().out
    evaluation = json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))["explained_variance"]
    assert evaluation["explained_variance"]["model"] == pytest.approx(summary["model"], abs=1e-6)
    assert evaluation["explained_variance"]["warning"] in printed.splitlines()


def test_a_model_that_reconstructs_is_not_warned_about_and_one_that_draws_grey_is():
    rng = np.random.default_rng(0)
    # images of one brightness each, plus a little noise: the mean colour explains most of their variance
    train, test = (np.clip(rng.uniform(size=(n, 1, 1, 1)) + 0.1 * rng.normal(size=(n, 4, 4, 1)), 0, 1)
                   for n in (200, 50))

    def model(decode):
        return SimpleNamespace(image_shape=(4, 4, 1), latent_dim=2, encode=lambda x: (x, x), decode=decode)

    perfect = explained_variance(model(lambda z: z), test, train)
    assert perfect["model"] == pytest.approx(1.0) and explained_warning(perfect, {}) is None
    grey = explained_variance(model(lambda z: np.full_like(z, 0.5)), test, train)
    assert grey["model"] < 0.05 < 0.5 < grey["mean_colour"] < grey["pca"]
    warning = explained_warning(grey, {"reduction": "report", "regularizer": "kl"})
    assert "no better than each image's mean colour" in warning and "likely fix: --reduction elbo" in warning


def test_an_old_run_without_the_record_still_opens(tmp_path):
    from vae_tf.rundir import Run

    run = Run.open(shutil.copytree(OLD_RUNS / "mlp-digits", tmp_path / "old"))
    assert "defaults" not in run.config and run.settings["learning_rate"] > 0
    assert "explained_variance" not in json.loads((run.path / "summary.json").read_text(encoding="utf-8"))


def test_the_pca_baseline_of_large_images_is_fitted_on_fewer_of_them(monkeypatch):
    # Its float64 copies would otherwise grow with the image size: 5,000 images of 64 x 64 x 3 are 2 GB with them.
    assert explained.pca_images(28 * 28) == explained.PCA_IMAGES == 5000  # Fashion-MNIST: as before
    assert explained.pca_images(64 * 64 * 3) == 1627
    fitted = []
    monkeypatch.setattr(explained, "top_components", lambda rows, count: fitted.append(rows.shape) or rows[:count])
    explained.pca_baseline(np.zeros((3000, 64 * 64 * 3), np.uint8), np.zeros((2, 64 * 64 * 3), np.uint8), 2)
    explained.pca_baseline(np.zeros((3000, 28 * 28), np.uint8), np.zeros((2, 28 * 28), np.uint8), 2)
    assert fitted == [(1627, 64 * 64 * 3), (3000, 28 * 28)]
