"""Data bigger than memory, under a hard memory limit: refused whole in one line, packed and trained streamed.

The test runs each command in a fresh memory cgroup with a hard limit L (`limited_run`): cgroup v1
(`memory.limit_in_bytes`, and `memory.memsw.limit_in_bytes` so that swap cannot hide memory) or v2
(`memory.max`, `memory.swap.max`), whichever this machine lets it create. The kernel kills a process
that needs more than L, so a command that finishes there with return code 0 and no OOM kill counted
(`memory.oom_control` / `memory.events`) ran within L; its peak resident memory (os.wait4's
ru_maxrss, taken by a small launcher so that it is the command's own) is checked below L too. (A
cgroup's own peak counts the page cache of the files read and written, which the kernel reclaims at
the limit: it is reported, and is L or below by construction.)
`ulimit -v` is no use here: TensorFlow reserves gigabytes of virtual memory it never touches.

Where no cgroup can be created (not root, no memory controller), the commands run unconfined with
--data-memory L/4 given, and the test checks the weaker claim: their peak resident memory is below L.

The data set: 2 L of float32 images 32 x 32 x 3 (12 KiB each: a quarter of the pixels of uint8
images of the same size in bytes, so that an epoch takes seconds), written into an uncompressed .npz
a piece at a time, never whole in memory.
"""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from vae_tf import train as train_command
from vae_tf.benchmarks.processes import LAUNCHER
from vae_tf.data.streaming import describe_bytes

LIMIT = int(2.5 * 2**30)  # L: training peaks near 2 GiB (TensorFlow, the model, its PCA baseline at the end)
SHAPE = (32, 32, 3)
TEST_IMAGES = 1_000
NOISE = ("I0000", "W0000", "E0000", "WARNING: All log messages")  # TensorFlow's start-up lines


def big_npz(path: Path, nbytes: int, seed: int = 0) -> int:
    """Write an uncompressed .npz of float32 images SHAPE (x_train, x_test, y_train, y_test) of at least
    `nbytes` of images, a piece at a time; return the training images' count."""
    image_bytes = int(np.prod(SHAPE)) * 4
    train_images = -(-nbytes // image_bytes) - TEST_IMAGES
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, count in (("x_train", train_images), ("x_test", TEST_IMAGES)):
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_1_0(
                    member, {"descr": "<f4", "fortran_order": False, "shape": (count, *SHAPE)})
                for start in range(0, count, 8192):
                    # Blocky images (a 4 x 4 pattern, repeated) of levels (k + 0.5) / 256: not k / 255, so float32.
                    low = (rng.integers(0, 256, (min(8192, count - start), 4, 4, SHAPE[2])) + 0.5) / 256
                    member.write(low.astype(np.float32).repeat(8, axis=1).repeat(8, axis=2).tobytes())
        for name, count in (("y_train", train_images), ("y_test", TEST_IMAGES)):
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, rng.integers(0, 4, count).astype(np.int32))
    return train_images


def memory_cgroup(limit: int):
    """A new memory cgroup directory limited to `limit` bytes, and its version ("v1" or "v2"); (None, None)
    when this process may not create one. The caller removes it (os.rmdir) once its processes ended."""
    name = f"vae_tf-test-{os.getpid()}-{time.monotonic_ns()}"
    own = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            number, controllers, path = line.split(":", 2)
            own["v1" if "memory" in controllers.split(",") else "v2" if number == "0" else "-"] = path
    except OSError:
        pass
    candidates = [("v1", Path("/sys/fs/cgroup/memory")), ("v2", Path("/sys/fs/cgroup/unified")),
                  ("v2", Path("/sys/fs/cgroup"))]
    for version, mount in candidates:
        limit_file = "memory.limit_in_bytes" if version == "v1" else "memory.max"
        if version == "v1" and not (mount / limit_file).exists():
            continue
        for parent in (mount / own.get(version, "/").lstrip("/"), mount):
            group = parent / name
            try:
                group.mkdir()
            except OSError:
                continue
            try:
                if version == "v2" and not (group / limit_file).exists():
                    (parent / "cgroup.subtree_control").write_text("+memory")
                (group / limit_file).write_text(str(limit))
                swap = group / ("memory.memsw.limit_in_bytes" if version == "v1" else "memory.swap.max")
                if swap.exists():
                    swap.write_text(str(limit) if version == "v1" else "0")
                return group, version
            except OSError:
                os.rmdir(group)
    return None, None


def oom_kills(group: Path, version: str) -> int:
    """OOM kills the kernel counted in `group`."""
    text = (group / ("memory.oom_control" if version == "v1" else "memory.events")).read_text()
    counts = dict(line.split() for line in text.splitlines() if len(line.split()) == 2)
    return int(counts.get("oom_kill", 0))


