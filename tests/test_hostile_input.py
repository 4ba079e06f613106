"""A hostile but fair user (issue 27): labels, folders, JSON files, inert settings, the API, fit's failures.

Each test names the class of defect it holds; docs/reliability-guarantees.md lists them.
"""


import json

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


# --- 8. a setting that cannot act is refused, in one line naming what it needs ---------------------------

@pytest.mark.parametrize("argv, expected", [
    (["--filters", "64"], "--filters 64 cannot act: it needs --architecture conv"),
    (["--image-size", "1", "1"], "--image-size 1 1 cannot act: it needs --dataset folder:DIR"),
    (["--color", "rgb"], "--color rgb cannot act: it needs --dataset folder:DIR"),
    (["--test-fraction", "0.3"], "--test-fraction 0.3 cannot act: it needs --dataset folder:DIR"),
    (["--dataset", "digits", "--data-dir", "/tmp"], "--data-dir /tmp cannot act: it needs --dataset fashion_mnist"),
    (["--flow-steps", "3"], "--flow-steps 3 cannot act: it needs --posterior iaf"),
    (["--prior-components", "5"], "--prior-components 5 cannot act: it needs --prior mixture or vamp"),
    (["--xla", "on", "--no-fast"], "--xla on cannot act: it needs the fast path"),
    (["--warmup-epochs", "2"], "--warmup-epochs 2.0 cannot act: it needs --beta-schedule linear"),
    (["--beta-schedule", "cyclical", "--ramp-fraction", "1.5"], "must be at most 1"),
])
def test_train_refuses_a_setting_that_cannot_act(argv, expected, refused, tmp_path):
    from vae_tf.train import main

    refused(main, argv + ["--out", str(tmp_path / "run")], expected)
    assert not (tmp_path / "run").exists()


def test_every_rule_of_the_table_names_a_real_setting_and_its_default_passes():
    import dataclasses

    from vae_tf.config import TrainConfig
    from vae_tf.config.needs import NEEDS

    assert set(NEEDS) <= {field.name for field in dataclasses.fields(TrainConfig)}
    TrainConfig()  # the report's defaults act, or are defaults
    TrainConfig(architecture="conv", filters=8, posterior="iaf", flow_steps=3, prior="vamp", prior_components=4,
                kl_estimator="monte_carlo", dataset="folder:x", image_size=[8, 8], color="rgb", test_fraction=0.2)


def test_bench_and_fit_refuse_flags_their_mode_does_not_use(refused, tmp_path):
    from vae_tf.bench import main as bench
    from vae_tf.fit import main as fit

    refused(bench, ["step", "--dataset", "bogus"], "--dataset cannot act in `bench step`")
    refused(bench, ["paths", "--baseline", "x.py"], "--baseline cannot act in `bench paths`")
    refused(fit, ["--table", "--loss", "mse", "--out", str(tmp_path / "t")], "--loss cannot act with --table")
    refused(fit, ["--table", "--mu0", "3", "--out", str(tmp_path / "t")], "--mu0 cannot act with --table")
    assert not (tmp_path / "t").exists()


# --- 9. the Python API checks what the command line checks ---------------------------------------------

@pytest.mark.parametrize("settings, message", [
    ({"beta": float("nan")}, "beta=nan: must be finite."),
    ({"beta": -1.0}, "beta=-1.0: must be at least 0."),
    ({"free_bits": -0.5}, "free_bits=-0.5: must be at least 0."),
    ({"prior": "mixture", "prior_components": 0, "kl_estimator": "monte_carlo"},
     "prior_components=0: must be at least 1."),
    ({"latent_dim": 2.5}, "latent_dim=2.5: must be an integer."),
    ({"posterior": "iaf", "flow_steps": 0, "kl_estimator": "monte_carlo"}, "flow_steps=0: must be at least 1."),
    ({"seed": -1}, "seed=-1: must be at least 0."),
    ({"image_shape": (28, 28)}, "image_shape=(28, 28): give (H, W, C)"),
])
def test_the_model_refuses_what_the_command_line_refuses_in_one_sentence(settings, message):
    from vae_tf.models.vae import VAE

    with pytest.raises(ValueError) as error:
        VAE(**settings)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_the_models_ranges_are_the_configs():
    import dataclasses

    from vae_tf.config import TrainConfig
    from vae_tf.models.checks import SETTING_RANGES

    for field in dataclasses.fields(TrainConfig):
        if field.name in SETTING_RANGES:
            meta = field.metadata
            assert SETTING_RANGES[field.name] == (meta["kind"], meta["at_least"], meta["above"], meta["at_most"]), field
    numbers = {f.name for f in dataclasses.fields(TrainConfig)
               if f.metadata["model"] and f.metadata["kind"] in (int, float)}
    assert numbers <= set(SETTING_RANGES)


