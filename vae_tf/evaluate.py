"""Evaluate a trained VAE on its data's test images, in nats per image and bits per dimension.

    python -m vae_tf.evaluate runs/kl-report                    # -ELBO and -IWAE_1000
    python -m vae_tf.evaluate runs/kl-report --k 5000           # a tighter bound
    python -m vae_tf.evaluate runs/kl-report --exact            # also log p(x) on a grid of z
    python -m vae_tf.evaluate runs/kl-report --limit 100 --out /tmp/quick.json

Three numbers per image x, all negative log-likelihoods (lower is better), in nats: -ELBO and
-IWAE_K (`vae_tf.analysis.bounds`, which says what they are and under which likelihood) and, with
--exact (latent size 2 only), -log p(x) integrated on a grid of z (`vae_tf.analysis.grid`). The
evaluation itself, overall and per class, is `vae_tf.analysis.evaluation.evaluate_run`; this
command parses, runs it and writes evaluation.json.
"""

from __future__ import annotations

import argparse
import sys

from vae_tf.analysis.evaluation import evaluate_run, format_table, output_location
from vae_tf.core import cli
from vae_tf.core.cli import number
from vae_tf.core.lazy import lazy_names

# The library's names this command module held in vae_tf 0.1.0 (the API page showed them here), imported
# from where they live now on first use.
__getattr__, __dir__, _moved = lazy_names(__name__, {
    "vae_tf.analysis.bounds": (
        "REPORT_DIMS", "bits_per_dim", "bits_per_pixel", "log_mean_exp", "bernoulli_log_likelihood", "log_likelihood",
        "importance_log_weights", "uses_report_pair", "model_log_weights", "standard_normal_draws", "uses_xla",
        "PlainProgress", "pixel_model", "evaluation_images", "importance_sampled", "rate_description",
    ),
    "vae_tf.analysis.grid": ("latent_grid", "grid_log_marginal"),
    "vae_tf.analysis.evaluation": ("EVALUATION_FILE", "diagnostics_of", "describe_likelihood", "likelihood_line"),
})


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python -m vae_tf.evaluate",
        "Evaluate a run directory's VAE on its data's test images (Fashion-MNIST for the report's runs): the "
        "textbook negative ELBO, the importance-weighted bound -IWAE_K and, with --exact, -log p(x) integrated on "
        "a grid of z, in nats per image and bits per dimension (H x W x C), overall and per class. Writes "
        "evaluation.json.",
    )
    cli.add_rundir(parser)
    parser.add_argument("--k", type=number(int, at_least=1), default=1000, metavar="K",
                        help="importance samples per image for IWAE_K (K = 1 gives a one-sample ELBO)")
    parser.add_argument("--exact", action="store_true",
                        help="also integrate p(x|z) p(z) over a grid of z (latent size 2 only; "
                             "combine with --limit: it decodes every grid point)")
    parser.add_argument("--limit", type=number(int, at_least=1), default=None, metavar="N",
                        help="evaluate the first N test images only (default: all of them)")
    parser.add_argument("--grid-extent", type=number(float, above=0), default=8.0, metavar="L",
                        help="the grid covers [-L, L]^2")
    parser.add_argument("--grid-points", type=number(int, at_least=3, odd=True), default=801, metavar="P",
                        help="grid points per axis (odd); spacing 2L/(P-1)")
    parser.add_argument("--seed", type=cli.seed_number(), default=0, help="seeds the importance samples")
    parser.add_argument("--images-per-chunk", type=number(int, at_least=1), default=100, metavar="B")
    parser.add_argument("--samples-per-chunk", type=number(int, at_least=1), default=500, metavar="S",
                        help="memory grows with B * S * P floats, P = H x W x C")
    cli.add_data_dir(parser)
    parser.add_argument("--out", default=None, metavar="PATH",
                        help="where to write: a .json file, or a directory to hold evaluation.json "
                             "(default: RUNDIR/evaluation.json)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing evaluation file")
    parser.add_argument("--verbose", type=int, choices=(0, 1), default=1, help="1: progress bars")
    return parser


def work(args) -> int:
    from vae_tf.core.memory import check_fits
    from vae_tf.kl.diagnostics import format_diagnostics
    from vae_tf.rundir import Run, outputs, write_json
    from vae_tf.training.explained import format_explained

    directory, name = output_location(Run.open(args.rundir).path, args.out)  # a wrong RUNDIR: refused first
    if args.exact:  # the grid's codes and masks, about 40 bytes a point (`vae_tf.analysis.grid.latent_grid`)
        check_fits(40 * args.grid_points**2, f"--grid-points {args.grid_points} ({args.grid_points**2:,} grid points)",
                   "choose fewer --grid-points (the default, 801, needs about 25 MiB)")
    with outputs(directory, [name], args.overwrite) as written:  # one writer per folder; the file or nothing
        run = Run.open(args.rundir)
        evaluation = evaluate_run(
            run, args.k, exact=args.exact, limit=args.limit, seed=args.seed, grid_extent=args.grid_extent,
            grid_points=args.grid_points, images_per_chunk=args.images_per_chunk,
            samples_per_chunk=args.samples_per_chunk, data_dir=args.data_dir, verbose=args.verbose,
        )
        write_json(written / name, evaluation)
    path = directory / name
    print(format_table(evaluation))
    print(format_diagnostics(evaluation["diagnostics"]))
    print(format_explained(evaluation["explained_variance"]))
    if evaluation["explained_variance"]["warning"]:
        print(evaluation["explained_variance"]["warning"])
    for note in ("posterior_used", "prior_note"):
        if note in evaluation["diagnostics"]:
            print(f"note: {note.replace('_', ' ')}: {evaluation['diagnostics'][note]}")
    print(f"wrote {path} ({evaluation['seconds']['total']:.0f} s)")
    return 0


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work, interrupted="interrupted; nothing written")


if __name__ == "__main__":
    sys.exit(main())

