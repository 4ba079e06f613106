"""Using a trained run: encode, generate, reconstruct, interpolate and traverse, as commands and as functions.

Three tiny runs, trained once for the module (300 images, 1 epoch), cover the axes between them:
the report's MLP on Fashion-MNIST; the conv model on a folder of RGB images with the learned
mixture prior, the full-covariance posterior and the binarized likelihood; the MLP on an .npz of
8 x 8 digits with the VampPrior, the IAF posterior and the continuous Bernoulli.
"""

import csv

import numpy as np
import pytest
from PIL import Image

from vae_tf import encode, generate, interpolate, reconstruct, traverse
from vae_tf.analysis import use


def tiny(tmp_path_factory, name, **settings):
    from vae_tf.config import TrainConfig
    from vae_tf.training.run import train

    # No XLA: compiling costs more than it saves on three batches.
    settings = TrainConfig(**{"limit": 300, "epochs": 1, "xla": "off", **settings})
    return train(settings, tmp_path_factory.mktemp("use") / name, verbose=0)


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    """The report's model on Fashion-MNIST."""
    return tiny(tmp_path_factory, "mlp")


@pytest.fixture(scope="module")
def colour_folder(tmp_path_factory):
    """A folder of 12 x 12 RGB PNGs in two class sub-folders (train/ and test/), 180 + 20 images."""
    root = tmp_path_factory.mktemp("folder") / "squares"
    rng = np.random.default_rng(0)
    for split, count in (("train", 180), ("test", 20)):
        for index in range(count):
            label = index % 2
            image = rng.integers(0, 60, (12, 12, 3), dtype=np.uint8)
            image[3:9, 3:9, label * 2] = 230  # a red or a blue square
            (root / split / f"class{label}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / split / f"class{label}" / f"{index:03d}.png")
    return root


@pytest.fixture(scope="module")
def conv_run(tmp_path_factory, colour_folder):
    """The conv model on the folder, with the mixture prior, the full posterior and the binarized likelihood."""
    return tiny(tmp_path_factory, "conv", dataset=f"folder:{colour_folder}", limit=None, architecture="conv", filters=4,
                hidden_units=16, latent_dim=3, prior="mixture", prior_components=3, posterior="full",
                kl_estimator="monte_carlo", likelihood="binarized")


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images * 255 / 16).round().astype(np.uint8)
    path = tmp_path_factory.mktemp("npz") / "digits.npz"
    np.savez(path, x_train=images[:1500], y_train=digits.target[:1500], x_test=images[1500:],
             y_test=digits.target[1500:])
    return path


@pytest.fixture(scope="module")
def vamp_run(tmp_path_factory, digits_npz):
    """The MLP on the .npz digits, with the VampPrior, the IAF posterior and the continuous Bernoulli."""
    return tiny(tmp_path_factory, "vamp", dataset=f"npz:{digits_npz}", latent_dim=4, hidden_units=32, prior="vamp",
                prior_components=4, posterior="iaf", kl_estimator="monte_carlo", likelihood="continuous_bernoulli")


RUNS = ("mlp_run", "conv_run", "vamp_run")
SHAPES = {"mlp_run": (28, 28, 1), "conv_run": (12, 12, 3), "vamp_run": (8, 8, 1)}


def ran(main, argv):
    assert main([str(arg) for arg in argv]) == 0