@pytest.fixture(scope="module")
def small_vae():
    from vae_tf.models.vae import VAE

    return VAE(image_shape=(4, 4, 1), hidden_units=4, seed=0)


@pytest.mark.parametrize("call, message", [
    (lambda vae: vae.encode(np.zeros((0, 16), np.uint8)), "images are empty (shape (0, 16))"),
    (lambda vae: vae.decode(np.zeros((0, 2))), "codes are empty"),
    (lambda vae: vae.encode(np.zeros((3, 16), np.uint8), batch_size=0), "batch_size=0: must be at least 1"),
    (lambda vae: vae.decode(np.zeros((3, 2)), batch_size=0), "batch_size=0: must be at least 1"),
    (lambda vae: vae.decode(np.full((3, 2), np.nan)), "codes contain NaN or infinite values (first in row 0)"),
    (lambda vae: vae.decode(np.zeros((3, 5))), "codes must have shape (N, 2)"),
    (lambda vae: vae.posterior_mean(np.zeros((0, 16), np.uint8)), "images are empty"),
])
def test_many_images_methods_refuse_empty_input_a_zero_batch_and_nan_codes(small_vae, call, message):
    with pytest.raises(ValueError) as error:
        call(small_vae)
    assert message in str(error.value)


def test_load_model_on_a_directory_says_it_is_one_and_what_to_pass(tmp_path):
    from vae_tf.rundir import RunDirError
    from vae_tf.rundir.reading import load_model

    with pytest.raises(RunDirError, match=f"{tmp_path} is a directory, not a model file; pass the .keras file"):
        load_model(tmp_path)


# --- 10. fit exits non-zero when its loss goes non-finite, and its JSON stays JSON -----------------------

def test_fit_fails_on_a_non_finite_loss_and_writes_valid_json(tmp_path, refused, capsys):
    from vae_tf.fit import main

    refused(main, ["--mu0", "1e200", "--steps", "5", "--no-gif", "--out", str(tmp_path / "fit")],
            "became non-finite")
    text = (tmp_path / "fit" / "result.json").read_text()
    result = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in result.json"))
    assert result["final_loss"] is None and result["non_finite"] is True


# --- 12. the README's one set-up command installs everything the suite needs -----------------------------

def test_the_readme_set_up_installs_what_every_test_needs():
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    # `.[dev]` pulls the docs extra (test_docs builds the site with mkdocs) by naming the project itself
    assert f"{project['name']}[docs]" in extras["dev"]
    set_up = (root / "README.md").read_text().split("## Set up", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"pip install -e \"\.\[(\w+)\]\"", set_up)[0] == "dev"
    assert 'pip install -q -e ".[dev]"' in (root / ".ci" / "run").read_text()  # CI installs what the README says


# --- 6. every field of the JSON files a command reads is checked; a model must match its run -------------

def edit_json(path, edit):
    values = json.loads(path.read_text())
    edit(values)
    path.write_text(json.dumps(values))


@pytest.fixture(scope="module")
def run_with_a_bad_beta(copy_of_tiny_run):
    run = copy_of_tiny_run()
    edit_json(run / "config.json", lambda config: config["config"].update(beta="abc"))
    return run