def limited_run(command: list[str], limit: int, log: Path) -> dict:
    """Run `command` to its end in a fresh memory cgroup limited to `limit` bytes (unconfined if none can be
    created): its return code, output (`log`), seconds, peak resident memory (ru_maxrss, bytes), and the
    cgroup's version, peak usage (bytes) and OOM kills."""
    group, version = memory_cgroup(limit)

    def enter():  # in the child, before it runs the command: everything it starts is confined too
        if group is not None:
            (group / "cgroup.procs").write_text(str(os.getpid()))

    start = time.perf_counter()
    figures = log.with_suffix(".figures")
    try:
        with open(log, "w") as output:
            # Through the benchmarks' small launcher, which waits for the command: ru_maxrss taken here would
            # start from pytest's own resident memory (a forked child's exec carries its parent's pages' count).
            process = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(figures), *command], stdout=output,
                                       stderr=subprocess.STDOUT, preexec_fn=enter, start_new_session=True)
            try:
                process.wait()
            except BaseException:  # interrupted: the cgroup is removed only once its processes are gone
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise
        returncode, peak_kib = (int(value) for value in figures.read_text().split())
        result = {"returncode": returncode, "seconds": time.perf_counter() - start, "peak_rss": peak_kib * 1024,
                  "cgroup": version, "cgroup_peak": None, "oom_kills": 0,
                  "output": [line for line in log.read_text().splitlines()
                             if line.strip() and not line.startswith(NOISE)]}
        if group is not None:
            peak = group / ("memory.max_usage_in_bytes" if version == "v1" else "memory.peak")
            result["cgroup_peak"] = int(peak.read_text()) if peak.exists() else None
            result["oom_kills"] = oom_kills(group, version)
        return result
    finally:
        if group is not None:
            os.rmdir(group)


def describe(result: dict) -> str:
    peak = "n/a" if result["cgroup_peak"] is None else f"{result['cgroup_peak'] / 2**20:,.0f} MiB"
    return (f"rc {result['returncode']}, {result['seconds']:.0f} s, peak RSS {result['peak_rss'] / 2**20:,.0f} MiB, "
            f"cgroup {result['cgroup']} peak {peak}, OOM kills {result['oom_kills']}")


