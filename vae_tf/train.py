"""Train the report's VAE on Fashion-MNIST (or any image data, `--dataset`) and write a run directory.

    python -m vae_tf.train                         # the report's run: KL on, 10 epochs
    python -m vae_tf.train --regularizer none      # the report's "without KL"
    python -m vae_tf.train --regularizer mse       # the report's "MSE instead of KL"
    python -m vae_tf.train --reduction elbo        # the textbook negative ELBO
    python -m vae_tf.train --limit 2000 --epochs 2 --out runs/quick   # a quick look
    python -m vae_tf.train --dataset digits --out runs/digits          # your own data: docs/data.md

See `vae_tf.rundir.layout` for what the run directory holds. Every flag is a `TrainConfig` field.
This command parses (without importing TensorFlow) and reports; `vae_tf.training.run` trains.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vae_tf.training.cluster import sigterm_blocked

with sigterm_blocked():  # the threads these imports start (numpy's) never take SIGTERM: see holding_sigterm
    from vae_tf import config
    from vae_tf.config import TrainConfig
    from vae_tf.config.defaults import given_settings
    from vae_tf.core import cli
    from vae_tf.training.interrupts import obey_interrupts, state_of
    from vae_tf.training.run import default_out_dir, resume, train  # vae_tf.train.train: re-exported


def build_parser():
    parser = cli.parser(
        "python -m vae_tf.train",
        "Train the report's variational autoencoder (784-100-2-100-784) on Fashion-MNIST, or it or a "
        "convolutional VAE (--architecture conv) on any images (--dataset), and write a run directory "
        "(config.json, history.csv, model.keras, latents.npz, summary.json). With no arguments: the report's "
        "configuration, on all 60,000 training images.",
    )
    config.add_arguments(parser)
    cli.add_verbosity(parser)
    files = parser.add_argument_group("output")
    files.add_argument("--out", default=None, metavar="DIR",
                       help="run directory to write (default: runs/<regularizer>-<reduction>-seed<seed>-<time>)")
    files.add_argument("--overwrite", action="store_true",
                       help="allow writing into an --out directory that already has files: a run directory is "
                            "emptied first (every file and sub-folder in it is removed)")
    files.add_argument("--resume", default=None, metavar="RUNDIR",
                       help="continue an interrupted run from its last completed epoch, with the settings in "
                            "RUNDIR/config.json (give no other training flags)")
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    out = None

    def check(parser, args):
        if args.resume is not None:
            changed = config.changed_settings(args) + (["--out"] if args.out else []) + (
                ["--overwrite"] if args.overwrite else [])
            if changed:
                parser.error(f"--resume takes every setting from RUNDIR/config.json; drop {', '.join(changed)}")
        else:
            try:
                TrainConfig.from_args(args)
            except ValueError as error:
                parser.error(str(error))

    def work(args):
        nonlocal out
        obey_interrupts()  # SIGTERM and SIGINT alike: never lost
        verbose = cli.fit_verbosity(args)
        if args.resume is not None:
            out = Path(args.resume)
            out = resume(out, verbose)
        else:
            settings = TrainConfig.from_args(args)
            out = Path(args.out) if args.out is not None else default_out_dir(settings)
            out = train(settings, out, args.overwrite, verbose, command=["python", "-m", "vae_tf.train", *argv],
                        given=given_settings(build_parser(), argv))  # the others may be chosen: docs/defaults.md
        print(f"run directory: {out}")
        return 0

    def interrupted(args):
        return f"\ninterrupted: {state_of(out)}"

    return cli.run(build_parser(), argv, work, check=check, interrupted=interrupted,
                   aftermath=lambda args: state_of(out))  # what a failure left, and how to finish it


if __name__ == "__main__":
    sys.exit(main())
