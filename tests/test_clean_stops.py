"""Every stop a clean stop: Ctrl-C and SIGTERM alike, commands that train several runs, clusters that disagree.

Ctrl-C (SIGINT) takes the path SIGTERM takes: the signal is recorded, so that a KeyboardInterrupt
lost inside a finalizer still stops training at the next batch end. `sweep` and `compare` stop
with one line naming the command that carries on, and that command resumes. A cluster's workers
refuse together, in one line, when their settings or data differ; a worker that stops answering
is noticed within the heartbeat bound; a signal ends a worker within seconds even while its peer
is stopped. See docs/reliability-guarantees.md.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from vae_tf import compare, sweep
from vae_tf import train as train_module
from vae_tf.rundir import LOCK, read_history

TINY = ["--limit", "300", "--verbose", "0"]
START_UP = 300  # seconds a process may take to reach a phase on a loaded machine
FEW_SECONDS = 15  # what a stop may take once the signal is sent (the watchdog's grace is 3 s)


def epochs_done(run):
    try:
        return json.loads((run / "checkpoint" / "state.json").read_text())["epochs_done"]
    except (OSError, ValueError, KeyError):
        return 0


def until(condition, processes, timeout=START_UP):
    """Wait until `condition()` holds (a phase reached), while every process runs; fail with their stderr."""
    deadline = time.time() + timeout
    while not condition():
        dead = [process for process in processes if process.poll() is not None]
        assert not dead and time.time() < deadline, [process.communicate()[1][-3000:] for process in dead]
        time.sleep(0.05)


def stopped_within(process, seconds=FEW_SECONDS):
    """(exit code, stderr) of `process`, which must end within `seconds`."""
    sent = time.time()
    try:
        _, stderr = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"still running {seconds} s after the signal: {process.communicate()[1][-3000:]}")
    assert time.time() - sent < seconds
    return process.returncode, stderr


def lines(stderr):
    """stderr without TensorFlow's and absl's log lines."""
    return [line for line in stderr.splitlines()
            if line.strip() and not line.startswith(("I0000", "W0000", "E0000", "WARNING: All log messages"))]


def command(module, *args, env=None):
    """`python -m module args` started, its output captured; `env`: more environment variables."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    environment.pop("TF_CONFIG", None)
    return subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**environment, **(env or {})})


# --- Ctrl-C takes SIGTERM's path -----------------------------------------------------------------

@pytest.fixture
def signal_handlers():
    """The test process's SIGINT and SIGTERM handlers, given back afterwards (the commands install theirs)."""
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def signal_inside_a_finalizer(monkeypatch, signum):
    """Make training send `signum` to itself inside a finalizer at the end of its first epoch."""
    from vae_tf.training.callbacks import EpochTimer

    class SignalledWhileFinalized:
        def __del__(self):
            os.kill(os.getpid(), signum)
            for _ in range(10_000):  # the handler runs here, inside the finalizer
                pass

    def on_epoch_end(self, epoch, logs=None, original=EpochTimer.on_epoch_end):
        original(self, epoch, logs)
        if epoch == 0:
            SignalledWhileFinalized()  # made and finalized at once

    monkeypatch.setattr(EpochTimer, "on_epoch_end", on_epoch_end)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the lost KeyboardInterrupt
def test_a_ctrl_c_handled_inside_a_finalizer_still_stops_training(tmp_path, monkeypatch, signal_handlers, capsys):
    # Python drops an exception raised in a finalizer, and TensorFlow leaves finalizers behind on many
    # calls: a Ctrl-C handled in one used to be lost, and training went on to the end.
    signal_inside_a_finalizer(monkeypatch, signal.SIGINT)
    out = tmp_path / "run"
    assert train_module.main([*TINY, "--epochs", "5", "--out", str(out)]) == 130
    assert 1 <= epochs_done(out) < 5 and not (out / "summary.json").exists() and not (out / LOCK).exists()
    assert lines(capsys.readouterr().err) == [
        f"interrupted: {out}: every completed epoch is kept; continue it with `python -m vae_tf.train --resume {out}`"]


# --- sweep and compare: one line, and the same command carries on ------------------------------

# --no-fast: no XLA compilation to wait for; 3 steps an epoch, so a few seconds from the first checkpoint to the end.
SWEEP = ["--betas", "1", "--limit", "300", "--epochs", "30", "--no-fast", "--test-limit", "100", "--k", "5",
         "--verbose", "0"]


def stopped_in_one_line(module, argv, run, signum):
    """Start `python -m module argv`, send `signum` once `run` has a checkpoint; check its one line and exit code."""
    process = command(module, *argv)
    until(lambda: epochs_done(run) >= 1, [process])
    process.send_signal(signum)
    code, stderr = stopped_within(process)
    assert code == 130 and "Traceback" not in stderr
    assert lines(stderr) == [
        "interrupted: every completed epoch is kept; to continue, run the same command again (finished runs are "
        f"reused, the interrupted one resumes): `python -m {module} {' '.join(argv)}`"]
    assert not (run / LOCK).exists() and epochs_done(run) >= 1 and not (run / "summary.json").exists()


def test_a_sweep_stopped_by_ctrl_c_says_how_to_carry_on_and_that_resumes(tmp_path, signal_handlers, capsys):
    out = tmp_path / "sweep"
    argv = [*SWEEP, "--out", str(out)]
    stopped_in_one_line("vae_tf.sweep", argv, out / "beta-1", signal.SIGINT)

    assert sweep.main(argv) == 0  # the same command resumes beta 1 where it stopped
    assert "sweep: resuming beta = 1 (1 of 1)" in capsys.readouterr().out
    assert [row["epoch"] for row in read_history(out / "beta-1" / "history.csv")] == list(range(1, 31))
    assert (out / "rd.json").is_file()


