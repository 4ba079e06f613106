"""The commands that use a trained model, on a run trained on streamed data (`shards:DIR`): each reads the
images chunk by chunk or only the few it shows, never the whole split (docs/data.md, "Data bigger than memory").

One tiny run trained on shards of scikit-learn's digits, packed in the source's order, serves every test:
its test split is then `load_data("digits").x_test` image for image, so a streamed command can be checked
against the model's own functions on the images held in memory.
"""

import json
import shutil

import numpy as np
import pytest

from vae_tf import compress as compress_command
from vae_tf import encode as encode_command
from vae_tf import interpolate as interpolate_command
from vae_tf import plot as plot_command
from vae_tf import reconstruct as reconstruct_command
from vae_tf import score as score_command
from vae_tf import traverse as traverse_command
from vae_tf.analysis import evaluation, use
from vae_tf.analysis.scoring import score_images, score_run
from vae_tf.config import TrainConfig
from vae_tf.data import shards as shards_module
from vae_tf.data import streaming
from vae_tf.data.opening import open_data
from vae_tf.data.packing import pack
from vae_tf.data.sources import load_data
from vae_tf.rundir import Run
from vae_tf.training import explained
from vae_tf.training.run import train

CHUNK = 40  # test images per chunk in these tests (the default chunk holds about 4 MiB: all of digits)


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    """(the run trained on shards:DIR, DIR, the digits in memory)."""
    root = tmp_path_factory.mktemp("streamed")
    shards = root / "shards"
    shards.mkdir()
    pack("digits", shards, progress=lambda line: None, keep_order=True)
    run = Run.open(train(TrainConfig(dataset=f"shards:{shards}", epochs=1, batch_size=64, xla="off"),
                         root / "run", verbose=0))
    assert run.config["data"]["stream"]["streamed"]
    return run, shards, load_data("digits")


@pytest.fixture
def small_chunks(streamed, monkeypatch):
    """Streams read in chunks of `CHUNK` images, so that the test split takes several."""
    monkeypatch.setattr(streaming, "CHUNK_BYTES", CHUNK * open_data(f"shards:{streamed[1]}").spec.pixels)


