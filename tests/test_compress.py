"""`python -m vae_tf.compress`: the report's sizes to the last digit, the honest ones, the PCA baseline."""

import json
import os

import numpy as np
import pytest

from vae_tf.compress import (
    array_bytes,
    decoder_parameter_count,
    main,
    mean_bce,
    mean_bce_from_logits,
    pca_decode,
    pca_encode,
    pca_fit,
    psnr,
    report_sizes,
)
from vae_tf.models.vae import build_decoder


def test_the_reports_sizes_to_the_last_digit():
    sizes = report_sizes(60_000, latent_dim=2)
    images, codes = sizes["images_float64"], sizes["codes_float32"]
    assert (images["shape"], images["dtype"], images["bytes"]) == ([60000, 784], "float64", 376_320_000)
    assert images["mib"] == 358.88671875  # 60000 * 784 * 8 / 2**20, exact in binary
    assert (codes["shape"], codes["dtype"], codes["bytes"]) == ([60000, 2], "float32", 480_000)
    assert codes["mib"] == 0.457763671875
    assert sizes["ratio"] == 784
    assert images["bits_per_image"] == 784 * 64 and codes["bits_per_image"] == 64


def test_sizes_of_other_shapes_and_dtypes():
    assert array_bytes((60000, 784), np.uint8) == 47_040_000
    assert array_bytes((60000, 2), np.float16) == 240_000
    assert report_sizes(1000, latent_dim=8)["ratio"] == 2 * 784 / 8


def test_decoder_parameter_count_matches_the_model():
    for latent_dim, hidden_units in ((2, 100), (5, 30)):
        decoder = build_decoder(latent_dim, hidden_units)
        assert decoder_parameter_count(latent_dim, hidden_units) == sum(w.numpy().size for w in decoder.weights)
    assert decoder_parameter_count(2, 100) == 79_484


def test_psnr_of_a_known_error():
    x = np.zeros((4, 784))
    assert psnr(x, x + 0.1) == pytest.approx(20.0)  # MSE 0.01: 10 log10(1 / 0.01)
    assert psnr(x, x + 0.01) == pytest.approx(40.0)


def test_mean_bce_matches_keras():
    import keras

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(6, 784)).astype(np.float32)
    p = rng.uniform(0.01, 0.99, size=(6, 784))
    expected = float(np.mean(keras.losses.binary_crossentropy(x, p.astype(np.float32))))
    assert mean_bce(x, p) == pytest.approx(expected, rel=1e-5)
    assert mean_bce_from_logits(x, np.log(p / (1 - p))) == pytest.approx(expected, rel=1e-5)
    assert np.isfinite(mean_bce(x, np.where(p > 0.5, 1.0, -0.3)))  # PCA's values outside [0, 1] are clipped


@pytest.fixture(scope="module")
def images(fashion_mnist):
    (x_train, _), (x_test, _) = fashion_mnist
    return x_train[:1500].reshape(1500, 784), x_test[:500].reshape(500, 784) / 255


def test_pca_reconstruction_equals_a_projection_found_another_way(images):
    train_images, test_images = images
    train_images = train_images[:500]
    mean, basis = pca_fit(train_images, 2, chunk=70)  # chunks that do not divide 500
    assert basis.shape == (2, 784)
    np.testing.assert_allclose(basis @ basis.T, np.eye(2), atol=1e-10)
    ours = pca_decode(pca_encode(test_images, mean, basis), mean, basis)

    # Another way: the principal directions from the 500 x 500 Gram matrix of the centred images
    # (the dual of pca_fit's 784 x 784 covariance: v = X^T u / sigma), then least squares onto them.
    x = train_images / 255
    centre = x.mean(axis=0)
    gram_values, gram_vectors = np.linalg.eigh((x - centre) @ (x - centre).T)
    top = np.argsort(gram_values)[::-1][:2]
    directions = (x - centre).T @ gram_vectors[:, top] / np.sqrt(gram_values[top])  # (784, 2)
    coefficients, *_ = np.linalg.lstsq(directions, (test_images - centre).T, rcond=None)
    other = centre + (directions @ coefficients).T
    np.testing.assert_allclose(mean, centre, atol=1e-12)
    np.testing.assert_allclose(ours, other, atol=1e-8)


