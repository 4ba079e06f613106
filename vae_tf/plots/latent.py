"""Figures of the latent plane: the report's scatter of codes, the variants side by side, codes as
they form epoch by epoch, a beta sweep's codes over its samples, and priors' densities under codes.

    fig = latent_scatter(z, y, title="with KL")           # the report's scatter
    fig = comparison({"kl": (z_kl, y), "none": (z_none, y), "mse": (z_mse, y)})
    frames = latent_evolution(snapshots["epoch"], snapshots["z_mean"], snapshots["y"])
    fig.savefig("latent_scatter.png")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from vae_tf.config import VARIANT_TITLES
from vae_tf.data import CLASS_NAMES
from vae_tf.plots.common import class_legend, latent_axis_labels, scatter_codes, set_title, wrapped
from vae_tf.plots.images import show_mosaic, tile_images


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
    handles = scatter_codes(ax, z, y, class_names, point_size)
    set_title(ax, title)
    class_legend(ax, handles, loc="center left", bbox_to_anchor=(1.0, 0.5))
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
    lines = max(wrapped(f"{titles.get(variant, variant)} (shared axes)", 3.6).count("\n") for variant in latents)
    fig = Figure(figsize=(4.2 * columns + 1.8, 8 + 2 * 0.25 * lines), layout="constrained")
    grid = fig.subplots(2, columns, squeeze=False)
    shared = [np.asarray(z)[:, : min(2, np.asarray(z).shape[1])] for z, _ in latents.values()]
    low = np.min([codes.min(axis=0) for codes in shared], axis=0)
    high = np.max([codes.max(axis=0) for codes in shared], axis=0)
    margin = 0.04 * (high - low)
    handles = None
    for column, (variant, (z, y)) in enumerate(latents.items()):
        for row in range(2):
            ax = grid[row, column]
            handles = scatter_codes(ax, z, y, class_names, point_size)
            which = "own axes" if row == 0 else "shared axes"
            set_title(ax, f"{titles.get(variant, variant)} ({which})")
            if row == 1:
                ax.set_xlim(low[0] - margin[0], high[0] + margin[0])
                if np.asarray(z).shape[1] > 1:
                    ax.set_ylim(low[1] - margin[1], high[1] + margin[1])
    class_legend(fig, handles, loc="outside right center")
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
        handles = scatter_codes(top, z_mean, y, class_names, 0.5)
        spread = ", ".join(f"{value:.2g}" for value in np.std(np.asarray(z_mean), axis=0)[:2])
        set_title(top, f"{name}: test z_mean (std {spread})", fontsize=9)
        side = int(round(len(samples) ** 0.5))
        show_mosaic(bottom, tile_images(samples[: side * side], side, side))
        bottom.set_axis_off()
        set_title(bottom, f"{name}: decoded z ~ N(0, I)", fontsize=9)
    class_legend(fig, handles, loc="outside right center")
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
      E Figures of the same size (the frames of `vae_tf.rundir.write_gif`).
    """
    low, high = _limits(z_mean)
    figures = []
    for epoch, codes in zip(epochs, z_mean):
        fig = Figure(figsize=(7.5, 5.5), dpi=72, layout="constrained")
        ax = fig.add_subplot()
        handles = scatter_codes(ax, codes, y, class_names, point_size)
        _set_limits(ax, low, high)
        set_title(ax, f"{title}: z_mean of {len(codes):,} test images after epoch {int(epoch)}")
        class_legend(ax, handles, loc="center left", bbox_to_anchor=(1.0, 0.5))
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
    lines = max(wrapped(f"{titles.get(variant, variant)}, epoch 10 (shared axes)", 3.0, 10).count("\n")
                for variant in snapshots)
    extra = 2 * 0.2 * lines  # room for titles of several lines over both rows
    figures = []
    for frame in range(count):
        fig = Figure(figsize=(3.6 * columns + 1.8, 7 + extra), dpi=72, layout="constrained")
        grid = fig.subplots(2, columns, squeeze=False)
        handles = None
        for column, (variant, (epochs, z_mean, y)) in enumerate(snapshots.items()):
            index = min(frame, len(epochs) - 1)
            for row, (low, high) in enumerate((own[variant], shared)):
                ax = grid[row, column]
                handles = scatter_codes(ax, z_mean[index], y, class_names, point_size)
                _set_limits(ax, low, high)
                which = "own axes" if row == 0 else "shared axes"
                set_title(ax, f"{titles.get(variant, variant)}, epoch {int(epochs[index])} ({which})", fontsize=10)
        class_legend(fig, handles, loc="outside right center")
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
        handles = scatter_codes(ax, z, y, class_names, size=0.6)
        ax.set_xlim(axis[0], axis[-1])
        ax.set_ylim(axis[0], axis[-1])
        ax.set_aspect("equal")
        set_title(ax, title, fontsize=10)
        ax.set_xlabel(latent_axis_labels(2)[0])
        ax.set_ylabel(latent_axis_labels(2)[1])
    if handles:
        class_legend(fig, handles, loc="outside right center", fontsize=8)
    return fig
