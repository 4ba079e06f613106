"""The speed machinery: phases in summary.json, the compile cache, the benchmark's figures.

No test here times anything against a limit: the figures are `python -m vae_tf.bench`'s.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vae_tf.core import cache
from vae_tf.kl import diagnostics
from vae_tf.training.cluster import threads_per_worker
from vae_tf.training.phases import PHASES, Phases, format_phases


def test_a_cli_run_records_its_phases_and_peak_memory(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "VAE_TF_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "vae_tf.train", "--limit", "600", "--epochs", "3", "--out",
                             str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    phases = summary["phases"]
    assert list(phases)[:len(PHASES)] == list(PHASES)
    assert all(phases[name] >= 0 for name in PHASES)
    assert phases["imports"] > 0.3  # from the process's start: at least TensorFlow's import
    assert phases["total"] == pytest.approx(sum(phases[name] for name in PHASES), abs=1e-3)
    history = [float(line.split(",")[-1]) for line in (out / "history.csv").read_text().splitlines()[1:]]
    assert phases["epoch_seconds"] == pytest.approx(history, abs=1e-3)
    assert phases["first_epoch"] == pytest.approx(history[0], abs=1e-3)
    assert phases["other_epochs"] == pytest.approx(sum(history[1:]), abs=1e-3)
    assert 300 < phases["peak_rss_mib"] < 100_000
    assert "first_epoch" in format_phases(phases)
    # The cache was used: the compiled train step is in it.
    assert list((tmp_path / "cache").glob("xla_compile_cache*"))


def test_phases_hand_the_time_between_marks_to_phases():
    phases = Phases(origin=0.0)
    phases.seconds.update(imports=2.0, data=1.0)
    phases.seconds["fit"] = 10.0
    phases.split_fit(10.0, [4.0, 1.0, 1.0], [0.5, 0.5, 0.5])
    found = phases.as_dict()
    assert found["first_epoch"] == 4.0 and found["other_epochs"] == 2.0 and found["validation"] == 1.5
    assert found["epoch_ends"] == pytest.approx(2.5) and "fit" not in found
    assert found["total"] == pytest.approx(13.0) and found["epoch_seconds"] == [4.0, 1.0, 1.0]


def test_the_cache_is_on_by_default_under_xdg_cache_home_and_off_on_request(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    directory = cache.xla_cache_dir(env)
    assert directory.parent == tmp_path / "vae_tf" / "xla" and directory.name.startswith("tf")
    for off in ("off", "0", "no", "false", "OFF"):
        assert cache.xla_cache_dir({**env, "VAE_TF_CACHE": off}) is None
    assert cache.xla_cache_dir({"VAE_TF_CACHE": str(tmp_path / "mine")}) == tmp_path / "mine"
    # configure() adds the flag, keeps other flags, and leaves a directory given in TF_XLA_FLAGS alone.
    flags = {"TF_XLA_FLAGS": "--tf_xla_auto_jit=0", **env}
    assert cache.configure(flags, tensorflow_imported=False) == directory
    assert flags["TF_XLA_FLAGS"] == f"--tf_xla_auto_jit=0 --tf_xla_persistent_cache_directory={directory}"
    late = dict(env)  # too late once TensorFlow has read its flags: nothing is changed
    assert cache.configure(late, tensorflow_imported=True) is None and "TF_XLA_FLAGS" not in late
    given = {"TF_XLA_FLAGS": f"--tf_xla_persistent_cache_directory={tmp_path / 'given'}"}
    assert cache.configure(given) == tmp_path / "given"
    assert given["TF_XLA_FLAGS"] == f"--tf_xla_persistent_cache_directory={tmp_path / 'given'}"
    assert cache.configure({"VAE_TF_CACHE": "off"}) is None
    inherited = {**given, "VAE_TF_CACHE": "off"}  # an explicit VAE_TF_CACHE wins over inherited flags
    assert cache.configure(inherited, tensorflow_imported=False) is None and inherited["TF_XLA_FLAGS"] == ""
    inherited = {"TF_XLA_FLAGS": f"--a=1 {given['TF_XLA_FLAGS']} --b=2", "VAE_TF_CACHE": str(tmp_path / "x")}
    assert cache.configure(inherited, tensorflow_imported=False) == tmp_path / "x"
    assert inherited["TF_XLA_FLAGS"] == f"--a=1  --b=2 --tf_xla_persistent_cache_directory={tmp_path / 'x'}"


def test_vae_tf_sets_the_cache_flag_before_tensorflow_starts_and_not_when_off(tmp_path):
    code = "import os, vae_tf; print(os.environ.get('TF_XLA_FLAGS', ''))"
    base = {k: v for k, v in os.environ.items() if k not in ("TF_XLA_FLAGS", "VAE_TF_CACHE")}
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        env={**base, "XDG_CACHE_HOME": str(tmp_path)}, check=True).stdout.strip()
    assert on == f"--tf_xla_persistent_cache_directory={cache.xla_cache_dir({'XDG_CACHE_HOME': str(tmp_path)})}"
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**base, "VAE_TF_CACHE": "off"}, check=True).stdout.strip()
    assert off == ""


def test_threads_per_worker_share_this_hosts_cores_among_its_workers():
    def config(addresses, index=0):
        return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})

    cores = len(os.sched_getaffinity(0))
    assert threads_per_worker(tf_config=config(["localhost:1", "localhost:2"])) == max(1, cores // 2)
    assert threads_per_worker(tf_config=config(["localhost:1", "other:2"])) == cores
    assert threads_per_worker(tf_config=config(["a:1", "b:1", "b:2", "b:3"], index=2)) == max(1, cores // 3)


def test_the_faster_mutual_information_is_the_same_number():
    rng = np.random.default_rng(3)
    z_mean, z_log_var = rng.normal(size=(700, 3)), rng.normal(scale=0.3, size=(700, 3)) - 1.0
    z = rng.normal(size=(50, 3))
    direct = -0.5 * (3 * np.log(2 * np.pi) + z_log_var[None].sum(-1)
                     + ((z[:, None, :] - z_mean[None]) ** 2 * np.exp(-z_log_var[None])).sum(-1))
    np.testing.assert_allclose(diagnostics.log_posterior_matrix(z, z_mean, z_log_var), direct, rtol=1e-10)
    from scipy.special import logsumexp

    matrix = direct.copy()
    np.testing.assert_allclose(diagnostics._logsumexp_rows(matrix), logsumexp(direct, axis=1), rtol=1e-12)
    assert diagnostics.mutual_information(z_mean, z_log_var, scored=300, seed=1, chunk=64) == pytest.approx(
        diagnostics.mutual_information(z_mean, z_log_var, scored=300, seed=1, chunk=1000), rel=1e-12)


def test_bench_prints_the_phases_and_both_floors():
    result = subprocess.run([sys.executable, "-m", "vae_tf.bench", "--limit", "500", "--epochs", "2", "--runs", "1"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for text in ("phases of `python -m vae_tf.train --epochs 2`", "first_epoch", "peak memory",
                 "floor, 2048 x 2048 matmuls:", "floor, the step's matmuls at their shapes:"):
        assert text in result.stdout, result.stdout


def test_the_all_reduce_floor_times_real_all_reduces_between_two_pinned_workers():
    import os

    from vae_tf.benchmarks.workers import collective_floor

    result = {}
    seconds = collective_floor(sorted(os.sched_getaffinity(0))[:2], size=1000, steps=20, result=result)
    assert seconds == result["seconds"] and 0 < seconds < 60
    assert result["sum"] == 2.0  # each of the two workers adds its ones: the all-reduce really ran


def test_a_benchmarks_process_peak_is_its_own_not_the_benchmarks():
    # Python starts commands with vfork, whose exec carries the parent's peak into the child's ru_maxrss:
    # a benchmark that once held 1 GiB would report 1 GiB for every process it starts after.
    from vae_tf.benchmarks.processes import run_process

    held = np.ones(2**30 // 8)  # this process's peak: at least 1 GiB
    del held
    small = run_process([sys.executable, "-c", "import sys; sys.exit(3)"])
    large = run_process([sys.executable, "-c", "import numpy as np; a = np.ones(2**28 // 8); a += 1"])
    assert small["returncode"] == 3 and large["returncode"] == 0
    assert small["peak_rss_mib"] < 100
    assert 256 < large["peak_rss_mib"] < 400
