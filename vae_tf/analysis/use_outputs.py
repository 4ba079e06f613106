"""What the commands that use a trained run write, each file claimed first (never replaced without
--overwrite) and written atomically (`vae_tf.rundir`).

    out = claim_output("codes.csv", CODE_SUFFIXES, overwrite=False)     # refuses another suffix, an existing file
    written = write_images(out_dir_or_png, images, title=..., codes=z)  # grid.png, or one PNG per image
    write_path(out_png_or_gif, result, title=...)                       # an interpolation: strip or animation

The arrays come from `vae_tf.analysis.use`; the figures from `vae_tf.plots.samples`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from vae_tf.analysis.use import UseError

GRID = "grid.png"
CODES = "codes.npz"


# --- the commands' shared flags and their output file ---------------------------------------------

def add_images_flags(parser, what: str = "the images") -> None:
    """--dataset SOURCE and --split train|test: which images a command reads (default: the run's own test images)."""
    parser.add_argument("--dataset", metavar="SOURCE", default=None,
                        help=f"{what}: fashion_mnist, mnist, digits, npz:FILE, folder:DIR (a folder is resized and "
                             "converted to the run's images) (default: the run's own data)")
    parser.add_argument("--split", choices=("train", "test"), default="test", help="which split of the data")


def add_output_flags(parser, metavar: str, what: str) -> None:
    """--out FILE (required) and --overwrite."""
    parser.add_argument("--out", required=True, metavar=metavar, help=what)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


@contextlib.contextmanager
def run_and_output(rundir, out, suffixes, overwrite: bool = False):
    """Open the run `rundir` and claim the output file `out` (`claim_output`), holding the lock of `out`'s
    directory if it is a run directory (one writer at a time): yields (the `Run`, the output's Path)."""
    from vae_tf.analysis.use import open_run
    from vae_tf.rundir import writing_into

    with writing_into(Path(out).parent):
        run = open_run(rundir)
        yield run, claim_output(out, suffixes, overwrite)


def is_file_output(out, suffixes) -> bool:
    """Whether `out` names a file (it ends in one of `suffixes`) rather than a directory."""
    return Path(out).suffix.lower() in suffixes


def claim_output(out, suffixes, overwrite: bool = False, flag: str = "--out") -> Path:
    """Claim the output file `out`, which must end in one of `suffixes` (e.g. (".npz", ".csv")).

    Raises:
      UseError: another suffix. RunDirError: `out` exists (without `overwrite`) or is a directory.
    """
    from vae_tf.rundir import claim_file

    if not is_file_output(out, suffixes):
        raise UseError(f"{flag} {out}: give a file ending in {' or '.join(suffixes)}.")
    return claim_file(out, overwrite, flag)


def image_names(count: int) -> list[str]:
    """The files of `count` images in a directory: 0000.png, 0001.png, ... (at least four digits)."""
    width = max(4, len(str(count - 1)))
    return [f"{index:0{width}d}.png" for index in range(count)]


def claim_images(out, count: int, overwrite: bool = False) -> Path:
    """Claim `out` for `write_images`: a .png file, or a directory for `count` PNGs, grid.png and codes.npz."""
    from vae_tf.rundir import claim, claim_file

    if Path(out).suffix:
        if Path(out).suffix.lower() != ".png":
            raise UseError(f"--out {out}: give a directory (one PNG per image) or a file ending in .png (a grid).")
        return claim_file(out, overwrite, "--out")
    return claim(out, [*image_names(count), GRID, CODES], overwrite, "--out")


def write_images(out, images, title: str = "", codes=None, progress=print) -> list[Path]:
    """Images (N, H, W, C) in [0, 1] into `out` (claimed by `claim_images`): a grid figure if it is a .png,
    else a directory of one PNG per image at the data's size and colour, its grid.png and `codes` as codes.npz."""
    from vae_tf.plots.common import DPI
    from vae_tf.plots.samples import image_grid, png_bytes
    from vae_tf.rundir import write_bytes, write_figure, write_npz

    out = Path(out)
    grid = out if out.suffix else out / GRID
    written = []
    if not out.suffix:
        for name, image in zip(image_names(len(images)), images):
            written.append(write_bytes(out / name, png_bytes(image)))
        if codes is not None:
            written.append(write_npz(out / CODES, z=codes))
    written.append(write_figure(grid, image_grid(images, title=title), DPI))
    progress(f"wrote {grid}" + (f" and {len(images)} images in {out}" if not out.suffix else ""))
    return written


def write_path(out, result: dict, title: str = "", fps: float = 8.0) -> Path:
    """An interpolation (`vae_tf.analysis.use.interpolate`) as a strip (.png: the inputs at the ends) or a GIF."""
    from vae_tf.plots.common import DPI
    from vae_tf.plots.samples import gif_bytes, interpolation_strip
    from vae_tf.rundir import write_bytes, write_figure

    if Path(out).suffix.lower() == ".gif":
        return write_bytes(out, gif_bytes(result["images"], fps))
    figure = interpolation_strip(result["images"], result["ends"], title, result["labels"])
    return write_figure(out, figure, DPI)
