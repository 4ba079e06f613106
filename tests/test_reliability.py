"""Nothing lost, nothing mixed: concurrent writers, interrupted overwrites, full disks, damaged files.

A run directory is always exactly one of: finished, resumable (and the message names the command
that finishes it), or refused with a line that says why. See docs/reliability-guarantees.md.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from vae_tf import bench, compare, compress, evaluate, plot, rundir, sweep
from vae_tf import train as train_module
from vae_tf.config import TrainConfig
from vae_tf.rundir import RUN_FILES, read_history
from vae_tf.training import interrupts

TINY = ["--limit", "300", "--verbose", "0"]


def train_cli(*args, **popen):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_CONFIG", None)
    return subprocess.Popen([sys.executable, "-m", "vae_tf.train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **popen)


def epochs_done(run):
    try:
        return json.loads((run / "checkpoint" / "state.json").read_text())["epochs_done"]
    except (OSError, ValueError, KeyError):
        return 0


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def files(directory):
    return {p.relative_to(directory): p.stat().st_mtime_ns for p in Path(directory).rglob("*")}


# --- one writer per run directory --------------------------------------------------------------

def test_two_concurrent_writers_exactly_one_wins(tmp_path):
    out = tmp_path / "run"
    processes = {seed: train_cli(*TINY, "--epochs", "2", "--seed", str(seed), "--out", str(out)) for seed in (1, 2)}
    results = {seed: (process.wait(timeout=600), *process.communicate()) for seed, process in processes.items()}
    winners = [seed for seed, (code, _, _) in results.items() if code == 0]
    losers = [seed for seed, (code, _, _) in results.items() if code != 0]
    assert len(winners) == 1 and len(losers) == 1, results
    code, _, stderr = results[losers[0]]
    assert code == 1 and "Traceback" not in stderr
    [line] = error_lines(stderr)
    assert f"{out} is being written by another process (pid {processes[winners[0]].pid} on " in line
    # the directory is the winner's run, all of it
    config = json.loads((out / "config.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    history = read_history(out / "history.csv")
    assert config["config"]["seed"] == winners[0]
    assert summary["final"]["loss"] == history[-1]["loss"] and len(history) == 2
    assert sorted(p.name for p in out.iterdir()) == sorted(RUN_FILES)  # the lock is gone too


def test_every_command_that_writes_into_a_run_waits_its_turn(copy_of_tiny_run, refused):
    run = copy_of_tiny_run()
    before = files(run)
    with rundir.lock(run, command="a test holding the lock"):
        for main, argv in ((train_module.main, ["--out", str(run), "--overwrite", *TINY]),
                           (train_module.main, ["--resume", str(run)]),
                           (plot.main, [str(run), "--overwrite"]),
                           (evaluate.main, [str(run), "--limit", "3", "--k", "2"]),
                           (compress.main, [str(run)])):
            line = refused(main, argv, f"{run} is being written by another process (pid {os.getpid()} on ")
            assert "a test holding the lock" in line
    assert files(run) == before  # the lock file went with the lock; nothing else changed
    assert not (run / rundir.LOCK).exists()


def test_a_dead_writers_lock_and_temporaries_are_taken_over(copy_of_tiny_run, capsys):
    run = copy_of_tiny_run()
    (run / rundir.LOCK).write_text("pid 999999 on elsewhere, since yesterday: python -m vae_tf.train\n")
    leftovers = [run / ".model.keras.k1ll3d_x.keras", run / ".summary.json.abcd1234.tmp"]
    for leftover in leftovers:
        leftover.write_bytes(b"")  # what a kill during the final write leaves
    assert plot.main([str(run), "--examples", "2"]) == 0
    assert not any(leftover.exists() for leftover in leftovers) and not (run / rundir.LOCK).exists()
    assert (run / "latent_scatter.png").is_file()


# --- an overwrite is a new run, atomically -----------------------------------------------------

def test_an_interrupted_overwrite_is_resumable_never_a_mix(copy_of_tiny_run, tmp_path, refused):
    run = copy_of_tiny_run()
    (run / "evaluation.json").write_text("{}")  # analysis of the old model
    (run / "loss_curves.png").write_bytes(b"old figure")
    # enough epochs that the run cannot finish between the poll that sees its first checkpoint and
    # the signal (a CI run once saw the process end normally: exit code 0, nothing interrupted)
    process = train_cli(*TINY, "--epochs", "150", "--seed", "5", "--out", str(run), "--overwrite")
    deadline = time.time() + 300
    while epochs_done(run) < 1 and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert process.poll() is None, f"training ended (exit code {process.returncode}) before it was interrupted"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert f"continue it with `python -m vae_tf.train --resume {run}`" in stderr
    # nothing of the old run is left beside the new one
    left = sorted(p.name for p in run.iterdir())
    assert left == ["checkpoint", "config.json"], left
    assert json.loads((run / "config.json").read_text())["config"]["seed"] == 5
    # every reader refuses it and names the command that finishes it
    finish = f"continue it with `python -m vae_tf.train --resume {run}`"
    refused(plot.main, [str(run)], finish)
    refused(evaluate.main, [str(run), "--limit", "3"], finish)
    refused(compress.main, [str(run)], finish)
    refused(compare.main, ["--runs", str(run), str(run), str(run), "--out", str(tmp_path / "cmp")], finish)
    assert train_module.main(["--resume", str(run), "--verbose", "0"]) == 0
    history = read_history(run / "history.csv")
    assert [row["epoch"] for row in history] == list(range(1, 151))
    assert json.loads((run / "summary.json").read_text())["resumed_after_epoch"] >= 1


def test_overwrite_outside_a_run_keeps_the_users_other_files(tmp_path):
    out = tmp_path / "mixed"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "model.keras").write_text("not a model")
    writer = rundir.RunWriter.create(out, overwrite=True)
    writer.close()
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


# --- operating-system errors -------------------------------------------------------------------

def test_a_full_disk_ends_in_one_line_and_resumes_once_there_is_space(tmp_path, monkeypatch, refused):
    run = tmp_path / "run"
    real_fsync = os.fsync

    def fsync(fd):  # the disk fills up while the second epoch's checkpoint is written
        if ".epoch-0002.keras." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    line = refused(train_module.main, [*TINY, "--epochs", "3", "--out", str(run)],
                   f"{run / 'checkpoint' / 'epoch-0002.keras'}: the disk is full (No space left on device)")
    assert f"every completed epoch is kept; continue it with `python -m vae_tf.train --resume {run}`" in line
    monkeypatch.setattr(os, "fsync", real_fsync)
    # the last complete checkpoint survived, and no temporary was left behind
    assert epochs_done(run) == 1
    assert sorted(p.name for p in (run / "checkpoint").iterdir()) == ["epoch-0001.keras", "state.json"]
    assert train_module.main(["--resume", str(run), "--verbose", "0"]) == 0
    assert [row["epoch"] for row in read_history(run / "history.csv")] == [1, 2, 3]


@pytest.mark.parametrize("main, argv", [
    (train_module.main, [*TINY, "--out", "{file}/run"]),
    (plot.main, ["{run}", "--out", "{file}/figures"]),
    (evaluate.main, ["{run}", "--out", "{file}/e.json"]),
    (bench.main, ["--json", "{file}/bench.json"]),
])
def test_an_output_path_through_a_file_fails_at_once_in_one_line(main, argv, tiny_run, tmp_path, refused):
    (tmp_path / "afile").write_text("mine")
    argv = [arg.format(file=tmp_path / "afile", run=tiny_run) for arg in argv]
    refused(main, argv, f"{tmp_path / 'afile'}")
    assert (tmp_path / "afile").read_text() == "mine"


def test_bench_claims_its_json_before_it_runs(tmp_path, refused):
    refused(bench.main, ["--json", str(tmp_path)], f"--json {tmp_path} is a directory")
    (tmp_path / "bench.json").write_text("mine")
    refused(bench.main, ["--json", str(tmp_path / "bench.json")], "already exists; pass --overwrite")
    assert (tmp_path / "bench.json").read_text() == "mine"


# --- every file is checked as it is read ------------------------------------------------------

def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _savez(**arrays):
    def corrupt(path):
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)

    return corrupt


def variant_of(run, regularizer):
    """`run` relabelled as trained with `regularizer` (for compare's --runs, which checks the order)."""
    config = json.loads((run / "config.json").read_text())
    config["config"]["regularizer"] = regularizer
    (run / "config.json").write_text(json.dumps(config))
    return run


CORRUPTIONS = [
    ("model.keras", _truncate, "model.keras is not a complete .keras archive"),
    ("model.keras", lambda p: p.write_bytes(b""), "model.keras is empty (0 bytes)"),
    ("history.csv", lambda p: p.write_text("epoch,loss\n1,abc\n"), "history.csv line 2 is not a row of numbers"),
    ("history.csv", lambda p: p.write_bytes(b"\xff\xfe\x00garbage"), "history.csv is not a readable CSV file"),
    ("latents.npz", lambda p: p.write_bytes(b"PK\x03\x04garbage"), "latents.npz is not a readable .npz archive"),
    ("latents.npz", _savez(z=np.zeros((3, 2))), "latents.npz has no z_mean, z_log_var array"),
    ("latents.npz", _savez(z_mean=np.zeros((3, 2)), z_log_var=np.zeros((3, 2)), z=np.zeros((4, 2)), y=np.zeros(3)),
     "latents.npz: z has shape (4, 2), expected (N, D)"),
    ("snapshots.npz", lambda p: p.write_bytes(b""), "snapshots.npz is empty"),
    ("config.json", lambda p: p.write_text("{"), "cannot parse"),
    ("summary.json", lambda p: p.write_text("[]"), "summary.json holds a JSON list, not an object"),
]


@pytest.mark.parametrize("name, corrupt, message", CORRUPTIONS, ids=lambda v: v if isinstance(v, str) else "")
def test_a_damaged_file_is_named_and_nothing_is_written(name, corrupt, message, copy_of_tiny_run, tmp_path,
                                                       refused):
    run = copy_of_tiny_run()
    corrupt(run / name)
    before = files(run)
    line = refused(plot.main, [str(run), "--examples", "2"], message)
    assert "train the run again" in line or "Retrain" in line or "parse" in line
    if name in ("model.keras", "config.json", "summary.json"):
        refused(evaluate.main, [str(run), "--limit", "3", "--k", "2"], message)
        refused(compress.main, [str(run)], message)
    if name in ("latents.npz", "snapshots.npz", "config.json", "summary.json"):
        others = [variant_of(copy_of_tiny_run(), variant) for variant in ("none", "mse")]
        refused(compare.main, ["--runs", str(run), *map(str, others), "--out", str(tmp_path / "cmp")], message)
        assert not any((tmp_path / "cmp").glob("*"))
    assert files(run) == before  # no figure, no evaluation, no lock left behind


def test_resume_names_a_damaged_checkpoint(copy_of_tiny_run, refused):
    run = copy_of_tiny_run()
    history = read_history(run / "history.csv")[:1]
    for name in ("summary.json", "model.keras", "latents.npz", "history.csv"):
        (run / name).unlink()
    (run / "checkpoint").mkdir()
    (run / "checkpoint" / "state.json").write_text(json.dumps(
        {"epochs_done": 1, "model": "epoch-0001.keras", "history": history, "sampling_state": [0, 0]}))
    (run / "checkpoint" / "epoch-0001.keras").write_bytes(b"")
    refused(train_module.main, ["--resume", str(run)], "epoch-0001.keras is empty (0 bytes)")
    (run / "checkpoint" / "state.json").write_text("{}")
    refused(train_module.main, ["--resume", str(run)], "state.json: \"epochs_done\" is None: must be an integer")


# --- settings that cannot act are refused ------------------------------------------------------

@pytest.mark.parametrize("main, argv", [
    (train_module.main, []),
    (compare.main, ["--out", "x"]),
    (sweep.main, ["--out", "x"]),
    (evaluate.main, ["somerun"]),
    (bench.main, []),
])
def test_a_negative_seed_is_refused_by_every_command(main, argv, refused, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seed = ["--seeds", "-1"] if main is bench.main else ["--seed", "-1"]
    refused(main, [*argv, *seed], "'-1' must be at least 0")
    assert not any(tmp_path.iterdir())
    with pytest.raises(ValueError, match="seed=-1: must be at least 0"):
        TrainConfig(seed=-1)


@pytest.mark.parametrize("argv, message", [
    (["--regularizer", "none", "--free-bits", "0.5"], "--free-bits 0.5 cannot act: it needs --regularizer kl"),
    (["--regularizer", "mse", "--capacity", "10"], "--capacity 10.0 cannot act: it needs --regularizer kl"),
    (["--seed", str(2**31)], "must be at most 2147483647"),
])
def test_settings_that_cannot_act_are_refused(argv, message, refused, tmp_path):
    refused(train_module.main, [*argv, "--out", str(tmp_path / "run")], message)
    assert not (tmp_path / "run").exists()


def test_compare_refuses_free_bits_that_two_of_its_variants_cannot_use(refused, tmp_path):
    refused(compare.main, ["--out", str(tmp_path / "cmp"), "--free-bits", "0.5"],
            "--free-bits 0.5 cannot act: it needs --regularizer kl")


def test_a_limit_above_the_data_is_refused_before_anything_is_written(refused, tmp_path):
    out = tmp_path / "run"
    refused(train_module.main, ["--limit", "60001", "--out", str(out)],
            "--limit 60001 is more than the 60,000 training images of")
    assert not out.exists()  # not even the empty folder (the message says nothing was written)


def test_an_evaluation_limit_above_the_test_images_is_refused(tiny_run, refused, tmp_path):
    refused(evaluate.main, [str(tiny_run), "--limit", "10001", "--out", str(tmp_path / "e.json")],
            "--limit 10001 is more than the 10,000 test images there are")
    assert not (tmp_path / "e.json").exists()


@pytest.mark.parametrize("address, message", [("localhost", "has no port"), ("host:99999", "has port '99999'"),
                                              ("host:http", "has port 'http'")])
def test_tf_config_addresses_are_checked(address, message, refused, tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": [address, "b:1"]},
                                                "task": {"type": "worker", "index": 0}}))
    refused(train_module.main, ["--strategy", "multiworker", "--out", str(tmp_path / "run")], message)


