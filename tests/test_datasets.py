"""Your own images: every data source through train, reopen, plot and evaluate; bad data gets one line.

The data are made here: a folder of RGB PNGs in class sub-folders, a flat folder of greyscale
PNGs of several sizes, npz files, a fake MNIST IDX directory, and scikit-learn's digits.
"""

import gzip
import hashlib
import json
import struct

import numpy as np
import pytest
from PIL import Image

from vae_tf import data as data_module
from vae_tf import plots
from vae_tf.data import DataError, DataNotFoundError
from vae_tf.data import sources as datasets
from vae_tf.data.sources import load_data, load_run_data
from vae_tf.rundir import Run

QUICK = ["--epochs", "1", "--batch-size", "16", "--verbose", "0"]


def train_run(argv, out):
    from vae_tf.train import main

    assert main([*argv, *QUICK, "--out", str(out)]) == 0
    return Run.open(out)


def plot_and_evaluate(run, tmp_path):
    """The analysis commands on `run`, from its directory alone; returns evaluation.json."""
    from vae_tf.evaluate import main as evaluate
    from vae_tf.plot import main as plot

    assert plot([str(run.path), "--out", str(tmp_path / "figures")]) == 0
    assert sorted(path.name for path in (tmp_path / "figures").iterdir()) == sorted(
        ["latent_scatter.png", "generated_grid.png", "reconstructions.png", "loss_curves.png"])
    # Every test image (the data here are small; --limit above their number is refused).
    assert evaluate([str(run.path), "--k", "5", "--out", str(tmp_path / "evaluation.json")]) == 0
    return json.loads((tmp_path / "evaluation.json").read_text())


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture(scope="module")
def rgb_folder(tmp_path_factory):
    """Three classes of 6 x 5 RGB PNGs, 20 each, in class sub-folders (no train/ and test/)."""
    root = tmp_path_factory.mktemp("rgb") / "shapes"
    rng = np.random.default_rng(1)
    for label, name in enumerate(("circle", "square", "star")):
        for k in range(20):
            image = np.zeros((6, 5, 3), dtype=np.uint8)
            image[..., label] = rng.integers(100, 256, (6, 5))
            write_png(root / name / f"{k:02d}.png", image)
    return root


def test_a_folder_of_rgb_class_subfolders_loads_with_its_classes_and_a_fixed_split(rgb_folder):
    loaded = load_data(f"folder:{rgb_folder}")
    spec = loaded.spec
    assert spec.image_shape == (6, 5, 3) and spec.class_names == ("circle", "square", "star")
    assert loaded.x_train.dtype == np.uint8 and spec.dtype == "uint8"
    assert (spec.train_images, spec.test_images) == (54, 6)  # a 10% test split of 60
    assert sorted(np.bincount(np.concatenate([loaded.y_train, loaded.y_test]))) == [20, 20, 20]
    # Each class's colour channel is the only one lit: the pixels are the files' own.
    for label in range(3):
        lit = loaded.x_train[loaded.y_train == label].reshape(-1, 3).max(axis=0)
        assert lit[label] > 0 and lit.sum() == lit[label]
    again = load_data(f"folder:{rgb_folder}")
    assert again.spec.fingerprint == spec.fingerprint and (again.y_test == loaded.y_test).all()
    assert load_data(f"folder:{rgb_folder}", test_fraction=0.5).spec.test_images == 30
    grey = load_data(f"folder:{rgb_folder}", color="grayscale", image_size=(4, 8))
    assert grey.spec.image_shape == (4, 8, 1) and grey.spec.options == {
        "image_size": [4, 8], "color": "grayscale", "test_fraction": 0.1}


