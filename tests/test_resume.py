"""Training that survives interruption: a killed or stopped run resumes to the run it would have been."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from vae_tf import rundir
from vae_tf.rundir import read_history

QUICK = ["--limit", "20000", "--epochs", "4", "--deterministic", "--verbose", "2"]


def train_cli(*args, **popen):
    return subprocess.Popen([sys.executable, "-m", "vae_tf.train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def epochs_done(run_dir):
    """How many epochs the run has checkpointed so far (0 while the checkpoint is not there yet)."""
    try:
        return json.loads((run_dir / "checkpoint" / "state.json").read_text())["epochs_done"]
    except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or caught mid-write
        return 0


def model_bytes(path):
    model = rundir.load_model(path)
    return [w.tobytes() for w in model.get_weights()] + [v.numpy().tobytes() for v in model.optimizer.variables]


def without_seconds(history):
    """A history's rows without the wall-clock column, which is all that may differ between runs."""
    return [{name: value for name, value in row.items() if name != "seconds"} for row in history]


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
    assert without_seconds(continued) == without_seconds(whole)  # exactly, under --deterministic
    assert model_bytes(out / "model.keras") == model_bytes(uninterrupted / "model.keras")
    with np.load(out / "latents.npz") as a, np.load(uninterrupted / "latents.npz") as b:
        assert sorted(a.files) == sorted(b.files) == ["y", "z", "z_log_var", "z_mean"]
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
    assert f"every completed epoch is kept; continue it with `python -m vae_tf.train --resume {out}`" in stderr
    assert "Traceback" not in stderr


def test_deterministic_runs_are_identical_byte_for_byte(uninterrupted, tmp_path):
    again = tmp_path / "again"
    process = train_cli(*QUICK, "--out", str(again))
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    first, second = read_history(uninterrupted / "history.csv"), read_history(again / "history.csv")
    assert [row["epoch"] for row in second] == [1, 2, 3, 4]
    assert without_seconds(second) == without_seconds(first)
    assert model_bytes(again / "model.keras") == model_bytes(uninterrupted / "model.keras")


def test_atomic_writes_leave_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "summary.json"
    rundir.write_json(path, {"version": 1})

    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        rundir.write_json(path, {"version": 2, "bad": Unserialisable()})
    assert json.loads(path.read_text()) == {"version": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]
