"""`python -m vae_tf.compare`: three variants trained alike, their codes' spread side by side."""

import json

import numpy as np
import pytest

from vae_tf.analysis.spread import latent_spread, spread_markdown
from vae_tf.compare import main
from vae_tf.rundir import RUN_FILES, Run


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """The three variants trained by the command itself, on a tiny subset."""
    out = tmp_path_factory.mktemp("compare") / "out"
    assert main(["--out", str(out), "--limit", "600", "--epochs", "1", "--seed", "5", "--verbose", "0"]) == 0
    return out


def test_compare_trains_the_three_variants_with_the_same_settings(compared, capsys):
    for variant in ("kl", "none", "mse"):
        assert all((compared / variant / name).is_file() for name in RUN_FILES)
        settings = Run.open(compared / variant).settings
        assert (settings["regularizer"], settings["limit"], settings["epochs"], settings["seed"]) == (
            variant, 600, 1, 5)
    assert sorted(path.name for path in compared.iterdir()) == [
        "comparison.png", "kl", "mse", "none", "spread.json", "spread.md"]
    assert (compared / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_spread_json_describes_each_runs_codes(compared):
    report = json.loads((compared / "spread.json").read_text())
    assert list(report["variants"]) == ["kl", "none", "mse"]
    for variant, stats in report["variants"].items():
        z = Run.open(compared / variant).latents()["z"]
        assert stats["codes"] == 600
        np.testing.assert_allclose(stats["min"], z.min(axis=0))
        np.testing.assert_allclose(stats["std"], z.std(axis=0), rtol=1e-5)
        assert stats["share_inside_box"] == np.mean(np.all(np.abs(z) <= 3, axis=1))
    assert report["ratio_none_to_kl"]["std"] == pytest.approx(
        np.array(report["variants"]["none"]["std"]) / np.array(report["variants"]["kl"]["std"]))
    assert report["models"] == {variant: {"architecture": "mlp", "likelihood": "bernoulli"}
                                for variant in ("kl", "none", "mse")}
    assert (compared / "spread.md").read_text() == (
        "Models: kl: mlp, likelihood bernoulli; none: mlp, likelihood bernoulli; mse: mlp, likelihood bernoulli.\n\n"
        + spread_markdown({variant: latent_spread(Run.open(compared / variant).latents()["z"])
                           for variant in ("kl", "none", "mse")}))


def test_compare_reuses_finished_runs_without_training(compared, tmp_path, capsys):
    out = tmp_path / "reused"
    runs = [str(compared / variant) for variant in ("kl", "none", "mse")]
    assert main(["--out", str(out), "--runs", *runs]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["comparison.png", "spread.json", "spread.md"]
    assert (out / "spread.md").read_text() == (compared / "spread.md").read_text()
    assert "| with KL | 1 |" in capsys.readouterr().out


def test_runs_in_the_wrong_order_are_refused(compared, tmp_path, refused):
    runs = [str(compared / variant) for variant in ("none", "kl", "mse")]
    refused(main, ["--out", str(tmp_path / "x"), "--runs", *runs],
            "error: --runs expects the kl, none and mse runs in that order")
    assert not (tmp_path / "x").exists()


def test_a_missing_run_directory_is_named(tmp_path, refused):
    refused(main, ["--out", str(tmp_path / "x"), "--runs", str(tmp_path / "gone"), "b", "c"],
            f"error: {tmp_path / 'gone'} is not a directory; "
            "give the run directory that `python -m vae_tf.train` printed.")


@pytest.mark.parametrize("args, reason", [
    (["--regularizer", "kl"], "argument --regularizer: compare trains all three regularizers"),
    (["--runs", "a", "b", "c", "--epochs", "3"], "--epochs: training flags apply only when compare trains"),
    (["--epochs", "0"], "argument --epochs: '0' must be at least 1"),
    (["--runs", "a", "b"], "argument --runs: expected 3 arguments"),
])
def test_flags_that_make_no_sense_are_refused(args, reason, tmp_path, refused):
    refused(main, ["--out", str(tmp_path / "never"), *args], reason)
    assert not (tmp_path / "never").exists()


def test_a_users_directory_is_not_written_into_without_overwrite(compared, tmp_path, refused, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    runs = [str(compared / variant) for variant in ("kl", "none", "mse")]
    (out / "spread.md").write_text("my own table")
    refused(main, ["--out", str(out), "--runs", *runs], f"error: {out} already has spread.md; pass --overwrite")
    assert sorted(path.name for path in out.iterdir()) == ["notes.txt", "spread.md"]
    assert main(["--out", str(out), "--runs", *runs, "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "spread.json").is_file()
    capsys.readouterr()
    # Training never replaces the outputs either (it creates kl/, none/ and mse/ beside the user's files).
    refused(main, ["--out", str(out), "--limit", "600", "--epochs", "1"], f"{out} already has comparison.png")
