"""Every figure the commands draw keeps its text on the canvas, with the longest settings there are.

Each figure of `vae_tf.plots` is drawn as its command draws it (`plot`, `compare`, `sweep`, `fit`, `generate`,
`reconstruct`, `interpolate`, `traverse`, `ppca`, TensorBoard's images, docs/make_figures.py and
docs/make_linear_vae.py), with a run title naming every setting that differs from
the report's, long class names and long legend entries; then every title, label, tick label and
legend entry must lie inside the figure: Text.get_window_extent(renderer) within fig.bbox.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Annotation

from vae_tf import plots
from vae_tf.analysis import ppca
from vae_tf.config import title
from vae_tf.plots import samples

# The longest run title: every setting `title` names, each away from the report's value.
LONG = title({"regularizer": "mse", "architecture": "conv", "likelihood": "continuous_bernoulli", "reduction": "elbo",
              "beta": 0.123456, "latent_dim": 16, "beta_schedule": "cyclical", "free_bits": 0.25, "capacity": 12.5,
              "posterior": "full", "prior": "mixture", "kl_estimator": "monte_carlo", "kl_samples": 16})
CLASSES = [f"a rather long class folder name {k}" for k in range(10)]
RNG = np.random.default_rng(0)
Z = RNG.normal(size=(400, 16)).astype(np.float32)
Y = RNG.integers(0, 10, 400)
AXIS = np.linspace(-4, 4, 41)


def decode(codes):
    """Colour images (M, 32, 32, 3) in [0, 1] for codes (M, D)."""
    return np.broadcast_to(1 / (1 + np.exp(-codes[:, :1, None, None])), (len(codes), 32, 32, 3))


def history(epochs=12):
    return [{"epoch": e, **{name: 100.0 / e for name in ("loss", "reconstruction_loss", "kl_loss", "val_loss",
                                                         "val_reconstruction_loss", "val_kl_loss")}}
            for e in range(1, epochs + 1)]


GRID, PEAKS = np.linspace(-15.0, 15.0, 1000), (-5.0, 10.0)  # vae_tf.kl.fitting's (not imported: no TensorFlow here)


def fit_result(name="reverse_kl_div"):
    """What the fit figures read of a `vae_tf.kl.fitting.FitResult`."""
    steps = np.arange(201, dtype=np.float64)
    mu, sigma = -12.345 + steps / 20, 7.5 - steps / 40
    return SimpleNamespace(loss_name=name, mu0=-12.345, sigma0=7.5, steps_done=200, loss=1 / (1 + steps), mu=mu,
                           sigma=sigma, final_mu=mu[-1], final_sigma=sigma[-1])


def rd_points():
    sweep = [{"kind": "sweep", "beta": beta, "rate": 40 / beta, "distortion": 200 + 10 * beta, "reduction": "elbo",
              "title": LONG} for beta in (0.1, 0.3, 1.0, 3.0, 10.0)]
    extras = [{"kind": "extra", "beta": 1.0, "rate": 900.0 + k, "distortion": 150.0, "reduction": "elbo", "title": LONG}
              for k in range(3)]
    return sweep + extras


def landscape():
    mus, sigmas = np.linspace(-10, 15, 26), np.linspace(0.3, 12, 13)
    values = 1 + np.add.outer(sigmas, mus) ** 2
    return SimpleNamespace(mus=mus, sigmas=sigmas, forward=values, reverse=values[::-1], forward_best=(2.5, 7.4, 0.3),
                           reverse_local=[(-5.0, 1.0, 0.7), (10.0, 1.0, 0.7)])


def histogram_results():
    """What `histograms` reads of `vae_tf.kl.primers.histogram_example()`'s `HistogramKL`s."""
    edges = np.linspace(-4, 4, 31)
    density = np.exp(-edges[:-1] ** 2 / 2)
    return {name: SimpleNamespace(p_density=density, q_density=density[::-1], bin_edges=edges, report_value=0.1234,
                                  kl=0.5678, units="nats") for name in ("B", "C")}


PHOTO = "holiday photo of the harbour at dusk, taken from the old lighthouse.png"  # a long --from/--to file name