@pytest.fixture
def never_whole(monkeypatch):
    """Reading the shards whole (`vae_tf.data.shards.read_arrays`, the in-memory path) fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("the shards were read whole")

    monkeypatch.setattr(shards_module, "read_arrays", refuse)


def in_memory_copy(run, out):
    """A copy of `run` that reads its data whole, as a run trained on data in memory does."""
    shutil.copytree(run.path, out)
    config = json.loads((out / "config.json").read_text())
    del config["data"]["stream"]
    (out / "config.json").write_text(json.dumps(config))
    return Run.open(out)


def test_evaluate_on_a_stream_gives_the_in_memory_figures(streamed, small_chunks, tmp_path):
    run, _, digits = streamed
    on_stream = evaluation.evaluate_run(run, k=8)
    in_memory = evaluation.evaluate_run(in_memory_copy(run, tmp_path / "whole"), k=8)
    assert on_stream["test_images"] == in_memory["test_images"] == len(digits.x_test) == 297
    assert on_stream["overall"] == pytest.approx(in_memory["overall"], rel=1e-5)
    assert on_stream["per_class"].keys() == in_memory["per_class"].keys()
    for name, figures in in_memory["per_class"].items():
        assert on_stream["per_class"][name] == pytest.approx(figures, rel=1e-5)
    assert on_stream["diagnostics"]["active_units"] == in_memory["diagnostics"]["active_units"]
    assert on_stream["diagnostics"]["kl_per_dimension"] == pytest.approx(in_memory["diagnostics"]["kl_per_dimension"],
                                                                         rel=1e-5)
    for name in ("model", "mean_colour", "pca"):
        assert on_stream["explained_variance"][name] == pytest.approx(in_memory["explained_variance"][name], rel=1e-5)


def test_evaluate_reads_a_streamed_test_split_a_chunk_at_a_time(streamed, small_chunks, monkeypatch):
    run, _, _ = streamed
    measured_at_once, heads = [], []
    sample = evaluation.importance_sampled

    def counted(vae, x, *rest, **options):
        measured_at_once.append(len(x))
        return sample(vae, x, *rest, **options)

    monkeypatch.setattr(evaluation, "importance_sampled", counted)
    head = streaming.Stream.head
    monkeypatch.setattr(streaming.Stream, "head",
                        lambda self, split, count: heads.append((split, count)) or head(self, split, count))
    monkeypatch.setattr(explained, "TEST_IMAGES", 50)  # the explained variance's own cap (10,000 images)
    result = evaluation.evaluate_run(run, k=4)
    assert result["test_images"] == sum(measured_at_once) == 297
    assert max(measured_at_once) <= CHUNK  # never more than a chunk of test images at once
    assert max(count for split, count in heads if split == "test") <= 50
    assert result["explained_variance"]["test_images"] == 50


def test_encode_writes_the_codes_of_every_streamed_image_in_order(streamed, small_chunks, never_whole, tmp_path,
                                                                 monkeypatch):
    run, shards, digits = streamed
    vae = run.model()
    encoded_at_once = []
    encode_images = use.encode_images
    monkeypatch.setattr(use, "encode_images",
                        lambda vae, x, *args: encoded_at_once.append(len(x)) or encode_images(vae, x, *args))
    test = use.encode(run)
    assert sum(encoded_at_once) == 297 and max(encoded_at_once) <= CHUNK
    assert np.allclose(test["codes"]["z_mean"], vae.encode(digits.x_test)[0], atol=1e-6)
    assert np.allclose(test["codes"]["z_log_var"], vae.encode(digits.x_test)[1], atol=1e-6)
    assert np.array_equal(test["labels"], digits.y_test)
    out = tmp_path / "codes.npz"
    assert encode_command.main([str(run.path), "--dataset", f"shards:{shards}", "--split", "train",
                                "--out", str(out)]) == 0
    with np.load(out) as codes:
        assert codes["z_mean"].shape == (len(digits.x_train), vae.latent_dim)
        assert np.allclose(codes["z_mean"], vae.encode(digits.x_train)[0], atol=1e-6)


def test_score_a_streamed_run_and_a_streamed_reference(streamed, small_chunks, never_whole, tmp_path):
    run, shards, digits = streamed
    found = score_run(run, k=4, reference=f"shards:{shards}", limit=100)
    expected = score_images(run.model(), digits.x_test[:100], k=4)
    assert found["images"] == found["reference_images"] == 100
    assert [row["neg_iwae_nats"] for row in found["rows"]] == pytest.approx(expected["neg_iwae_nats"], rel=1e-5)
    assert [row["label"] for row in found["rows"]] == list(digits.y_test[:100])
    assert all(value == pytest.approx(0.5) for value in found["auroc"].values())  # the same images: chance
    out = tmp_path / "scores.csv"
    assert score_command.main([str(run.path), "--out", str(out), "--k", "2", "--verbose", "0"]) == 0
    assert len(out.read_text().splitlines()) == 1 + 297


def test_reconstruct_interpolate_traverse_and_plot_a_streamed_run(streamed, small_chunks, never_whole, tmp_path,
                                                                 monkeypatch):
    run, shards, digits = streamed
    heads = []
    head = streaming.Stream.head
    monkeypatch.setattr(streaming.Stream, "head",
                        lambda self, split, count: heads.append(count) or head(self, split, count))
    monkeypatch.setattr(use, "USAGE_IMAGES", 10)  # traverse's own cap (1,000 images) on the KL measure
    images, decoded = use.reconstruct(run, n=5)
    assert np.array_equal(images, digits.x_test[:5]) and decoded.shape == (5, 8, 8, 1)
    assert np.array_equal(use.reconstruct(run, f"shards:{shards}", n=3, split="train")[0], digits.x_train[:3])
    path = use.interpolate(run, 0, 290, steps=4)
    assert np.allclose(path["ends"][1], digits.x_test[290], atol=1e-6) and path["labels"] == ["test 0", "test 290"]
    walk = use.traverse(run, at=200, steps=3)
    assert np.allclose(walk["base"], run.model().posterior_mean(digits.x_test[200:201])[0], atol=1e-6)
    assert max(heads) <= 10  # the few images shown, never the split
    for main, argv in [(reconstruct_command.main, ["--n", "4", "--out", str(tmp_path / "r.png")]),
                       (interpolate_command.main, ["--from", "1", "--to", "296", "--out", str(tmp_path / "i.png")]),
                       (traverse_command.main, ["--at", "296", "--out", str(tmp_path / "t.png")]),
                       (plot_command.main, ["--out", str(tmp_path / "figures")])]:
        assert main([str(run.path), *argv]) == 0
    assert (tmp_path / "r.png").is_file() and (tmp_path / "figures" / "reconstructions.png").is_file()


def test_a_command_that_reads_the_data_whole_refuses_a_streamed_run_too_large_for_it(streamed, tmp_path, refused):
    run, _, _ = streamed
    tight = in_memory_copy(run, tmp_path / "tight")  # the run as trained under --data-memory 20K: digits need 449 KiB
    config = json.loads((tight.path / "config.json").read_text())
    config["data"]["stream"] = run.config["data"]["stream"]
    config["config"]["data_memory"] = "20K"
    (tight.path / "config.json").write_text(json.dumps(config))
    refused(compress_command.main, [str(tight.path), "--out", str(tmp_path / "out")],
            f"{tight.path}: compress reads every image of the run's data into memory, 449 KiB, more than "
            "--data-memory 20K it streamed under; use compress on a run trained on data that fits")
    assert not (tmp_path / "out").exists()