def test_rgb_folder_trains_reopens_plots_and_evaluates(rgb_folder, tmp_path):
    run = train_run(["--dataset", f"folder:{rgb_folder}"], tmp_path / "run")
    recorded = run.config["data"]
    assert recorded["image_shape"] == [6, 5, 3] and recorded["class_names"] == ["circle", "square", "star"]
    assert recorded["path"] == str(rgb_folder.resolve()) and recorded["name"] == "folder"
    model = run.model()  # the saved model keeps its shape
    assert model.image_shape == (6, 5, 3) and model.encoder.input_shape == (None, 90)
    images = load_run_data(run).x_test
    assert model.decode(model.encode(images)[0]).shape == (6, 6, 5, 3)
    assert model.likelihood(np.zeros((2, model.latent_dim), np.float32)).event_shape == (6, 5, 3)
    evaluation = plot_and_evaluate(run, tmp_path)
    overall = evaluation["overall"]
    assert evaluation["data"]["dimensions"] == 90 and evaluation["test_images"] == 6
    assert overall["neg_elbo_bits_per_dim"] == pytest.approx(overall["neg_elbo_nats"] / (90 * np.log(2)))
    assert set(evaluation["per_class"]) <= {"circle", "square", "star"}
    # The reconstructions are drawn in colour: the input row holds the classes' pure colours.
    shown = np.asarray(Image.open(tmp_path / "figures" / "reconstructions.png").convert("RGB")).reshape(-1, 3)
    assert any(((shown[:, c] > 150) & (shown.sum(axis=1) - shown[:, c] < 40)).any() for c in range(3))


def test_a_flat_folder_with_train_and_test_has_no_labels_and_is_resized(tmp_path):
    root = tmp_path / "flat"
    rng = np.random.default_rng(2)
    for split, count in (("train", 40), ("test", 8)):
        for k in range(count):
            size = (10, 12) if k % 2 else (9, 7)  # two sizes: --image-size makes them one
            write_png(root / split / f"{k}.png", rng.integers(0, 256, size, dtype=np.uint8))
    loaded = load_data(f"folder:{root}", image_size=(8, 8))
    assert loaded.spec.image_shape == (8, 8, 1) and loaded.y_train is None and loaded.spec.class_names is None
    assert (loaded.spec.train_images, loaded.spec.test_images) == (40, 8)
    run = train_run(["--dataset", f"folder:{root}", "--image-size", "8", "8"], tmp_path / "run")
    assert "y" not in run.latents()
    evaluation = plot_and_evaluate(run, tmp_path)
    assert evaluation["per_class"] == {} and evaluation["data"]["image_shape"] == [8, 8, 1]


def test_npz_trains_reopens_plots_evaluates_and_compresses(tmp_path):
    from vae_tf.compress import main as compress

    rng = np.random.default_rng(3)
    path = tmp_path / "faces.npz"
    x_train = rng.integers(0, 256, (64, 7, 9), dtype=np.uint8)
    # floats that are k/255 are held as the uint8 k; other floats as float32
    np.savez(path, x_train=x_train / 255.0, x_test=rng.integers(0, 256, (12, 7, 9)) / 255.0,
             y_train=rng.integers(0, 3, 64), y_test=rng.integers(0, 3, 12), class_names=np.array(["a", "b", "c"]))
    loaded = load_data(f"npz:{path}")
    assert loaded.x_train.dtype == np.uint8 and (loaded.x_train[..., 0] == x_train).all()
    assert loaded.spec.class_names == ("a", "b", "c") and loaded.spec.image_shape == (7, 9, 1)
    run = train_run(["--dataset", f"npz:{path}", "--no-fast"], tmp_path / "run")
    plot_and_evaluate(run, tmp_path)
    assert compress([str(run.path)]) == 0
    sizes = {entry["name"]: entry for entry in json.loads((run.path / "compression.json").read_text())["sizes"]}
    assert sizes["images as float64 (x / 255.)"]["shape"] == [64, 63]
    assert sizes["images as uint8 (as stored)"]["bytes"] == 64 * 63
    assert sizes["images as the .npz file (all 76, both splits)"]["bytes"] == path.stat().st_size

    floats = tmp_path / "floats.npz"
    np.savez(floats, x_train=rng.random((20, 4, 4, 3)).astype(np.float32), x_test=rng.random((5, 4, 4, 3)))
    loaded = load_data(f"npz:{floats}")
    assert loaded.x_train.dtype == np.float32 and loaded.spec.dtype == "float32"
    assert loaded.spec.value_range == "floats in [0, 1], held as float32"


def test_a_run_reloads_its_own_data_never_fashion_mnist(tmp_path, refused):
    from vae_tf.plot import main as plot

    path = tmp_path / "mine.npz"
    rng = np.random.default_rng(4)
    np.savez(path, x_train=rng.integers(0, 256, (32, 5, 5), dtype=np.uint8),
             x_test=rng.integers(0, 256, (8, 5, 5), dtype=np.uint8))
    run = train_run(["--dataset", f"npz:{path}"], tmp_path / "run")
    path.unlink()
    refused(plot, [str(run.path), "--out", str(tmp_path / "figures")], f"no such file {path}")
    np.savez(path, x_train=rng.integers(0, 256, (32, 6, 6), dtype=np.uint8),
             x_test=rng.integers(0, 256, (8, 6, 6), dtype=np.uint8))
    refused(plot, [str(run.path), "--out", str(tmp_path / "figures")], "of shape (5, 5, 1), but")


