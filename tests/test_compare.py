"""`python -m vae_tf.compare` and the spread statistics behind the report's with-vs-without-KL claim."""

import json
import math

import numpy as np
import pytest

from vae_tf.compare import main
from vae_tf.rundir import RUN_FILES, Run
from vae_tf.spread import latent_spread, share_inside_box, spread_markdown, spread_ratios

# Four codes worked by hand: dim 1 is 0, 1, 4, -3 (mean 0.5, variance 25/4, std 2.5);
# dim 2 is 0, -2, 1, 3 (mean 0.5, variance 13/4); (4, 1) is the only code outside [-3, 3]^2
# ((-3, 3) lies on its boundary, which counts as inside).
HAND_MADE = np.array([[0.0, 0.0], [1.0, -2.0], [4.0, 1.0], [-3.0, 3.0]])


def test_spread_of_hand_made_codes():
    stats = latent_spread(HAND_MADE)
    assert stats["codes"] == 4 and stats["latent_dim"] == 2
    assert stats["min"] == [-3.0, -2.0] and stats["max"] == [4.0, 3.0]
    assert stats["mean"] == [0.5, 0.5]
    assert stats["std"] == pytest.approx([2.5, math.sqrt(13 / 4)], rel=1e-15)
    assert stats["share_inside_box"] == 0.75
    assert stats["box"] == [-3.0, 3.0]


def test_share_inside_box_needs_every_coordinate_inside():
    z = np.array([[2.9, -2.9, 0.0], [2.9, 0.0, 3.1], [-3.0, 3.0, 3.0], [10.0, 0.0, 0.0]])
    assert share_inside_box(z) == 0.5
    assert share_inside_box(z, half_width=20) == 1.0
    assert share_inside_box(z, half_width=1) == 0.0


def test_ratios_of_a_variant_ten_times_wider():
    stats = {"kl": latent_spread(HAND_MADE), "none": latent_spread(10 * HAND_MADE + 5)}
    ratios = spread_ratios(stats)
    assert ratios["std"] == pytest.approx([10, 10]) and ratios["range"] == pytest.approx([10, 10])


def test_spread_markdown_has_a_row_per_variant_and_dimension():
    text = spread_markdown({"kl": latent_spread(HAND_MADE), "none": latent_spread(10 * HAND_MADE)})
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| variant | latent dim | min | max | std | share of codes inside [-3, 3]^2")
    assert rows[1] == "| with KL | 1 | -3.00 | 4.00 | 2.50 | 75.0% |"
    assert rows[2] == "|  | 2 | -2.00 | 3.00 | 1.80 |  |"
    assert rows[3] == "| without KL | 1 | -30.00 | 40.00 | 25.00 | 25.0% |"
    assert "Without KL vs with KL: dim 1: std 10.0x, range 10.0x, dim 2: std 10.0x, range 10.0x." in text


def test_spread_refuses_arrays_that_are_not_codes():
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        latent_spread(np.zeros(5))


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
    assert (compared / "spread.md").read_text() == spread_markdown(
        {variant: latent_spread(Run.open(compared / variant).latents()["z"]) for variant in ("kl", "none", "mse")})


def test_compare_reuses_finished_runs_without_training(compared, tmp_path, capsys):
    out = tmp_path / "reused"
    runs = [str(compared / variant) for variant in ("kl", "none", "mse")]
    assert main(["--out", str(out), "--runs", *runs]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["comparison.png", "spread.json", "spread.md"]
    assert (out / "spread.md").read_text() == (compared / "spread.md").read_text()
    assert "| with KL | 1 |" in capsys.readouterr().out


def test_runs_in_the_wrong_order_are_refused(compared, tmp_path, capsys):
    runs = [str(compared / variant) for variant in ("none", "kl", "mse")]
    assert main(["--out", str(tmp_path / "x"), "--runs", *runs]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --runs expects the kl, none and mse runs in that order")
    assert len(err.splitlines()) == 1 and not (tmp_path / "x").exists()


def test_a_missing_run_directory_is_named(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "x"), "--runs", str(tmp_path / "gone"), "b", "c"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path / 'gone'} is not a directory; give the run directory that `python -m vae_tf.train` printed.")


@pytest.mark.parametrize("args, reason", [
    (["--regularizer", "kl"], "argument --regularizer: compare trains all three regularizers"),
    (["--runs", "a", "b", "c", "--epochs", "3"], "--epochs: training flags apply only when compare trains"),
    (["--epochs", "0"], "argument --epochs: '0' must be at least 1"),
    (["--runs", "a", "b"], "argument --runs: expected 3 arguments"),
])
def test_flags_that_make_no_sense_are_refused(args, reason, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--out", str(tmp_path / "never"), *args])
    assert exited.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and reason in errors[0]
    assert not (tmp_path / "never").exists()


def test_a_users_directory_is_not_written_into_without_overwrite(compared, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    runs = [str(compared / variant) for variant in ("kl", "none", "mse")]
    (out / "spread.md").write_text("my own table")
    assert main(["--out", str(out), "--runs", *runs]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {out} already has spread.md; pass --overwrite")
    assert sorted(path.name for path in out.iterdir()) == ["notes.txt", "spread.md"]
    assert main(["--out", str(out), "--runs", *runs, "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "spread.json").is_file()
    # Training needs an empty directory: it creates kl/, none/ and mse/ in it.
    assert main(["--out", str(out), "--limit", "600", "--epochs", "1"]) == 1
    assert "already exists and is not empty" in capsys.readouterr().err