# --- leftovers of killed workers; a cluster that never forms -----------------------------------

def test_scratch_directories_of_dead_workers_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / f"{rundir.SCRATCH_PREFIX}999999-abc"
    alive = tmp_path / f"{rundir.SCRATCH_PREFIX}{os.getppid()}-abc"
    for directory in (dead, alive):
        directory.mkdir()
        (directory / "model.keras").write_bytes(b"")
    writer = rundir.RunWriter(tmp_path / "run").scratch()
    assert not dead.exists() and alive.exists()
    assert writer.path.name.startswith(f"{rundir.SCRATCH_PREFIX}{os.getpid()}-")


def test_a_worker_whose_cluster_never_forms_names_the_missing_worker(tmp_path):
    from test_multiworker import free_ports

    ports = free_ports(2)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "VAE_TF_CLUSTER_WAIT": "5",
           "TF_CONFIG": json.dumps({"cluster": {"worker": [f"localhost:{port}" for port in ports]},
                                    "task": {"type": "worker", "index": 0}})}
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "vae_tf.train", "--strategy", "multiworker", *TINY,
                             "--out", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    [line] = error_lines(result.stderr)
    assert f"did not join within 5 s (not answering: worker 1 (localhost:{ports[1]}))" in line
    assert not rundir.is_run_directory(out)