@pytest.mark.parametrize("command, argv", [
    ("compress", []), ("evaluate", []), ("plot", []), ("explore", []),
    ("klcost", ["--test-limit", "200"]),
])
def test_a_config_field_of_the_wrong_type_is_refused_by_every_command(run_with_a_bad_beta, command, argv, refused,
                                                                     tmp_path):
    import importlib

    main = importlib.import_module(f"vae_tf.{command}").main
    before = sorted(path.name for path in run_with_a_bad_beta.iterdir())
    out = ["--out", str(tmp_path / "out")] if command in ("plot", "explore") else []
    refused(main, [str(run_with_a_bad_beta), *argv, *out],
            f'{run_with_a_bad_beta / "config.json"}: "config.beta" is \'abc\': must be a number; put back the value')
    assert sorted(path.name for path in run_with_a_bad_beta.iterdir()) == before  # nothing written, nothing copied
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("file, edit, expected", [
    ("summary.json", lambda s: s["final"].update(loss="low"), '"final.loss" is \'low\': must be a number'),
    ("summary.json", lambda s: s.update(train_images=-5), '"train_images" is -5: must be at least 1'),
    ("config.json", lambda c: c["data"].update(image_shape=[28, 28]), '"data.image_shape" is [28, 28]: must be'),
    ("config.json", lambda c: c["config"].update(latent_dim=2.5), '"config.latent_dim" is 2.5: must be an integer'),
])
def test_a_damaged_run_file_is_one_line_naming_file_field_and_value(copy_of_tiny_run, file, edit, expected):
    from vae_tf.rundir import Run, RunDirError

    run = copy_of_tiny_run()
    edit_json(run / file, edit)
    with pytest.raises(RunDirError) as error:
        Run.open(run)
    assert f"{run / file}: {expected}" in str(error.value) and "\n" not in str(error.value)


def test_a_damaged_checkpoint_state_is_named_field_by_field(copy_of_tiny_run, refused):
    from vae_tf.train import main

    run = copy_of_tiny_run()
    for name in ("summary.json", "model.keras", "latents.npz"):
        (run / name).unlink()
    (run / "checkpoint").mkdir()
    state = run / "checkpoint" / "state.json"
    for values, expected in (
        ({"epochs_done": "1", "model": "epoch-0001.keras", "history": [{}]}, '"epochs_done" is \'1\''),
        ({"epochs_done": 1, "model": "../../elsewhere.keras", "history": [{}]}, '"model" is \'../../elsewhere.keras\''),
        ({"epochs_done": 2, "model": "epoch-0002.keras", "history": [{"loss": 1.0}]}, '"history" is [{\'loss\': 1.0}]'),
        ({"epochs_done": 1, "model": "epoch-0001.keras", "history": [{"loss": "x"}]}, '"history[0].loss" is \'x\''),
    ):
        state.write_text(json.dumps(values))
        refused(main, ["--resume", str(run)], f"{state}: {expected}")


def test_a_model_that_does_not_match_its_run_is_refused_before_any_figure(copy_of_tiny_run, refused, tmp_path):
    from vae_tf.plot import main

    run = copy_of_tiny_run()
    edit_json(run / "config.json", lambda config: config["config"].update(latent_dim=3))
    refused(main, [str(run), "--out", str(tmp_path / "figures")], "is a model of 28 x 28 x 1 images and 2 latent "
            "dimensions, but its config.json records 28 x 28 x 1 images and 3")
    assert not list((tmp_path / "figures").glob("*.png"))


def test_klcost_refuses_too_few_test_images_and_a_directory_as_out_before_the_work(tiny_run, refused, tmp_path):
    from vae_tf.klcost import main

    refused(main, [str(tiny_run), "--test-limit", "10"], "10 test images make no batch of its batch size 128")
    refused(main, [str(tiny_run), "--out", str(tmp_path), "--overwrite"], f"--out {tmp_path} is a directory")


# --- 11. messages that said the wrong thing ------------------------------------------------------------

def test_a_string_task_index_is_called_a_string_not_out_of_range(monkeypatch):
    from vae_tf.training.cluster import read_tf_config

    text = json.dumps({"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": "0"}})
    with pytest.raises(ValueError, match="task index '0' is not an integer; write it without quotes"):
        read_tf_config(text)


def test_a_failed_run_leaves_no_empty_folder_it_made(tmp_path, refused):
    from vae_tf.train import main

    refused(main, ["--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")], "Fashion-MNIST not found")
    assert not (tmp_path / "run").exists()
    (tmp_path / "mine").mkdir()  # a folder the user made stays
    refused(main, ["--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "mine")], "Fashion-MNIST not found")
    assert (tmp_path / "mine").is_dir()


def test_overwrite_says_it_removes_the_users_other_files_in_a_run_directory(copy_of_tiny_run, capsys):
    from vae_tf.rundir.writing import RunWriter

    run = copy_of_tiny_run()
    (run / "notes.txt").write_text("mine")
    RunWriter.create(run, overwrite=True).close()
    err = capsys.readouterr().err
    assert f"--overwrite empties the run directory {run}, with its other entries too: notes.txt" in err
    assert not any(run.iterdir())
