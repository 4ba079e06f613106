"""`python -m vae_tf.train` end to end, on subsets of the real data."""

import dataclasses
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from vae_tf.config import TrainConfig
from vae_tf.rundir import RUN_FILES, Run, read_history
from vae_tf.train import main
from vae_tf.training.run import train


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "vae_tf.train", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "quick"
    result = run_cli("--limit", "1000", "--epochs", "3", "--batch-size", "100", "--regularizer", "mse",
                     "--seed", "7", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_cli_run_writes_every_file_of_the_run_directory(cli_run):
    out, stdout = cli_run
    assert sorted(path.name for path in out.iterdir()) == sorted(RUN_FILES)  # and nothing else: no leftovers
    assert stdout.strip().endswith(f"run directory: {out}")
    assert stdout.count("10/10") == 3  # 1000 images / batch 100 = 10 steps, for 3 epochs
    config = json.loads((out / "config.json").read_text())
    assert config["config"] == {**TrainConfig().to_dict(), "regularizer": "mse", "epochs": 3,
                                "batch_size": 100, "limit": 1000, "seed": 7}
    assert config["data"]["train_images"] == 60000 and config["data"]["found"] in ("keras_cache", "debian")
    assert config["data"]["source"] == "fashion_mnist" and config["data"]["image_shape"] == [28, 28, 1]
    assert {"tensorflow", "keras", "tensorflow_probability", "vae_tf"} <= set(config["versions"])
    assert config["command"][-2:] == ["--out", str(out)]


def test_history_matches_what_fit_printed(cli_run):
    out, stdout = cli_run
    printed = [dict(re.findall(r"(\w+_?\w*): ([0-9.e+-]+)", line)) for line in stdout.splitlines()
               if line.startswith("10/10")]
    history = read_history(out / "history.csv")
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert len(printed) == 3, stdout  # fit's last line of each epoch
    assert list(history[0]) == ["epoch", "loss", "reconstruction_loss", "kl_loss", "mse_loss", "seconds"]
    for shown, row in zip(printed, history):
        for name in ("loss", "reconstruction_loss", "kl_loss", "mse_loss"):
            assert float(shown[name]) == pytest.approx(row[name], abs=6e-5), name
        assert row["seconds"] > 0


def test_run_files_are_written_with_the_users_permissions(tiny_run):
    # Atomic writes go through a temporary file; the result still gets the umask's usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    assert all((tiny_run / name).is_file() for name in RUN_FILES)
    assert os.stat(tiny_run / "summary.json").st_mode & 0o777 == 0o666 & ~umask


def test_latents_and_summary_describe_the_training_images(cli_run, fashion_mnist):
    out, _ = cli_run
    run = Run.open(out)
    latents = run.latents()
    assert {name: latents[name].shape for name in latents} == {
        "z_mean": (1000, 2), "z_log_var": (1000, 2), "z": (1000, 2), "y": (1000,)}
    (_, y_train), _ = fashion_mnist
    np.testing.assert_array_equal(latents["y"], y_train[:1000])
    # z is sampled: it differs from the mean by about one posterior standard deviation.
    standardised = (latents["z"] - latents["z_mean"]) / np.exp(0.5 * latents["z_log_var"])
    assert 0.9 < standardised.std() < 1.1 and abs(standardised.mean()) < 0.1
    np.testing.assert_allclose(run.summary["z"]["min"], latents["z"].min(axis=0))
    np.testing.assert_allclose(run.summary["z"]["std"], latents["z"].std(axis=0), rtol=1e-6)
    assert run.summary["final"]["loss"] == read_history(out / "history.csv")[-1]["loss"]
    assert run.summary["device"].startswith(("CPU", "GPU"))


def test_the_saved_model_encodes_like_the_saved_latents(cli_run, fashion_mnist):
    out, _ = cli_run
    (x_train, _), _ = fashion_mnist
    model = Run.open(out).model()
    z_mean, _ = model.encoder(x_train[:1000].reshape(1000, 784) / 255.0)
    np.testing.assert_allclose(z_mean, Run.open(out).latents()["z_mean"], rtol=1e-5, atol=1e-6)


def test_same_seed_same_history_and_another_seed_differs(tiny_run, tmp_path):
    # The settings in a run's config.json are all it takes to train it again.
    config = TrainConfig.from_dict(Run.open(tiny_run).settings)
    again = train(config, tmp_path / "again", verbose=0)
    other_seed = train(dataclasses.replace(config, seed=config.seed + 1), tmp_path / "other", verbose=0)
    a, b, c = (read_history(run / "history.csv") for run in (tiny_run, again, other_seed))
    assert [row["epoch"] for row in a] == [row["epoch"] for row in b] == [row["epoch"] for row in c] == [1, 2]
    for row_a, row_b, row_c in zip(a, b, c):
        for name in ("loss", "reconstruction_loss", "kl_loss"):
            assert row_a[name] == pytest.approx(row_b[name], rel=1e-5)
        assert row_a["loss"] != pytest.approx(row_c["loss"], rel=1e-5)
    np.testing.assert_allclose(Run.open(tiny_run).latents()["z"], Run.open(again).latents()["z"],
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("args, reason", [
    (["--epochs", "0"], "argument --epochs: '0' must be at least 1"),
    (["--epochs", "-3"], "argument --epochs: '-3' must be at least 1"),
    (["--batch-size", "0"], "argument --batch-size: '0' must be at least 1"),
    (["--latent-dim", "0"], "argument --latent-dim: '0' must be at least 1"),
    (["--learning-rate", "0"], "argument --learning-rate: '0' must be greater than 0"),
    (["--learning-rate", "fast"], "argument --learning-rate: 'fast' is not a number"),
    (["--learning-rate", "inf"], "argument --learning-rate: 'inf' is not a finite number"),
    (["--regularizer", "kld"], "argument --regularizer: invalid choice: 'kld'"),
    (["--reduction", "mean"], "argument --reduction: invalid choice: 'mean'"),
    (["--beta", "-1"], "argument --beta: '-1' must be at least 0"),
    (["--limit", "0"], "argument --limit: '0' must be at least 1"),
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
])
def test_invalid_values_are_refused_by_the_parser(args, reason, tmp_path, refused):
    refused(main, [*args, "--out", str(tmp_path / "never")], reason)
    assert not (tmp_path / "never").exists()


def test_existing_out_directory_is_never_overwritten_without_asking(tmp_path, refused):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    refused(main, ["--limit", "300", "--epochs", "1", "--out", str(out), "--verbose", "0"],
            "already exists and is not empty")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]

    assert main(["--limit", "300", "--epochs", "1", "--out", str(out), "--verbose", "0", "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "my notes"
    assert all((out / name).is_file() for name in RUN_FILES)


def test_mirrored_strategy_trains_and_says_so(tmp_path):
    result = run_cli("--strategy", "mirrored", "--limit", "600", "--epochs", "1", "--out", str(tmp_path / "m"))
    assert result.returncode == 0, result.stderr
    assert "replica" in result.stdout.splitlines()[0] and "training on CPU" in result.stdout
    assert json.loads((tmp_path / "m" / "config.json").read_text())["config"]["strategy"] == "mirrored"


def test_multiworker_strategy_trains_from_tf_config(tmp_path):
    import socket

    with socket.socket() as probe:  # a free port for this one-worker cluster
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    tf_config = {"cluster": {"worker": [f"localhost:{port}"]}, "task": {"type": "worker", "index": 0}}
    result = subprocess.run(
        [sys.executable, "-m", "vae_tf.train", "--strategy", "multiworker", "--limit", "600", "--epochs", "1",
         "--out", str(tmp_path / "w")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CONFIG": json.dumps(tf_config)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert ", 1 replica;" in result.stdout.splitlines()[0]  # then the loss audit
    assert (tmp_path / "w" / "model.keras").is_file()
