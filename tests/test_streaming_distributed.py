"""Every training path on a streamed data set: a cluster's workers each read their own shards, mirrored
replicas, the report's `--no-fast` path, and resumed epochs (docs/data.md, "How a cluster reads a stream").

The cluster runs real `python -m vae_tf.train` processes on localhost, as tests/test_multiworker.py does.
"""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from test_multiworker import fingerprint_printed, finish, start, start_cluster
from test_streaming import packed

from vae_tf.config import TrainConfig
from vae_tf.data.opening import open_data
from vae_tf.rundir import Run, load_model
from vae_tf.train import main
from vae_tf.training.agreement import stream_fingerprint
from vae_tf.training.distributed import weights_fingerprint
from vae_tf.training.streams import pipeline_share, stream_fit_inputs, stream_problem

# 1,001 digits in batches of 64: 16 steps an epoch, the last of 41 images split 20 + 21 between two replicas.
RUN = ["--limit", "1001", "--batch-size", "64", "--verbose", "2"]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Digits packed into 19 training shards of about 20 KiB (80 images each)."""
    return packed("digits", tmp_path_factory.mktemp("data") / "shards", shard_bytes=20 * 2**10)


def whole_epoch(stream, epoch, rows=None):
    return np.concatenate(list(stream.epoch_blocks("train", 7, epoch, rows).as_numpy_iterator()))


def test_the_workers_stretches_of_an_epoch_cover_it_once_and_run_equal_steps(shards, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    (tmp_path / "photos" / "all").mkdir(parents=True)
    for number in range(41):
        image = Image.fromarray(rng.integers(0, 256, (6, 5), dtype=np.uint8))
        image.save(tmp_path / "photos" / "all" / f"{number}.png")
    folder = open_data(f"folder:{tmp_path / 'photos'}", data_memory="1K")
    for stream in (open_data(f"shards:{shards}", limit=1001), folder):
        images = stream.counts["train"]
        shares = [pipeline_share(images, 16, 2, worker, 1) for worker in range(2)]
        (first, first_sizes), (second, second_sizes) = shares
        assert first[0] == 0 and first[1] == second[0] and second[1] == images  # consecutive, covering the epoch
        assert len(first_sizes) == len(second_sizes) == -(-images // 16)  # the same steps on both workers
        steps = [16] * (len(first_sizes) - 1) + [images - 16 * (len(first_sizes) - 1)]
        assert [a + b for a, b in zip(first_sizes, second_sizes, strict=True)] == steps  # each step's batch, cut in two
        # A worker of two replicas (of four) reads what its two replicas would read as two workers.
        assert pipeline_share(images, 16, 4, 2, 2) == (
            (pipeline_share(images, 16, 4, 2, 1)[0][0], pipeline_share(images, 16, 4, 3, 1)[0][1]),
            [a + b for a, b in zip(pipeline_share(images, 16, 4, 2, 1)[1], pipeline_share(images, 16, 4, 3, 1)[1])])
        for epoch in (0, 1):
            # Worker 0's stretch, then worker 1's: exactly the one-process epoch, a function of (seed, epoch).
            parts = [whole_epoch(stream, epoch, rows) for rows, _ in shares]
            assert [len(part) for part in parts] == [sum(first_sizes), sum(second_sizes)]
            assert np.array_equal(np.concatenate(parts), whole_epoch(stream, epoch))


@pytest.fixture(scope="module")
def uninterrupted(shards, tmp_path_factory):
    """A cluster's run of two epochs: the chief's run directory and both workers' stdout."""
    tmp_path = tmp_path_factory.mktemp("cluster")
    chief_out, other_out = tmp_path / "chief" / "run", tmp_path / "other" / "run"
    workers = start_cluster(lambda i: ["--dataset", f"shards:{shards}", *RUN, "--epochs", "2", "--strategy",
                                       "multiworker", "--out", str(chief_out if i == 0 else other_out)], tmp_path)
    (code0, out0, err0), (code1, out1, err1) = finish(workers[0]), finish(workers[1])
    assert (code0, code1) == (0, 0), (err0[-3000:], err1[-3000:])
    assert not other_out.parent.exists()
    return chief_out, out0, out1


