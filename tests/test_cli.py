"""What every command shares: flags derived from TrainConfig, parsing without TensorFlow, one rule for outputs."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vae_tf import config, rundir
from vae_tf.config import TrainConfig

# Every command: the modules at the top of the package (tests/test_layout.py checks that nothing else is there).
COMMANDS = tuple(sorted(path.stem for path in (Path(__file__).resolve().parents[1] / "vae_tf").glob("*.py")
                        if path.stem != "__init__"))
# ... and the commands living in a package (`python -m vae_tf.data` runs vae_tf/data/__main__.py), by module.
COMMANDS += tuple(sorted(f"{path.parent.name}.__main__"
                         for path in (Path(__file__).resolve().parents[1] / "vae_tf").glob("*/__main__.py")))


def other_value(field: dataclasses.Field):
    """A valid value of `field` other than its default."""
    meta = field.metadata
    if meta["choices"] is not None:
        return next(choice for choice in meta["choices"] if choice != field.default)
    if meta["many"]:
        return [3] * meta["count"] if meta["kind"] is int else ["/cpu:0"]
    if meta["kind"] is bool:
        return not field.default
    if meta["kind"] is int:
        return (field.default or 1) + 2
    if meta["kind"] is float:
        return field.default * 3 + 0.5
    return "/tmp/somewhere"


def test_every_setting_has_a_flag_and_round_trips_through_config_json(tmp_path):
    fields = dataclasses.fields(TrainConfig)
    changed = {field.name: other_value(field) for field in fields}
    changed["strategy"] = "mirrored"  # the only strategy that takes --devices
    changed["likelihood"], changed["gaussian_variance"] = "gaussian", "0.5"  # sigma^2 acts on the Gaussian only
    # Free bits and the capacity act on the KL term only (regularizer "kl", the default): every
    # other setting changes in the first config, the regularizer in the second.
    defaults = {field.name: field.default for field in fields}
    changed["ramp_fraction"] = 0.75  # a share of a cycle: at most 1
    # A setting that cannot act is refused (vae_tf/config/needs.py): in each variant those go back to their default.
    from types import SimpleNamespace

    from vae_tf.config.needs import NEEDS

    def acting(values):
        for _ in range(2):  # twice: a setting's need may itself have gone back to its default
            probe = SimpleNamespace(**values)
            values = {name: value if name not in NEEDS or NEEDS[name][0](probe) else defaults[name]
                      for name, value in values.items()}
        return values

    variants = [acting({**changed, "regularizer": "kl", "dataset": "folder:/tmp/somewhere", "posterior": "iaf",
                        "beta_schedule": "cyclical"}),
                acting({**changed, "dataset": "mnist", "beta_schedule": "linear", "fast": True})]
    assert all(any(variant[f.name] != f.default for variant in variants) for f in fields)
    for number, variant in enumerate(variants):
        settings = TrainConfig(**variant)
        argv = []
        for field in fields:
            value = variant[field.name]
            if value is None:  # not given
                continue
            if field.metadata["kind"] is bool:
                argv.append(config.flag(field.name) if value else "--no-" + field.name.replace("_", "-"))
            else:
                argv += [config.flag(field.name), *map(str, value if isinstance(value, list) else [value])]
        from vae_tf.train import build_parser

        args = build_parser().parse_args(argv)
        assert TrainConfig.from_args(args) == settings
        assert sorted(config.changed_settings(args)) == sorted(config.flag(f.name) for f in fields
                                                               if variant[f.name] != f.default)

        writer = rundir.RunWriter.create(tmp_path / f"run{number}")
        writer.write_config(settings.to_dict(), data={}, device="cpu", versions={})
        writer.close()
        assert TrainConfig.from_dict(rundir.read_config(tmp_path / f"run{number}")["config"]) == settings


def test_default_flags_are_the_reports_setup():
    from vae_tf.train import build_parser

    args = build_parser().parse_args([])
    assert TrainConfig.from_args(args) == TrainConfig()
    assert config.changed_settings(args) == []
    assert (TrainConfig().batch_size, TrainConfig().learning_rate, TrainConfig().epochs) == (128, 1e-4, 10)


@pytest.mark.parametrize("values, message", [
    ({"regularizer": "kld"}, "regularizer='kld': choose one of kl, none, mse"),
    ({"epochs": 0}, "epochs=0: must be at least 1"),
    ({"epochs": 2.5}, "epochs=2.5: must be an integer"),
    ({"learning_rate": 0.0}, "learning_rate=0.0: must be greater than 0"),
    ({"beta": float("nan")}, "beta=nan: must be finite"),
    ({"devices": ["/cpu:0"]}, "devices are only used by strategy='mirrored'"),
])
def test_settings_are_checked_where_they_are_declared(values, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**values)


def test_model_settings_are_what_the_vae_saves():
    import vae_tf

    settings = TrainConfig(latent_dim=3, beta=0.5, regularizer="mse", seed=4)
    vae = vae_tf.VAE(**settings.model_settings())
    assert {key: vae.get_config()[key] for key in settings.model_settings()} == settings.model_settings()


PARSE_WITHOUT_TENSORFLOW = """
import sys
import importlib
for name in {commands!r}:
    module = importlib.import_module("vae_tf." + name)
    parser = module.build_parser()
    for argv in (["--help"], ["--no-such-flag"]):
        try:
            parser.parse_args(argv)
        except SystemExit:
            pass
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tensorflow_probability"))
    assert not loaded, (name, loaded[:5])
