"""Fit one Gaussian to a two-peaked target by minimising KL, MSE, L1 or cosine loss.

The spec's fitting experiment (section 2): the target is the plain sum
P(x) = N(x; -5, 1) + N(x; 10, 1) (it integrates to 2), tabulated on x = linspace(-15, 15, 1000);
Q = N(mu, sigma) with mu and sigma themselves trained by Adam (learning rate 1e-3, 10,000 steps).
Losses on the grid:

* ``kl_div``: mean over grid points of P (log P - log Q), a forward KL (`vae_tf.kl.kl_grid_mean`);
* ``reverse_kl``: mean over grid points of Q (log Q - log P);
* ``mse``: mean of (Q - P)^2;  ``l1``: mean of |Q - P|;
* ``cosine``: minus the cosine similarity of the vectors Q(x) and P(x) (so it is maximised).

Run it as ``python -m vae_tf.fit --loss kl_div --mu0 0 --sigma0 1`` (see ``--help``), or call
`fit_gaussian` from Python.
The figures of a fit are `vae_tf.plots.fit_summary`, `final_fits` and `save_fit_animation`.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from vae_tf import kl

tfd = tfp.distributions

LOSSES = ("kl_div", "reverse_kl", "mse", "l1", "cosine")
LOSS_HELP = {
    "kl_div": "forward KL: mean over the grid of P (log P - log Q)",
    "reverse_kl": "reverse KL: mean over the grid of Q (log Q - log P)",
    "mse": "mean over the grid of (Q - P)^2",
    "l1": "mean over the grid of |Q - P|",
    "cosine": "minus the cosine similarity of Q(x) and P(x)",
}
PEAKS = (-5.0, 10.0)  # the target's two unit-variance peaks
GRID = np.linspace(-15.0, 15.0, 1000)
DEFAULT_STEPS = 10_000
DEFAULT_LEARNING_RATE = 1e-3
TABLE_STARTS = ((0.0, 1.0), (5.0, 1.0))


# ---------------------------------------------------------------------------------------------
# The experiment
# ---------------------------------------------------------------------------------------------


def target_log_density(x):
    """log P(x) for P(x) = N(x; -5, 1) + N(x; 10, 1), computed stably (log-sum-exp).

    Args:
      x: float array, shape (N,).

    Returns:
      float32 tensor, shape (N,).
    """
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    peaks = tfd.Normal(loc=tf.constant(PEAKS, tf.float32)[:, None], scale=1.0)
    return tf.reduce_logsumexp(peaks.log_prob(x[None, :]), axis=0)


def grid_loss(loss: str, mu, sigma, x, log_p):
    """The fitting loss of Q = N(mu, sigma) against the target, on the grid.

    Args:
      loss: one of `LOSSES`.
      mu, sigma: scalar float tensors (sigma > 0).
      x: the grid, float32 tensor, shape (N,).
      log_p: log P on the grid, float32 tensor, shape (N,).

    Returns:
      scalar float32 tensor (nats per grid point for the two KLs).
    """
    # log Q straight from the log-density: exp-then-log underflows to -inf far from mu.
    log_q = tfd.Normal(loc=mu, scale=sigma).log_prob(x)
    if loss == "kl_div":
        return kl.kl_grid_mean(log_p, log_q)
    if loss == "reverse_kl":
        return kl.kl_grid_mean(log_q, log_p)
    q, p = tf.exp(log_q), tf.exp(log_p)
    if loss == "mse":
        return tf.reduce_mean(tf.square(q - p))
    if loss == "l1":
        return tf.reduce_mean(tf.abs(q - p))
    if loss == "cosine":
        return -tf.reduce_sum(q * p) / (tf.norm(q) * tf.norm(p))
    raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")


@dataclasses.dataclass
class FitResult:
    """The history of one fit. Arrays have length steps_done + 1: entry k is the state after k
    Adam steps (entry 0 is the start), and loss[k] is the loss at (mu[k], sigma[k]).

    Attributes:
      loss_name, mu0, sigma0, learning_rate: the setup.
      steps: the number of steps asked for; steps_done: how many were taken.
      loss, mu, sigma: float64 arrays, shape (steps_done + 1,).
      message: empty when the fit ran to the end; otherwise why it stopped early.
    """

    loss_name: str
    mu0: float
    sigma0: float
    learning_rate: float
    steps: int
    steps_done: int
    loss: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    message: str = ""

    @property
    def stopped_early(self) -> bool:
        return bool(self.message)

    @property
    def final_mu(self) -> float:
        return float(self.mu[-1])

    @property
    def final_sigma(self) -> float:
        return float(self.sigma[-1])

    @property
    def final_loss(self) -> float:
        return float(self.loss[-1])

    def summary(self) -> dict:
        """JSON-ready setup and final state (no per-step arrays)."""
        return {
            "loss": self.loss_name,
            "mu0": self.mu0,
            "sigma0": self.sigma0,
            "learning_rate": self.learning_rate,
            "steps": self.steps,
            "steps_done": self.steps_done,
            "final_mu": self.final_mu,
            "final_sigma": self.final_sigma,
            "final_loss": self.final_loss,
            "stopped_early": self.stopped_early,
            "message": self.message,
        }


# Adam's constants: Keras' defaults (keras.optimizers.Adam), which tests/test_fit.py checks.
ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON = 0.9, 0.999, 1e-7

# Why a fit stopped early (codes returned by the graph loop).
_RUNNING, _SIGMA_NOT_POSITIVE, _NOT_FINITE = 0, 1, 2


def _check_setup(loss: str, mu0: float, sigma0: float, steps: int, learning_rate: float) -> None:
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    if not math.isfinite(mu0):
        raise ValueError(f"mu0 must be a finite number, got {mu0!r}")
    if not (math.isfinite(sigma0) and sigma0 > 0):
        raise ValueError(f"sigma0 must be > 0 (it is Q's standard deviation), got {sigma0!r}")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a whole number >= 1, got {steps!r}")
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")


@tf.function
def _adam_steps(loss_index, theta, m, v, t, learning_rate, n):
    """Take up to n Adam steps on theta = [mu, sigma], in-graph.

    Adam is written out (Keras' update rule) rather than taken from `keras.optimizers.Adam`
    so that this function is traced once for every loss, start and learning rate: its state
    (m, v, t) goes in and out as tensors. The loss is picked by index with `tf.switch_case`.

    Returns:
      losses, mus, sigmas: shape (n,), entries [0, done) valid: the loss at the state before
        each step, and mu, sigma after it;
      done: steps taken; status: one of _RUNNING, _SIGMA_NOT_POSITIVE, _NOT_FINITE;
      bad_value: the offending sigma or loss; theta, m, v, t: the state after `done` steps.
    """
    x = tf.constant(GRID, tf.float32)
    log_p = target_log_density(x)
    losses = tf.TensorArray(tf.float32, size=n)
    mus = tf.TensorArray(tf.float32, size=n)
    sigmas = tf.TensorArray(tf.float32, size=n)
    status = tf.constant(_RUNNING)
    bad_value = tf.constant(0.0)
    done = tf.constant(0)
    for i in tf.range(n):
        with tf.GradientTape() as tape:
            tape.watch(theta)
            branches = [functools.partial(grid_loss, name, theta[0], theta[1], x, log_p) for name in LOSSES]
            value = tf.switch_case(loss_index, branches)
        grad = tape.gradient(value, theta)
        if not (tf.math.is_finite(value) and tf.reduce_all(tf.math.is_finite(grad))):
            status = tf.constant(_NOT_FINITE)
            bad_value = value
            break
        step = t + 1.0
        m_next = m + (grad - m) * (1.0 - ADAM_BETA_1)
        v_next = v + (tf.square(grad) - v) * (1.0 - ADAM_BETA_2)
        alpha = learning_rate * tf.sqrt(1.0 - ADAM_BETA_2**step) / (1.0 - ADAM_BETA_1**step)
        theta_next = theta - alpha * m_next / (tf.sqrt(v_next) + ADAM_EPSILON)
        if theta_next[1] <= 0.0:
            # Keep the last valid state rather than a Gaussian with sigma <= 0.
            status = tf.constant(_SIGMA_NOT_POSITIVE)
            bad_value = theta_next[1]
            break
        theta, m, v, t = theta_next, m_next, v_next, step
        losses = losses.write(i, value)
        mus = mus.write(i, theta[0])
        sigmas = sigmas.write(i, theta[1])
        done = i + 1
    # A TensorArray must be written everywhere before it is stacked: pad the unused tail.
    for j in tf.range(done, n):
        losses = losses.write(j, 0.0)
        mus = mus.write(j, 0.0)
        sigmas = sigmas.write(j, 0.0)
    return losses.stack(), mus.stack(), sigmas.stack(), done, status, bad_value, theta, m, v, t


def fit_gaussian(
    loss: str = "kl_div",
    mu0: float = 0.0,
    sigma0: float = 1.0,
    steps: int = DEFAULT_STEPS,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    *,
    print_every: int | None = None,
    out=sys.stdout,
) -> FitResult:
    """Fit Q = N(mu, sigma) to the two-peaked target by Adam on `loss`.

    If an Adam step would make sigma <= 0, or the loss or a gradient turns non-finite, the fit
    stops before that step, keeps the last valid state and says why in `FitResult.message`
    (also printed when `print_every` is set). It never returns NaN.

    Args:
      loss: one of `LOSSES` ("kl_div", "reverse_kl", "mse", "l1", "cosine").
      mu0, sigma0: the start; sigma0 > 0.
      steps: Adam steps, >= 1.
      learning_rate: Adam's learning rate, > 0 (Keras' Adam: betas 0.9, 0.999, epsilon 1e-7).
      print_every: print step, loss, mu and sigma every this many steps (None: silent).
      out: where to print.

    Returns:
      `FitResult` with the per-step history.

    Raises:
      ValueError: unknown loss, non-finite mu0, sigma0 <= 0, steps < 1, learning_rate <= 0.
    """
    mu0, sigma0, learning_rate = float(mu0), float(sigma0), float(learning_rate)
    _check_setup(loss, mu0, sigma0, steps, learning_rate)
    steps = int(steps)
    loss_index = tf.constant(LOSSES.index(loss))
    theta = tf.constant([mu0, sigma0], tf.float32)
    m = v = tf.zeros([2], tf.float32)
    t = tf.constant(0.0)
    lr = tf.constant(learning_rate, tf.float32)
    x = tf.constant(GRID, tf.float32)
    log_p = target_log_density(x)

    def loss_at(theta) -> float:
        return float(grid_loss(loss, theta[0], theta[1], x, log_p))

    loss_hist, mu_hist, sigma_hist = [], [mu0], [sigma0]
    steps_done, message = 0, ""
    while steps_done < steps and not message:
        n = min(print_every or steps, steps - steps_done)
        losses, mus, sigmas, done, status, bad_value, theta, m, v, t = _adam_steps(
            loss_index, theta, m, v, t, lr, tf.constant(n)
        )
        done, status = int(done), int(status)
        loss_hist.extend(losses.numpy()[:done])
        mu_hist.extend(mus.numpy()[:done])
        sigma_hist.extend(sigmas.numpy()[:done])
        steps_done += done
        if status == _SIGMA_NOT_POSITIVE:
            message = (
                f"Adam step {steps_done + 1} would have made sigma {float(bad_value):.4g} "
                f"(it must be > 0), so the fit stopped after step {steps_done} at "
                f"mu={mu_hist[-1]:.4f}, sigma={sigma_hist[-1]:.4f}; try a smaller learning "
                f"rate (now {learning_rate:g}) or a larger sigma0 (now {sigma0:g})"
            )
        elif status == _NOT_FINITE:
            message = (
                f"the {loss} loss or its gradient became non-finite ({float(bad_value)}) at "
                f"step {steps_done + 1}, so the fit stopped after step {steps_done} at "
                f"mu={mu_hist[-1]:.4f}, sigma={sigma_hist[-1]:.4f}"
            )
        if print_every:
            print(
                f"step {steps_done:>6}/{steps}  loss {loss_at(theta): .6g}  "
                f"mu {mu_hist[-1]: .4f}  sigma {sigma_hist[-1]:.4f}",
                file=out,
                flush=True,
            )
    loss_hist.append(loss_at(theta))
    if message and print_every:
        print(f"stopped early: {message}", file=out, flush=True)
    return FitResult(
        loss_name=loss,
        mu0=mu0,
        sigma0=sigma0,
        learning_rate=learning_rate,
        steps=steps,
        steps_done=steps_done,
        loss=np.asarray(loss_hist, dtype=np.float64),
        mu=np.asarray(mu_hist, dtype=np.float64),
        sigma=np.asarray(sigma_hist, dtype=np.float64),
        message=message,
    )


def fit_table(
    losses=LOSSES,
    starts=TABLE_STARTS,
    steps: int = DEFAULT_STEPS,
    learning_rate: float = DEFAULT_LEARNING_RATE,
) -> list[FitResult]:
    """Run `fit_gaussian` for every loss from every (mu0, sigma0) start, in that order."""
    return [fit_gaussian(loss, mu0, sigma0, steps, learning_rate) for mu0, sigma0 in starts for loss in losses]


def format_table(results) -> str:
    """A Markdown table: loss, start, steps, final mu, final sigma, final loss, note."""
    lines = [
        "| loss | start (mu0, sigma0) | steps | final mu | final sigma | final loss |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        steps = f"{r.steps_done}" + ("" if r.steps_done == r.steps else f" of {r.steps} (stopped)")
        lines.append(
            f"| {r.loss_name} | ({r.mu0:g}, {r.sigma0:g}) | {steps} | {r.final_mu:.4f} | "
            f"{r.final_sigma:.4f} | {r.final_loss:.6g} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump, no traceback
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    loss_lines = "\n".join(f"  {name:<11} {text}" for name, text in LOSS_HELP.items())
    parser = _Parser(
        prog="python -m vae_tf.fit",
        description=(
            "Fit a Gaussian Q = N(mu, sigma) to the two-peaked target "
            "P(x) = N(x; -5, 1) + N(x; 10, 1) on x = linspace(-15, 15, 1000) with Adam, "
            "printing loss, mu and sigma every --print-every steps. Writes fit.png (loss and "
            "mu/sigma per step, final Q over P), fit.gif (Q moving toward P), history.csv and "
            "result.json to --out."
        ),
        epilog=(
            f"losses:\n{loss_lines}\n\nexamples:\n"
            "  python -m vae_tf.fit --loss kl_div --mu0 0 --sigma0 1\n"
            "  python -m vae_tf.fit --loss mse --mu0 5 --out runs/fit/mse_mu5\n"
            "  python -m vae_tf.fit --table --out runs/fit/table   # every loss, both starts"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--loss", default="kl_div", choices=LOSSES, help="the loss (default kl_div)")
    parser.add_argument("--mu0", type=float, default=0.0, help="start of mu (default 0)")
    parser.add_argument("--sigma0", type=float, default=1.0, help="start of sigma, > 0 (default 1)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="Adam steps (default 10000)")
    parser.add_argument(
        "--learning-rate", type=float, default=DEFAULT_LEARNING_RATE, help="Adam's learning rate (default 1e-3)"
    )
    parser.add_argument("--print-every", type=int, default=1000, help="print every N steps (default 1000)")
    parser.add_argument("--frames", type=int, default=50, help="frames in the GIF (default 50)")
    parser.add_argument("--no-gif", action="store_true", help="skip the animated GIF")
    parser.add_argument(
        "--table",
        action="store_true",
        help="run every loss from (mu0, sigma0) = (0, 1) and (5, 1); write table.md and table.json",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output directory (default runs/fit/<loss>_mu<mu0>_sigma<sigma0>)"
    )
    parser.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty --out")
    return parser


def _validate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not math.isfinite(args.mu0):
        parser.error(f"--mu0 must be a finite number, got {args.mu0}")
    if not (math.isfinite(args.sigma0) and args.sigma0 > 0):
        parser.error(f"--sigma0 must be > 0 (it is Q's standard deviation), got {args.sigma0:g}")
    if args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
        parser.error(f"--learning-rate must be > 0, got {args.learning_rate:g}")
    if args.print_every < 1:
        parser.error(f"--print-every must be >= 1, got {args.print_every}")
    if args.frames < 2:
        parser.error(f"--frames must be >= 2, got {args.frames}")
    if args.out is None:
        name = "table" if args.table else f"{args.loss}_mu{args.mu0:g}_sigma{args.sigma0:g}"
        args.out = Path("runs") / "fit" / name
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is a file, not a directory; choose another path")
    if args.out.is_dir() and any(args.out.iterdir()) and not args.overwrite:
        parser.error(f"--out {args.out} already exists and is not empty; pass --overwrite or choose another --out")


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _validate(parser, args)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.table:
        results = []
        for mu0, sigma0 in TABLE_STARTS:
            for loss in LOSSES:
                print(f"== {loss} from mu0={mu0:g}, sigma0={sigma0:g}", flush=True)
                results.append(
                    fit_gaussian(loss, mu0, sigma0, args.steps, args.learning_rate, print_every=args.print_every)
                )
        table = format_table(results)
        print(table)
        (args.out / "table.md").write_text(table + "\n")
        (args.out / "table.json").write_text(json.dumps([r.summary() for r in results], indent=2) + "\n")
        print(f"wrote {args.out / 'table.md'} and {args.out / 'table.json'}")
        return 0
    result = fit_gaussian(
        args.loss, args.mu0, args.sigma0, args.steps, args.learning_rate, print_every=args.print_every
    )
    from vae_tf import plots

    target = np.exp(target_log_density(GRID).numpy())
    plots.fit_summary(result, GRID, target, PEAKS).savefig(args.out / "fit.png", dpi=90)
    written = [args.out / "fit.png"]
    if not args.no_gif:
        written.append(plots.save_fit_animation(result, args.out / "fit.gif", GRID, target, frames=args.frames))
    history = np.column_stack([np.arange(result.steps_done + 1), result.loss, result.mu, result.sigma])
    np.savetxt(
        args.out / "history.csv",
        history,
        delimiter=",",
        header="step,loss,mu,sigma",
        comments="",
        fmt=["%d", "%.9g", "%.9g", "%.9g"],
    )
    (args.out / "result.json").write_text(json.dumps(result.summary(), indent=2) + "\n")
    written += [args.out / "history.csv", args.out / "result.json"]
    print(
        f"final: loss {result.final_loss:.6g}  mu {result.final_mu:.4f}  sigma {result.final_sigma:.4f}"
        + (f"  (stopped early after {result.steps_done} steps)" if result.stopped_early else "")
    )
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