def test_compare_stopped_by_sigterm_says_how_to_carry_on_and_that_resumes(tmp_path, signal_handlers, capsys):
    out = tmp_path / "compare"
    argv = ["--limit", "300", "--epochs", "15", "--no-fast", "--verbose", "0", "--out", str(out)]
    stopped_in_one_line("vae_tf.compare", argv, out / "kl", signal.SIGTERM)

    assert compare.main(argv) == 0
    printed = capsys.readouterr().out
    assert "compare: resuming kl" in printed and "compare: training none" in printed
    assert [row["epoch"] for row in read_history(out / "kl" / "history.csv")] == list(range(1, 16))
    assert (out / "spread.json").is_file()


# --- a cluster: its own port, agreement, a silent worker, signals -----------------------------

def test_a_worker_whose_own_port_is_taken_says_which_and_the_fix():
    # Checked before TensorFlow starts its server, which failed with a traceback (`make_multiworker_strategy`).
    from vae_tf.training.cluster import own_port_in_use

    with socket.socket() as taken:  # another process's server on this worker's port
        taken.bind(("localhost", 0))
        taken.listen()
        port = taken.getsockname()[1]
        tf_config = json.dumps({"cluster": {"worker": [f"localhost:{port}", "localhost:1"]},
                                "task": {"type": "worker", "index": 0}})
        assert own_port_in_use(text=tf_config) == (
            f"this worker's port {port} (worker 0 of $TF_CONFIG, localhost:{port}) is already in use by another "
            "process; stop that process (an earlier worker still running?) or give this worker a free port in "
            "$TF_CONFIG.")
    assert own_port_in_use(text=tf_config) is None  # free again


def cluster(tmp_path, args_of_worker, **env):
    from test_multiworker import start_cluster

    return start_cluster(lambda index: ["--strategy", "multiworker", *TINY, *args_of_worker(index)], tmp_path,
                         **env)


def test_workers_with_different_settings_refuse_together_in_one_line(tmp_path):
    out = tmp_path / "run"
    workers = cluster(tmp_path, lambda index: ["--epochs", str(2 + index), "--out", str(out)])
    ended = [stopped_within(worker, START_UP) for worker in workers]  # a hang fails here
    expected = ("error: the workers of the cluster do not agree: worker 1 has --epochs 3, the chief --epochs 2; start "
                "every worker with the same settings and the same data (nothing was written).")
    for code, stderr in ended:
        assert code == 1 and lines(stderr) == [expected], stderr[-3000:]
    assert not (out / "config.json").exists() and not (out / LOCK).exists()


def test_a_stopped_worker_is_noticed_within_the_heartbeat_bound(tmp_path):
    out = tmp_path / "run"  # a heartbeat timeout of 3 s: the bound is 1.5 x 3 s
    workers = cluster(tmp_path, lambda index: ["--epochs", "500", "--out", str(out)], VAE_TF_HEARTBEAT_TIMEOUT="3")
    try:
        until(lambda: epochs_done(out) >= 1, workers)
        workers[1].send_signal(signal.SIGSTOP)  # alive, but silent: no heartbeats, no collectives
        code, stderr = stopped_within(workers[0], 10)
    finally:
        workers[1].kill()
        workers[1].communicate()
    assert code == 1 and "Traceback" not in stderr
    assert lines(stderr) == [f"error: a worker of the cluster was lost (/job:worker/replica:0/task:1 stopped sending "
                             f"heartbeats); training stopped. Restart every worker with `python -m vae_tf.train "
                             f"--resume {out}` to continue from the chief's last checkpoint."]


def test_sigterm_ends_a_worker_within_seconds_while_its_peer_is_stopped(tmp_path):
    out = tmp_path / "run"  # the default heartbeat timeout (10 s): the signal must not wait for it
    workers = cluster(tmp_path, lambda index: ["--epochs", "500", "--out", str(out)])
    try:
        until(lambda: epochs_done(out) >= 1, workers)
        workers[1].send_signal(signal.SIGSTOP)  # the chief's collectives now wait for it
        time.sleep(0.5)
        workers[0].send_signal(signal.SIGTERM)
        code, stderr = stopped_within(workers[0], 8)
    finally:
        workers[1].kill()
        workers[1].communicate()
    assert code == 130 and "Traceback" not in stderr and "pybind11" not in stderr
    assert lines(stderr) == [f"interrupted: {out}: every completed epoch is kept; continue it with "
                             f"`python -m vae_tf.train --resume {out}` on every worker"]
    assert epochs_done(out) >= 1 and not (out / LOCK).exists()


def test_a_lost_worker_sends_the_user_to_resume_only_a_directory_with_a_checkpoint(tmp_path):
    from vae_tf.training.cluster import lost_worker_message

    class UnavailableError(Exception):
        pass

    never = tmp_path / "never"  # the chief stopped before its first checkpoint, or another machine's path
    line = lost_worker_message(UnavailableError("Socket closed"), never)
    assert f"--resume {never}" not in line and "start every worker again with its command" in line
    (tmp_path / "run" / "checkpoint").mkdir(parents=True)
    (tmp_path / "run" / "checkpoint" / "state.json").write_text("{}")
    assert f"`python -m vae_tf.train --resume {tmp_path / 'run'}`" in lost_worker_message(
        UnavailableError("Socket closed"), tmp_path / "run")