print("ok")
"""


def test_parsing_any_commands_arguments_imports_no_tensorflow():
    result = subprocess.run([sys.executable, "-c", PARSE_WITHOUT_TENSORFLOW.format(commands=COMMANDS)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_states_each_default_once_and_never_none(command):
    import importlib
    import re

    text = " ".join(importlib.import_module(f"vae_tf.{command}").build_parser().format_help().split())
    assert "(default: None)" not in text
    for flag_help in re.split(r" (?=--[a-z])", text):  # one flag's help at a time
        assert flag_help.count("(default:") <= 1, f"python -m vae_tf.{command} --help: {flag_help}"


@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_flag_is_one_line_and_exit_code_2(command, refused):
    import importlib

    main = importlib.import_module(f"vae_tf.{command}").main
    # Commands with a required argument name it first; the others name the flag.
    err = refused(main, ["--no-such-flag"], f"(see python -m vae_tf.{command.removesuffix('.__main__')} --help)")
    assert "--no-such-flag" in err or "the following arguments are required" in err


def test_claim_never_replaces_a_users_files_without_overwrite(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(rundir.RunDirError, match="already exists and is not empty"):
        rundir.claim(tmp_path)  # a run needs an empty directory
    assert rundir.claim(tmp_path, ["figure.png"]) == tmp_path  # other files are left alone
    (tmp_path / "figure.png").write_text("made by the user")
    with pytest.raises(rundir.RunDirError, match="already has figure.png; pass --overwrite"):
        rundir.claim(tmp_path, ["figure.png", "other.json"])
    rundir.claim(tmp_path, ["figure.png"], overwrite=True)
    with pytest.raises(rundir.RunDirError, match="is a file, not a directory"):
        rundir.claim(tmp_path / "mine.txt", ["x"], overwrite=True)
    assert (tmp_path / "mine.txt").read_text() == "precious"
    assert rundir.claim(tmp_path / "new" / "deeper").is_dir()


def test_writes_reach_the_disk_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(handle):
        events.append(("fsync", "dir" if os.path.isdir(f"/proc/self/fd/{handle}") else "file"))
        real_fsync(handle)

    def replace(source, target):
        events.append(("rename", os.path.basename(target)))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    rundir.write_json(tmp_path / "summary.json", {"loss": 1.0})
    assert events == [("fsync", "file"), ("rename", "summary.json"), ("fsync", "dir")]
    assert json.loads((tmp_path / "summary.json").read_text()) == {"loss": 1.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]  # no temporary left behind
