"""Bad input is refused before any work: by `python -m vae_tf.train` in one line, by the API with a ValueError."""

import json
import subprocess
import sys

import numpy as np
import pytest

from vae_tf.data import check_images
from vae_tf.models.losses import vae_losses
from vae_tf.models.vae import VAE, as_pixels
from vae_tf.train import main


def snapshot(directory):
    return {p: p.stat().st_mtime_ns for p in directory.rglob("*")} if directory.exists() else {}


# The parser's refusals of single flags are in test_train.py; these need a directory or an environment.
@pytest.mark.parametrize("make_args, message", [
    (lambda d: ["--resume", str(d / "missing")], "missing is not a directory"),
    (lambda d: ["--resume", str(d / "empty")], "not a vae_tf run directory (no config.json)"),
    (lambda d: ["--resume", str(d / "old")], "is format 'vae_tf.run' version 0; this vae_tf reads"),
    (lambda d: ["--resume", str(d / "nocheckpoint")], "no completed epoch was checkpointed"),
    (lambda d: ["--resume", str(d / "finished"), "--epochs", "5"], "--resume takes every setting"),
    (lambda d: ["--limit", "many"], "'many' is not an integer"),
    (lambda d: ["--strategy", "tpu"], "invalid choice: 'tpu'"),
    (lambda d: ["--devices", "/gpu:0"], "devices are only used by strategy='mirrored'"),
    (lambda d: ["--strategy", "multiworker", "--out", str(d / "new")], "needs $TF_CONFIG"),
    (lambda d: ["--out", str(d / "afile")], "is a file, not a directory"),
    (lambda d: ["--data-dir", str(d / "missing"), "--out", str(d / "new")], "Fashion-MNIST not found in"),
])
def test_bad_cli_input_is_one_line_nonzero_and_changes_nothing(make_args, message, tmp_path, tiny_run, refused,
                                                              monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("mine")
    for name, version in (("old", 0), ("nocheckpoint", 1)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({"format": "vae_tf.run", "format_version": version}))
    (tmp_path / "finished").symlink_to(tiny_run)
    before = snapshot(tmp_path)
    finished_before = snapshot(tiny_run)
    refused(main, make_args(tmp_path), message)
    # nothing new and nothing touched (the one-line error is all that happens)
    new = set(snapshot(tmp_path)) - set(before)
    assert all(p.is_dir() and not any(p.iterdir()) for p in new) and snapshot(tiny_run) == finished_before
    assert (tmp_path / "afile").read_text() == "mine"


def test_the_cli_prints_no_traceback_from_a_real_process(tmp_path):
    # In-process, an unexpected exception would fail the test above anyway; this is the real `python -m`.
    result = subprocess.run([sys.executable, "-m", "vae_tf.train", "--data-dir", str(tmp_path / "nowhere"),
                             "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith(f"error: Fashion-MNIST not found in {tmp_path / 'nowhere'}")


BAD_IMAGES = [
    (np.zeros((4, 783), np.uint8), "must have shape (N, 784) or (N, 28, 28, 1) or (N, 28, 28); got shape (4, 783)"),
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


@pytest.mark.parametrize("images", [np.zeros((2, 784), np.uint8), np.ones((2, 28, 28), np.float32),
                                    np.zeros((0, 784))])
def test_good_arrays_pass_unchanged(images):
    np.testing.assert_array_equal(check_images(images), images, strict=True)


def test_losses_refuse_targets_outside_zero_one():
    x = np.full((2, 784), 2.0, np.float32)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        vae_losses(x, np.zeros((2, 784), np.float32), np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32))
