"""Data bigger than memory: shards, streamed folders and TFDS, trained with bounded memory (docs/data.md).

The claim under a hard memory limit (a data set twice the limit, refused whole, packed and trained
streamed within it) is tests/test_memory_limit.py's; these tests check what streaming gives: the
in-memory path's losses and pixels, resuming mid-run, a TFDS source.
"""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from vae_tf import train as train_command
from vae_tf.benchmarks.processes import run_process
from vae_tf.config import TrainConfig
from vae_tf.data.opening import open_data
from vae_tf.data.packing import pack
from vae_tf.data.shards import ShardStream
from vae_tf.data.sources import load_data
from vae_tf.rundir import Run
from vae_tf.training.run import train

LIMIT = "20M"  # the --data-memory of the resume test
SHAPE = (32, 32, 3)


def random_npz(path, train_images, test_images=500, seed=0):
    rng = np.random.default_rng(seed)
    # Smooth-ish images (a low-resolution pattern, repeated): something a VAE can learn a little of.
    low = rng.integers(0, 256, (train_images + test_images, 8, 8, 3), dtype=np.uint8)
    images = low.repeat(4, axis=1).repeat(4, axis=2)
    np.savez(path, x_train=images[:train_images], x_test=images[train_images:],
             y_train=rng.integers(0, 4, train_images), y_test=rng.integers(0, 4, test_images))
    return path


def packed(source, out, **options):
    out.mkdir()
    pack(source, out, progress=lambda line: None, **options)
    return out


def train_cli(*args):
    return [sys.executable, "-m", "vae_tf.train", "--verbose", "0", "--epochs", "2", "--xla", "off", *args]


