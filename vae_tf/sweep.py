"""The KL axis: one VAE per beta, each placed on the rate-distortion plane (Alemi et al. 2018).

    python -m vae_tf.sweep --betas 0.1 0.3 1 3 10 --out runs/sweep
    python -m vae_tf.sweep --betas 0.1 1 10 --out runs/sweep --extra runs/kl-report runs/none-report
    python -m vae_tf.sweep --betas 1 --latent-dim 16 --beta-schedule linear --out runs/warmup16
    python -m vae_tf.sweep --out runs/sweep2 --runs runs/a runs/b      # place finished runs, train nothing

Every beta is one run, OUT/beta-<beta>, trained with the textbook reduction (`elbo`) unless
--reduction says otherwise and with every other training flag as given. A finished OUT/beta-<beta>
is reused, never retrained; an unfinished one is refused (resume it, or --overwrite trains it
again). Then every run, and every --extra run, is measured on the test images the same way, in
nats per image: rate, distortion, -ELBO, -IWAE_K and active units (`vae_tf.analysis.sweeps` says
what each is, and when a run's evaluation.json gives them instead).

Writes OUT/rd.json, OUT/rd.md (the table), OUT/rd.png (the plane, with lines of equal -ELBO) and
OUT/rd_codes.png (the test codes and samples from the prior of a few betas side by side).
"""

from __future__ import annotations

import sys

from vae_tf import config
from vae_tf.analysis.sweeps import (  # noqa: F401 (DPI, measure, read_report, redraw: as before)
    DPI,
    OUTPUTS,
    measure,
    measure_all,
    one_likelihood,
    open_given,
    plan,
    rd_markdown,
    read_report,
    redraw,
    run_name,
    settings_as_run,
    train_planned,
    write_outputs,
)
from vae_tf.core import cli
from vae_tf.core.cli import number

DEFAULT_BETAS = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
# K = 100 importance samples: about 10 s per run for the 10,000 test images on 2 CPU cores, so a
# 7-beta sweep (and two extra runs) is measured in under two minutes.
DEFAULT_K = 100


def build_parser():
    from vae_tf.core.cli import add_verbosity

    parser = cli.parser(
        "python -m vae_tf.sweep",
        "Train one VAE per beta (into OUT/beta-<beta>, reusing finished ones) and place each, with any --extra "
        "run, on the rate-distortion plane measured on the test images: rate = mean KL, distortion = mean "
        "reconstruction negative log-likelihood, -ELBO, -IWAE_K, active units (the first four taken from a run's "
        "evaluation.json when `python -m vae_tf.evaluate` measured the same K and test images). Writes OUT/rd.json, "
        "OUT/rd.md, OUT/rd.png and OUT/rd_codes.png.",
    )
    parser.add_argument("--betas", nargs="+", type=number(float, at_least=0), default=None, metavar="BETA",
                        help="the KL weights, one run each (default: " + " ".join(f"{b:g}" for b in DEFAULT_BETAS)
                             + "; none with --runs alone)")
    parser.add_argument("--out", metavar="DIR", required=True, help="the sweep's directory (created if missing)")
    parser.add_argument("--runs", nargs="+", metavar="RUNDIR", default=None,
                        help="finished runs to place at their own beta instead of training that beta")
    parser.add_argument("--extra", nargs="+", metavar="RUNDIR", default=[],
                        help="more finished runs to measure and place on the plane (e.g. the report's default run "
                             "and its 'without KL' run), labelled by their settings")
    parser.add_argument("--k", type=number(int, at_least=1), default=DEFAULT_K, metavar="K",
                        help="importance samples per test image for -IWAE_K")
    parser.add_argument("--test-limit", type=number(int, at_least=1), default=None, metavar="N",
                        help="measure on the first N test images only (default: all 10,000)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUT's rd.* files, and train unfinished OUT/beta-* runs again from scratch "
                             "(a finished run is always reused)")
    # The sweep sets beta and the regularizer itself: their flags are hidden, None says one was given.
    config.add_arguments(parser, hide=("beta", "regularizer"))
    parser.set_defaults(beta=None, regularizer=None, reduction="elbo")
    add_verbosity(parser)
    return parser


def check_arguments(parser, args) -> None:
    """Refuse what cannot be swept, through `parser.error` (one line, exit code 2)."""
    for name in ("beta", "regularizer"):
        if getattr(args, name) is not None:
            parser.error(f"argument --{name}: the sweep trains --regularizer kl at each of --betas; drop --{name}")
    betas = args.betas or []
    repeated = sorted({beta for beta in betas if betas.count(beta) > 1})
    if repeated:
        parser.error(f"argument --betas: {', '.join(f'{b:g}' for b in repeated)} given more than once; "
                     "each beta is one run")
    try:
        sweep_settings(args)
    except ValueError as error:
        parser.error(str(error))


def sweep_settings(args) -> config.TrainConfig:
    """The settings every trained run shares (its beta is replaced)."""
    return config.TrainConfig.from_args(args, beta=1.0, regularizer="kl")


def work(args) -> int:
    from vae_tf.core.cli import fit_verbosity
    from vae_tf.rundir import Run, outputs
    from vae_tf.training.interrupts import obey_interrupts

    obey_interrupts()  # SIGTERM and SIGINT: one line, and the same command carries on (`interrupted`)
    # One writer of OUT from start to end (the runs it trains, then rd.*); rd.* all appear, or none.
    with outputs(args.out, OUTPUTS, args.overwrite) as written:
        out = written.directory
        settings = sweep_settings(args)
        given = open_given(args.runs)
        extras = [Run.open(path) for path in args.extra]
        betas = list(args.betas) if args.betas is not None else ([] if given else list(DEFAULT_BETAS))
        actions = plan(betas, given, out, settings, args.overwrite)
        one_likelihood([*given.values(), *extras, *([settings_as_run(settings)] if actions else [])])
        if not betas and not given:
            raise cli.UsageError("nothing to sweep: give --betas, or --runs")
        train_planned(actions, out, settings, args.overwrite, fit_verbosity(args),
                      command=["python", "-m", "vae_tf.sweep", *sys.argv[1:]],
                      progress=lambda line: print(line, flush=True))
        runs = {**given, **{beta: Run.open(out / run_name(beta)) for beta in actions}}
        report, codes, y = measure_all(runs, extras, args.k, args.test_limit, args.data_dir)
        write_outputs(written.scratch, report, codes, y, written.progress)
    print("\n" + rd_markdown(report), end="")
    return 0


def main(argv=None) -> int:
    from vae_tf.training.interrupts import carry_on

    argv = sys.argv[1:] if argv is None else list(argv)
    return cli.run(build_parser(), argv, work, check=check_arguments, interrupted=carry_on("vae_tf.sweep", argv))


if __name__ == "__main__":
    sys.exit(main())
