"""Images above their reconstructions by a trained VAE.

    python -m vae_tf.reconstruct runs/kl-report --out recon.png                  # the run's own test images
    python -m vae_tf.reconstruct runs/kl-report --dataset mnist --n 16 --out mnist.png
    python -m vae_tf.reconstruct runs/faces --dataset folder:new-photos --out new.png

Each image is encoded to its posterior mean E_q[z|x] and decoded to the likelihood's mean E[x|z].
The work is `vae_tf.analysis.use.reconstruct`; the figure `vae_tf.plots.reconstructions`.
"""

from __future__ import annotations

import sys

from vae_tf.analysis.use_outputs import add_images_flags, add_output_flags
from vae_tf.core import cli
from vae_tf.core.cli import number


def build_parser():
    parser = cli.parser(
        "python -m vae_tf.reconstruct",
        "Draw a data set's first images (top row) above their reconstructions by a run (bottom row): each image "
        "encoded to E_q[z|x] and decoded to E[x|z]. Any data source in the run's image shape.",
    )
    cli.add_rundir(parser)
    add_images_flags(parser)
    parser.add_argument("--n", type=number(int, at_least=1), default=10, metavar="N", help="how many images")
    add_output_flags(parser, "FILE.png", "the figure to write")
    cli.add_data_dir(parser)
    return parser


def work(args) -> int:
    from vae_tf import plots
    from vae_tf.analysis import use
    from vae_tf.analysis.use_outputs import run_and_output
    from vae_tf.rundir import write_figure

    with run_and_output(args.rundir, args.out, (".png",), args.overwrite) as (run, out):
        images, decoded = use.reconstruct(run, args.dataset, args.n, args.split, args.data_dir)
        source = args.dataset or "its own"
        figure = plots.reconstructions(images, decoded, title=f"{run.title}: {source} {args.split} images (top), "
                                                              "decoded from E_q[z|x] (bottom)")
        write_figure(out, figure, plots.DPI)
    print(f"wrote {args.out}: {len(images)} images and their reconstructions")
    return 0


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work, interrupted="interrupted; nothing written")


if __name__ == "__main__":
    sys.exit(main())