def test_pca_with_every_component_is_lossless_and_more_components_help(images):
    train_images, test_images = images
    mean, basis = pca_fit(train_images, 784)
    np.testing.assert_allclose(pca_decode(pca_encode(test_images, mean, basis), mean, basis), test_images,
                               atol=1e-9)
    errors = [np.mean((pca_decode(pca_encode(test_images, mean, basis[:k]), mean, basis[:k]) - test_images) ** 2)
              for k in (1, 2, 10, 50)]
    assert errors == sorted(errors, reverse=True)


@pytest.fixture(scope="module")
def run(copy_of_tiny_run):
    """The shared tiny run (2,000 training images, 2-d codes), copied: compress writes into it."""
    return copy_of_tiny_run()


@pytest.fixture(scope="module")
def compressed(run):
    assert main([str(run)]) == 0
    return json.loads((run / "compression.json").read_text())


def test_compress_writes_the_reports_comparison_for_the_runs_images(compressed):
    assert compressed["train_images"] == 2000 and compressed["latent_dim"] == 2
    assert compressed["report"]["images_float64"]["bytes"] == 2000 * 784 * 8
    assert compressed["report"]["codes_float32"]["bytes"] == 2000 * 2 * 4
    assert compressed["report"]["ratio"] == 784
    assert compressed["decoder_parameters"] == 79_484


def test_compress_sizes_are_what_the_shapes_imply(compressed):
    sizes = {entry["name"]: entry for entry in compressed["sizes"]}
    assert sizes["images as uint8 (as stored)"]["bytes"] == 1_568_000
    assert sizes["codes z as float16"]["bytes"] == 8_000
    assert sizes["decoder weights as float32"]["bytes"] == 79_484 * 4
    assert sizes["VAE: float32 codes + decoder"]["bytes"] == 16_000 + 79_484 * 4
    assert sizes["PCA (2 components): float32 codes + components + mean"]["bytes"] == 16_000 + 3 * 784 * 4
    gz = sizes["images as the gzip'd IDX file (all 60,000)"]
    assert gz["bytes"] == os.path.getsize(gz["file"]) and gz["measured"] == "file size on disk"
    assert gz["bits_per_image"] == gz["bytes"] * 8 / 60_000
    for entry in compressed["sizes"]:
        assert entry["mib"] == entry["bytes"] / 2**20
        assert entry["times_smaller_than_uint8"] == pytest.approx(784 * 8 / entry["bits_per_image"])


def test_compress_measures_quality_on_the_test_set(compressed, run, fashion_mnist):
    quality = compressed["quality"]
    assert quality["test_images"] == 10_000
    for key in ("vae_float32_codes", "vae_float16_codes", "pca", "mean_image"):
        assert 0.2 < quality[key]["bce"] < 1.0 and 5 < quality[key]["psnr_db"] < 30, key
    # Two numbers per image buy something over storing nothing but the mean image.
    assert quality["pca"]["psnr_db"] > quality["mean_image"]["psnr_db"]

    # The mean image's error, recomputed by hand from the run's training images.
    (x_train, _), (x_test, _) = fashion_mnist
    mean = x_train[:2000].reshape(2000, 784).mean(axis=0) / 255
    mse = np.mean((x_test.reshape(-1, 784) / 255 - mean) ** 2)
    assert quality["mean_image"]["psnr_db"] == pytest.approx(10 * np.log10(1 / mse), rel=1e-6)  # float32 pixels


def test_the_printed_table_gives_the_reports_sizes_in_full(compressed):
    from vae_tf.compress import format_table

    lines = format_table(compressed).splitlines()
    assert lines[0] == "The report's comparison (2,000 training images):"
    assert lines[1].endswith("(2000, 784)    12,544,000 bytes  11.962890625 MiB")
    assert lines[2].endswith("(2000, 2)        16,000 bytes  0.0152587890625 MiB")
    assert lines[3] == "  ratio 784"


def test_compress_does_not_replace_files_without_overwrite(compressed, run, tmp_path, refused):
    before = (run / "compression.json").read_text()
    refused(main, [str(run)],
            f"error: {run} already has compression.json; pass --overwrite to replace it, or choose another --out.")
    assert (run / "compression.json").read_text() == before

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "compression.json").write_text("my own notes")
    refused(main, [str(run), "--out", str(mine)], f"error: {mine} already has compression.json")
    assert (mine / "compression.json").read_text() == "my own notes"


def test_compress_refuses_what_is_not_a_run_in_one_line(tmp_path, refused):
    (tmp_path / "notes.txt").write_text("mine")
    refused(main, [str(tmp_path)], f"error: {tmp_path} is not a finished vae_tf run directory (missing config.json")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]