def test_two_workers_each_read_their_own_shards_and_end_with_equal_weights(shards, uninterrupted):
    chief_out, out0, out1 = uninterrupted
    assert "; streamed" in out0.splitlines()[0] and ", 2 replicas" in out0.splitlines()[0]
    assert fingerprint_printed(out0) == fingerprint_printed(out1) != []
    assert fingerprint_printed(out0) == [weights_fingerprint(load_model(chief_out / "model.keras").get_weights())]

    # What each worker read in the first epoch: its own shards; one shard is cut between the two, each
    # reading its own rows of it; together every shard once (1,001 images: 12 shards of 80 and 41 of a 13th).
    used = len(open_data(f"shards:{shards}", limit=1001).shards["train"])
    reads = json.loads((chief_out / "config.json").read_text())["data"]["stream"]["workers"]
    assert [worker["images"] for worker in reads] == [15 * 32 + 20, 15 * 32 + 21]
    whole = [set(name for name in worker["reads"] if "[" not in name) for worker in reads]
    cut = [[name for name in worker["reads"] if "[" in name] for worker in reads]
    assert not whole[0] & whole[1] and len(whole[0] | whole[1]) == used - 1 == 12
    assert cut[0] == [cut[0][0]] and cut[1] == [cut[1][0]] and cut[0][0].split(" ")[0] == cut[1][0].split(" ")[0]
    assert len(Run.open(chief_out).history()) == 2


def test_mirrored_replicas_on_a_stream_train_what_one_device_trains(shards, tmp_path):
    two = ["--dataset", f"shards:{shards}", *RUN, "--epochs", "2"]
    mirrored = start([*two, "--strategy", "mirrored", "--devices", "/cpu:0", "/cpu:1",
                      "--out", str(tmp_path / "mirrored")], tmp_path)
    # The report's Keras path on the stream: its batches are the stream's, as float64 in [0, 1].
    assert main([*two, "--no-fast", "--out", str(tmp_path / "no-fast")]) == 0
    alone = Run.open(tmp_path / "no-fast")
    assert "--no-fast" in alone.config["data"]["stream"]["batches"]
    code, stdout, stderr = finish(mirrored)
    assert code == 0, stderr[-3000:]
    assert ", 2 replicas" in stdout.splitlines()[0]
    # Two replicas of Keras' step each take their share of the same batches: the one-device losses,
    # up to the order of float32 sums.
    for row, expected in zip(Run.open(tmp_path / "mirrored").history(), alone.history(), strict=True):
        assert row["loss"] == pytest.approx(expected["loss"], rel=1e-5)


@pytest.mark.parametrize("fast", [True, False])
def test_a_resumed_stream_gives_the_uninterrupted_runs_batches(shards, fast):
    stream = open_data(f"shards:{shards}", limit=1001)
    config = TrainConfig(dataset=f"shards:{shards}", limit=1001, batch_size=64, epochs=3, fast=fast)

    def batches(first_epoch):
        inputs = stream_fit_inputs(stream, config, first_epoch, tf.distribute.get_strategy())
        return [tf.nest.flatten(element) for element in inputs["x"].as_numpy_iterator()]

    uninterrupted, resumed = batches(0), batches(1)
    assert len(resumed) == 2 * len(uninterrupted) // 3
    for mine, theirs in zip(resumed, uninterrupted[-len(resumed):], strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(mine, theirs, strict=True))
    if not fast:
        assert resumed[0][0].dtype == np.float64 and 0 <= resumed[0][0].min() and resumed[0][0].max() <= 1


def test_workers_agree_on_a_stream_by_its_fingerprint_and_tfds_is_packed_for_a_cluster(shards, tmp_path):
    ours = stream_fingerprint(open_data(f"shards:{shards}"))
    assert ours == stream_fingerprint(open_data(f"shards:{shards}")) and ours["images"] == 1500
    reordered = packed("digits", tmp_path / "reordered", keep_order=True)  # the same images, other shards
    assert stream_fingerprint(open_data(f"shards:{reordered}"))["sha256"] != ours["sha256"]

    tfds = SimpleNamespace(spec=SimpleNamespace(name="tfds", source="tfds:beans"))
    problem = stream_problem(tfds, TrainConfig(dataset="tfds:beans", strategy="multiworker"))
    assert "python -m vae_tf.data pack tfds:beans --out DIR" in problem and "shards:DIR" in problem
    assert stream_problem(tfds, TrainConfig(dataset="tfds:beans", strategy="mirrored")) is None