def ppca_result(latent_dim=64):
    """What `vae_tf.analysis.ppca.figure` reads of `compare`'s result, for the latent size 64."""
    eigenvalues = 10.0 / np.arange(1, 2 * latent_dim + 1)
    kl = RNG.uniform(0, 3, latent_dim)
    return {"latent_dim": latent_dim, "variance": 0.123456, "eigenvalues": eigenvalues.tolist(),
            "kl_per_dimension": kl.tolist(), "predicted_kl": np.sort(kl)[::-1][:40].tolist(),
            "active_units": 40, "ppca": {"above": 40}}


def traversal(rows=16, steps=9):
    """A traversal of `rows` dimensions x `steps` values, labelled as `traverse` labels them."""
    images = decode(RNG.normal(size=(rows * steps, 16))).reshape(rows, steps, 32, 32, 3)
    labels = [f"z[{dim}]  KL {kl:.2f}" for dim, kl in zip(range(50, 50 + rows), RNG.uniform(0, 12, rows))]
    return samples.traversal_grid(images, np.linspace(-3.0, 3.0, steps), labels, np.arange(rows) % 3 == 2,
                                  f"{LONG}: each row walks one dimension, the others held at test image 9999's code")


def linear_vae_script():
    """docs/make_linear_vae.py, the script of docs/linear-vae.md's figures, as a module."""
    spec = importlib.util.spec_from_file_location("make_linear_vae", Path(__file__).parents[1] / "docs" /
                                                  "make_linear_vae.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sigma_sweeps():
    """What `sigma_figure` reads of two sigma^2 sweeps: their rd.json points and the fixed sigma^2 they swept at."""
    points = [{"beta": beta, "rate": 40 / beta, "distortion": 200 + 10 * beta, "active_units": min(64, int(16 / beta))}
              for beta in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)]
    return {"linear": (points, 0.012345), "mlp": (points, 0.012345)}