def epochs_done(run_dir):
    try:
        return json.loads((run_dir / "checkpoint" / "state.json").read_text())["epochs_done"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def test_a_streamed_run_killed_mid_run_resumes_and_streams_the_remaining_epochs(tmp_path, refused):
    big = random_npz(tmp_path / "big.npz", 15_500)  # 16,000 images of 3,072 bytes: 47 MiB, over the budget
    refused(train_command.main, ["--dataset", f"npz:{big}", "--data-memory", LIMIT, "--out", str(tmp_path / "no")],
            f"--dataset npz:{big}: its images need 47 MiB in memory, more than --data-memory {LIMIT}; stream them "
            f"instead: python -m vae_tf.data pack npz:{big} --out DIR, then --dataset shards:DIR")
    assert not (tmp_path / "no").exists() or not any((tmp_path / "no").iterdir())
    shards = packed(f"npz:{big}", tmp_path / "big-shards", shard_bytes=2**20)  # shards of 1 MiB

    # Killed mid-run and resumed: the resumed process streams the remaining epochs.
    out = tmp_path / "big-run"
    process = subprocess.Popen(train_cli("--dataset", f"shards:{shards}", "--data-memory", LIMIT,
                                         "--out", str(out)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while epochs_done(out) < 1 and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert epochs_done(out) == 1, "the kill should land mid-run"
    resumed = run_process([sys.executable, "-m", "vae_tf.train", "--resume", str(out), "--verbose", "0"])
    assert resumed["returncode"] == 0
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 3 and all(np.isfinite(float(row.split(",")[1])) for row in history[1:])
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["stream"]["streamed"] and "permutation" in config["data"]["stream"]["shuffle"]
    assert config["config"]["data_memory"] == LIMIT
    with np.load(out / "latents.npz") as latents:
        latent_dim = config["config"]["latent_dim"]  # off the report's data: chosen (docs/defaults.md)
        assert latents["z"].shape == (15_500, latent_dim) and latents["y"].shape == (15_500,)


@pytest.fixture(scope="module")
def digits_in_memory(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits"
    train(TrainConfig(dataset="digits", epochs=2, batch_size=64), out, verbose=0)
    return Run.open(out)


def test_shards_train_as_the_in_memory_path_does(digits_in_memory, tmp_path):
    # One shard in the source's order: the in-memory path's batches exactly, so its losses to the last bit.
    one = packed("digits", tmp_path / "one", keep_order=True)
    run = Run.open(train(TrainConfig(dataset=f"shards:{one}", epochs=2, batch_size=64),
                         tmp_path / "one-run", verbose=0))
    expected = digits_in_memory.history()
    assert [row["loss"] for row in run.history()] == [row["loss"] for row in expected]
    assert run.config["data"]["options"]["packed_from"] == "digits"

    # Nine shards, mixed: other batches (shard order and a permutation within each shard), the same
    # data: epoch losses within a few percent.
    nine = packed("digits", tmp_path / "nine", shard_bytes=60 * 2**10)
    stream = open_data(f"shards:{nine}")
    assert isinstance(stream, ShardStream) and len(stream.shards["train"]) == 7
    epoch = [np.concatenate(list(stream.epoch_blocks("train", 0, e).as_numpy_iterator())) for e in (0, 0, 1)]
    assert np.array_equal(epoch[0], epoch[1]) and not np.array_equal(epoch[0], epoch[2])  # a function of (seed, epoch)
    digits = load_data("digits")
    assert np.array_equal(np.sort(epoch[0].ravel()), np.sort(digits.x_train.ravel()))  # every image, once
    assert np.array_equal(stream.head("test", 297), digits.x_test)  # the test split in the source's order
    mixed = Run.open(train(TrainConfig(dataset=f"shards:{nine}", epochs=2, batch_size=64, xla="off"),
                           tmp_path / "nine-run", verbose=0))
    for row, reference in zip(mixed.history(), expected, strict=True):
        assert row["loss"] == pytest.approx(reference["loss"], rel=0.03)


def test_a_folder_larger_than_the_budget_streams_the_pixels_of_the_in_memory_path(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    for label in ("cats", "dogs"):
        (tmp_path / "photos" / label).mkdir(parents=True)
        for number in range(25):
            Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(
                tmp_path / "photos" / label / f"{number}.png")
    options = {"image_size": (8, 6), "color": "grayscale"}
    whole = load_data(f"folder:{tmp_path / 'photos'}", **options)
    stream = open_data(f"folder:{tmp_path / 'photos'}", data_memory="1K", **options)
    assert type(stream).__name__ == "FolderStream" and stream.spec.image_shape == (8, 6, 1)
    assert np.array_equal(stream.head("train", 100), whole.x_train)  # Pillow's pixels, read in tf.data
    assert np.array_equal(stream.labels["train"], whole.y_train) and np.array_equal(stream.labels["test"], whole.y_test)
    assert open_data(f"folder:{tmp_path / 'photos'}", data_memory="1M", **options).x_train.shape == (45, 8, 6, 1)


def test_a_tfds_data_set_built_offline_trains_evaluates_and_plots(tmp_path):
    import tensorflow_datasets as tfds

    from vae_tf.analysis.evaluation import evaluate_run
    from vae_tf.plot import write_figures

    class VaeTfTinyShapes(tfds.core.GeneratorBasedBuilder):
        """Greyscale 12 x 12 squares and bars, made here: no download."""

        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(12, 12, 1)),
                "label": tfds.features.ClassLabel(names=["square", "bar"])}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(300, 0), "test": self._generate_examples(60, 1)}

        def _generate_examples(self, count, seed):
            rng = np.random.default_rng(seed)
            for key in range(count):
                image = np.zeros((12, 12, 1), np.uint8)
                label = int(rng.integers(2))
                row, col = rng.integers(0, 6, 2)
                image[row:row + (6 if label == 0 else 2), col:col + 6] = 255
                yield key, {"image": image, "label": label}

    data_dir = tmp_path / "tfds"
    VaeTfTinyShapes(data_dir=str(data_dir)).download_and_prepare()
    source = "tfds:vae_tf_tiny_shapes"
    whole = load_data(source, data_dir=str(data_dir))
    assert whole.x_train.shape == (300, 12, 12, 1) and whole.spec.class_names == ("square", "bar")
    stream = open_data(source, data_dir=str(data_dir), data_memory="1K")
    assert np.array_equal(stream.head("test", 60), whole.x_test)

    run = Run.open(train(TrainConfig(dataset=source, data_dir=str(data_dir), data_memory="1K", epochs=2,
                                     batch_size=32, xla="off"), tmp_path / "run", verbose=0))
    assert run.config["data"]["stream"]["streamed"] and len(run.history()) == 2
    evaluation = evaluate_run(run, k=8)
    assert evaluation["test_images"] == 60 and set(evaluation["per_class"]) == {"square", "bar"}
    (tmp_path / "figures").mkdir()
    written = write_figures(run, tmp_path / "figures", progress=lambda line: None)
    assert {path.name for path in written} >= {"latent_scatter.png", "reconstructions.png"}


def test_shards_read_whole_carry_the_fingerprint_their_stream_records(tmp_path):
    # compress and ppca read a shards run's data whole: the run's recorded (stream) fingerprint must
    # match, or every such command would print that the data "changed since" the run was trained.
    shards = packed(f"npz:{random_npz(tmp_path / 'small.npz', 300, 100)}", tmp_path / "shards", shard_bytes=200 * 3072)
    streamed = ShardStream.open(str(shards)).spec
    whole = load_data(f"shards:{shards}").spec
    assert len(json.loads((shards / "index.json").read_text())["splits"]["train"]["shards"]) > 1
    assert whole.fingerprint == streamed.fingerprint
