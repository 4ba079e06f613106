"""Two worker processes on localhost train one model with MultiWorkerMirroredStrategy.

Each test starts real `python -m vae_tf.train` processes, the way a cluster runs them: one per
worker, each with its own $TF_CONFIG. The one-process reference runs `--deterministic`, which
turns XLA off: the workers' step runs uncompiled, and XLA draws its normal noise with another
algorithm, so only the uncompiled one-process run draws the same noise as the workers.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from vae_tf.rundir import RUN_FILES, load_model, read_history
from vae_tf.train import main
from vae_tf.training.cluster import ClusterTask, read_tf_config
from vae_tf.training.distributed import share_bounds, weights_fingerprint

# 3001 images in batches of 128: 24 steps per epoch, the last of 57 images split 29 + 28.
RUN = ["--limit", "3001", "--batch-size", "128", "--verbose", "2"]
# The workers see the same batches and the same noise as one process, so their losses differ
# only by the order of float32 sums (the all-reduce adds the two shares' gradients): 2e-7
# relative after 2 and 4 epochs here. Other noise (as XLA draws it) moves the epoch-1 loss
# by 5e-5 and the epoch-2 loss by 1e-3, and a worker training on the whole batch instead of
# its share doubles the gradient, so 1e-5 separates right from wrong with margin.
LOSS_RTOL = 1e-5


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for probe in sockets:
        probe.bind(("localhost", 0))
    ports = [probe.getsockname()[1] for probe in sockets]
    for probe in sockets:
        probe.close()
    return ports


def start(args, tmp_path, tf_config=None, **env):
    scratch = tmp_path / "tmp"  # the workers' temporary directories go here: checked empty
    scratch.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(scratch), "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen([sys.executable, "-m", "vae_tf.train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def start_cluster(args_of_worker, tmp_path, **env):
    """One process per worker; `args_of_worker(i)` gives worker i's command-line arguments."""
    addresses = [f"localhost:{port}" for port in free_ports(2)]
    return [start(args_of_worker(index), tmp_path, {"cluster": {"worker": addresses},
                                                    "task": {"type": "worker", "index": index}}, **env)
            for index in range(2)]


def finish(process, timeout=240):
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


def fingerprint_printed(stdout):
    return [line.split(": ")[1] for line in stdout.splitlines() if line.startswith("final weights fingerprint")]


