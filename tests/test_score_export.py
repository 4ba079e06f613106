"""`python -m vae_tf.score` and `python -m vae_tf.export`: scores per image, AUROC, and the exported
encoder and decoder run in the real runtimes (TensorFlow in a fresh process, onnxruntime, LiteRT)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from vae_tf import export as export_command
from vae_tf import score as score_command

TOLERANCE = 1e-5  # float32: the runtimes against VAE.encode and VAE.decode


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    """The report's MLP on 500 Fashion-MNIST images, 2 epochs at a learning rate that learns in 32 steps."""
    from vae_tf.config import TrainConfig
    from vae_tf.training.run import train

    settings = TrainConfig(limit=500, batch_size=32, epochs=2, learning_rate=3e-3)
    return train(settings, tmp_path_factory.mktemp("score") / "mlp", verbose=0)


@pytest.fixture(scope="module")
def conv_run(tmp_path_factory):
    """The conv model, barely trained: export only needs its weights."""
    from vae_tf.config import TrainConfig
    from vae_tf.training.run import train

    return train(TrainConfig(architecture="conv", limit=256, epochs=1), tmp_path_factory.mktemp("score") / "conv",
                 verbose=0)


@pytest.fixture(scope="module")
def noise_npz(tmp_path_factory):
    """Uniform noise in the runs' shape, as an npz source."""
    path = tmp_path_factory.mktemp("ood") / "noise.npz"
    noise = np.random.default_rng(1).random((200, 28, 28, 1), dtype=np.float32)
    np.savez(path, x_train=noise[:1], x_test=noise)
    return path


@pytest.fixture(scope="module")
def inputs(fashion_mnist_test):
    """The same 100 codes and 100 test images (float32 in [0, 1]) for every runtime."""
    codes = np.random.default_rng(0).standard_normal((100, 2)).astype(np.float32)
    return codes, fashion_mnist_test[:100].reshape((100, 28, 28, 1)).astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def fashion_mnist_test():
    from vae_tf.data import load_fashion_mnist

    return load_fashion_mnist(download=False)[1][0]


def test_scores_tell_uniform_noise_from_fashion_mnist(mlp_run, noise_npz):
    from vae_tf.analysis.scoring import score_run
    from vae_tf.rundir import Run

    found = score_run(Run.open(mlp_run), f"npz:{noise_npz}", k=10, limit=200, reference="fashion_mnist")
    assert found["images"] == found["reference_images"] == 200
    assert found["auroc"]["neg_elbo"] > 0.99 and found["auroc"]["neg_iwae"] > 0.99
    row = found["rows"][0]
    assert row["neg_iwae_nats"] <= row["neg_elbo_nats"]  # the tighter bound
    assert row["neg_iwae_bits_per_dim"] == pytest.approx(row["neg_iwae_nats"] / (784 * np.log(2)))
    assert row["complexity_bits"] == pytest.approx(row["neg_iwae_nats"] / np.log(2) - row["png_bits"])


