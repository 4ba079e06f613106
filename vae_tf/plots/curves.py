"""Figures of numbers per step: a run's loss curves, and runs (a beta sweep's) on the rate-distortion plane.

    fig = loss_curves(run.history(), title=run.title)
    fig = rate_distortion(report["points"])               # a sweep's rd.json (`vae_tf.sweep`)
    fig = rate_distortion_curves({"MLP": mlp_points, "conv": conv_points})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from vae_tf.plots.common import suptitle, wrapped

LEGEND_INCHES = 3.0  # legend entries (run titles) are wrapped to this width, so that the legend fits its axes


def loss_curves(history: Sequence[Mapping[str, float]], title: str = "", regularizer: str | None = None) -> Figure:
    """Each loss term per epoch, one panel per term (their scales differ by orders of magnitude).

    Args:
      history: rows of `history.csv` (see `vae_tf.rundir.read_history`): `epoch` and the terms;
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
    suptitle(fig, title)
    return fig


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
    ax.plot([p["rate"] for p in sweep], [p["distortion"] for p in sweep], marker="o", color=color,
            label=None if label is None else wrapped(label, LEGEND_INCHES, 8))
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
                label=wrapped(p["title"] if "reduction=" in p["title"]
                              else f"{p['title']} ({p['reduction']} reduction)", LEGEND_INCHES, 8))
    ax.set_xlim(*x_range)
    ax.set_ylim(*y_range)
    ax.set_xlabel("rate: KL(q(z|x) || p(z)), nats per image")
    ax.set_ylabel("distortion: E_q[-log p(x|z)], nats per image")


def rate_distortion(points: Sequence[Mapping], title: str = "The rate-distortion plane (test images)") -> Figure:
    """Runs on the rate-distortion plane (Alemi et al. 2018), each sweep point labelled by its beta.

    Args:
      points: dicts with `rate`, `distortion` (nats per image), `kind` ("sweep" or "extra"),
        `beta`, `reduction` and `title` (see `vae_tf.analysis.sweeps.measure`), the sweep in beta order.
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
    suptitle(fig, title)
    return fig


def rate_distortion_curves(curves: Mapping[str, Sequence[Mapping]],
                           title: str = "Two sweeps on one rate-distortion plane (test images)") -> Figure:
    """Several beta sweeps (e.g. the MLP's and the conv model's) as curves on one rate-distortion plane.

    Args:
      curves: {label: points}, each points a sweep's `rd.json` points (dicts with `rate`,
        `distortion`, `kind`, `beta`; see `vae_tf.analysis.sweeps.measure`); each sweep's "sweep" points are
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
                        label=wrapped(f"{label}: {p['title']}", LEGEND_INCHES, 8))
    ax.set_xlim(*x_range)
    ax.set_ylim(*y_range)
    ax.set_xlabel("rate: KL(q(z|x) || p(z)), nats per image")
    ax.set_ylabel("distortion: E_q[-log p(x|z)], nats per image")
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="outside right upper")  # beside the plane, so that many runs fit
    lines = sum(label.count("\n") + 1.5 for label in labels)  # the legend's lines, with the space between entries
    fig.set_figheight(max(fig.get_figheight(), 1.0 + lines * 8 * 1.3 / 72))  # ... and never taller than the figure
    suptitle(fig, title)
    return fig
