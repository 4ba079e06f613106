"""A walk between two images through a trained VAE's latent space.

    python -m vae_tf.interpolate runs/kl-report --from 0 --to 1 --steps 10 --out walk.png
    python -m vae_tf.interpolate runs/kl-report --from 3 --to boot.png --path spherical --out walk.gif

A and B are indices into the run's own test images or image files (converted and resized to the
run's images). Both are encoded to E_q[z|x]; the codes of a linear or spherical path between them
(both ends included) are decoded to E[x|z]. The strip (.png) shows the two inputs at its ends; the
.gif runs the path forth and back. The work is `vae_tf.analysis.use.interpolate`.
"""

from __future__ import annotations

import sys

from vae_tf.analysis.use_outputs import add_output_flags
from vae_tf.core import cli
from vae_tf.core.cli import number


def build_parser():
    parser = cli.parser(
        "python -m vae_tf.interpolate",
        "Decode the codes of a path between two images: test indices of the run's data or image files, each "
        "encoded to E_q[z|x]; the path linear or spherical, both ends included. Writes a strip (.png, the inputs "
        "at its ends) or an animation (.gif).",
    )
    cli.add_rundir(parser)
    parser.add_argument("--from", dest="start", required=True, metavar="A",
                        help="the first image: an index into the run's test images, or an image file")
    parser.add_argument("--to", dest="end", required=True, metavar="B", help="the last image (the same kinds)")
    parser.add_argument("--steps", type=number(int, at_least=2), default=8, metavar="K",
                        help="images on the path, both ends included")
    parser.add_argument("--path", choices=("linear", "spherical"), default="linear",
                        help="a straight line between the codes, or slerp (the codes' norms kept near the ends')")
    add_output_flags(parser, "FILE", "strip.png or walk.gif")
    cli.add_data_dir(parser)
    return parser


def work(args) -> int:
    from vae_tf.analysis import use
    from vae_tf.analysis.use_outputs import run_and_output, write_path

    with run_and_output(args.rundir, args.out, (".png", ".gif"), args.overwrite) as (run, out):
        result = use.interpolate(run, args.start, args.end, args.steps, args.path, args.data_dir)
        start, end = result["labels"]
        write_path(out, result, f"{run.title}: {args.path} path from {start} to {end}, {args.steps} steps")
    print(f"wrote {args.out}: {args.steps} images on the {args.path} path from {start} to {end}")
    return 0


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work, interrupted="interrupted; nothing written")


if __name__ == "__main__":
    sys.exit(main())
