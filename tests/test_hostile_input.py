"""A hostile but fair user (issue 27): labels, folders, JSON files, inert settings, the API, fit's failures.

Each test names the class of defect it holds; docs/reliability-guarantees.md lists them.
"""


import numpy as np
import pytest
from PIL import Image

from vae_tf.core.errors import DataError
from vae_tf.data.sources import load_data


def write_images(folder, count, size=(8, 8)):
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.fromarray(np.full(size, index * 10 % 256, np.uint8)).save(folder / f"{index}.png")


# --- 1. labels are checked before anything is built from them; classes are the labels that occur ---------

def test_a_huge_label_makes_as_many_classes_as_occur_not_one_per_integer(tmp_path):
    x = np.zeros((6, 4, 4), np.uint8)
    np.savez(tmp_path / "big.npz", x_train=x, x_test=x[:3], y_train=np.array([0, 3, 10**12, 0, 3, 3]),
             y_test=np.array([3, 0, 10**12]))
    data = load_data(f"npz:{tmp_path / 'big.npz'}")
    assert data.spec.class_names == ("0", "3", "1000000000000")  # the stored labels name the classes
    assert data.y_train.tolist() == [0, 1, 2, 0, 1, 1] and data.y_test.tolist() == [1, 0, 2]


def test_class_names_follow_their_labels_when_some_labels_do_not_occur(tmp_path):
    x = np.zeros((4, 4, 4), np.uint8)
    np.savez(tmp_path / "named.npz", x_train=x, x_test=x[:2], y_train=np.array([1, 4, 4, 1]),
             y_test=np.array([4, 1]), class_names=np.array(["a", "b", "c", "d", "e"]))
    data = load_data(f"npz:{tmp_path / 'named.npz'}")
    assert data.spec.class_names == ("b", "e") and data.y_train.tolist() == [0, 1, 1, 0]


@pytest.mark.parametrize("y_train, message", [
    (np.array([0.5, 1, 2, 0]), "dtype float64"),
    (np.array([0, 1, -3, 0]), "holds the label -3"),
    (np.array([0, 1, 2]), "must be 4 integer labels >= 0"),
    (np.array([[0], [1], [2], [0]]), "got shape (4, 1)"),
])
def test_bad_labels_are_one_line_naming_the_file(tmp_path, y_train, message):
    x = np.zeros((4, 4, 4), np.uint8)
    np.savez(tmp_path / "bad.npz", x_train=x, x_test=x, y_train=y_train, y_test=np.zeros(4, np.int64))
    with pytest.raises(DataError, match="bad.npz: y_train") as error:
        load_data(f"npz:{tmp_path / 'bad.npz'}")
    assert message in str(error.value)


# --- 5. the folder rule: nothing dropped silently --------------------------------------------------------

def test_loose_images_beside_class_folders_are_refused_saying_how_many_and_where(tmp_path):
    write_images(tmp_path / "photos" / "cats", 4)
    write_images(tmp_path / "photos", 3)
    with pytest.raises(DataError) as error:
        load_data(f"folder:{tmp_path / 'photos'}")
    message = str(error.value)
    assert f"{tmp_path / 'photos'} holds 3 image files" in message and "beside its class sub-folders cats" in message
    assert "move them into a class sub-folder" in message and "\n" not in message


def test_an_empty_class_folder_is_named_as_empty(tmp_path):
    write_images(tmp_path / "photos" / "cats", 4)
    (tmp_path / "photos" / "dogs").mkdir()
    with pytest.raises(DataError, match=f"{tmp_path / 'photos' / 'dogs'} is an empty class sub-folder"):
        load_data(f"folder:{tmp_path / 'photos'}")


def test_images_only_under_train_class_folders_are_found_and_split(tmp_path):
    write_images(tmp_path / "photos" / "train" / "a", 6)
    write_images(tmp_path / "photos" / "train" / "b" / "deeper", 4)
    data = load_data(f"folder:{tmp_path / 'photos'}", test_fraction=0.2)
    assert data.spec.class_names == ("a", "b") and len(data.x_train) + len(data.x_test) == 10
    assert sorted(data.train_files + data.test_files)[0] == "train/a/0.png"
    assert "train/b/deeper/3.png" in data.train_files + data.test_files
    labels = dict(zip(data.train_files + data.test_files, [*data.y_train, *data.y_test]))
    assert labels["train/b/deeper/0.png"] == 1 and labels["train/a/5.png"] == 0


def test_test_fraction_cannot_act_on_a_folder_with_train_and_test(tmp_path):
    write_images(tmp_path / "photos" / "train", 4)
    write_images(tmp_path / "photos" / "test", 2)
    assert len(load_data(f"folder:{tmp_path / 'photos'}").x_test) == 2
    with pytest.raises(DataError, match="--test-fraction 0.3 cannot act: .* has train/ and test/"):
        load_data(f"folder:{tmp_path / 'photos'}", test_fraction=0.3)


def test_a_directory_given_as_npz_and_random_bytes_say_what_they_are(tmp_path):
    with pytest.raises(DataError, match="is a directory, not a file"):
        load_data(f"npz:{tmp_path}")
    (tmp_path / "noise.npz").write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(DataError, match="is not a .npz file") as error:
        load_data(f"npz:{tmp_path / 'noise.npz'}")
    assert "pickle" not in str(error.value)
