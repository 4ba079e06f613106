"""Every figure of the package, as functions from arrays (or results) to matplotlib figures.

The VAE's figures (the report's):

    fig = latent_scatter(z, y, title="with KL")           # the report's scatter
    fig = generated_grid(decode, lo=z.min(0), hi=z.max(0))  # the report's 10x10 grid
    fig = comparison({"kl": (z_kl, y), "none": (z_none, y), "mse": (z_mse, y)})
    fig.savefig("latent_scatter.png")

The KL primers' and the fitting experiment's (`vae_tf.kl.primers`, `vae_tf.fit`):

    fig = histograms(primers.histogram_example())
    fig = forward_reverse(landscape, x, p)                 # p: the target's density on x
    fig = fit_summary(result, fit.GRID, target, fit.PEAKS)  # target: P on the grid
    save_fit_animation(result, "fit.gif", fit.GRID, target)

Figures are built with `matplotlib.figure.Figure`, not `pyplot`: nothing is shown, nothing
leaks into a global figure list, and `savefig` renders through the Agg backend. In a notebook,
a figure as the last expression of a cell is displayed inline. Nothing here trains or reads
files; densities are NumPy arrays and SciPy's, so importing this module does not import
TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import norm

from vae_tf.config import VARIANT_TITLES
from vae_tf.data import CLASS_NAMES

_ORDINALS = ("first", "second")

# ---------------------------------------------------------------------------------------------
# The VAE
# ---------------------------------------------------------------------------------------------


def latent_axis_labels(latent_dim: int) -> tuple[str, str]:
    """The report's axis labels; with more than two dimensions they say which two are shown."""
    if latent_dim == 1:
        return "first (only) latent variable", "class"
    if latent_dim == 2:
        return "first latent variable", "second latent variable"
    return tuple(f"{_ORDINALS[i]} latent variable (z[{i}] of {latent_dim})" for i in range(2))


def _class_colours(count: int) -> list:
    """One colour per class: matplotlib's tab10 cycle up to ten classes, tab20 up to 20, then turbo."""
    import matplotlib

    if count <= 10:
        return [f"C{k}" for k in range(10)]
    if count <= 20:
        return list(matplotlib.colormaps["tab20"].colors)
    return [matplotlib.colormaps["turbo"](k / (count - 1)) for k in range(count)]


def density(points: np.ndarray, bins: int = 60) -> np.ndarray:
    """How crowded each point's neighbourhood is: the count of its cell in a bins x bins histogram, (N,)."""
    points = np.asarray(points, dtype=np.float64)
    if len(points) == 0:
        return np.zeros(0)
    counts, x_edges, y_edges = np.histogram2d(points[:, 0], points[:, 1], bins=bins)
    column = np.clip(np.searchsorted(x_edges, points[:, 0], side="right") - 1, 0, bins - 1)
    row = np.clip(np.searchsorted(y_edges, points[:, 1], side="right") - 1, 0, bins - 1)
    return counts[column, row]


