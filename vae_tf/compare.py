"""The report's three variants side by side: with KL, without KL, MSE instead of KL.

    python -m vae_tf.compare --out DIR                       # train the three, then compare
    python -m vae_tf.compare --out DIR --epochs 2 --limit 5000   # any training flag passes through
    python -m vae_tf.compare --out DIR --runs runs/kl runs/none runs/mse   # reuse finished runs

Training (only when no --runs are given) writes DIR/kl, DIR/none and DIR/mse, three run
directories trained from scratch with the same seed and settings. Then, into DIR:
comparison.png (the scatters of the sampled codes, top row on each panel's own axes, bottom row
on shared axes), spread.json and spread.md (per variant and latent dimension: min, max,
standard deviation, and the share of codes inside [-3, 3]^2) and, when the three runs were
trained with --snapshots, evolution.gif (their z_mean of the same test images, epoch by epoch,
side by side; top row each on its own axes, bottom row on shared axes).

The work is `vae_tf.analysis.comparison`'s; this command parses, trains or opens the runs, and reports.
"""

from __future__ import annotations

import sys

from vae_tf import config
from vae_tf.analysis.comparison import (  # noqa: F401 (DPI, train_variants, ...: importable from here as before)
    DPI,
    EVOLUTION,
    OUTPUTS,
    all_snapshotted,
    differing_settings,
    open_runs,
    train_variants,
    write_comparison,
    write_evolution,
)
from vae_tf.config import REGULARIZERS as VARIANTS
from vae_tf.core import cli


def build_parser():
    from vae_tf.core.cli import add_verbosity

    parser = cli.parser(
        "python -m vae_tf.compare",
        "Compare the report's three variants (kl: with KL, none: without KL, mse: MSE instead of KL). Trains "
        "them from scratch with the same seed and settings into OUT/kl, OUT/none and OUT/mse, unless --runs "
        "gives finished run directories; then writes OUT/comparison.png, OUT/spread.json and OUT/spread.md.",
    )
    parser.add_argument("--out", metavar="DIR", required=True, help="directory to write into (created if missing)")
    parser.add_argument("--runs", nargs=3, metavar=("KL", "NONE", "MSE"), default=None,
                        help="reuse these finished run directories (trained with --regularizer kl, none, mse, "
                             "in that order) instead of training")
    parser.add_argument("--overwrite", action="store_true",
                        help="allow writing into an --out directory that already has files")
    # Compare trains every regularizer: --regularizer is hidden, and None tells us the user gave one.
    config.add_arguments(parser, hide=("regularizer",))
    parser.set_defaults(regularizer=None)
    add_verbosity(parser)
    return parser


def check_arguments(parser, args) -> None:
    """Refuse flags that make no sense together (through `parser.error`: one error line, exit 2)."""
    if args.regularizer is not None:
        parser.error(f"argument --regularizer: compare trains all three regularizers ({', '.join(VARIANTS)}); "
                     "drop --regularizer")
    if args.runs is not None:
        changed = [name for name in config.changed_settings(args) if name != "--regularizer"]
        if changed:
            parser.error(f"{', '.join(changed)}: training flags apply only when compare trains; with --runs it "
                         "reuses finished runs. Drop --runs to train, or drop the training flags")
    else:
        try:  # every variant: a setting that cannot act on one of them (--free-bits on none) is refused
            for variant in VARIANTS:
                config.TrainConfig.from_args(args, regularizer=variant)
        except ValueError as error:
            parser.error(f"{error} (compare trains {', '.join(VARIANTS)} with the same settings)")


def work(args) -> int:
    from vae_tf.core.cli import fit_verbosity
    from vae_tf.rundir import Run, outputs
    from vae_tf.training.interrupts import obey_interrupts

    runs = open_runs(args.runs) if args.runs is not None else None  # refused before OUT is made
    # One writer of OUT from start to end. Training: OUT/kl, none and mse, finished ones reused and an
    # interrupted one resumed (the same command carries on), so OUT may hold them but none of the outputs.
    with outputs(args.out, () if runs is not None else OUTPUTS + (EVOLUTION,), args.overwrite) as written:
        if runs is None:
            obey_interrupts()
            settings = config.TrainConfig.from_args(args, regularizer="kl")
            paths = train_variants(settings, written.directory, args.overwrite, fit_verbosity(args))
            runs = {variant: Run.open(path) for variant, path in paths.items()}
        written.claim(OUTPUTS + ((EVOLUTION,) if all_snapshotted(runs) else ()))
        for run in runs.values():  # every input read and checked before anything is written
            run.latents()
            run.snapshots()
        differences = differing_settings(runs)
        if differences:
            print(f"note: the runs differ in more than the regularizer ({'; '.join(differences)})", file=sys.stderr)
        write_comparison(runs, written.scratch, written.progress)
        if all_snapshotted(runs):
            write_evolution(runs, written.scratch, written.progress)
        else:
            print(f"note: no {EVOLUTION}: it needs runs trained with --snapshots", file=sys.stderr)
    print()
    print((written.directory / "spread.md").read_text(), end="")
    return 0


def kept_runs(args) -> str:
    """After an operating-system error (a full disk): how to compare the runs this command trained, if it did."""
    from pathlib import Path

    paths = [Path(args.out) / variant for variant in VARIANTS]
    if args.runs is not None or not all((path / "summary.json").is_file() for path in paths):
        return "nothing of the comparison was written"
    return ("nothing of the comparison was written; the three trained runs are kept: compare them with `python -m "
            f"vae_tf.compare --out {args.out} --runs {' '.join(map(str, paths))}`")


def main(argv=None) -> int:
    from vae_tf.training.interrupts import carry_on

    argv = sys.argv[1:] if argv is None else list(argv)
    return cli.run(build_parser(), argv, work, check=check_arguments, interrupted=carry_on("vae_tf.compare", argv),
                   aftermath=kept_runs)


if __name__ == "__main__":
    sys.exit(main())