def test_a_run_from_before_data_sources_means_fashion_mnist(copy_of_tiny_run):
    path = copy_of_tiny_run()
    config = json.loads((path / "config.json").read_text())
    del config["config"]["dataset"]
    config["data"] = {"source": "debian", "directory": "/usr/share/datasets/fashion-mnist", "train_images": 2000}
    (path / "config.json").write_text(json.dumps(config))
    run = Run.open(path)
    assert datasets.run_spec(run) is None and datasets.class_names_of(run) == data_module.CLASS_NAMES
    loaded = load_run_data(run, test_limit=3)
    assert loaded.spec.name == "fashion_mnist" and loaded.x_test.shape == (3, 28, 28, 1)


def idx(array, magic):
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()


@pytest.fixture(scope="module")
def fake_mnist(tmp_path_factory):
    """MNIST's four IDX files with made-up pixels (mostly zeros, so they gzip to little), and their MD5s."""
    root = tmp_path_factory.mktemp("mnist") / "idx"
    root.mkdir()
    rng = np.random.default_rng(5)
    md5 = {}
    for split, count in (("train", 60_000), ("t10k", 10_000)):
        images = np.zeros((count, 28, 28), dtype=np.uint8)
        images[:400, 8:20, 8:20] = rng.integers(0, 256, (400, 12, 12))
        labels = rng.integers(0, 10, count).astype(np.uint8)
        for stem, raw in ((f"{split}-images-idx3-ubyte", idx(images, 0x803)),
                          (f"{split}-labels-idx1-ubyte", idx(labels, 0x801))):
            (root / (stem + ".gz")).write_bytes(gzip.compress(raw, compresslevel=1))
            md5[stem] = hashlib.md5(raw).hexdigest()
    return root, md5


def test_mnist_files_are_checked_against_mnists_checksums(fake_mnist, refused):
    from vae_tf.train import main

    root, _ = fake_mnist
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: train-images-idx3-ubyte has MD5 \w+, "
                                        r"expected 6bbc9ace898e44ae57da46a324031adb"):
        load_data("mnist", data_dir=root)
    refused(main, ["--dataset", "mnist", "--data-dir", str(root), "--out", "/tmp/unused"], "has MD5")


def test_mnist_idx_directory_and_keras_npz_train_plot_and_evaluate(fake_mnist, tmp_path, monkeypatch):
    root, md5 = fake_mnist
    for stem, value in md5.items():  # these files stand in for MNIST's
        monkeypatch.setitem(data_module.MNIST_MD5, stem, value)
    loaded = load_data("mnist", data_dir=root)
    assert loaded.spec.image_shape == (28, 28, 1) and loaded.spec.class_names == tuple("0123456789")
    assert loaded.spec.found == "data_dir" and loaded.spec.train_images == 60_000
    monkeypatch.setenv("VAE_TF_DATA_DIR", str(root.parent))  # DIR/mnist or DIR itself: here DIR/idx ...
    with pytest.raises(DataNotFoundError, match="MNIST not found in"):
        load_data("mnist")
    monkeypatch.delenv("VAE_TF_DATA_DIR")
    # Keras' cache file mnist.npz is read too, and checked with the same checksums.
    keras_home = tmp_path / "keras"
    (keras_home / "datasets").mkdir(parents=True)
    np.savez(keras_home / "datasets" / "mnist.npz", x_train=loaded.x_train[..., 0], y_train=loaded.y_train,
             x_test=loaded.x_test[..., 0], y_test=loaded.y_test)
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    from_cache = load_data("mnist", download=False)
    assert from_cache.spec.found == "keras_cache" and from_cache.spec.fingerprint == loaded.spec.fingerprint

    run = train_run(["--dataset", "mnist", "--data-dir", str(root), "--limit", "400"], tmp_path / "run")
    assert run.config["data"]["name"] == "mnist"
    evaluation = plot_and_evaluate(run, tmp_path)
    assert set(evaluation["per_class"]) <= set("0123456789")


