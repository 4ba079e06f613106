"""The KL primers' figures (`vae_tf.kl.primers`): the report's histograms, and forward against reverse KL.

    fig = histograms(primers.histogram_example())
    fig = forward_reverse(landscape, x, p)                 # p: the target's density on x
"""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.figure import Figure
from scipy.stats import norm

# The report's names for its samples: A is the data, B and C two ways of compressing it.
HISTOGRAM_LABELS = {
    "A": "A: original data",
    "B": "B: conventional compression",
    "C": "C: deep-learning compression",
}


def histograms(results: Mapping[str, object], labels: Mapping[str, str] = HISTOGRAM_LABELS) -> Figure:
    """The report's histograms: A against each other sample on their shared bins, as densities.

    Args:
      results: {name: `vae_tf.kl.discrete.HistogramKL` of A against that sample}, one panel each, e.g.
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