def test_a_data_set_twice_the_memory_limit_is_refused_whole_and_packed_and_trained_streamed_under_it(
        tmp_path, refused):
    big = tmp_path / "big.npz"
    train_images = big_npz(big, 2 * LIMIT)
    need = (train_images + TEST_IMAGES) * int(np.prod(SHAPE)) * 4
    assert need >= 2 * LIMIT and big.stat().st_size >= need
    group, _ = memory_cgroup(LIMIT)
    if group is not None:
        os.rmdir(group)
    budget = [] if group is not None else ["--data-memory", str(LIMIT // 4)]  # the cgroup's: its limit / 4
    python = [sys.executable, "-m"]

    # The in-memory path, refused before a pixel is read: in-process (the exact line) and under the limit.
    # (the float32 images as stored, and the copy the loader makes)
    refused(train_command.main, ["--dataset", f"npz:{big}", "--data-memory", "1G", "--out", str(tmp_path / "no")],
            f"--dataset npz:{big}: its images need {describe_bytes(2 * need)} in memory, more than --data-memory "
            f"1G; stream them instead: python -m vae_tf.data pack npz:{big} --out DIR, then --dataset shards:DIR")
    refusal = limited_run([*python, "vae_tf.train", "--dataset", f"npz:{big}", *budget, "--out", str(tmp_path / "no")],
                          LIMIT, tmp_path / "refused.log")
    print("refused:", describe(refusal))
    assert refusal["returncode"] == 1 and len(refusal["output"]) == 1, refusal["output"]
    assert refusal["output"][0].startswith(f"error: --dataset npz:{big}: its images need ")
    if group is not None:  # the default budget is a quarter of the cgroup's limit, not of the machine's memory
        quarter = f"({describe_bytes(LIMIT // 4)}, a quarter of this process's cgroup memory limit)"
        assert quarter in refusal["output"][0]
    assert not (tmp_path / "no").exists()
    print(f"limit {LIMIT / 2**20:,.0f} MiB; data {need / 2**20:,.0f} MiB ({train_images:,} + {TEST_IMAGES:,} images)")

    # Packed a shard at a time, then trained streamed: both under the limit.
    shards = tmp_path / "shards"
    packing = limited_run([*python, "vae_tf.data", "pack", f"npz:{big}", *budget, "--out", str(shards)], LIMIT,
                          tmp_path / "pack.log")
    print("pack:", describe(packing))
    assert packing["returncode"] == 0 and packing["oom_kills"] == 0, packing["output"][-3:]
    assert packing["output"][0].startswith(f"reading npz:{big} a shard at a time")
    assert packing["peak_rss"] < LIMIT
    big.unlink()  # the disk holds one copy at a time
    out = tmp_path / "run"
    training = limited_run([*python, "vae_tf.train", "--dataset", f"shards:{shards}", *budget, "--epochs", "1",
                            "--batch-size", "1024", "--hidden-units", "16", "--latent-dim", "2", "--no-validation",
                            "--no-snapshots", "--verbose", "2", "--out", str(out)], LIMIT, tmp_path / "train.log")
    print("train:", describe(training))
    assert training["returncode"] == 0 and training["oom_kills"] == 0, training["output"][-3:]
    assert training["peak_rss"] < LIMIT
    assert training["cgroup"] is None or training["cgroup_peak"] <= LIMIT
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 2 and np.isfinite(float(history[1].split(",")[1]))
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["stream"]["streamed"] and config["data"]["dtype"] == "float32"
    with np.load(out / "latents.npz") as latents:
        assert latents["z"].shape == (train_images, 2)


def test_an_npz_over_the_budget_packs_a_shard_at_a_time_into_the_shards_of_the_in_memory_path(tmp_path):
    from vae_tf.data.packing import pack

    rng = np.random.default_rng(3)
    arrays = {"x_train": rng.random((700, 6, 6)), "x_test": rng.integers(0, 256, (60, 6, 6, 1), dtype=np.uint8),
              "y_train": rng.integers(2, 5, 700), "y_test": rng.integers(2, 5, 60)}  # float64: held as float32

    def packed(name, data_memory, shard_bytes, save=np.savez, **changed):
        source = tmp_path / f"{name}.npz"
        save(source, **{**arrays, **changed})
        out = tmp_path / name
        out.mkdir()
        lines = []
        index = pack(f"npz:{source}", out, data_memory=data_memory, shard_bytes=shard_bytes, progress=lines.append)
        images = np.concatenate([np.load(out / shard["file"]) for shard in index["splits"]["train"]["shards"]])
        return index, images, lines

    whole, images, lines = packed("whole", "1G", 2**20)
    assert len(whole["splits"]["train"]["shards"]) == 1 and not lines[0].startswith("reading")
    for name, save in (("stored", np.savez), ("compressed", np.savez_compressed)):  # 25 and 7 shards
        chunked, chunked_images, lines = packed(name, "10K", 4_000 if name == "stored" else 16_000, save)
        assert lines[0].startswith(f"reading npz:{tmp_path / name}.npz a shard at a time: its images need")
        assert len(chunked["splits"]["train"]["shards"]) > 5 and not list((tmp_path / name).glob(".*"))
        assert np.array_equal(chunked_images, images) and chunked_images.dtype == np.float32
        assert chunked["fingerprint"] == whole["fingerprint"]  # whatever the shard size
        assert {**chunked["source"], "source": "", "path": ""} == {**whole["source"], "source": "", "path": ""}
        assert chunked["class_names"] == ["2", "3", "4"]

    changed_image = arrays["x_test"].copy()
    changed_image[59, 0, 0, 0] ^= 1
    changed, _, _ = packed("changed", "10K", 4_000, x_test=changed_image)
    assert changed["fingerprint"] != whole["fingerprint"]
    assert changed["source"]["fingerprint"] != whole["source"]["fingerprint"]


def test_the_default_budget_is_a_quarter_of_the_lowest_memory_limit_on_the_process_s_own_cgroup_path(tmp_path):
    from vae_tf.data.streaming import cgroup_limits

    root = tmp_path / "cgroup"
    for folder, name, value in (("memory", "memory.limit_in_bytes", "9223372036854771712"),  # v1: unlimited
                                ("memory/jobs", "memory.limit_in_bytes", str(3 * 2**30)),
                                ("memory/jobs/test", "memory.limit_in_bytes", str(2**30)),
                                ("unified/jobs", "memory.max", "max"),
                                ("unified/jobs/box", "memory.max", str(5 * 2**30))):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / name).write_text(value + "\n")
    membership = tmp_path / "self-cgroup"
    membership.write_text("5:memory:/jobs/test\n4:cpu,cpuacct:/other\n0::/jobs/box\n")
    assert sorted(cgroup_limits(str(root), str(membership))) == [2**30, 3 * 2**30, 5 * 2**30]
    membership.write_text("0::/\n")  # a container's own view: the root's files only
    assert cgroup_limits(str(root), str(membership)) == []
