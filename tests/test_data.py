import gzip
import hashlib
import shutil
import struct

import numpy as np
import pytest

from vae_tf.data import DataError, DataNotFoundError, idx, load_fashion_mnist, locate_fashion_mnist

TRAIN_IMAGES_MD5 = "f4a8712d7a061bf5bd6d2ca38dc4d50a"
TEST_IMAGES_MD5 = "8181f5470baa50b63fa0f6fddb340f0a"


def idx_bytes(images):
    """The decompressed IDX file these images came from: header, then the pixels."""
    return struct.pack(">IIII", 0x803, *images.shape) + images.tobytes()


def test_loader_returns_the_real_fashion_mnist(fashion_mnist):
    (x_train, y_train), (x_test, y_test) = fashion_mnist
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert hashlib.md5(idx_bytes(x_train)).hexdigest() == TRAIN_IMAGES_MD5
    assert hashlib.md5(idx_bytes(x_test)).hexdigest() == TEST_IMAGES_MD5
    scaled = x_train / 255.0
    assert round(scaled.mean(), 4) == 0.2860 and round(scaled.std(), 4) == 0.3530
    assert np.bincount(y_train).tolist() == [6000] * 10


@pytest.fixture
def data_copy(tmp_path):
    """A private copy of the four real files, to damage."""
    source = locate_fashion_mnist(download=False).directory
    copy = tmp_path / "fmnist"
    shutil.copytree(source, copy)
    return copy


def test_explicit_directory_is_used_and_reported(data_copy):
    ((x_train, _), (x_test, _)), source = load_fashion_mnist(data_copy, download=False, return_source=True)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert source.kind == "data_dir" and source.directory == str(data_copy)


def test_uncompressed_files_are_read_too(data_copy):
    compressed = sorted(data_copy.glob("*.gz"))
    assert len(compressed) == 4  # otherwise this would test the copy as it came
    for gz in compressed:
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    (_, y_train), (x_test, _) = load_fashion_mnist(data_copy, download=False)
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert hashlib.md5(idx_bytes(x_test)).hexdigest() == TEST_IMAGES_MD5


def test_environment_variable_is_searched(data_copy, monkeypatch):
    monkeypatch.setenv("VAE_TF_DATA_DIR", str(data_copy))
    assert locate_fashion_mnist(download=False).kind == "env"


def test_truncated_file_is_refused_naming_it(data_copy):
    damaged = data_copy / "train-images-idx3-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:100_000])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz.*truncated or corrupt"):
        load_fashion_mnist(data_copy, download=False)


def test_short_decompressed_file_is_refused_naming_it(data_copy):
    damaged = data_copy / "t10k-images-idx3-ubyte.gz"
    damaged.write_bytes(gzip.compress(gzip.decompress(damaged.read_bytes())[:-784]))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz holds 7839232 bytes, expected 7840016"):
        load_fashion_mnist(data_copy, download=False)


def test_wrong_magic_number_is_refused(data_copy):
    # Swapping the label files for the image files gives the wrong kind of IDX file.
    shutil.copy(data_copy / "t10k-images-idx3-ubyte.gz", data_copy / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz has IDX magic number 0x00000803"):
        load_fashion_mnist(data_copy, download=False)


def test_out_of_range_label_is_refused(data_copy):
    labels = data_copy / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[8 + 123] = 10
    labels.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match="label 10"):
        load_fashion_mnist(data_copy, download=False)


def test_missing_explicit_directory_is_an_error_naming_it(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataNotFoundError, match=f"{missing}.*no such directory"):
        load_fashion_mnist(missing, download=False)


def test_directory_without_the_files_lists_what_is_missing(tmp_path):
    with pytest.raises(DataNotFoundError, match="missing train-images-idx3-ubyte"):
        load_fashion_mnist(tmp_path, download=False)


def test_nothing_found_lists_every_place_tried_and_the_fixes(tmp_path, monkeypatch):
    monkeypatch.delenv("VAE_TF_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(idx, "DEBIAN_DIR", tmp_path / "debian")

    def no_network():
        raise OSError("URL fetch failure: no route to host")

    import keras

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", no_network)
    with pytest.raises(DataNotFoundError) as caught:
        load_fashion_mnist()
    message = str(caught.value)
    assert str(tmp_path / "keras" / "datasets" / "fashion-mnist") in message
    assert str(tmp_path / "debian") in message
    assert "download via keras.datasets.fashion_mnist: failed (URL fetch failure" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "--data-dir" in message and "VAE_TF_DATA_DIR" in message
