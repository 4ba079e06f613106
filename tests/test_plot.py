"""`python -m vae_tf.plot` on a tiny run, and the figure functions on hand-made arrays."""

import os
import subprocess
import sys

import numpy as np
import pytest

from vae_tf import plots
from vae_tf.data import CLASS_NAMES
from vae_tf.plot import FIGURES, main
from vae_tf.plots import grid_bounds

PNG = b"\x89PNG\r\n\x1a\n"


def test_plot_writes_the_four_figures_into_the_run_directory(copy_of_tiny_run, capsys, refused):
    run = copy_of_tiny_run()
    assert main([str(run)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(FIGURES) == 4
    for name in FIGURES:
        assert (run / name).read_bytes()[:8] == PNG, name
        assert f"wrote {run / name}" in printed
    # A second time: the figures are there now.
    err = refused(main, [str(run)], f"error: {run} already has latent_scatter.png, generated_grid.png")
    assert err.endswith("pass --overwrite to replace them, or choose another --out.\n")
    stamps = [os.stat(run / name).st_mtime_ns for name in FIGURES]
    assert main([str(run), "--overwrite", "--grid-range", "-3", "3"]) == 0
    assert [os.stat(run / name).st_mtime_ns for name in FIGURES] != stamps


def test_plot_writes_elsewhere_with_out(tiny_run, tmp_path):
    out = tmp_path / "figures" / "kl"
    assert main([str(tiny_run), "--out", str(out), "--grid-size", "4", "--examples", "3"]) == 0
    assert sorted(path.name for path in out.iterdir()) == sorted(FIGURES)


@pytest.mark.parametrize("args, reason", [
    (["--grid-range", "3", "-3"], "argument --grid-range: LO must be less than HI; got 3 -3"),
    (["--grid-range", "1", "1"], "argument --grid-range: LO must be less than HI"),
    (["--grid-range", "a", "3"], "argument --grid-range: 'a' is not a number"),
    (["--grid-range", "nan", "3"], "argument --grid-range: 'nan' is not a finite number"),
    (["--grid-range", "-3"], "argument --grid-range: expected 2 arguments"),
    (["--grid-size", "0"], "argument --grid-size: '0' must be at least 1"),
])
def test_bad_options_are_refused_in_one_line(args, reason, tiny_run, tmp_path, refused):
    refused(main, [str(tiny_run), "--out", str(tmp_path / "never"), *args], reason)
    assert not (tmp_path / "never").exists()


def test_a_directory_that_is_not_a_run_is_refused(tmp_path, refused):
    (tmp_path / "notes.txt").write_text("not a run")
    refused(main, [str(tmp_path)],
            f"error: {tmp_path} is not a finished vae_tf run directory (missing config.json, history.csv")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]


def test_a_missing_run_directory_is_one_line_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "vae_tf.plot", str(tmp_path / "missing")], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert errors == [f"error: {tmp_path / 'missing'} is not a directory; give the run directory that "
                      "`python -m vae_tf.train` printed."]


def test_scatter_has_the_reports_labels_and_a_legend_of_the_classes():
    z = np.random.default_rng(0).normal(size=(200, 2))
    y = np.arange(200) % 10
    fig = plots.latent_scatter(z, y, title="with KL")
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == (
        "first latent variable", "second latent variable", "with KL")
    assert [text.get_text() for text in ax.get_legend().get_texts()] == list(CLASS_NAMES)
    assert sum(len(collection.get_offsets()) for collection in ax.collections) == 200


def test_scatter_of_more_than_two_dimensions_says_which_are_shown():
    z = np.arange(30, dtype=float).reshape(10, 3)
    ax = plots.latent_scatter(z, np.arange(10), title="x").axes[0]
    assert ax.get_xlabel() == "first latent variable (z[0] of 3)"
    assert ax.get_ylabel() == "second latent variable (z[1] of 3)"
    shown = np.concatenate([collection.get_offsets() for collection in ax.collections])
    np.testing.assert_array_equal(np.sort(shown, axis=0), z[:, :2])