@pytest.mark.parametrize("name", RUNS)
def test_encode_writes_what_vae_encode_gives_with_labels_and_files(name, request, tmp_path):
    from vae_tf.data.sources import load_run_data
    from vae_tf.rundir import Run

    run_dir = request.getfixturevalue(name)
    run = Run.open(run_dir)
    data = load_run_data(run)
    ran(encode.main, [run_dir, "--out", tmp_path / "codes.npz"])
    with np.load(tmp_path / "codes.npz") as codes:
        z_mean, z_log_var = run.model().encode(data.x_test)
        np.testing.assert_array_equal(codes["z_mean"], z_mean)
        np.testing.assert_array_equal(codes["z_log_var"], z_log_var)
        np.testing.assert_array_equal(codes["label"], data.y_test)
        extra = {"conv_run": "z_scale_tril", "vamp_run": "z_posterior_mean"}.get(name)
        assert extra is None or len(codes[extra]) == len(data.x_test)
        if name == "conv_run":  # a folder: each image's file, relative to the folder
            assert list(codes["image_file"]) == list(data.test_files)
            assert codes["image_file"][0] == "test/class0/000.png"
            assert codes["z_scale_tril"].shape == (20, 3, 3)

    ran(encode.main, [run_dir, "--split", "train", "--limit", "7", "--out", tmp_path / "codes.csv"])
    with open(tmp_path / "codes.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 7 and rows[0]["index"] == "0"
    np.testing.assert_allclose([float(row["z_mean_0"]) for row in rows],
                               run.model().encode(data.x_train[:7])[0][:, 0], rtol=1e-6)


@pytest.mark.parametrize("name", RUNS)
def test_generate_is_seeded_and_writes_images_of_the_datas_size_and_colour(name, request, tmp_path):
    from vae_tf.rundir import Run

    run_dir = request.getfixturevalue(name)
    height, width, channels = SHAPES[name]
    ran(generate.main, [run_dir, "--n", 5, "--seed", 3, "--out", tmp_path / "a"])
    ran(generate.main, [run_dir, "--n", 5, "--seed", 3, "--out", tmp_path / "b"])
    names = sorted(path.name for path in (tmp_path / "a").iterdir())
    assert names == ["0000.png", "0001.png", "0002.png", "0003.png", "0004.png", "codes.npz", "grid.png"]
    for file in names:
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file
    image = np.asarray(Image.open(tmp_path / "a" / "0000.png"))
    assert image.shape == ((height, width) if channels == 1 else (height, width, 3))

    run = Run.open(run_dir)  # opened once: its model is loaded once
    z, mean = use.generate(run, 5, seed=3)
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "codes.npz")["z"], z)
    _, other = use.generate(run, 5, seed=4)
    assert mean.shape == (5, height, width, channels) and not np.array_equal(mean, other)
    _, drawn = use.generate(run, 5, seed=3, sample=True)
    _, again = use.generate(run, 5, seed=3, sample=True)
    np.testing.assert_array_equal(drawn, again)
    if name != "vamp_run":  # the Bernoulli likelihoods draw binary pixels
        assert set(np.unique(drawn)) <= {0.0, 1.0}
    cool, _ = use.generate(run, 400, temperature=0.1, seed=0)
    warm, _ = use.generate(run, 400, temperature=1.0, seed=0)
    assert cool.std(axis=0).mean() < warm.std(axis=0).mean()


def test_generate_draws_from_the_runs_own_learned_prior(conv_run):
    from vae_tf.rundir import Run

    prior = Run.open(conv_run).model().prior_family
    z, _ = use.generate(conv_run, 3000, seed=0)
    weights = np.exp(np.asarray(prior.logits)) / np.exp(np.asarray(prior.logits)).sum()
    np.testing.assert_allclose(z.mean(axis=0), weights @ np.asarray(prior.means), atol=0.1)


@pytest.mark.parametrize("name", RUNS)
def test_reconstruct_interpolate_and_traverse_draw_their_figures(name, request, tmp_path):
    run_dir = request.getfixturevalue(name)
    ran(reconstruct.main, [run_dir, "--n", 4, "--out", tmp_path / "recon.png"])
    ran(interpolate.main, [run_dir, "--from", 0, "--to", 1, "--steps", 5, "--out", tmp_path / "walk.png"])
    ran(interpolate.main, [run_dir, "--from", 0, "--to", 1, "--steps", 5, "--out", tmp_path / "walk.gif"])
    ran(traverse.main, [run_dir, "--steps", 4, "--out", tmp_path / "walk-dims.png"])
    for file in ("recon.png", "walk.png", "walk-dims.png"):
        assert Image.open(tmp_path / file).format == "PNG"
    gif = Image.open(tmp_path / "walk.gif")
    assert gif.n_frames == 8 and gif.size == (4 * SHAPES[name][1], 4 * SHAPES[name][0])  # 5 forth, 3 back

    originals, decoded = use.reconstruct(run_dir, n=4)
    assert originals.shape == decoded.shape == (4, *SHAPES[name])


def test_interpolation_paths_start_and_end_at_the_two_codes_and_slerp_keeps_the_norm():
    from vae_tf.analysis.generation import interpolation_path

    a, b = np.array([2.0, 0.0]), np.array([0.0, 2.0])
    for path in ("linear", "spherical"):
        codes = interpolation_path(a, b, 5, path)
        np.testing.assert_allclose(codes[[0, -1]], [a, b], atol=1e-6)
    assert np.linalg.norm(interpolation_path(a, b, 5, "linear")[2]) == pytest.approx(2 ** 0.5)
    np.testing.assert_allclose(np.linalg.norm(interpolation_path(a, b, 5, "spherical"), axis=1), 2.0, rtol=1e-6)


