"""A linear Gaussian VAE's run against closed-form probabilistic PCA (Tipping and Bishop 1999).

    python -m vae_tf.ppca runs/linear16                 # prints the comparison; writes ppca.json, ppca.png
    python -m vae_tf.ppca runs/linear16 --out figures   # ... into another directory

For a run trained with `--architecture linear --likelihood gaussian`: the pPCA of the same training
images at the same latent size and sigma^2 (and at its maximum-likelihood sigma^2), the run's exact
log-likelihood and ELBO per image (no bound, no sampling), the eigenvalues against sigma^2 and the
active units against the eigenvalues above sigma^2; ppca.png draws the spectrum with sigma^2 as a
line and the run's KL per dimension above it. The work is `vae_tf.analysis.ppca`; docs/linear-vae.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vae_tf.core import cli


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python -m vae_tf.ppca",
        "Compare a linear Gaussian VAE run (--architecture linear --likelihood gaussian) with the closed-form "
        "probabilistic PCA of its training images: exact log-likelihood and ELBO per image, the pPCA optimum, "
        "eigenvalues against sigma^2, active units. Writes ppca.json and ppca.png.",
    )
    cli.add_rundir(parser)
    cli.add_output(parser, "RUNDIR", "ppca.json and ppca.png")
    cli.add_data_dir(parser)
    return parser


def work(args) -> int:
    from vae_tf import rundir
    from vae_tf.analysis.ppca import PPCA_FILES, compare_run, figure, format_comparison

    run = rundir.Run.open(args.rundir)  # a wrong RUNDIR is refused before anything is made
    out = Path(args.out if args.out is not None else args.rundir)
    with rundir.outputs(out, PPCA_FILES, args.overwrite) as written:  # one writer per folder; both files or none
        result = compare_run(run, data_dir=args.data_dir)
        rundir.write_json(written / PPCA_FILES[0], result)
        rundir.write_figure(written / PPCA_FILES[1], figure(result))
    print(format_comparison(result))
    print(f"wrote {out / PPCA_FILES[0]} and {out / PPCA_FILES[1]}")
    return 0


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work, interrupted="interrupted; nothing written")


if __name__ == "__main__":
    sys.exit(main())
