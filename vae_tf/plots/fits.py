"""The fitting experiment's figures (`vae_tf.kl.fitting`, `python -m vae_tf.fit`): one fit's loss and
parameters, many fits' final Q over P, and one fit as an animated GIF.

    fig = fit_summary(result, fitting.GRID, target, fitting.PEAKS)  # target: P on the grid
    save_fit_animation(result, "fit.gif", fitting.GRID, target)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import norm


def fit_summary(result, x, target, peaks: Sequence[float] = ()) -> Figure:
    """Three panels: the loss per step, mu and sigma per step, and the final Q over P.

    Args:
      result: a `vae_tf.kl.fitting.FitResult`.
      x: the grid, shape (N,), e.g. `vae_tf.kl.fitting.GRID`.
      target: P on the grid, shape (N,).
      peaks: where P's peaks are (e.g. `vae_tf.kl.fitting.PEAKS`), marked on the mu panel.

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
      results: `vae_tf.kl.fitting.FitResult`s, e.g. from `fit_table` (ordered by start, then loss).
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
      result: a `vae_tf.kl.fitting.FitResult`.
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