def children_of(pid):
    """The pids of the processes whose parent is `pid` (from /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if stat and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry.name))
    return children


def test_a_worker_waiting_for_its_cluster_obeys_sigterm_to_its_own_pid(tmp_path):
    from test_multiworker import free_ports

    ports = free_ports(2)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "VAE_TF_CLUSTER_WAIT": "120",
           "TF_CONFIG": json.dumps({"cluster": {"worker": [f"localhost:{port}" for port in ports]},
                                    "task": {"type": "worker", "index": 0}})}
    out = tmp_path / "run"
    # A session of its own: the SIGTERM reaches the chief alone, never its watcher by the process group.
    process = subprocess.Popen([sys.executable, "-m", "vae_tf.train", "--strategy", "multiworker", *TINY,
                                "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, start_new_session=True)
    try:
        deadline = time.time() + 300
        while not children_of(process.pid) and process.poll() is None and time.time() < deadline:
            time.sleep(0.1)  # the watcher starts just before TensorFlow waits for the cluster
        time.sleep(2)  # well inside the wait now
        assert process.poll() is None, process.communicate()
        assert (out / rundir.LOCK).is_file()  # the run directory is claimed while it waits
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)  # not the 120 s of the wait
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == -signal.SIGINT, stderr  # a shell shows 130, as for any interrupted run
    assert "Traceback" not in stderr
    [line] = [line for line in stderr.splitlines() if "interrupted" in line or line.startswith("error:")]
    assert line == (f"interrupted while waiting for the other workers of the cluster (not answering: worker 1 "
                    f"(localhost:{ports[1]})); nothing was written.")
    assert list(out.iterdir()) == []  # nothing written, and the lock file is gone


def test_the_watcher_removes_a_workers_lock_file_only_while_it_is_still_its(tmp_path):
    held = rundir.lock(tmp_path)  # a live holder, this process
    path = tmp_path / rundir.LOCK
    assert not rundir.remove_dead_lock(path, os.getpid() + 1)  # it names another process
    assert not rundir.remove_dead_lock(path, os.getpid(), wait=0.2)  # its holder is alive
    held.release()
    child = subprocess.Popen([sys.executable, "-c", "import sys, vae_tf.rundir.locks as r; r.lock(sys.argv[1]); "
                              "print('locked', flush=True); sys.stdin.read()", str(tmp_path)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "locked\n"
    child.kill()  # the kernel drops its lock; the file stays
    child.wait()
    assert path.read_text().startswith(f"pid {child.pid} ")
    assert rundir.remove_dead_lock(path, child.pid)
    assert list(tmp_path.iterdir()) == []
    held = rundir.lock(tmp_path)  # a live holder about to be ended: its file goes, only if it names it
    assert not rundir.remove_lock_for(path, os.getpid() + 1) and path.is_file()
    assert rundir.remove_lock_for(path, os.getpid()) and not path.exists()
    held.release()


def test_a_training_worker_obeys_sigterm_once_the_cluster_has_formed(tmp_path):
    from test_multiworker import finish, start_cluster

    out = tmp_path / "run"
    workers = start_cluster(lambda index: ["--strategy", "multiworker", *TINY, "--epochs", "200", "--out", str(out)],
                            tmp_path)
    deadline = time.time() + 300
    while epochs_done(out) < 1 and time.time() < deadline and all(w.poll() is None for w in workers):
        time.sleep(0.05)
    workers[0].send_signal(signal.SIGTERM)  # TensorFlow's preemption notifier would swallow it
    code, _, stderr = finish(workers[0], timeout=120)
    other = finish(workers[1], timeout=120)
    assert code == 130, stderr
    assert f"continue it with `python -m vae_tf.train --resume {out}`" in stderr
    assert other[0] != 0  # the other worker lost its peer


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the lost KeyboardInterrupt
def test_a_sigterm_handled_inside_a_finalizer_still_stops_training(tmp_path, monkeypatch):
    # Python ignores an exception raised in a finalizer, and TensorFlow's eager all-reduce leaves
    # finalizers behind: a SIGTERM handled in one once let a cluster's worker train on and exit 0.
    from test_clean_stops import signal_inside_a_finalizer

    signal_inside_a_finalizer(monkeypatch, signal.SIGTERM)
    monkeypatch.setitem(interrupts._TAKEN, "signal", None)
    previous = signal.signal(signal.SIGTERM, interrupts._interrupt)
    out = tmp_path / "run"
    try:
        with pytest.raises(KeyboardInterrupt):
            train_module.train(TrainConfig(limit=300, epochs=5), out, verbose=0)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert epochs_done(out) < 5 and not (out / "summary.json").exists()
