"""Score every image under a trained run, for out-of-distribution detection.

    python -m vae_tf.score runs/kl-report --out scores.csv                     # the run's own test images
    python -m vae_tf.score runs/kl-report --dataset npz:noise.npz --out noise.csv --reference fashion_mnist

Writes one row per image: -ELBO and -IWAE_K in nats and bits per dimension under the run's
likelihood, the PNG length of the image in bits, and the complexity-corrected score of Serra et
al. (ICLR 2020), -log2 p(x) - PNG bits. With --reference (the in-distribution test set) it also
prints the AUROC of each score for telling the two sets apart (`vae_tf.analysis.scoring`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vae_tf.core import cli
from vae_tf.core.cli import number

SCORE_NAMES = {"neg_elbo": "-ELBO", "neg_iwae": "-IWAE_K", "complexity": "-log2 p(x) - PNG bits (Serra et al.)"}


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python -m vae_tf.score",
        "Score every image of a data source under a run directory's VAE: -ELBO and -IWAE_K in nats and bits per "
        "dimension, and the complexity-corrected score of Serra et al. (ICLR 2020): -log2 p(x) minus the image's "
        "PNG length in bits. Larger is less likely. Writes a CSV, a row per image; with --reference prints the "
        "AUROC of each score for telling the images from the reference's.",
    )
    cli.add_rundir(parser)
    parser.add_argument("--dataset", metavar="SOURCE", default=None,
                        help="the images to score: fashion_mnist, mnist, digits, npz:FILE or folder:DIR, in the run's "
                             "image shape (a folder is resized and converted to it); default: the run's own data")
    parser.add_argument("--split", choices=("test", "train"), default="test", help="which split of SOURCE")
    parser.add_argument("--out", required=True, metavar="FILE", help="the CSV to write, e.g. scores.csv")
    parser.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    parser.add_argument("--k", type=number(int, at_least=1), default=100, metavar="K",
                        help="importance samples per image for -IWAE_K")
    parser.add_argument("--reference", metavar="SOURCE", default=None,
                        help="in-distribution images (their test split) to compare with: prints each score's AUROC")
    parser.add_argument("--limit", type=number(int, at_least=1), default=None, metavar="N",
                        help="score the first N images only (of SOURCE and of the reference)")
    parser.add_argument("--seed", type=cli.seed_number(), default=0, help="seeds the importance samples")
    cli.add_data_dir(parser)
    parser.add_argument("--verbose", type=int, choices=(0, 1), default=1, help="1: progress")
    return parser


def work(args) -> int:
    from vae_tf.analysis.scoring import score_run
    from vae_tf.rundir import Run, output_file, write_csv

    run = Run.open(args.rundir)  # a wrong RUNDIR is refused before anything is made
    path = Path(args.out)
    with output_file(path, args.overwrite, "--out") as written:  # one writer per folder; the file or nothing
        found = score_run(run, args.dataset, split=args.split, k=args.k, seed=args.seed, limit=args.limit,
                          reference=args.reference, data_dir=args.data_dir, verbose=args.verbose)
        write_csv(written / path.name, found["rows"])
    means = found["means"]
    print(f"{found['images']:,} images of {found['source']}: mean -ELBO {means['neg_elbo_nats']:.2f} nats "
          f"({means['neg_elbo_bits_per_dim']:.4f} bits/dim), -IWAE_{found['k']} {means['neg_iwae_nats']:.2f} nats "
          f"({means['neg_iwae_bits_per_dim']:.4f} bits/dim), PNG {means['png_bits']:.0f} bits, "
          f"complexity score {means['complexity_bits']:.1f} bits")
    if found["auroc"] is not None:
        print(f"AUROC against the {found['reference_images']:,} reference images of {args.reference} "
              "(1: separated, 0.5: chance, below 0.5: these look MORE likely than the reference):")
        for name, value in found["auroc"].items():
            print(f"  {SCORE_NAMES[name]:<40} {value:.4f}")
    print(f"wrote {path}")
    return 0


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work, interrupted="interrupted; nothing written")


if __name__ == "__main__":
    sys.exit(main())
