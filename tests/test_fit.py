"""The fitting experiment (vae_tf.kl.fitting) moves Q the way the spec says; its figures; its command, vae_tf.fit."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from scipy.stats import norm

from vae_tf import fit, plots
from vae_tf.kl import fitting

REPO = Path(__file__).resolve().parents[1]
SHORT = 300  # steps: enough to see the direction, short enough for the test budget


@pytest.mark.parametrize("mu0", [0.0, 5.0])
def test_kl_div_moves_between_the_peaks_and_widens(mu0):
    result = fitting.fit_gaussian("kl_div", mu0, 1.0, SHORT)
    midpoint = 2.5  # the forward KL's optimum is the mixture's mean, (-5 + 10) / 2
    assert abs(result.final_mu - midpoint) < abs(mu0 - midpoint) - 0.2  # toward the midpoint
    assert -5 < result.final_mu < 10
    assert result.final_sigma > 1.2  # widening to cover both peaks
    assert result.final_loss < result.loss[0]


@pytest.mark.parametrize("loss", ["reverse_kl", "mse", "l1", "cosine"])
@pytest.mark.parametrize("mu0, nearest_peak", [(0.0, -5.0), (5.0, 10.0)])
def test_single_peak_losses_head_for_the_nearest_peak(loss, mu0, nearest_peak):
    result = fitting.fit_gaussian(loss, mu0, 1.0, SHORT)
    assert np.sign(result.final_mu - mu0) == np.sign(nearest_peak - mu0)
    assert abs(result.final_mu - mu0) > 0.2
    assert result.final_loss < result.loss[0]
    assert not result.stopped_early


def test_a_full_run_ends_where_the_readme_table_says():
    kl_fit = fitting.fit_gaussian("kl_div", 0.0, 1.0)  # 10,000 steps
    assert kl_fit.final_mu == pytest.approx(2.4994, abs=1e-3)
    assert kl_fit.final_sigma == pytest.approx(5.2311, abs=1e-3)  # still widening toward 7.57


def test_history_layout_and_printing():
    out = io.StringIO()
    result = fitting.fit_gaussian("mse", 5.0, 1.0, 250, print_every=100, out=out)
    assert result.steps_done == 250
    for array in (result.loss, result.mu, result.sigma):
        assert array.shape == (251,) and np.all(np.isfinite(array))
    assert (result.mu[0], result.sigma[0]) == (5.0, 1.0)
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["100/250", "200/250", "250/250"]
    assert f"mu {result.final_mu: .4f}" in lines[-1]


def test_adam_matches_keras_adam():
    x = tf.constant(fitting.GRID, tf.float32)
    log_p = fitting.target_log_density(x)
    mu, sigma = tf.Variable(5.0), tf.Variable(1.0)
    optimizer = keras.optimizers.Adam(learning_rate=1e-2)
    keras_mus = []
    for _ in range(20):
        with tf.GradientTape() as tape:
            value = fitting.grid_loss("cosine", mu, sigma, x, log_p)
        optimizer.apply_gradients(zip(tape.gradient(value, [mu, sigma]), [mu, sigma]))
        keras_mus.append((float(mu.numpy()), float(sigma.numpy())))
    ours = fitting.fit_gaussian("cosine", 5.0, 1.0, 20, learning_rate=1e-2)
    np.testing.assert_allclose(np.column_stack([ours.mu[1:], ours.sigma[1:]]), keras_mus, atol=2e-5)


def test_sigma_going_non_positive_stops_with_a_message_not_nan():
    out = io.StringIO()
    # A learning rate of 3 from sigma = 2 on the peak: the first Adam step would give sigma ~ -1.
    result = fitting.fit_gaussian("reverse_kl", -5.0, 2.0, 50, learning_rate=3.0, print_every=10, out=out)
    assert result.stopped_early and result.steps_done == 0
    assert "would have made sigma -0.9" in result.message and "smaller learning rate" in result.message
    assert "stopped early" in out.getvalue()
    assert np.all(np.isfinite(result.loss)) and result.final_sigma == 2.0
    # Mid-run: the state before the bad step is kept.
    result = fitting.fit_gaussian("mse", -5.0, 4.0, 50, learning_rate=1.5)
    assert result.stopped_early and result.steps_done == 2, result.message
    assert "Adam step 3 would have made sigma -0.2" in result.message
    assert result.mu.shape == (3,) and np.all(result.sigma > 0) and np.all(np.isfinite(result.loss))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"loss": "kl"}, "unknown loss 'kl'; choose one of kl_div"),
        ({"sigma0": 0.0}, "sigma0 must be > 0"),
        ({"sigma0": -1.0}, "sigma0 must be > 0"),
        ({"steps": 0}, "steps must be a whole number >= 1"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0"),
        ({"mu0": float("nan")}, "mu0 must be a finite number"),
    ],
)
def test_bad_setups_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fitting.fit_gaussian(**{"steps": 10, **kwargs})


@pytest.fixture(scope="module")
def short_fit():
    return fitting.fit_gaussian("kl_div", 0.0, 1.0, 60)


def test_fit_summary_draws_the_target_and_the_final_q(short_fit):
    target = np.exp(fitting.target_log_density(fitting.GRID).numpy())
    fig = plots.fit_summary(short_fit, fitting.GRID, target, fitting.PEAKS)
    ax_loss, ax_params, ax_density = fig.axes
    np.testing.assert_allclose(ax_loss.lines[0].get_ydata(), short_fit.loss)
    assert [line.get_ydata()[0] for line in ax_params.lines[2:]] == list(fitting.PEAKS)  # the peaks, marked
    p_line, q_start, q_end = ax_density.lines
    np.testing.assert_allclose(p_line.get_ydata(), target)
    np.testing.assert_allclose(q_start.get_ydata(), norm.pdf(fitting.GRID, 0.0, 1.0))
    np.testing.assert_allclose(q_end.get_ydata(), norm.pdf(fitting.GRID, short_fit.final_mu, short_fit.final_sigma))
    assert f"{short_fit.steps_done} steps" in fig.get_suptitle()


def test_final_fits_has_a_row_per_start_and_a_column_per_loss(short_fit):
    other = fitting.fit_gaussian("mse", 5.0, 1.0, 20)
    fig = plots.final_fits([short_fit, other], fitting.GRID, np.zeros_like(fitting.GRID))
    assert len(fig.axes) == 4  # (two starts) x (two losses)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title().split(",")[0] for ax in titled] == ["kl_div", "mse"]


def test_fit_animation_shows_q_at_the_chosen_steps(short_fit, tmp_path):
    path = plots.save_fit_animation(short_fit, tmp_path / "q.gif", fitting.GRID, np.zeros_like(fitting.GRID), frames=3)
    with Image.open(path) as gif:
        assert gif.n_frames == 3 and gif.size == (480, 272)
    with pytest.raises(ValueError, match="frames must be >= 2"):
        plots.save_fit_animation(short_fit, tmp_path / "one.gif", fitting.GRID, fitting.GRID, frames=1)


def test_the_figures_module_imports_no_tensorflow():
    # Load every figure of vae_tf.plots without running vae_tf/__init__.py (which imports the Keras model).
    code = (
        "import sys, types; package = types.ModuleType('vae_tf'); package.__path__ = ['vae_tf']; "
        "sys.modules['vae_tf'] = package; import vae_tf.plots as plots; [getattr(plots, n) for n in plots.__all__]; "
        "print(sorted(m for m in ('tensorflow', 'tensorflow_probability', 'keras') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def test_cli_writes_png_gif_history_and_result(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "vae_tf.fit", "--loss", "mse", "--mu0", "5", "--steps", "300",
               "--print-every", "100", "--frames", "4", "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "step    300/300" in done.stdout
    with Image.open(out / "fit.png") as png:
        assert png.format == "PNG" and png.size[0] > 500
    with Image.open(out / "fit.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == 4
    history = np.loadtxt(out / "history.csv", delimiter=",", skiprows=1)
    assert history.shape == (301, 4)
    summary = json.loads((out / "result.json").read_text())
    assert summary["loss"] == "mse" and summary["final_mu"] == pytest.approx(history[-1, 2], abs=1e-6)


def test_cli_never_overwrites_out_without_overwrite(tmp_path, refused):
    out = tmp_path / "run"
    out.mkdir()
    (out / "fit.png").write_bytes(b"an earlier run")
    refused(fit.main, ["--steps", "5", "--no-gif", "--out", str(out)],
            f"error: {out} already has fit.png; pass --overwrite")
    assert (out / "fit.png").read_bytes() == b"an earlier run"
    assert fit.main(["--steps", "5", "--no-gif", "--out", str(out), "--overwrite"]) == 0
    assert (out / "fit.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--sigma0", "-1"], "argument --sigma0: '-1' must be greater than 0"),
        (["--sigma0", "0"], "argument --sigma0: '0' must be greater than 0"),
        (["--steps", "0"], "argument --steps: '0' must be at least 1"),
        (["--learning-rate", "-0.1"], "argument --learning-rate: '-0.1' must be greater than 0"),
        (["--loss", "kl"], "argument --loss: invalid choice: 'kl'"),
        (["--mu0", "abc"], "argument --mu0: 'abc' is not a number"),
        (["--mu0", "nan"], "argument --mu0: 'nan' is not a finite number"),
        (["--frames", "1"], "argument --frames: '1' must be at least 2"),
    ],
)
def test_cli_rejects_bad_flags_in_one_line(argv, message, tmp_path, refused):
    refused(fit.main, argv + ["--out", str(tmp_path / "never")], message)
    assert not (tmp_path / "never").exists()


def test_cli_overwrite_and_table(tmp_path, capsys):
    out = tmp_path / "table"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    assert fit.main(["--table", "--steps", "20", "--print-every", "20", "--out", str(out), "--overwrite"]) == 0
    table = (out / "table.md").read_text()
    assert table.count("\n") == 2 + 10  # header, rule, 5 losses x 2 starts
    assert "| cosine | (5, 1) | 20 |" in table
    assert (out / "old.txt").read_text() == "keep me"
    assert len(json.loads((out / "table.json").read_text())) == 10
