"""What the figures share: how commands save them (DPI, FPS), the latent axes' labels, the classes'
colours, and the scatter of codes (by class, or by density without labels) with its legend.

Figures are built with `matplotlib.figure.Figure`, not `pyplot`: nothing is shown, nothing
leaks into a global figure list, and `savefig` renders through the Agg backend. No figure
trains or reads files; densities are NumPy arrays and SciPy's, so that drawing them does not
import TensorFlow.
"""

from __future__ import annotations

import textwrap

import numpy as np

# How the commands save figures: PNGs at DPI dots per inch, the latent evolution's GIFs at FPS
# frames (epochs) per second.
FPS = 2
DPI = 90

_ORDINALS = ("first", "second")

# The narrowest figure with a run's title (inches): narrower, its lines would be a word or two.
TITLED_WIDTH = 4.5


# The width of an average character of matplotlib's default font (DejaVu Sans), in ems: a little more than
# its mean, so that a wrapped line of capitals and digits still fits.
_CHARACTER_EMS = 0.62


def wrapped(text: str, width_inches: float, fontsize=None) -> str:
    """`text` broken at spaces into lines that fit `width_inches` at `fontsize` (points or a matplotlib size
    name; None: the axes title's size), so that a long run title is never cut off at the figure's edges."""
    import matplotlib
    from matplotlib.font_manager import FontProperties

    size = FontProperties(size=fontsize if fontsize is not None else matplotlib.rcParams["axes.titlesize"])
    per_line = max(12, int(width_inches * 72 / (_CHARACTER_EMS * size.get_size_in_points())))
    return "\n".join(textwrap.fill(line, per_line, break_on_hyphens=False) for line in str(text).split("\n"))


def set_title(ax, text: str, fontsize=None) -> None:
    """`ax.set_title(text)`, wrapped to the width of `ax` (its place in the figure before layout)."""
    width = ax.get_position().width * ax.get_figure().get_figwidth()
    ax.set_title(wrapped(text, width, fontsize), fontsize=fontsize)


def titled_figure(width: float, height: float, title: str):
    """A constrained-layout Figure of `width` x `height` inches plus room for `title`, and its one axes: (Figure,
    Axes). The title is the figure's, wrapped to its width (a run's title can be long); the figure is at least
    TITLED_WIDTH inches wide when there is one, so that its lines stay a few words long."""
    from matplotlib.figure import Figure

    width = max(width, TITLED_WIDTH) if title else width
    lines = wrapped(title, 0.95 * width).count("\n") + 1 if title else 0
    fig = Figure(figsize=(width, height + 0.25 * lines), layout="constrained")
    # Anchored under the title: a centred image axes with spare height (one short row) can leave constrained
    # layout too little room for its x labels, which then fall off the bottom.
    ax = fig.add_subplot(anchor="N")
    if title:
        suptitle(fig, title)
    return fig, ax


def suptitle(fig, text: str) -> None:
    """`fig.suptitle(text)`, wrapped to the figure's width."""
    import matplotlib

    fig.suptitle(wrapped(text, 0.95 * fig.get_figwidth(), matplotlib.rcParams["figure.titlesize"]))


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


def scatter_codes(ax, z, y, class_names, size, rasterized=True):
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


def class_legend(owner, handles, **kwargs):
    """A legend of the classes of `scatter_codes`' handles on `owner` (an axes or a figure), its markers opaque."""
    if not handles:  # data without labels: the colours are densities, there is nothing to name
        return None
    legend = owner.legend(
        handles=handles, markerscale=6 / max(handles[0].get_sizes()[0], 1) ** 0.5, frameon=False, **kwargs
    )
    for handle in legend.legend_handles:
        handle.set_alpha(1)
    return legend


def scatter_point_size(count: int) -> float:
    """Marker area (points^2) for a scatter of `count` codes: the report's 1 for 15,000 or more, up to 8 for few."""
    return float(np.clip(15_000 / max(count, 1), 1.0, 8.0))
