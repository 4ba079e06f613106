"""`python -m vae_tf.fit`: fit one Gaussian to a two-peaked target by minimising KL, MSE, L1 or cosine loss.

    python -m vae_tf.fit --loss kl_div --mu0 0 --sigma0 1    # one fit: fit.png, fit.gif, history.csv, result.json
    python -m vae_tf.fit --table --out runs/fit/table        # every loss from both starts: table.md, table.json

The experiment itself (the target, the losses, Adam, `fit_gaussian`, `FitResult`, the table) is
`vae_tf.kl.fitting`; its figures are `vae_tf.plots.fit_summary`, `final_fits` and
`save_fit_animation`. This command parses the flags, runs the fits and writes what they give.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from vae_tf.core import cli
from vae_tf.core.errors import NonFiniteLoss

# The experiment, and the names old code imports from here (`from vae_tf import fit; fit.fit_gaussian(...)`).
# TensorFlow is imported when a fit runs, not when the command parses its flags.
from vae_tf.kl.fitting import (  # noqa: F401
    ADAM_BETA_1,
    ADAM_BETA_2,
    ADAM_EPSILON,
    DEFAULT_LEARNING_RATE,
    DEFAULT_STEPS,
    GRID,
    LOSS_HELP,
    LOSSES,
    PEAKS,
    TABLE_STARTS,
    FitResult,
    fit_gaussian,
    fit_table,
    format_table,
    grid_loss,
    target_log_density,
)

TABLE_SETS = ("loss", "mu0", "sigma0", "frames", "no_gif")  # the flags --table sets itself or has no use for


def build_parser():
    loss_lines = "\n".join(f"  {name:<11} {text}" for name, text in LOSS_HELP.items())
    parser = cli.parser(
        "python -m vae_tf.fit",
        "Fit a Gaussian Q = N(mu, sigma) to the two-peaked target P(x) = N(x; -5, 1) + N(x; 10, 1) on "
        "x = linspace(-15, 15, 1000) with Adam, printing loss, mu and sigma every --print-every steps. Writes "
        "fit.png (loss and mu/sigma per step, final Q over P), fit.gif (Q moving toward P), history.csv and "
        "result.json to --out.",
        epilog=(
            f"losses:\n{loss_lines}\n\nexamples:\n"
            "  python -m vae_tf.fit --loss kl_div --mu0 0 --sigma0 1\n"
            "  python -m vae_tf.fit --loss mse --mu0 5 --out runs/fit/mse_mu5\n"
            "  python -m vae_tf.fit --table --out runs/fit/table   # every loss, both starts"
        ),
        raw=True,
    )
    number = cli.number
    parser.add_argument("--loss", default="kl_div", choices=LOSSES, help="the loss (default kl_div)")
    parser.add_argument("--mu0", type=number(float), default=0.0, help="start of mu (default 0)")
    parser.add_argument("--sigma0", type=number(float, above=0), default=1.0,
                        help="start of sigma, Q's standard deviation, > 0 (default 1)")
    parser.add_argument("--steps", type=number(int, at_least=1), default=DEFAULT_STEPS,
                        help="Adam steps (default 10000)")
    parser.add_argument("--learning-rate", type=number(float, above=0), default=DEFAULT_LEARNING_RATE,
                        help="Adam's learning rate (default 1e-3)")
    parser.add_argument("--print-every", type=number(int, at_least=1), default=1000,
                        help="print every N steps (default 1000)")
    parser.add_argument("--frames", type=number(int, at_least=2), default=50, help="frames in the GIF (default 50)")
    parser.add_argument("--no-gif", action="store_true", help="skip the animated GIF")
    parser.add_argument("--table", action="store_true",
                        help="run every loss from (mu0, sigma0) = (0, 1) and (5, 1); write table.md and table.json")
    cli.add_output(parser, "runs/fit/<loss>_mu<mu0>_sigma<sigma0>, or runs/fit/table")
    return parser


def _outputs(args) -> tuple[Path, tuple[str, ...]]:
    """Where the command writes and what."""
    if args.table:
        names = ("table.md", "table.json")
    else:
        names = ("fit.png", "history.csv", "result.json") + (() if args.no_gif else ("fit.gif",))
    default = "table" if args.table else f"{args.loss}_mu{args.mu0:g}_sigma{args.sigma0:g}"
    return Path(args.out) if args.out is not None else Path("runs") / "fit" / default, names


def work(args) -> int:
    from vae_tf import rundir

    for name in TABLE_SETS if args.table else ():  # --table runs every loss from its own starts
        if getattr(args, name) != build_parser().get_default(name):
            flag = "--" + name.replace("_", "-")
            raise cli.UsageError(f"{flag} cannot act with --table (it runs every loss from (mu0, sigma0) = (0, 1) "
                                 f"and (5, 1), and draws no figure); drop {flag}, or drop --table.")
    out, names = _outputs(args)
    with rundir.outputs(out, names, args.overwrite) as written:  # one writer; every file of the fit, or none
        failed = _write_table(args, written) if args.table else _write_fit(args, written)
    print("wrote " + ", ".join(str(path) for path in written.written))
    return _failed(failed, out)


def _write_table(args, out) -> list:
    """Every loss from both starts: table.md and table.json into `out` (a `vae_tf.rundir.Outputs`); the fits
    whose loss went non-finite."""
    from vae_tf import rundir

    results = []
    for mu0, sigma0 in TABLE_STARTS:
        for loss in LOSSES:
            print(f"== {loss} from mu0={mu0:g}, sigma0={sigma0:g}", flush=True)
            results.append(fit_gaussian(loss, mu0, sigma0, args.steps, args.learning_rate,
                                        print_every=args.print_every))
    table = format_table(results)
    print(table)
    rundir.write_text(out / "table.md", table + "\n")
    rundir.write_json(out / "table.json", [r.summary() for r in results])
    return [r for r in results if r.non_finite]


def _write_fit(args, out) -> list:
    """One fit: fit.png, fit.gif, history.csv and result.json into `out` (a `vae_tf.rundir.Outputs`); [the fit]
    if its loss went non-finite, else []."""
    from vae_tf import plots, rundir

    result = fit_gaussian(args.loss, args.mu0, args.sigma0, args.steps, args.learning_rate,
                          print_every=args.print_every)
    target = np.exp(target_log_density(GRID).numpy())
    rundir.write_figure(out / "fit.png", plots.fit_summary(result, GRID, target, PEAKS), dpi=90)
    if not args.no_gif:
        plots.save_fit_animation(result, out / "fit.gif", GRID, target, frames=args.frames)
    history = "step,loss,mu,sigma\n" + "".join(
        f"{step},{loss:.9g},{mu:.9g},{sigma:.9g}\n"
        for step, (loss, mu, sigma) in enumerate(zip(result.loss, result.mu, result.sigma)))
    rundir.write_text(out / "history.csv", history)
    rundir.write_json(out / "result.json", result.summary())
    print(
        f"final: loss {result.final_loss:.6g}  mu {result.final_mu:.4f}  sigma {result.final_sigma:.4f}"
        + (f"  (stopped early after {result.steps_done} steps)" if result.stopped_early else "")
    )
    return [result] if result.non_finite else []


def _failed(results, out) -> int:
    """0, or `NonFiniteLoss` when a fit's loss went NaN or infinite (its outputs show it up to that step)."""
    if results:
        raise NonFiniteLoss(f"{results[0].message}; {out} shows the fit up to that step (result.json's "
                            "non-finite numbers are null); start nearer the target (--mu0, --sigma0) or lower "
                            "--learning-rate.")
    return 0


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work)


if __name__ == "__main__":
    sys.exit(main())