def test_grid_codes_span_the_range_like_a_plot():
    codes = plots.grid_codes(lo=[-1, -10, 0], hi=[3, 10, 0], n=5, fill=[0, 0, 7])
    assert codes.shape == (5, 5, 3)
    np.testing.assert_allclose(codes[0, :, 0], [-1, 0, 1, 2, 3])  # first coordinate left to right
    np.testing.assert_allclose(codes[:, 0, 1], [10, 5, 0, -5, -10])  # second one top to bottom
    assert np.all(codes[..., 2] == 7)


def test_grid_bounds_follow_the_codes_or_the_range():
    z = np.array([[-2.0, 1.0, 5.0], [4.0, 3.0, 6.0], [0.0, -1.0, 9.0]])
    lo, hi, fill, where = grid_bounds(z)
    assert lo.tolist() == [-2, -1, 5] and hi.tolist() == [4, 3, 9] and fill.tolist() == [0, 1, 6]
    assert where == "grid over each coordinate's min..max of z; z[2:] held at their medians"
    lo, hi, _, where = grid_bounds(z[:, :2], (-3, 3))
    assert lo.tolist() == [-3, -3] and hi.tolist() == [3, 3] and where == "grid over [-3, 3]"


def test_generated_grid_decodes_each_grid_code_into_its_cell():
    seen = []

    def decode(codes):  # image k is filled with the value k / 100, so each cell is recognisable
        seen.append(codes)
        return np.repeat(np.arange(len(codes))[:, None] / 100, 784, axis=1)

    fig = plots.generated_grid(decode, lo=[0, 0], hi=[1, 2], n=10, title="t")
    np.testing.assert_allclose(seen[0], plots.grid_codes([0, 0], [1, 2], 10).reshape(100, 2))
    mosaic = fig.axes[0].get_images()[0].get_array()
    assert mosaic.shape == (280, 280)
    assert mosaic[28 * 3 + 5, 28 * 7 + 5] == pytest.approx(0.37)  # row 3, column 7 is image 37
    assert [label.get_text() for label in fig.axes[0].get_xticklabels()][-1] == "1"


def test_comparison_has_own_axes_above_and_shared_axes_below():
    rng = np.random.default_rng(1)
    y = np.arange(500) % 10
    latents = {"kl": (rng.normal(size=(500, 2)), y), "none": (30 * rng.normal(size=(500, 2)), y),
               "mse": (2 * rng.normal(size=(500, 2)), y)}
    fig = plots.comparison(latents)
    axes = [ax for ax in fig.axes if ax.collections]
    assert len(axes) == 6
    assert [ax.get_title() for ax in axes[:3]] == [
        "with KL (own axes)", "without KL (own axes)", "MSE instead of KL (own axes)"]
    top, bottom = axes[:3], axes[3:]
    assert len({ax.get_xlim() for ax in bottom}) == 1 and len({ax.get_ylim() for ax in bottom}) == 1
    low, high = bottom[0].get_xlim()
    assert low <= latents["none"][0][:, 0].min() and high >= latents["none"][0][:, 0].max()
    assert top[0].get_xlim()[1] - top[0].get_xlim()[0] < (high - low) / 5  # the KL panel keeps its own scale
    assert [text.get_text() for text in fig.legends[0].get_texts()] == list(CLASS_NAMES)


def test_loss_curves_draw_each_term_per_epoch():
    history = [{"epoch": e, "loss": 10 - e, "reconstruction_loss": 9 - e, "kl_loss": 100.0 * e, "seconds": 1.0}
               for e in (1, 2, 3)]
    fig = plots.loss_curves(history, title="without KL", regularizer="none")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "reconstruction_loss", "kl_loss (tracked, not minimised)"]
    np.testing.assert_array_equal(fig.axes[2].lines[0].get_ydata(), [100, 200, 300])


def test_reconstructions_put_inputs_above_outputs():
    images = np.full((3, 784), 255, dtype=np.uint8)
    fig = plots.reconstructions(images, np.zeros((3, 784)))
    mosaic = fig.axes[0].get_images()[0].get_array()
    assert mosaic.shape == (56, 84) and mosaic[:28].min() == 1.0 and mosaic[28:].max() == 0.0
