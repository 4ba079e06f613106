"""What each latent dimension of a trained VAE does: one row per dimension, walked from LO to HI.

    python -m vae_tf.traverse runs/kl-report --out traverse.png                 # every dimension, by KL
    python -m vae_tf.traverse runs/big --dims 3 0 7 --range -2 2 --steps 11 --out three.png
    python -m vae_tf.traverse runs/big --at zero --out at-zero.png              # the others held at 0

The other dimensions are held at a test image's code E_q[z|x] (--at I) or at zero. Without --dims
the rows are every dimension, ordered by its KL (nats, the one-dimensional marginals' KL averaged
over 1,000 test images); inactive units (Burda et al. 2016: Var_x E_q[z_d|x] < 0.01) are marked.
The work is `vae_tf.analysis.use.traverse`.
"""

from __future__ import annotations

import argparse
import sys

from vae_tf.analysis.use_outputs import add_output_flags
from vae_tf.core import cli
from vae_tf.core.cli import number


def held_at(text: str):
    """--at: a test index (an integer from 0), or "zero"."""
    if text == "zero":
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is neither a test index (0, 1, ...) nor zero")
    return int(text)


def build_parser():
    parser = cli.parser(
        "python -m vae_tf.traverse",
        "Draw a latent traversal: one row per latent dimension, its value walked over --range while the others "
        "are held at a test image's code (or zero); rows ordered by the dimension's KL, inactive units marked.",
    )
    cli.add_rundir(parser)
    add_output_flags(parser, "FILE.png", "the figure to write")
    parser.add_argument("--dims", nargs="+", type=number(int, at_least=0), default=None, metavar="D",
                        help="the dimensions to walk, in this order (default: all, by decreasing KL)")
    parser.add_argument("--range", nargs=2, type=number(float), default=(-3.0, 3.0), metavar=("LO", "HI"),
                        help="the walked dimension's values")
    parser.add_argument("--steps", type=number(int, at_least=2), default=9, metavar="S", help="images per row")
    parser.add_argument("--at", type=held_at, default=0, metavar="I|zero",
                        help="hold the other dimensions at test image I's code, or at zero")
    cli.add_data_dir(parser)
    return parser


def check_arguments(parser, args) -> None:
    if not args.range[0] < args.range[1]:
        parser.error(f"argument --range: LO must be less than HI; got {args.range[0]:g} {args.range[1]:g} "
                     "(e.g. --range -3 3)")


def work(args) -> int:
    from vae_tf import plots
    from vae_tf.analysis import use
    from vae_tf.analysis.use_outputs import run_and_output
    from vae_tf.plots.samples import traversal_grid
    from vae_tf.rundir import write_figure

    with run_and_output(args.rundir, args.out, (".png",), args.overwrite) as (run, out):
        print(f"measuring each latent dimension's KL on up to {use.USAGE_IMAGES:,} test images ...", flush=True)
        walk = use.traverse(run, args.dims, *args.range, args.steps, args.at, args.data_dir)
        labels = [f"z[{dim}]  KL {kl:.2f}" for dim, kl in zip(walk["dims"], walk["kl"])]
        held = "zero" if args.at is None else f"test image {args.at}'s code"
        figure = traversal_grid(walk["images"], walk["values"], labels, ~walk["active"],
                                f"{run.title}: each row walks one dimension, the others held at {held}")
        write_figure(out, figure, plots.DPI)
    active = int(walk["active"].sum())
    print(f"wrote {args.out}: {len(walk['dims'])} dimensions ({active} active) x {args.steps} steps")
    return 0


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work, check=check_arguments, interrupted="interrupted; nothing written")


if __name__ == "__main__":
    sys.exit(main())
