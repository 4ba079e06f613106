"""New images from a trained VAE: codes drawn from the run's own prior, through its decoder.

    python -m vae_tf.generate runs/kl-report --n 64 --out samples.png          # a grid
    python -m vae_tf.generate runs/kl-report --n 100 --out samples/            # 0000.png ... + grid.png + codes.npz
    python -m vae_tf.generate runs/kl-report --n 64 --temperature 0.7 --seed 3 --out cool.png
    python -m vae_tf.generate runs/kl-report --n 64 --sample --out drawn.png   # x ~ p(x|z), not E[x|z]

The prior is the run's: N(0, I), the learned mixture, or the VampPrior; each image is the
likelihood's mean E[x|z] unless --sample. Seeded: the same command writes the same bytes. The
work is `vae_tf.analysis.use.generate`.
"""

from __future__ import annotations

import sys

from vae_tf.core import cli
from vae_tf.core.cli import number


def build_parser():
    parser = cli.parser(
        "python -m vae_tf.generate",
        "Draw new images from a run: codes z from the run's own prior (standard normal, mixture or VampPrior) "
        "through the decoder, as a grid PNG or a directory of one PNG per image at the data's size and colour.",
    )
    cli.add_rundir(parser)
    parser.add_argument("--n", type=number(int, at_least=1), default=64, metavar="N", help="how many images")
    parser.add_argument("--out", required=True, metavar="DIR|FILE.png",
                        help="a .png file (a grid of the images) or a directory (one PNG per image, grid.png and "
                             "the codes, codes.npz)")
    parser.add_argument("--temperature", type=number(float, above=0), default=1.0, metavar="T",
                        help="scales the standard normal noise behind each z (below 1: more typical images)")
    parser.add_argument("--seed", type=cli.seed_number(), default=0, help="seeds every draw")
    parser.add_argument("--sample", action="store_true",
                        help="draw each image from p(x|z) (binary pixels for the Bernoulli likelihoods) instead of "
                             "showing its mean E[x|z]")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files at --out")
    return parser


def work(args) -> int:
    from pathlib import Path

    from vae_tf.analysis import use
    from vae_tf.analysis.use_outputs import images_output, write_images

    run = use.open_run(args.rundir)  # a wrong RUNDIR is refused before anything is made
    out = Path(args.out)
    with images_output(out, args.n, args.overwrite) as written:  # one writer; every image or none
        print(f"drawing {args.n:,} images from the {run.settings.get('prior', 'standard_normal')} prior ...",
              flush=True)
        z, images = use.generate(run, args.n, args.temperature, args.seed, args.sample)
        what = "draws from p(x|z)" if args.sample else "E[x|z]"
        write_images(written / out.name if out.suffix else written.scratch, images,
                     f"{run.title}: {args.n} {what}, temperature {args.temperature:g}, seed {args.seed}", codes=z,
                     progress=written.progress)
    return 0


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work, interrupted="interrupted; nothing written")


if __name__ == "__main__":
    sys.exit(main())