def test_score_writes_a_row_per_image_and_the_same_file_twice(mlp_run, tmp_path, capsys):
    for name in ("first.csv", "second.csv"):
        assert score_command.main([str(mlp_run), "--dataset", "fashion_mnist", "--limit", "30", "--k", "5",
                                   "--reference", "fashion_mnist", "--out", str(tmp_path / name),
                                   "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert "AUROC" in out and "Serra" in out
    assert (tmp_path / "first.csv").read_bytes() == (tmp_path / "second.csv").read_bytes()  # deterministic
    rows = list(csv.DictReader((tmp_path / "first.csv").open()))
    assert len(rows) == 30 and rows[0]["label"] == "9"  # the first Fashion-MNIST test image is an ankle boot
    assert {"neg_elbo_nats", "neg_iwae_bits_per_dim", "png_bits", "complexity_bits"} <= set(rows[0])


def test_png_bits_grow_with_the_image_complexity():
    from vae_tf.analysis.scoring import png_bits

    blank = np.zeros((1, 28, 28, 1), np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (1, 28, 28, 1), dtype=np.uint8)
    assert png_bits(blank)[0] < 1000 < 784 * 8 < png_bits(noise)[0]


def test_score_refuses_bad_input_in_one_line(mlp_run, tmp_path, refused):
    refused(score_command.main, [str(tmp_path), "--out", str(tmp_path / "s.csv")], "not a finished vae_tf run")
    refused(score_command.main, [str(mlp_run), "--dataset", "digits", "--out", str(tmp_path / "s.csv")],
            "its images are 8 x 8 x 1 but")
    (tmp_path / "taken.csv").write_text("mine\n")
    refused(score_command.main, [str(mlp_run), "--out", str(tmp_path / "taken.csv")], "--overwrite")


def _check_against_vae(vae, encoded, decoded, inputs):
    codes, images = inputs
    z_mean, z_log_var = vae.encode(images)
    np.testing.assert_allclose(encoded["z_mean"], z_mean, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(encoded["z_log_var"], z_log_var, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(decoded["image"], vae.decode(codes), atol=TOLERANCE, rtol=0)


def _exported(run, format, tmp_path):
    out = tmp_path / f"{run.name}-{format}"
    assert export_command.main([str(run), "--format", format, "--out", str(out)]) == 0
    described = json.loads((out / "export.json").read_text())
    assert described["run"]["architecture"] == run.name and described["decoder"]["outputs"]["image"]["shape"] == [
        None, 28, 28, 1]
    return out, described


def test_savedmodel_round_trip_in_a_fresh_process(mlp_run, conv_run, inputs, tmp_path):
    from vae_tf.rundir import Run

    codes, images = inputs
    np.savez(tmp_path / "inputs.npz", codes=codes, images=images)
    folders = [_exported(run, "savedmodel", tmp_path)[0] for run in (mlp_run, conv_run)]
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        inputs = np.load({str(tmp_path / 'inputs.npz')!r})
        for folder in {[str(folder) for folder in folders]!r}:
            encoder = tf.saved_model.load(folder + "/encoder").signatures["serving_default"]
            decoder = tf.saved_model.load(folder + "/decoder").signatures["serving_default"]
            encoded = encoder(images=tf.constant(inputs["images"]))
            decoded = decoder(z=tf.constant(inputs["codes"]))
            np.savez(folder + "/outputs.npz", image=decoded["image"].numpy(),
                     **{{name: value.numpy() for name, value in encoded.items()}})
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)  # no vae_tf imported there
    for run, folder in zip((mlp_run, conv_run), folders):
        outputs = dict(np.load(folder / "outputs.npz"))
        _check_against_vae(Run.open(run).model(), outputs, outputs, inputs)


@pytest.mark.parametrize("format", ["onnx", "litert"])
def test_onnx_and_litert_round_trip_in_their_runtimes(format, mlp_run, conv_run, inputs, tmp_path):
    from vae_tf.rundir import Run

    codes, images = inputs
    for run in (mlp_run, conv_run):
        out, described = _exported(run, format, tmp_path)
        if format == "onnx":
            import onnxruntime

            def call(part, out=out, described=described, **feeds):
                session = onnxruntime.InferenceSession(str(out / described[part]["file"]))
                names = [output.name for output in session.get_outputs()]
                return dict(zip(names, session.run(None, feeds)))
        else:
            from ai_edge_litert.interpreter import Interpreter

            def call(part, out=out, described=described, **feeds):
                return Interpreter(model_path=str(out / described[part]["file"])).get_signature_runner()(**feeds)

        _check_against_vae(Run.open(run).model(), call("encoder", images=images), call("decoder", z=codes), inputs)


def test_export_refuses_bad_input_in_one_line(mlp_run, tmp_path, refused, monkeypatch):
    import importlib.util

    refused(export_command.main, [str(tmp_path), "--format", "savedmodel", "--out", str(tmp_path / "e")],
            "not a finished vae_tf run")
    refused(export_command.main, [str(mlp_run), "--format", "tflite", "--out", str(tmp_path / "e")],
            "invalid choice")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "encoder.onnx").write_text("mine")
    refused(export_command.main, [str(mlp_run), "--format", "onnx", "--out", str(tmp_path / "taken")], "--overwrite")
    find_spec = importlib.util.find_spec  # as if `pip install vae_tf` had left out the extra
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *more: None if name == "tf2onnx" else
                        find_spec(name, *more))
    line = refused(export_command.main, [str(mlp_run), "--format", "onnx", "--out", str(tmp_path / "e")],
                   "tf2onnx")
    assert "vae_tf[export]" in line


def test_a_directory_artifact_is_replaced_whole(tmp_path):
    from vae_tf.rundir import write_directory

    def artifact(text):
        def write(folder):
            Path(folder).joinpath("weights").write_text(text)

        return write

    write_directory(tmp_path / "model", artifact("old"))
    write_directory(tmp_path / "model", artifact("new"))  # what --overwrite does to encoder/ and decoder/
    assert (tmp_path / "model" / "weights").read_text() == "new"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model"]  # no temporary left behind

    def interrupted(folder):
        Path(folder).joinpath("weights").write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="model"):
        write_directory(tmp_path / "model", interrupted)
    assert (tmp_path / "model" / "weights").read_text() == "new"  # the old one, untouched
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model"]


def test_the_exported_continuous_bernoulli_mean_is_tfps():
    """The decoder of a continuous_bernoulli run exports its mean in ops ONNX has (no expm1)."""
    from vae_tf.analysis.export import continuous_bernoulli_mean
    from vae_tf.models.likelihoods import get

    logits = np.concatenate([np.linspace(-40, 40, 4001), np.linspace(-0.3, 0.3, 601), [0.0, -1e-8, 1e-8]])
    logits = logits.astype(np.float32)[None]
    np.testing.assert_allclose(np.asarray(continuous_bernoulli_mean(logits)),
                               np.asarray(get("continuous_bernoulli").mean(logits)), atol=TOLERANCE, rtol=0)


def test_score_names_each_file_of_a_folder(mlp_run, fashion_mnist_test, tmp_path):
    from PIL import Image

    for split, first in (("train", 0), ("test", 10)):
        (tmp_path / "photos" / split).mkdir(parents=True)
        for i in range(first, first + 3):
            Image.fromarray(fashion_mnist_test[i]).resize((56, 56)).save(tmp_path / "photos" / split / f"shirt-{i}.png")
    assert score_command.main([str(mlp_run), "--dataset", f"folder:{tmp_path / 'photos'}", "--k", "5",
                               "--out", str(tmp_path / "photos.csv"), "--verbose", "0"]) == 0  # 56 x 56 resized
    rows = list(csv.DictReader((tmp_path / "photos.csv").open()))
    assert sorted(Path(row["file"]).name for row in rows) == ["shirt-10.png", "shirt-11.png", "shirt-12.png"]
    assert all(row["label"] == "" and float(row["neg_iwae_nats"]) > 0 for row in rows)
