"""Training that survives interruption, NaNs and bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from vae_tf import rundir
from vae_tf.callbacks import NonFiniteLoss
from vae_tf.config import TrainConfig
from vae_tf.data import check_images
from vae_tf.losses import vae_losses
from vae_tf.model import VAE, as_pixels
from vae_tf.rundir import RUN_FILES, read_history
from vae_tf.train import main, train

QUICK = ["--limit", "20000", "--epochs", "4", "--deterministic", "--verbose", "2"]


def train_cli(*args, **popen):
    return subprocess.Popen([sys.executable, "-m", "vae_tf.train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def epochs_done(run_dir):
    try:
        return json.loads((run_dir / "checkpoint" / "state.json").read_text())["epochs_done"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def model_bytes(path):
    model = keras.models.load_model(path)
    return [w.tobytes() for w in model.get_weights()] + [v.numpy().tobytes() for v in model.optimizer.variables]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "whole"
    process = train_cli(*QUICK, "--out", str(out))
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    return out


def test_a_run_killed_mid_epoch_resumes_to_the_same_run(uninterrupted, tmp_path):
    out = tmp_path / "killed"
    process = train_cli(*QUICK, "--out", str(out))
    deadline = time.time() + 300
    while epochs_done(out) < 2 and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    time.sleep(0.3)  # well into epoch 3 (about 1 s per epoch here)
    process.send_signal(signal.SIGKILL)  # the machine going away: no chance to clean up
    process.communicate(timeout=60)
    assert epochs_done(out) in (2, 3), "the kill should land mid-run"
    assert not (out / "history.csv").exists() and not (out / "model.keras").exists()
    assert not list(out.rglob("*.tmp*")) or all(p.name.startswith(".") for p in out.rglob("*.tmp*"))

    resumed = train_cli("--resume", str(out))
    stdout, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr
    assert "resuming after epoch" in stdout

    whole, continued = read_history(uninterrupted / "history.csv"), read_history(out / "history.csv")
    assert [row["epoch"] for row in continued] == [1, 2, 3, 4]
    for row_whole, row_continued in zip(whole, continued):
        row_whole.pop("seconds"), row_continued.pop("seconds")
        assert row_whole == row_continued  # exactly, under --deterministic
    assert model_bytes(out / "model.keras") == model_bytes(uninterrupted / "model.keras")
    with np.load(out / "latents.npz") as a, np.load(uninterrupted / "latents.npz") as b:
        assert all(np.array_equal(a[name], b[name]) for name in a.files)
    assert not (out / "checkpoint").exists()


def test_sigterm_stops_with_a_resume_hint(tmp_path):
    out = tmp_path / "terminated"
    process = train_cli(*QUICK, "--out", str(out))
    deadline = time.time() + 300
    while epochs_done(out) < 1 and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert f"continue with `python -m vae_tf.train --resume {out}`" in stderr
    assert "Traceback" not in stderr


def test_deterministic_runs_are_identical_byte_for_byte(uninterrupted, tmp_path):
    again = tmp_path / "again"
    process = train_cli(*QUICK, "--out", str(again))
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    first, second = read_history(uninterrupted / "history.csv"), read_history(again / "history.csv")
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in first] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in second]
    assert model_bytes(again / "model.keras") == model_bytes(uninterrupted / "model.keras")


def test_a_non_finite_loss_stops_training_and_names_where(tmp_path):
    out = tmp_path / "diverged"
    with pytest.raises(NonFiniteLoss) as caught:
        train(TrainConfig(limit=1024, epochs=3, batch_size=32, learning_rate=1e12, reduction="elbo"), out, verbose=0)
    message = str(caught.value)
    assert "the loss became non-finite at epoch 1, step" in message
    assert "learning rate too high" in message
    assert not (out / "model.keras").exists() and not (out / "summary.json").exists()


def test_atomic_writes_leave_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "summary.json"
    rundir.write_json(path, {"version": 1})

    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        rundir.write_json(path, {"version": 2, "bad": Unserialisable()})
    assert json.loads(path.read_text()) == {"version": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "finished"
    train(TrainConfig(limit=500, epochs=1), out, verbose=0)
    return out


def snapshot(directory):
    return {p: p.stat().st_mtime_ns for p in directory.rglob("*")} if directory.exists() else {}


@pytest.mark.parametrize("make_args, message", [
    (lambda d: ["--resume", str(d / "missing")], "missing is not a directory"),
    (lambda d: ["--resume", str(d / "empty")], "not a vae_tf run directory (no config.json)"),
    (lambda d: ["--resume", str(d / "old")], "is format 'vae_tf.run' version 0; this vae_tf reads"),
    (lambda d: ["--resume", str(d / "nocheckpoint")], "no completed epoch was checkpointed"),
    (lambda d: ["--resume", str(d / "finished"), "--epochs", "5"], "--resume takes every setting"),
    (lambda d: ["--epochs", "0"], "must be at least 1"),
    (lambda d: ["--limit", "many"], "'many' is not an integer"),
    (lambda d: ["--strategy", "tpu"], "invalid choice: 'tpu'"),
    (lambda d: ["--devices", "/gpu:0"], "devices are only used by strategy='mirrored'"),
    (lambda d: ["--strategy", "multiworker", "--out", str(d / "new")], "needs $TF_CONFIG"),
    (lambda d: ["--out", str(d / "afile")], "is a file, not a directory"),
    (lambda d: ["--data-dir", str(d / "missing"), "--out", str(d / "new")], "Fashion-MNIST not found in"),
])
def test_bad_cli_input_is_one_line_nonzero_and_changes_nothing(make_args, message, tmp_path, finished_run,
                                                              capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("mine")
    for name, version in (("old", 0), ("nocheckpoint", 1)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({"format": "vae_tf.run", "format_version": version}))
    (tmp_path / "finished").symlink_to(finished_run)
    before = snapshot(tmp_path)
    finished_before = snapshot(finished_run)
    try:
        code = main(make_args(tmp_path))
    except SystemExit as exit_:
        code = exit_.code
    assert code not in (0, None)
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0], errors
    # nothing new and nothing touched (the one-line error is all that happens)
    new = set(snapshot(tmp_path)) - set(before)
    assert all(p.is_dir() and not any(p.iterdir()) for p in new) and snapshot(finished_run) == finished_before
    assert (tmp_path / "afile").read_text() == "mine"


def test_the_cli_prints_no_traceback_on_bad_input(tmp_path):
    (tmp_path / "run").mkdir()
    process = train_cli("--resume", str(tmp_path / "run"))
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("error: --resume")


BAD_IMAGES = [
    (np.zeros((4, 783), np.uint8), "must have shape (N, 784) or (N, 28, 28); got shape (4, 783)"),
    (np.zeros((784,), np.uint8), "got shape (784,)"),
    (np.zeros((4, 784), np.int64), "must be uint8 (0..255) or floats in [0, 1]; got dtype int64"),
    (np.full((4, 784), np.nan, np.float32), "NaN or infinite values"),
    (np.full((4, 784), 255.0), "must lie in [0, 1]"),
    (np.full((4, 784), -0.5, np.float32), "must lie in [0, 1]"),
]


@pytest.mark.parametrize("images, message", BAD_IMAGES)
def test_bad_arrays_are_refused_by_the_public_api(images, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        check_images(images)
    with pytest.raises(ValueError, match="must|NaN"):
        as_pixels(images)
    vae = VAE()
    vae.compile(optimizer="adam")
    with pytest.raises(ValueError, match="must|NaN"):
        vae.fit(images, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="must|NaN"):
        vae.compute_losses(images)


def test_good_arrays_pass():
    for images in (np.zeros((2, 784), np.uint8), np.ones((2, 28, 28), np.float32), np.zeros((0, 784))):
        assert check_images(images) is not None


def test_losses_refuse_targets_outside_zero_one():
    x = np.full((2, 784), 2.0, np.float32)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        vae_losses(x, np.zeros((2, 784), np.float32), np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32))


def test_finished_run_directory_holds_every_file(finished_run):
    assert all((finished_run / name).is_file() for name in RUN_FILES)
    assert os.stat(finished_run / "summary.json").st_mode & 0o777 == 0o666 & ~_umask()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
