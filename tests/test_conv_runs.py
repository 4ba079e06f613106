"""The conv architecture with the binarized likelihood through training's machinery: tf.distribute on two
logical CPUs, --resume after a kill, --validation, --snapshots and --tensorboard."""

import json
import signal
import subprocess
import sys
import time

import pytest

from vae_tf.rundir import RUN_FILES, read_history

# 1001 images in batches of 128: 8 steps per epoch, the last of 105 images split 53 + 52 on two replicas.
CONV = ["--architecture", "conv", "--filters", "4", "--hidden-units", "16", "--latent-dim", "4",
        "--likelihood", "binarized", "--limit", "1001", "--validation", "--snapshots", "--verbose", "2",
        "--learning-rate", "1e-4", "--reduction", "report"]  # the report's loss, as before defaults were chosen


def train_cli(*args):
    return subprocess.Popen([sys.executable, "-m", "vae_tf.train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(process):
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    return stdout


def losses(history):
    return [{name: value for name, value in row.items() if not name.endswith("seconds")} for row in history]


def epochs_done(run_dir):
    try:
        return json.loads((run_dir / "checkpoint" / "state.json").read_text())["epochs_done"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The reference: one process, --deterministic (no XLA: the noise the mirrored step draws too)."""
    out = tmp_path_factory.mktemp("conv") / "one"
    finish(train_cli(*CONV, "--epochs", "2", "--deterministic", "--tensorboard", "--out", str(out)))
    return out


def test_a_conv_binarized_run_validates_snapshots_and_logs_to_tensorboard(one_process):
    history = read_history(one_process / "history.csv")
    assert len(history) == 2 and {"val_loss", "val_reconstruction_loss", "val_kl_loss"} <= set(history[0])
    assert sorted(path.name for path in one_process.iterdir()) == sorted(
        [*RUN_FILES, "snapshots.npz", "tensorboard"])
    config = json.loads((one_process / "config.json").read_text())["config"]
    assert (config["architecture"], config["likelihood"], config["filters"]) == ("conv", "binarized", 4)


def test_mirrored_on_two_logical_cpus_trains_the_one_process_conv_model(one_process, tmp_path):
    out = tmp_path / "mirrored"
    stdout = finish(train_cli(*CONV, "--epochs", "2", "--strategy", "mirrored", "--devices", "/cpu:0", "/cpu:1",
                              "--out", str(out)))
    assert ", 2 replicas" in stdout.splitlines()[0]  # the first line goes on with the loss audit
    # The same batches, binarisation noise and sampling noise: the losses differ only by float sums.
    mirrored, reference = losses(read_history(out / "history.csv")), losses(read_history(one_process / "history.csv"))
    for row, expected in zip(mirrored, reference, strict=True):
        assert row == pytest.approx(expected, rel=1e-4)


def test_a_killed_conv_binarized_run_resumes_to_the_same_run(one_process, tmp_path):
    out = tmp_path / "killed"
    process = train_cli(*CONV, "--epochs", "2", "--deterministic", "--out", str(out))
    deadline = time.time() + 300
    while epochs_done(out) < 1 and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert epochs_done(out) == 1, "the kill should land mid-run"
    finish(train_cli("--resume", str(out), "--verbose", "2"))
    assert losses(read_history(out / "history.csv")) == losses(read_history(one_process / "history.csv"))
