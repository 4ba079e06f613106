"""The report's figures of one run directory.

    python -m vae_tf.plot RUNDIR                      # writes the figures into RUNDIR
    python -m vae_tf.plot RUNDIR --out figures/kl     # ... or into another directory
    python -m vae_tf.plot RUNDIR --grid-range -3 3    # the grid over a fixed range

Writes latent_scatter.png (the sampled codes coloured by class; by density for data without
labels), generated_grid.png (10x10 decoded images over a regular grid spanning each latent
coordinate's min..max, or --grid-range), reconstructions.png (test images of the run's own data,
greyscale or colour, above their reconstructions) and loss_curves.png (each loss term per epoch,
with the validation loss of a --validation run) and, for a run trained with --snapshots,
latent_evolution.gif (z_mean of fixed test images after each epoch, one frame per epoch, on fixed
axes). It reads the run directory; it never retrains.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vae_tf.core import cli
from vae_tf.core.cli import number

# vae_tf.plots' since the layout change; docs/make_figures.py and old code still find them here.
from vae_tf.plots.common import DPI, FPS, scatter_point_size
from vae_tf.plots.grids import grid_bounds

FIGURES = ("latent_scatter.png", "generated_grid.png", "reconstructions.png", "loss_curves.png")
EVOLUTION = "latent_evolution.gif"


def build_parser():
    parser = cli.parser(
        "python -m vae_tf.plot",
        "Draw the report's figures of a run directory: " + ", ".join(FIGURES) + f" (and {EVOLUTION} for a run "
        "trained with --snapshots). "
        "Reads the run (latents.npz, model.keras, history.csv) and the test images; never retrains.",
    )
    cli.add_rundir(parser)
    cli.add_output(parser, "RUNDIR", "the figures")
    parser.add_argument("--grid-range", nargs=2, type=number(float), metavar=("LO", "HI"), default=None,
                        help="span both latent coordinates of the generated grid from LO to HI, e.g. -3 3 "
                             "(default: each coordinate's min..max over the sampled codes, as the report does)")
    parser.add_argument("--grid-size", type=number(int, at_least=1), default=10, metavar="N",
                        help="images per side of the generated grid")
    parser.add_argument("--examples", type=number(int, at_least=1), default=10, metavar="K",
                        help="test images shown in reconstructions.png")
    cli.add_data_dir(parser)
    return parser


def check_arguments(parser, args) -> None:
    if args.grid_range is not None and not args.grid_range[0] < args.grid_range[1]:
        parser.error(f"argument --grid-range: LO must be less than HI; got {args.grid_range[0]:g} "
                     f"{args.grid_range[1]:g} (e.g. --grid-range -3 3)")


def write_figures(run, out: Path, grid_range=None, grid_size: int = 10, examples: int = 10,
                  data_dir=None, progress=print) -> list[Path]:
    """Draw and save the four figures of `run` (a `vae_tf.rundir.reading.Run`) into `out`; return their paths."""
    from vae_tf import plots
    from vae_tf.data.opening import load_run_test_data
    from vae_tf.data.sources import class_names_of
    from vae_tf.rundir import write_figure, write_gif

    title = run.title
    written = []
    images = load_run_test_data(run, data_dir=data_dir, test_limit=examples).x_test  # first: fail before writing

    def save(fig, name):
        written.append(write_figure(out / name, fig, DPI))
        progress(f"wrote {out / name}")

    # Every input first (each is checked as it is read), so that a damaged one writes no figure.
    latents, history, model, snapshots = run.latents(), run.history(), run.model(), run.snapshots()
    z, y = latents["z"], latents.get("y")
    names = class_names_of(run)
    save(plots.latent_scatter(z, y, title=f"{title}: sampled codes z of {len(z):,} training images",
                              class_names=names, point_size=scatter_point_size(len(z))), "latent_scatter.png")
    save(plots.loss_curves(history, title=title, regularizer=run.settings["regularizer"]), "loss_curves.png")

    lo, hi, fill, where = grid_bounds(z, grid_range)
    save(plots.generated_grid(model.decode, lo, hi, grid_size, fill,
                              title=f"{title}: decoded {where}", latent_dim=z.shape[1]), "generated_grid.png")

    save(plots.reconstructions(images, model.decode(model.encode(images)[0]),
                               title=f"{title}: test images (top), decoded from their z_mean (bottom)"),
         "reconstructions.png")
    if snapshots is not None:
        frames = plots.latent_evolution(snapshots["epoch"], snapshots["z_mean"], snapshots.get("y"), title=title,
                                        class_names=names)
        written.append(write_gif(out / EVOLUTION, frames, FPS))
        progress(f"wrote {out / EVOLUTION}")
    return written


def figure_names(run) -> tuple[str, ...]:
    """The files `write_figures` writes for `run`."""
    return FIGURES + ((EVOLUTION,) if run.has_snapshots else ())


def check_grid_memory(grid_size: int, data) -> None:
    """Refuse a --grid-size whose decoded images (float32, held about three times over: the decoder's
    output, the batch, the mosaic) do not fit in memory, naming what it would need."""
    import math

    from vae_tf.core.memory import check_fits

    shape = data.get("image_shape") if isinstance(data, dict) else None
    shape = shape if isinstance(shape, list) and shape else [28, 28, 1]
    check_fits(3 * 4 * grid_size**2 * math.prod(shape),
               f"--grid-size {grid_size} ({grid_size**2:,} decoded images of {' x '.join(map(str, shape))} pixels)",
               "choose a smaller --grid-size")


def work(args) -> int:
    from vae_tf import rundir

    home = rundir.Run.open(args.rundir)  # a wrong RUNDIR, or a grid too large to hold, refused before OUT is made
    check_grid_memory(args.grid_size, home.config.get("data"))
    out = args.out if args.out is not None else home.path
    with rundir.outputs(out, overwrite=args.overwrite) as written:  # one writer; all the figures or none
        run = rundir.Run.open(args.rundir)
        written.claim(figure_names(run))
        write_figures(run, written.scratch, args.grid_range, args.grid_size, args.examples, args.data_dir,
                      progress=written.progress)
    return 0


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work, check=check_arguments)


if __name__ == "__main__":
    sys.exit(main())