def test_interpolate_takes_image_files_as_its_ends(mlp_run, fashion_mnist, tmp_path):
    (x_test, _) = fashion_mnist[1]
    # In colour and twice the size: converted and resized to the run's images.
    Image.fromarray(x_test[0]).convert("RGB").resize((56, 56)).save(tmp_path / "big.png")
    result = use.interpolate(mlp_run, "3", tmp_path / "big.png", steps=4, path="spherical")
    assert result["images"].shape == (4, 28, 28, 1) and result["labels"] == ["test 3", "big.png"]
    assert result["ends"].shape == (2, 28, 28, 1)


def test_traverse_orders_rows_by_kl_and_marks_inactive_units(vamp_run, tmp_path):
    walk = use.traverse(vamp_run, steps=3)
    assert walk["images"].shape == (4, 3, 8, 8, 1) and sorted(walk["dims"]) == [0, 1, 2, 3]
    assert list(walk["kl"]) == sorted(walk["kl"], reverse=True) and walk["active"].dtype == bool
    chosen = use.traverse(vamp_run, dims=[2, 0], at=None, steps=3)
    assert list(chosen["dims"]) == [2, 0] and not chosen["base"].any()
    np.testing.assert_allclose(chosen["kl"], walk["kl"][[list(walk["dims"]).index(2), list(walk["dims"]).index(0)]])


def test_dimension_usage_of_the_standard_normal_is_the_analytic_kl(mlp_run, fashion_mnist):
    from vae_tf.analysis.codes import dimension_usage
    from vae_tf.rundir import Run

    vae = Run.open(mlp_run).model()
    images = fashion_mnist[1][0][:200]
    usage = dimension_usage(vae, images)
    z_mean, z_log_var = vae.encode(images)
    total = 0.5 * (z_mean ** 2 + np.exp(z_log_var) - z_log_var - 1).sum(axis=1).mean()
    assert usage["kl"].sum() == pytest.approx(total, rel=1e-5)  # diagonal: the marginals' KLs add up to the KL


def test_bad_input_is_refused_in_one_line(mlp_run, conv_run, digits_npz, tmp_path, refused):
    out = tmp_path / "out.png"
    refused(encode.main, [str(tmp_path), "--out", str(tmp_path / "c.npz")], "is not a finished vae_tf run directory")
    refused(encode.main, [str(mlp_run), "--dataset", f"npz:{digits_npz}", "--out", str(tmp_path / "c.npz")],
            "its images are 8 x 8 x 1 but")
    refused(encode.main, [str(mlp_run), "--out", str(tmp_path / "codes.txt")], "give a file ending in .npz or .csv")
    refused(generate.main, [str(mlp_run), "--n", "0", "--out", str(out)], "argument --n: '0' must be at least 1")
    refused(interpolate.main, [str(mlp_run), "--from", "0", "--to", "1", "--steps", "1", "--out", str(out)],
            "argument --steps: '1' must be at least 2")
    refused(interpolate.main, [str(conv_run), "--from", "20", "--to", "1", "--out", str(out)],
            "--from 20: ")
    refused(interpolate.main, [str(mlp_run), "--from", "0", "--to", str(tmp_path / "none.png"), "--out", str(out)],
            "none.png: no such image file")
    refused(traverse.main, [str(conv_run), "--dims", "0", "3", "--out", str(out)], "has latent size 3")
    refused(traverse.main, [str(mlp_run), "--range", "3", "-3", "--out", str(out)], "LO must be less than HI")
    out.write_bytes(b"mine")
    refused(reconstruct.main, [str(mlp_run), "--out", str(out)], "pass --overwrite")
    assert out.read_bytes() == b"mine"


def test_a_run_written_by_an_earlier_version_is_used_too(tmp_path):
    """The conv model with the IAF posterior and the VampPrior on digits, as vae_tf wrote it at d0f4593."""
    from pathlib import Path

    old = Path(__file__).parent / "fixtures" / "runs-d0f4593" / "conv-iaf-vamp-digits"
    ran(encode.main, [old, "--limit", 3, "--out", tmp_path / "codes.csv"])
    with open(tmp_path / "codes.csv", newline="") as handle:
        assert [row["index"] for row in csv.DictReader(handle)] == ["0", "1", "2"]
    ran(generate.main, [old, "--n", 4, "--out", tmp_path / "grid.png"])
    assert Image.open(tmp_path / "grid.png").format == "PNG"