def _scatter(ax, z, y, class_names, size, rasterized=True):
    """Codes z (N, D) on `ax`, coloured by class y (N,), or by density when y is None; the legend's handles."""
    z = np.asarray(z)
    if z.ndim != 2 or (y is not None and len(z) != len(np.asarray(y))):
        raise ValueError(f"z must be (N, D) and y (N,); got {z.shape} and {np.shape(y)}.")
    jitter = np.random.default_rng(0).uniform(-0.3, 0.3, len(z))
    if y is None:
        # No labels: colour by how crowded the codes are, so that the structure still shows.
        second = z[:, 1] if z.shape[1] > 1 else jitter
        points = np.stack([z[:, 0], second], axis=1)
        crowding = density(points)
        order = np.argsort(crowding, kind="stable")  # densest last, on top
        ax.scatter(points[order, 0], points[order, 1], s=size, c=crowding[order], cmap="viridis",
                   alpha=0.7, linewidths=0, rasterized=rasterized)
        xlabel, ylabel = latent_axis_labels(z.shape[1])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel if z.shape[1] > 1 else "(spread out)")
        if z.shape[1] == 1:
            ax.set_yticks([])
        return []
    y = np.asarray(y)
    if class_names is None:
        class_names = [str(label) for label in range(int(y.max(initial=0)) + 1)]
    colours = _class_colours(len(class_names))
    # With one latent dimension, spread the codes over their class so that they stay visible.
    second = z[:, 1] if z.shape[1] > 1 else y + jitter
    handles = []
    for label, name in enumerate(class_names):
        mask = y == label
        handles.append(
            ax.scatter(
                z[mask, 0],
                second[mask],
                s=size,
                color=colours[label % len(colours)],
                alpha=0.5,
                linewidths=0,
                label=name,
                rasterized=rasterized,
            )
        )
    xlabel, ylabel = latent_axis_labels(z.shape[1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if z.shape[1] == 1:
        ax.set_yticks(range(len(class_names)), class_names)
    return handles


def _legend(owner, handles, **kwargs):
    if not handles:  # data without labels: the colours are densities, there is nothing to name
        return None
    legend = owner.legend(
        handles=handles, markerscale=6 / max(handles[0].get_sizes()[0], 1) ** 0.5, frameon=False, **kwargs
    )
    for handle in legend.legend_handles:
        handle.set_alpha(1)
    return legend


def latent_scatter(z, y, title: str = "", class_names: Sequence[str] | None = CLASS_NAMES,
                   point_size: float = 1.0) -> Figure:
    """The report's scatter of latent codes coloured by class (or, without labels, by density).

    Args:
      z: codes, shape (N, D); the first two coordinates are drawn.
      y: class labels 0, 1, ..., shape (N,), or None (data without labels: coloured by density).
      title: the variant, e.g. "with KL".
      class_names: legend entries, one per label (None: the labels' numbers).
      point_size: marker area in points^2.

    Returns:
      A Figure with one axes and a legend of the class names.
    """
    fig = Figure(figsize=(7.5, 5.5), layout="constrained")
    ax = fig.add_subplot()
    handles = _scatter(ax, z, y, class_names, point_size)
    ax.set_title(title)
    _legend(ax, handles, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def comparison(
    latents: Mapping[str, tuple],
    titles: Mapping[str, str] | None = None,
    class_names: Sequence[str] | None = CLASS_NAMES,
    point_size: float = 0.5,
) -> Figure:
    """The variants' scatters side by side: top row on each panel's own axes, bottom row on shared axes.

    The shared row draws every panel with the same limits (the union of all codes), so that a
    difference in spread is visible at a glance; the top row shows each variant's structure.

    Args:
      latents: {variant: (z, y)} with z (N, D) and y (N,) (or None: coloured by density), in the
        order of the columns.
      titles: {variant: title}; default: the report's names ("with KL", ...).
      class_names: legend entries.
      point_size: marker area in points^2.

    Returns:
      A Figure with 2 rows x len(latents) columns and one legend.
    """
    titles = {**VARIANT_TITLES, **(titles or {})}
    columns = len(latents)
    fig = Figure(figsize=(4.2 * columns + 1.8, 8), layout="constrained")
    grid = fig.subplots(2, columns, squeeze=False)
    shared = [np.asarray(z)[:, : min(2, np.asarray(z).shape[1])] for z, _ in latents.values()]
    low = np.min([codes.min(axis=0) for codes in shared], axis=0)
    high = np.max([codes.max(axis=0) for codes in shared], axis=0)
    margin = 0.04 * (high - low)
    handles = None
    for column, (variant, (z, y)) in enumerate(latents.items()):
        for row in range(2):
            ax = grid[row, column]
            handles = _scatter(ax, z, y, class_names, point_size)
            which = "own axes" if row == 0 else "shared axes"
            ax.set_title(f"{titles.get(variant, variant)} ({which})")
            if row == 1:
                ax.set_xlim(low[0] - margin[0], high[0] + margin[0])
                if np.asarray(z).shape[1] > 1:
                    ax.set_ylim(low[1] - margin[1], high[1] + margin[1])
    _legend(fig, handles, loc="outside right center")
    return fig


def grid_codes(lo, hi, n: int = 10, fill=None) -> np.ndarray:
    """A regular n x n grid of codes over the first two latent coordinates, laid out as an image.

    Row r, column c holds first coordinate linspace(lo[0], hi[0], n)[c] and second coordinate
    linspace(hi[1], lo[1], n)[r] (largest at the top, as on a plot's y axis). Any further
    coordinates take the values `fill`.

    Args:
      lo, hi: per-coordinate ends of the grid, each of length D (D >= 1); both ends included.
      n: points per coordinate.
      fill: values (D,) for coordinates 3..D (default 0).

    Returns:
      float32 array (n, n, D); with D == 1, (1, n, 1).
    """
    lo = np.atleast_1d(np.asarray(lo, dtype=np.float64))
    hi = np.atleast_1d(np.asarray(hi, dtype=np.float64))
    dims = len(lo)
    fill = np.zeros(dims) if fill is None else np.asarray(fill, dtype=np.float64)
    first = np.linspace(lo[0], hi[0], n)
    if dims == 1:
        return first.reshape(1, n, 1).astype(np.float32)
    second = np.linspace(hi[1], lo[1], n)
    codes = np.broadcast_to(fill, (n, n, dims)).copy()
    codes[:, :, 0] = first[None, :]
    codes[:, :, 1] = second[:, None]
    return codes.astype(np.float32)


def image_batch(images, image_shape=None) -> np.ndarray:
    """Images as (K, H, W, C) floats in [0, 1] (uint8 scaled by 1/255).

    Args:
      images: (K, H, W, C), (K, H, W) greyscale, or flattened (K, P).
      image_shape: (H, W, C) of flattened images; None: square greyscale (P = side * side).
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images / 255.0
    if images.ndim == 4:
        return images
    if images.ndim == 3:
        return images[..., None]
    if image_shape is None:
        side = int(round(images.shape[1] ** 0.5))
        if side * side != images.shape[1]:
            raise ValueError(f"flattened images of {images.shape[1]} values: give image_shape (H, W, C).")
        image_shape = (side, side, 1)
    return images.reshape((len(images), *tuple(image_shape)))


def tile_images(images, rows: int, columns: int, image_shape=None) -> np.ndarray:
    """rows * columns images -> one mosaic, row by row: (rows*H, columns*W) greyscale or (rows*H, columns*W, C).

    Args:
      images: (rows*columns, H, W, C), (rows*columns, H, W), or flattened (see `image_batch`).
      rows, columns: the mosaic's layout.
      image_shape: (H, W, C) of flattened images (None: square greyscale).
    """
    images = image_batch(images, image_shape)
    _, height, width, channels = images.shape
    mosaic = images.reshape(rows, columns, height, width, channels).transpose(0, 2, 1, 3, 4)
    mosaic = mosaic.reshape(rows * height, columns * width, channels)
    return mosaic[..., 0] if channels == 1 else mosaic


def _show(ax, mosaic) -> None:
    """A mosaic of `tile_images`: greyscale with the report's colour map, colour images as they are."""
    if mosaic.ndim == 2:
        ax.imshow(mosaic, cmap="Greys_r", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(np.clip(mosaic, 0, 1), interpolation="nearest")


def generated_grid(
    decode: Callable[[np.ndarray], np.ndarray],
    lo,
    hi,
    n: int = 10,
    fill=None,
    title: str = "",
    latent_dim: int | None = None,
    image_shape=None,
) -> Figure:
    """The report's grid of decoded images over a regular grid of codes (see `grid_codes`).

    Args:
      decode: maps codes (M, D) float32 to images (M, H, W, C) in [0, 1] (e.g. `VAE.decode`);
        flattened (M, P) with `image_shape`.
      lo, hi: per-coordinate ends of the grid (length D), e.g. z.min(axis=0), z.max(axis=0).
      n: images per side.
      fill: values of coordinates 3..D (default 0).
      title: the variant and where the grid comes from.
      latent_dim: D, for the axis labels (default len(lo)).
      image_shape: (H, W, C) of flattened images (None: square greyscale).

    Returns:
      A Figure with one mosaic of n x n images (1 x n with one latent dimension), its axes
      ticked with the codes at the images' centres.
    """
    codes = grid_codes(lo, hi, n, fill)
    rows, columns, dims = codes.shape
    images = image_batch(decode(codes.reshape(-1, dims)), image_shape)
    height, width = images.shape[1:3]
    mosaic = tile_images(images, rows, columns)
    fig = Figure(figsize=(7, 7.4 * min(1.6, max(0.6, height / width)) if rows > 1 else 1.9), layout="constrained")
    ax = fig.add_subplot()
    _show(ax, mosaic)
    centres = width * np.arange(columns) + (width - 1) / 2
    ax.set_xticks(centres, [f"{value:.3g}" for value in codes[0, :, 0]], rotation=90)
    xlabel, ylabel = latent_axis_labels(latent_dim or dims)
    ax.set_xlabel(xlabel)
    if rows > 1:
        ax.set_yticks(height * np.arange(rows) + (height - 1) / 2, [f"{value:.3g}" for value in codes[:, 0, 1]])
        ax.set_ylabel(ylabel)
    else:
        ax.set_yticks([])
    ax.set_title(title)
    return fig


def reconstructions(images, reconstructed, title: str = "", image_shape=None) -> Figure:
    """Images (top row) above their reconstructions (bottom row), greyscale or colour.

    Args:
      images: (K, H, W, C) or (K, H, W) pixel values in [0, 1] (uint8 is scaled by 1/255), or
        flattened (K, P) with `image_shape`.
      reconstructed: the same number of images, in [0, 1] (any of those layouts).
      title: what was reconstructed and how.
      image_shape: (H, W, C) of flattened images (None: square greyscale).

    Returns:
      A Figure with one 2 x K mosaic.
    """
    images = image_batch(images, image_shape)
    reconstructed = image_batch(reconstructed, images.shape[1:])
    if len(images) != len(reconstructed):
        raise ValueError(f"{len(images)} images but {len(reconstructed)} reconstructions.")
    count = len(images)
    height, width = images.shape[1:3]
    mosaic = tile_images(np.concatenate([images, reconstructed]), 2, count)
    fig = Figure(figsize=(0.8 * count * min(2.0, max(0.5, width / height)) + 0.9, 2.3), layout="constrained")
    ax = fig.add_subplot()
    _show(ax, mosaic)
    ax.set_xticks([])
    ax.set_yticks([(height - 1) / 2, height + (height - 1) / 2], ["input", "output"])
    ax.set_title(title)
    return fig


def loss_curves(history: Sequence[Mapping[str, float]], title: str = "", regularizer: str | None = None) -> Figure:
    """Each loss term per epoch, one panel per term (their scales differ by orders of magnitude).

    Args:
      history: rows of `history.csv` (see `vae_tf.rundir.rundir.read_history`): `epoch` and the terms;
        a term's validation values (`val_` + its name), if any, go on its panel.
      title: the run.
      regularizer: the run's; a `kl_loss` that was tracked but not minimised is marked so.

    Returns:
      A Figure with one panel per column ending in "loss" (training and validation together).
    """
    if not history:
        raise ValueError("history is empty: the run has no epochs.")
    names = [name for name in history[0] if (name == "loss" or name.endswith("_loss")) and not name.startswith("val_")]
    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(3.3 * len(names), 3.2), layout="constrained")
    for ax, name in zip(fig.subplots(1, len(names), squeeze=False)[0], names):
        ax.plot(epochs, [row[name] for row in history], marker="o", label="training")
        if f"val_{name}" in history[0]:
            ax.plot(epochs, [row[f"val_{name}"] for row in history], marker="s", label="validation (test images)")
            ax.legend(fontsize=8, frameon=False)
        tracked_only = name == "kl_loss" and regularizer is not None and regularizer != "kl"
        ax.set_title(name + (" (tracked, not minimised)" if tracked_only else ""), fontsize=10)
        ax.set_xlabel("epoch")
        if len(epochs) <= 12:
            ax.set_xticks(epochs)
    fig.suptitle(title)
    return fig


# ---------------------------------------------------------------------------------------------
# The KL primers
# ---------------------------------------------------------------------------------------------

# The report's names for its samples: A is the data, B and C two ways of compressing it.
HISTOGRAM_LABELS = {
    "A": "A: original data",
    "B": "B: conventional compression",
    "C": "C: deep-learning compression",
}


def histograms(results: Mapping[str, object], labels: Mapping[str, str] = HISTOGRAM_LABELS) -> Figure:
    """The report's histograms: A against each other sample on their shared bins, as densities.

    Args:
      results: {name: `vae_tf.kl.divergences.HistogramKL` of A against that sample}, one panel each, e.g.
        `vae_tf.kl.primers.histogram_example()` ({"B": ..., "C": ...}).
      labels: legend entries, {"A": ..., name: ...}.

    Returns:
      A Figure with one panel per entry of `results`, titled with the report's figure and the
      true KL.
    """
    fig = Figure(figsize=(5.5 * len(results), 3.4), layout="constrained")
    axes = fig.subplots(1, len(results), sharey=True, squeeze=False)[0]
    for ax, (name, result) in zip(axes, results.items()):
        ax.stairs(result.p_density, result.bin_edges, fill=True, alpha=0.5, color="black", label=labels["A"])
        ax.stairs(result.q_density, result.bin_edges, fill=True, alpha=0.5, color="tab:red", label=labels[name])
        ax.set(
            xlabel="value",
            title=f"report's figure {result.report_value:.4f}, true KL {result.kl:.4f} {result.units}",
        )
        ax.legend(loc="upper left", fontsize="small")
    axes[0].set_ylabel("density")
    return fig


def forward_reverse(landscape, x, target) -> Figure:
    """P with the forward-KL and reverse-KL fits, and both KL landscapes over (mu, sigma).

    Args:
      landscape: a `vae_tf.kl.primers.Landscape` (its grid minima are drawn as Gaussians and stars).
      x: where to draw the densities, shape (N,).
      target: P's density on x, shape (N,).

    Returns:
      A Figure with three panels.
    """
    from matplotlib.colors import LogNorm

    fig = Figure(figsize=(14, 4), layout="constrained")
    ax_density, ax_forward, ax_reverse = fig.subplots(1, 3)
    ax_density.plot(x, target, color="black", label="P (two peaks)")
    mu, sigma, _ = landscape.forward_best
    ax_density.plot(
        x, norm.pdf(x, mu, sigma), color="tab:blue", label=f"argmin KL(P||Q): mu={mu:.2f}, sigma={sigma:.2f}"
    )
    for (mu, sigma, _), style in zip(landscape.reverse_local, ("-", "--")):
        ax_density.plot(
            x,
            norm.pdf(x, mu, sigma),
            color="tab:red",
            ls=style,
            label=f"local min KL(Q||P): mu={mu:.2f}, sigma={sigma:.2f}",
        )
    ax_density.set(xlabel="x", ylabel="density", title="forward covers, reverse picks a peak")
    ax_density.legend(fontsize="small", loc="upper left")
    for ax, values, name, points in (
        (ax_forward, landscape.forward, "forward KL(P||Q)", [landscape.forward_best]),
        (ax_reverse, landscape.reverse, "reverse KL(Q||P)", landscape.reverse_local),
    ):
        image = ax.pcolormesh(
            landscape.mus,
            landscape.sigmas,
            values,
            shading="auto",
            cmap="viridis",
            norm=LogNorm(vmin=max(values.min(), 1e-3), vmax=values.max()),
        )
        for mu, sigma, _ in points:
            ax.plot(mu, sigma, marker="*", color="white", markersize=12, markeredgecolor="black")
        ax.set(xlabel="mu", ylabel="sigma", title=f"{name} in nats (log colour)")
        fig.colorbar(image, ax=ax)
    return fig


# ---------------------------------------------------------------------------------------------
# The fitting experiment
# ---------------------------------------------------------------------------------------------


def fit_summary(result, x, target, peaks: Sequence[float] = ()) -> Figure:
    """Three panels: the loss per step, mu and sigma per step, and the final Q over P.

    Args:
      result: a `vae_tf.fit.FitResult`.
      x: the grid, shape (N,), e.g. `vae_tf.fit.GRID`.
      target: P on the grid, shape (N,).
      peaks: where P's peaks are (e.g. `vae_tf.fit.PEAKS`), marked on the mu panel.

    Returns:
      A Figure.
    """
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    ax_loss, ax_params, ax_density = fig.subplots(1, 3)
    steps = np.arange(result.steps_done + 1)
    ax_loss.plot(steps, result.loss, color="tab:blue")
    ax_loss.set(xlabel="Adam step", ylabel=f"{result.loss_name} loss", title="loss per step")
    ax_params.plot(steps, result.mu, label="mu", color="tab:red")
    ax_params.plot(steps, result.sigma, label="sigma", color="tab:green")
    for peak in peaks:
        ax_params.axhline(peak, color="grey", lw=0.8, ls=":")
    ax_params.set(xlabel="Adam step", title="mu and sigma per step")
    ax_params.legend(loc="best")
    q_final = norm.pdf(x, result.final_mu, result.final_sigma)
    ax_density.plot(x, target, color="black", label="P (target)")
    ax_density.plot(x, norm.pdf(x, result.mu0, result.sigma0), color="tab:orange", ls="--", lw=1, label="Q at start")
    ax_density.plot(x, q_final, color="tab:red", label="Q at the end")
    ax_density.set(
        xlabel="x",
        title=f"mu={result.final_mu:.3f}, sigma={result.final_sigma:.3f}",
        ylim=(0, max(0.45, 1.05 * float(q_final.max()))),
    )
    ax_density.legend(loc="upper left", fontsize="small")
    fig.suptitle(f"{result.loss_name} from mu0={result.mu0:g}, sigma0={result.sigma0:g}, {result.steps_done} steps")
    return fig


def final_fits(results, x, target) -> Figure:
    """Final Q over P for many fits: one panel per fit, a row per start.

    Args:
      results: `vae_tf.fit.FitResult`s, e.g. from `fit_table` (ordered by start, then loss).
      x: the grid, shape (N,); target: P on it, shape (N,).

    Returns:
      A Figure.
    """
    starts = list(dict.fromkeys((r.mu0, r.sigma0) for r in results))
    names = list(dict.fromkeys(r.loss_name for r in results))
    fig = Figure(figsize=(2.8 * len(names), 2.4 * len(starts)), layout="constrained")
    axes = fig.subplots(len(starts), len(names), sharex=True, sharey=True, squeeze=False)
    for r in results:
        ax = axes[starts.index((r.mu0, r.sigma0)), names.index(r.loss_name)]
        ax.plot(x, target, color="black", lw=1)
        ax.plot(x, norm.pdf(x, r.mu0, r.sigma0), color="tab:orange", ls="--", lw=1)
        ax.plot(x, norm.pdf(x, r.final_mu, r.final_sigma), color="tab:red")
        ax.set_title(f"{r.loss_name}, mu0={r.mu0:g}\nmu={r.final_mu:.2f}, sigma={r.final_sigma:.2f}", fontsize=9)
        ax.set_ylim(0, 0.45)
    fig.suptitle("P (black), Q at the start (dashed) and after the fit (red)")
    return fig


def save_fit_animation(result, path, x, target, frames: int = 50, fps: int = 10) -> Path:
    """An animated GIF of Q moving toward P (matplotlib's PillowWriter; no external programs).

    Args:
      result: a `vae_tf.fit.FitResult`.
      path: where to write the GIF.
      x: the grid, shape (N,); target: P on it, shape (N,).
      frames: how many evenly spaced steps to show (at most steps_done + 1), >= 2.
      fps: frames per second.

    Returns:
      the path written.
    """
    from matplotlib.animation import FuncAnimation, PillowWriter
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if frames < 2:
        raise ValueError(f"frames must be >= 2, got {frames}")
    path = Path(path)
    shown = np.unique(np.linspace(0, result.steps_done, frames).round().astype(int))
    fig = Figure(figsize=(6, 3.4), layout="constrained", dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot(x, target, color="black", label="P (target)")
    (q_line,) = ax.plot(x, norm.pdf(x, result.mu0, result.sigma0), color="tab:red", label="Q")
    q_peak = max(float(norm.pdf(x, m, s).max()) for m, s in zip(result.mu[shown], result.sigma[shown]))
    ax.set(xlabel="x", ylim=(0, max(0.45, 1.05 * q_peak)))
    ax.legend(loc="upper left")
    title = ax.set_title("")

    def draw(k):
        step = shown[k]
        q_line.set_ydata(norm.pdf(x, result.mu[step], result.sigma[step]))
        title.set_text(f"{result.loss_name}: step {step}, mu={result.mu[step]:.2f}, sigma={result.sigma[step]:.2f}")
        return q_line, title

    animation = FuncAnimation(fig, draw, frames=len(shown), blit=False)
    animation.save(path, writer=PillowWriter(fps=fps))
    return path


# ---------------------------------------------------------------------------------------------
# The KL axis (`vae_tf.sweep`)
# ---------------------------------------------------------------------------------------------


def _equal_elbo_lines(ax, points) -> tuple[tuple[float, float], tuple[float, float]]:
    """Dashed lines of equal -ELBO (rate + distortion = c, slope -1) at round values across `points`.

    Args:
      ax: the axes of a rate-distortion plane.
      points: dicts with `rate` and `distortion` (nats), the points the plane shows.

    Returns:
      (x_range, y_range): the points' extent with a margin, for `set_xlim` and `set_ylim`.
    """
    rates = np.array([p["rate"] for p in points])
    distortions = np.array([p["distortion"] for p in points])
    pad_r, pad_d = 0.08 * (np.ptp(rates) or 1), 0.08 * (np.ptp(distortions) or 1)
    x_range = (max(rates.min() - pad_r, 0), rates.max() + pad_r)
    y_range = (distortions.min() - pad_d, distortions.max() + pad_d)
    totals = rates + distortions
    step = 10 ** np.floor(np.log10(max(np.ptp(totals), 1e-9) / 2))
    for c in np.arange(np.floor(totals.min() / step) * step, totals.max() + step, step)[:8]:
        ax.plot(x_range, [c - x_range[0], c - x_range[1]], color="0.8", linewidth=0.8, linestyle="--", zorder=0)
        ax.annotate(f"-ELBO {c:g}", (x_range[1], c - x_range[1]), fontsize=7, color="0.5", ha="right", va="bottom",
                    annotation_clip=True)
    return x_range, y_range


def _sweep_curve(ax, sweep, color: str, label, zoom=None, label_color: str | None = None):
    """A sweep's points as one line in the given order, each labelled by its beta.

    Args:
      ax: the axes of a rate-distortion plane.
      sweep: dicts with `rate`, `distortion` and `beta`, in the order to join them.
      color: the line's colour; label: its legend entry (or None).
      zoom: if given, only the points with a rate up to it are labelled.
      label_color: the beta labels' colour (None: matplotlib's default).
    """
    ax.plot([p["rate"] for p in sweep], [p["distortion"] for p in sweep], marker="o", color=color, label=label)
    for p in sweep:
        if zoom is None or p["rate"] <= zoom:
            ax.annotate(f"β={p['beta']:g}", (p["rate"], p["distortion"]), textcoords="offset points", xytext=(5, 4),
                        fontsize=8, color=label_color)


def _rd_points(ax, points, zoom=None):
    """The plane on one axes: the sweep as a line in beta order, extra runs as stars, lines of equal -ELBO."""
    sweep = [p for p in points if p["kind"] == "sweep"]
    extras = [p for p in points if p["kind"] != "sweep"]
    shown = [p for p in points if zoom is None or p["rate"] <= zoom]
    x_range, y_range = _equal_elbo_lines(ax, shown)
    _sweep_curve(ax, sweep, "C0", f"sweep ({sweep[0]['reduction']} reduction)" if sweep else None, zoom)
    for index, p in enumerate(extras):
        ax.plot(p["rate"], p["distortion"], marker="*", markersize=12, linestyle="none", color=f"C{index + 1}",
                label=p["title"] if "reduction=" in p["title"] else f"{p['title']} ({p['reduction']} reduction)")
    ax.set_xlim(*x_range)
    ax.set_ylim(*y_range)
    ax.set_xlabel("rate: KL(q(z|x) || p(z)), nats per image")
    ax.set_ylabel("distortion: E_q[-log p(x|z)], nats per image")


def rate_distortion(points: Sequence[Mapping], title: str = "The rate-distortion plane (test images)") -> Figure:
    """Runs on the rate-distortion plane (Alemi et al. 2018), each sweep point labelled by its beta.

    Args:
      points: dicts with `rate`, `distortion` (nats per image), `kind` ("sweep" or "extra"),
        `beta`, `reduction` and `title` (see `vae_tf.sweep.measure`), the sweep in beta order.
      title: the figure's title.

    Returns:
      A Figure: the plane with dashed lines of equal -ELBO (rate + distortion = c); when some runs
      lie far to the right (rate above 10x the median), a second panel zooms in on the others.
    """
    rates = np.array([p["rate"] for p in points])
    zoom = 10 * float(np.median(rates))
    far = bool(np.any(rates > zoom))
    fig = Figure(figsize=(13 if far else 7.5, 5.5), layout="constrained")
    axes = fig.subplots(1, 2 if far else 1, squeeze=False)[0]
    _rd_points(axes[0], points)
    axes[0].legend(fontsize=8, loc="upper right")
    if far:
        _rd_points(axes[1], points, zoom)
        axes[1].set_title(f"zoom: rate up to {zoom:.3g} nats", fontsize=10)
    fig.suptitle(title)
    return fig


def rate_distortion_curves(curves: Mapping[str, Sequence[Mapping]],
                           title: str = "Two sweeps on one rate-distortion plane (test images)") -> Figure:
    """Several beta sweeps (e.g. the MLP's and the conv model's) as curves on one rate-distortion plane.

    Args:
      curves: {label: points}, each points a sweep's `rd.json` points (dicts with `rate`,
        `distortion`, `kind`, `beta`; see `vae_tf.sweep.measure`); each sweep's "sweep" points are
        drawn as one line in beta order, labelled by beta, its "extra" points as stars of its colour.
      title: the figure's title.

    Returns:
      A Figure of one axes: one coloured curve per label, with dashed lines of equal -ELBO
      (rate + distortion = c) across all the points.
    """
    every = [p for points in curves.values() for p in points]
    if not every:
        raise ValueError("rate_distortion_curves needs at least one point")
    fig = Figure(figsize=(7.5, 5.5), layout="constrained")
    ax = fig.subplots()
    x_range, y_range = _equal_elbo_lines(ax, every)
    for index, (label, points) in enumerate(curves.items()):
        sweep = sorted((p for p in points if p["kind"] == "sweep"), key=lambda p: p["beta"])
        _sweep_curve(ax, sweep, f"C{index}", label, label_color=f"C{index}")
        for p in points:
            if p["kind"] != "sweep":
                ax.plot(p["rate"], p["distortion"], marker="*", markersize=12, linestyle="none", color=f"C{index}",
                        label=f"{label}: {p['title']}")
    ax.set_xlim(*x_range)
    ax.set_ylim(*y_range)
    ax.set_xlabel("rate: KL(q(z|x) || p(z)), nats per image")
    ax.set_ylabel("distortion: E_q[-log p(x|z)], nats per image")
    ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(title)
    return fig


def sweep_codes(columns: Sequence[tuple], class_names: Sequence[str] | None = CLASS_NAMES) -> Figure:
    """A few betas side by side: their test codes (top) and images decoded from the prior (bottom).

    Args:
      columns: (title, z_mean (N, D), y (N,) or None, samples (S, H, W, C) with S a square) per beta.
      class_names: legend entries.

    Returns:
      A Figure of 2 x len(columns) panels; each panel of codes on its own axes, its title giving
      the standard deviation of the first two coordinates.
    """
    fig = Figure(figsize=(3.4 * len(columns) + 1.6, 7.2), layout="constrained")
    axes = fig.subplots(2, len(columns), squeeze=False)
    handles = None
    for column, (name, z_mean, y, samples) in enumerate(columns):
        top, bottom = axes[0, column], axes[1, column]
        handles = _scatter(top, z_mean, y, class_names, 0.5)
        spread = ", ".join(f"{value:.2g}" for value in np.std(np.asarray(z_mean), axis=0)[:2])
        top.set_title(f"{name}: test z_mean (std {spread})", fontsize=9)
        side = int(round(len(samples) ** 0.5))
        _show(bottom, tile_images(samples[: side * side], side, side))
        bottom.set_axis_off()
        bottom.set_title(f"{name}: decoded z ~ N(0, I)", fontsize=9)
    _legend(fig, handles, loc="outside right center")
    return fig


# ---------------------------------------------------------------------------------------------
# The latent space as it forms (snapshots.npz of `python -m vae_tf.train --snapshots`)
# ---------------------------------------------------------------------------------------------


def _limits(frames) -> tuple[np.ndarray, np.ndarray]:
    """Fixed axes for every frame: the min..max of the first two coordinates over all frames, plus 4%."""
    codes = np.concatenate([np.asarray(frame)[..., :2].reshape(-1, min(2, np.asarray(frame).shape[-1]))
                            for frame in frames])
    low, high = codes.min(axis=0), codes.max(axis=0)
    margin = 0.04 * np.maximum(high - low, 1e-6)
    return low - margin, high + margin


def _set_limits(ax, low, high) -> None:
    ax.set_xlim(low[0], high[0])
    if len(low) > 1:
        ax.set_ylim(low[1], high[1])


def latent_evolution(epochs, z_mean, y, title: str = "", class_names: Sequence[str] | None = CLASS_NAMES,
                     point_size: float = 2.0) -> list[Figure]:
    """One scatter per epoch of the same images' z_mean, coloured by class, on fixed axes.

    Args:
      epochs: (E,) the epoch of each frame (1-based).
      z_mean: (E, N, D) the codes after each epoch.
      y: (N,) the images' classes, or None (coloured by density).
      title: the run.

    Returns:
      E Figures of the same size (the frames of `vae_tf.rundir.rundir.write_gif`).
    """
    low, high = _limits(z_mean)
    figures = []
    for epoch, codes in zip(epochs, z_mean):
        fig = Figure(figsize=(7.5, 5.5), dpi=72, layout="constrained")
        ax = fig.add_subplot()
        handles = _scatter(ax, codes, y, class_names, point_size)
        _set_limits(ax, low, high)
        ax.set_title(f"{title}: z_mean of {len(codes):,} test images after epoch {int(epoch)}")
        _legend(ax, handles, loc="center left", bbox_to_anchor=(1.0, 0.5))
        figures.append(fig)
    return figures


def evolution(snapshots: Mapping[str, tuple], titles: Mapping[str, str] | None = None,
              class_names: Sequence[str] | None = CLASS_NAMES, point_size: float = 1.5) -> list[Figure]:
    """The variants' codes side by side, epoch by epoch: top row each on its own fixed axes, bottom row
    all on the same axes (as `comparison` does for the final codes).

    Args:
      snapshots: {variant: (epochs (E,), z_mean (E, N, D), y (N,))}, the same images for every
        variant; a run with fewer epochs holds its last frame.
      titles: {variant: title}; default: the report's names.

    Returns:
      max(E) Figures of the same size.
    """
    titles = {**VARIANT_TITLES, **(titles or {})}
    own = {variant: _limits(z_mean) for variant, (_, z_mean, _) in snapshots.items()}
    shared = _limits([z_mean for _, z_mean, _ in snapshots.values()])
    count = max(len(epochs) for epochs, _, _ in snapshots.values())
    columns = len(snapshots)
    figures = []
    for frame in range(count):
        fig = Figure(figsize=(3.6 * columns + 1.8, 7), dpi=72, layout="constrained")
        grid = fig.subplots(2, columns, squeeze=False)
        handles = None
        for column, (variant, (epochs, z_mean, y)) in enumerate(snapshots.items()):
            index = min(frame, len(epochs) - 1)
            for row, (low, high) in enumerate((own[variant], shared)):
                ax = grid[row, column]
                handles = _scatter(ax, z_mean[index], y, class_names, point_size)
                _set_limits(ax, low, high)
                which = "own axes" if row == 0 else "shared axes"
                ax.set_title(f"{titles.get(variant, variant)}, epoch {int(epochs[index])} ({which})", fontsize=10)
        _legend(fig, handles, loc="outside right center")
        figures.append(fig)
    return figures


# ---------------------------------------------------------------------------------------------
# Priors beyond N(0, I) (`vae_tf.models.priors`)
# ---------------------------------------------------------------------------------------------


def prior_densities(panels: Sequence[tuple], class_names: Sequence[str] = CLASS_NAMES) -> Figure:
    """Priors' densities on the 2-D latent plane, with codes drawn over them, side by side.

    Args:
      panels: (title, axis (G,), log_density (G, G), z (N, 2), y (N,)) per panel: the prior's
        log p(z) on the grid axis x axis (rows: the first coordinate), and the codes to draw over it.
      class_names: legend entries.

    Returns:
      A Figure of one panel per prior: the density as shades (each panel scaled to its own peak)
      with a few contours, the codes as small dots coloured by class.
    """
    fig = Figure(figsize=(5.2 * len(panels), 5.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    handles = None
    for ax, (title, axis, log_density, z, y) in zip(axes, panels):
        density = np.exp(np.asarray(log_density) - np.max(log_density))
        extent = (axis[0], axis[-1], axis[0], axis[-1])
        ax.imshow(density.T, origin="lower", extent=extent, cmap="Greys", vmin=0, vmax=1.6, interpolation="bilinear")
        ax.contour(axis, axis, density.T, levels=[0.05, 0.25, 0.5, 0.75], colors="k", linewidths=0.6, alpha=0.7)
        handles = _scatter(ax, z, y, class_names, size=0.6)
        ax.set_xlim(axis[0], axis[-1])
        ax.set_ylim(axis[0], axis[-1])
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(latent_axis_labels(2)[0])
        ax.set_ylabel(latent_axis_labels(2)[1])
    if handles:
        _legend(fig, handles, loc="outside right center", fontsize=8)
    return fig