FIGURES = {
    # python -m vae_tf.plot (and TensorBoard's images)
    "latent_scatter": lambda: plots.latent_scatter(Z, Y, title=f"{LONG}: sampled codes z of 54,000 training images",
                                                   class_names=CLASSES),
    "latent_scatter, no labels": lambda: plots.latent_scatter(Z, None, title=LONG, class_names=None),
    "loss_curves": lambda: plots.loss_curves(history(), title=LONG, regularizer="mse"),
    "generated_grid": lambda: plots.generated_grid(
        decode, Z.min(0), Z.max(0), 10, np.median(Z, 0), latent_dim=16,
        title=f"{LONG}: decoded grid over each coordinate's min..max of z; z[2:] held at their medians"),
    "generated_grid, one dimension": lambda: plots.generated_grid(decode, [-3.0], [3.0], 10, latent_dim=1,
                                                                  title=f"{LONG}: decoded grid over [-3, 3]"),
    "reconstructions": lambda: plots.reconstructions(
        decode(Z[:10]), decode(Z[10:20]), title=f"{LONG}: test images (top), decoded from their z_mean (bottom)"),
    "reconstructions, few": lambda: plots.reconstructions(decode(Z[:3]), decode(Z[3:6]), title=LONG),
    "latent_evolution": lambda: plots.latent_evolution([1, 2], np.stack([Z, Z]), Y, title=LONG,
                                                       class_names=CLASSES)[-1],
    # python -m vae_tf.compare
    "comparison": lambda: plots.comparison({v: (Z, Y) for v in ("kl", "none", "mse")},
                                           titles={v: LONG for v in ("kl", "none", "mse")}, class_names=CLASSES),
    "evolution": lambda: plots.evolution({v: ([1, 2], np.stack([Z, Z]), Y) for v in ("kl", "none", "mse")},
                                         titles={v: LONG for v in ("kl", "none", "mse")}, class_names=CLASSES)[-1],
    # python -m vae_tf.sweep
    "rate_distortion": lambda: plots.rate_distortion(rd_points(), title=f"Posteriors x priors beside {LONG}"),
    "rate_distortion_curves": lambda: plots.rate_distortion_curves({LONG: rd_points(), "conv " + LONG: rd_points()},
                                                                   title=f"Two sweeps: {LONG}"),
    "sweep_codes": lambda: plots.sweep_codes([(f"beta = {b:g}", Z, Y, decode(Z[:16])) for b in (0.001, 0.1, 10, 1e3)],
                                             CLASSES),
    "prior_densities": lambda: plots.prior_densities(
        [(f"{LONG}: p(z)", AXIS, -np.add.outer(AXIS ** 2, AXIS ** 2), Z[:, :2], Y)] * 2, class_names=CLASSES),
    # python -m vae_tf.fit and the KL primers (docs/make_figures.py)
    "fit_summary": lambda: plots.fit_summary(fit_result(), GRID, np.exp(-GRID ** 2 / 2) / 2.5, PEAKS),
    "final_fits": lambda: plots.final_fits([fit_result(n) for n in ("kl_div", "reverse_kl_div", "jensen_shannon")],
                                           GRID, np.exp(-GRID ** 2 / 2) / 2.5),
    "histograms": lambda: plots.histograms(histogram_results()),
    "forward_reverse": lambda: plots.forward_reverse(landscape(), GRID, np.exp(-GRID ** 2 / 2) / 2.5),
    # python -m vae_tf.generate, reconstruct, interpolate, traverse
    "image_grid": lambda: samples.image_grid(decode(Z[:64]), title=f"{LONG}: 64 draws from p(x|z), temperature 0.75, "
                                                                   "seed 123456"),
    "image_grid, few": lambda: samples.image_grid(decode(Z[:2]), title=f"{LONG}: 2 E[x|z], temperature 1, seed 0"),
    "image_grid, one row of grey": lambda: samples.image_grid(decode(Z[:12])[..., :1], columns=12, title=LONG),
    "reconstructions, of a folder": lambda: plots.reconstructions(
        decode(Z[:10]), decode(Z[10:20]), title=f"{LONG}: /data/photos/of/the/harbour test images (top), decoded "
                                                "from E_q[z|x] (bottom)"),
    "interpolation_strip": lambda: samples.interpolation_strip(
        decode(Z[:12]), (decode(Z[:1])[0], decode(Z[1:2])[0]),
        f"{LONG}: slerp path from {PHOTO} to test 9999, 12 steps", (PHOTO, "test 9999")),
    "interpolation_strip, short": lambda: samples.interpolation_strip(
        decode(Z[:2]), (decode(Z[:1])[0], decode(Z[1:2])[0]), f"{LONG}: linear path from {PHOTO} to {PHOTO}, 2 steps",
        (PHOTO, PHOTO)),
    "interpolation_strip, no ends": lambda: samples.interpolation_strip(decode(Z[:3]), title=LONG),
    "traversal_grid": lambda: traversal(),
    "traversal_grid, one dimension, two steps": lambda: traversal(1, 2),
    # python -m vae_tf.ppca (and docs/make_linear_vae.py)
    "ppca figure": lambda: ppca.figure(ppca_result()),
    "ppca figure, latent size 2": lambda: ppca.figure(ppca_result(2)),
    "linear_vae_sigma": lambda: linear_vae_script().sigma_figure(sigma_sweeps(), 10.0 / np.arange(1, 129), 64),
}


def text_outside(fig) -> list[str]:
    """The texts of `fig` (drawn) whose bounding box leaves the canvas, with where they are."""
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    canvas = fig.bbox
    outside = []
    hidden = set()  # tick labels of ticks outside the view and annotations outside their axes are not drawn
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            drawn = set(map(id, axis._update_ticks())) if ax.axison else set()  # set_axis_off: no ticks drawn
            hidden |= {id(label) for tick in axis.get_major_ticks() + axis.get_minor_ticks() if id(tick) not in drawn
                       for label in (tick.label1, tick.label2)}
    for text in fig.findobj(matplotlib.text.Text):
        if (not text.get_visible() or not text.get_text().strip() or id(text) in hidden
                or isinstance(text, Annotation) and not text._check_xy(renderer)):
            continue
        box = text.get_window_extent(renderer)
        if box.x0 < canvas.x0 - 1 or box.x1 > canvas.x1 + 1 or box.y0 < canvas.y0 - 1 or box.y1 > canvas.y1 + 1:
            outside.append(f"{text.get_text()[:60]!r} at x {box.x0:.0f}..{box.x1:.0f}, y {box.y0:.0f}..{box.y1:.0f} "
                           f"of {canvas.width:.0f} x {canvas.height:.0f}")
    return outside


@pytest.mark.parametrize("name", FIGURES)
def test_every_text_of_the_figure_lies_inside_its_canvas(name):
    fig = FIGURES[name]()
    assert text_outside(fig) == []


def test_the_check_finds_a_title_cut_off():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    fig.add_subplot().set_title(LONG)
    assert text_outside(fig)