def test_digits_are_sklearns_with_a_fixed_split_and_train_plot_and_evaluate(tmp_path):
    loaded = load_data("digits")
    assert loaded.x_train.shape == (1500, 8, 8, 1) and loaded.x_test.shape == (297, 8, 8, 1)
    assert loaded.x_train.dtype == np.float32 and set(np.unique(loaded.x_train * 16)) == set(range(17))
    from sklearn.datasets import load_digits

    assert (loaded.y_test == load_digits().target[1500:]).all()
    run = train_run(["--dataset", "digits", "--limit", "320"], tmp_path / "run")
    assert run.config["data"]["dtype"] == "float32" and "0..16" in run.config["data"]["value_range"]
    evaluation = plot_and_evaluate(run, tmp_path)
    assert evaluation["data"]["dimensions"] == 64


def test_plots_take_any_shape_and_colour_unlabelled_codes_by_density():
    rgb = np.random.default_rng(6).random((4, 6, 5, 3))
    assert plots.tile_images(rgb, 2, 2).shape == (12, 10, 3)
    assert plots.tile_images(rgb[..., :1], 2, 2).shape == (12, 10)
    assert plots.tile_images(np.zeros((4, 784)), 2, 2).shape == (56, 56)  # flattened square greyscale
    figure = plots.latent_scatter(np.random.default_rng(7).normal(size=(300, 2)), None, class_names=None)
    assert figure.axes[0].get_legend() is None
    assert len(np.unique(figure.axes[0].collections[0].get_array())) > 1  # coloured by density
    crowded = plots.density(np.array([[0.0, 0.0]] * 5 + [[9.0, 9.0]]), bins=3)
    assert crowded.tolist() == [5, 5, 5, 5, 5, 1]


def bad_npz(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return f"npz:{path}"


@pytest.mark.parametrize("case", ["empty folder", "unreadable image", "different sizes", "no x_train",
                                  "out of range", "fewer than one batch", "test of another shape",
                                  "unknown source", "missing argument"])
def test_bad_data_gets_one_line(case, tmp_path, refused):
    from vae_tf.train import main

    images = np.zeros((40, 4, 4), dtype=np.uint8)
    if case == "empty folder":
        (tmp_path / "empty").mkdir()
        dataset, expected = f"folder:{tmp_path / 'empty'}", f"no image files (.png, .jpg, .jpeg, ...) in {tmp_path}"
    elif case == "unreadable image":
        for k in range(3):
            write_png(tmp_path / "pics" / f"{k}.png", np.zeros((4, 4), np.uint8))
        (tmp_path / "pics" / "1.png").write_bytes(b"not a png")
        dataset, expected = f"folder:{tmp_path / 'pics'}", f"{tmp_path / 'pics' / '1.png'} is not a readable image"
    elif case == "different sizes":
        write_png(tmp_path / "pics" / "a.png", np.zeros((4, 4), np.uint8))
        write_png(tmp_path / "pics" / "b.png", np.zeros((5, 4), np.uint8))
        dataset, expected = f"folder:{tmp_path / 'pics'}", "give --image-size H W"
    elif case == "no x_train":
        dataset, expected = bad_npz(tmp_path, images=images, x_test=images), "has no array 'x_train'"
    elif case == "out of range":
        dataset = bad_npz(tmp_path, x_train=images + 1.5, x_test=images / 255.0)
        expected = "hold values in [1.5, 1.5]; float images must lie in [0, 1]"
    elif case == "fewer than one batch":
        dataset, expected = bad_npz(tmp_path, x_train=images[:10], x_test=images), "10 training images, fewer than"
    elif case == "test of another shape":
        dataset = bad_npz(tmp_path, x_train=images, x_test=np.zeros((5, 4, 5), np.uint8))
        expected = "the test images are 4 x 5 x 1 but the training images are 4 x 4 x 1"
    elif case == "unknown source":
        dataset, expected = "cifar", "unknown source 'cifar'; choose one of fashion_mnist, mnist, digits, npz:FILE"
    else:
        dataset, expected = "npz", "give the FILE, e.g. --dataset npz:FILE"
    refused(main, ["--dataset", dataset, *QUICK, "--out", str(tmp_path / "run")], expected)
    assert not (tmp_path / "run" / "model.keras").exists()


def test_the_dataset_flag_names_every_registered_source():
    from vae_tf.config import DATASET_HELP

    for source in datasets.SOURCES.values():
        assert source.name + (f":{source.argument}" if source.argument else "") in DATASET_HELP