def assert_same_losses(history, reference):
    for row, expected in zip(history, reference, strict=True):
        for name in ("loss", "reconstruction_loss", "kl_loss"):
            assert row[name] == pytest.approx(expected[name], rel=LOSS_RTOL), (row["epoch"], name)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The same run in one process (4 epochs), started at once so that it overlaps the clusters."""
    tmp_path = tmp_path_factory.mktemp("one")
    process = start([*RUN, "--epochs", "4", "--deterministic", "--out", str(tmp_path / "run")], tmp_path)

    def history():
        if process.returncode is None:
            code, _, stderr = finish(process)
            assert code == 0, stderr[-3000:]
        return read_history(tmp_path / "run" / "history.csv")

    return history


def test_two_workers_train_the_one_process_model_and_only_the_chief_writes(one_process, tmp_path):
    chief_out, other_out = tmp_path / "chief" / "run", tmp_path / "other" / "run"
    workers = start_cluster(lambda i: [*RUN, "--epochs", "2", "--strategy", "multiworker",
                                       "--out", str(chief_out if i == 0 else other_out)], tmp_path)
    (code0, out0, err0), (code1, out1, err1) = finish(workers[0]), finish(workers[1])
    assert (code0, code1) == (0, 0), (err0[-3000:], err1[-3000:])
    assert ", 2 replicas" in out0.splitlines()[0]  # the loss audit may follow

    # Only the chief wrote: one run directory, nothing from worker 1, no temporary files left.
    assert sorted(p.name for p in chief_out.iterdir()) == sorted(RUN_FILES)
    assert not other_out.parent.exists()
    assert list((tmp_path / "tmp").iterdir()) == []

    # Identical weights on both workers, and they are the ones the chief saved.
    assert fingerprint_printed(out0) == fingerprint_printed(out1) != []
    saved = load_model(chief_out / "model.keras")
    assert fingerprint_printed(out0) == [weights_fingerprint(saved.get_weights())]

    assert_same_losses(read_history(chief_out / "history.csv"), one_process()[:2])


def test_a_dead_worker_stops_the_other_with_one_line_and_resume_continues(one_process, tmp_path):
    out = tmp_path / "shared" / "run"  # both workers are given the same --out, as on a shared disk
    state = out / "checkpoint" / "state.json"
    workers = start_cluster(lambda i: [*RUN, "--epochs", "4", "--strategy", "multiworker", "--out", str(out)],
                            tmp_path)
    deadline = time.time() + 120
    while not state.is_file() and time.time() < deadline and workers[0].poll() is None:
        time.sleep(0.05)
    assert state.is_file(), finish(workers[0])[2][-3000:]
    workers[1].send_signal(signal.SIGKILL)  # worker 1's machine goes away during epoch 2
    killed = time.time()
    code, _, stderr = finish(workers[0], timeout=60)  # a hang fails here
    waited = time.time() - killed
    finish(workers[1])

    assert code == 1 and "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    # Depending on where worker 0 was, TensorFlow reports a reset connection or missing heartbeats.
    assert last.startswith("error: a worker of the cluster was lost ("), last
    assert f"--resume {out}`" in last and waited < 45
    assert json.loads(state.read_text())["epochs_done"] in (1, 2)

    # Every worker resumes; the finished run is the run one process would have made.
    workers = start_cluster(lambda i: ["--resume", str(out), "--verbose", "2"], tmp_path)
    (code0, out0, err0), (code1, out1, err1) = finish(workers[0]), finish(workers[1])
    assert (code0, code1) == (0, 0), (err0[-3000:], err1[-3000:])
    assert fingerprint_printed(out0) == fingerprint_printed(out1) != []
    assert sorted(p.name for p in out.iterdir()) == sorted(RUN_FILES)
    assert_same_losses(read_history(out / "history.csv"), one_process())


def test_mirrored_on_two_logical_cpus_from_the_cli_trains_the_one_process_model(one_process, tmp_path):
    process = start([*RUN, "--epochs", "2", "--strategy", "mirrored", "--devices", "/cpu:0", "/cpu:1",
                     "--out", str(tmp_path / "run")], tmp_path)
    code, stdout, stderr = finish(process)
    assert code == 0, stderr[-3000:]
    assert ", 2 replicas" in stdout.splitlines()[0]
    assert_same_losses(read_history(tmp_path / "run" / "history.csv"), one_process()[:2])


def test_validation_and_tensorboard_work_across_workers_and_on_mirrored(tmp_path):
    common = [*RUN, "--epochs", "2", "--validation", "--tensorboard"]
    mirrored = start([*common, "--strategy", "mirrored", "--devices", "/cpu:0", "/cpu:1",
                      "--out", str(tmp_path / "mirrored")], tmp_path)
    workers = start_cluster(lambda i: [*common, "--strategy", "multiworker", "--out", str(tmp_path / f"worker{i}")],
                            tmp_path)
    for process in (*workers, mirrored):
        code, _, stderr = finish(process)
        assert code == 0, stderr[-3000:]
    across, one_machine = (read_history(tmp_path / name / "history.csv") for name in ("worker0", "mirrored"))
    assert len(across) == len(one_machine) == 2
    for row, expected in zip(across, one_machine, strict=True):
        for name in ("loss", "val_loss", "val_reconstruction_loss", "val_kl_loss"):
            assert row[name] == pytest.approx(expected[name], rel=LOSS_RTOL), (row["epoch"], name)
    for name in ("worker0", "mirrored"):
        for part in ("train", "validation", "images"):
            assert list((tmp_path / name / "tensorboard" / part).glob("events.out.tfevents.*")), (name, part)
    assert not (tmp_path / "worker1").exists()


def test_each_replica_takes_a_consecutive_near_equal_share():
    assert [share_bounds(57, r, 2) for r in range(2)] == [(0, 28), (28, 57)]
    assert [share_bounds(128, r, 4) for r in range(4)] == [(0, 32), (32, 64), (64, 96), (96, 128)]


def example(index=0, workers=("localhost:1", "localhost:2")):
    return json.dumps({"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": index}})


def test_tf_config_is_read_and_checked():
    assert read_tf_config(example(1)) == ClusterTask(2, "worker", 1)
    assert read_tf_config(example(0)).is_chief and not read_tf_config(example(1)).is_chief


@pytest.mark.parametrize("tf_config, message", [
    ("{cluster: }", "$TF_CONFIG is not valid JSON"),
    ('{"task": {"type": "worker", "index": 0}}', 'has no "cluster" with a list of "worker" addresses'),
    ('{"cluster": {"worker": ["localhost:1"]}}', 'has no "task" with "type" and "index"'),
    (example(2), "task index 2 is out of range: the cluster has 2 worker addresses, so use 0 to 1"),
    (example(-1), "task index -1 is out of range"),
    (json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}),
     "task type 'ps' is not a training job"),
])
def test_a_bad_tf_config_is_one_line_naming_the_value_and_the_fix(tf_config, message, tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    assert main(["--strategy", "multiworker", "--out", str(tmp_path / "run")]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: $TF_CONFIG") and message in lines[0], lines
    assert not (tmp_path / "run").exists()  # refused before anything is written
