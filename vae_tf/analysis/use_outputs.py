"""What the commands that use a trained run write, through `vae_tf.rundir.outputs`: one writer per output
folder, nothing replaced without --overwrite, all of a command's files or none.

    with run_and_output(rundir, "codes.csv", CODE_SUFFIXES) as (run, path):  # refuses another suffix, a file there
        write_codes(path, ...)                                # codes.csv appears when the block ends, or nothing does
    with images_output(out_dir_or_png, count) as written:     # grid.png, or one PNG per image
        write_images(written / name_or_scratch, images, title=..., codes=z, progress=written.progress)
    write_path(path, result, title=...)                       # an interpolation: strip or animation

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
                             "converted to the run's images), shards:DIR (streamed) (default: the run's own data)")
    parser.add_argument("--split", choices=("train", "test"), default="test", help="which split of the data")


def add_output_flags(parser, metavar: str, what: str) -> None:
    """--out FILE (required) and --overwrite."""
    parser.add_argument("--out", required=True, metavar=metavar, help=what)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


@contextlib.contextmanager
def run_and_output(rundir, out, suffixes, overwrite: bool = False):
    """Open the run `rundir` and take the output file `out` (one of `suffixes`) through `vae_tf.rundir.output_file`:
    its folder's lock (one writer at a time) and a scratch folder, the file moved in only when the block ends
    without an error. Yields (the `Run`, the path to write the output to); print `out` itself afterwards.

    Raises:
      UseError: `out` ends in another suffix. RunDirError: `out` exists (without `overwrite`) or is a directory.
      RunBusy: another process is writing into `out`'s folder.
    """
    from vae_tf.analysis.use import open_run
    from vae_tf.rundir import output_file

    check_suffix(out, suffixes)
    run = open_run(rundir)  # a wrong RUNDIR is refused before anything is made
    with output_file(out, overwrite, "--out") as written:
        yield run, written / Path(out).name


def is_file_output(out, suffixes) -> bool:
    """Whether `out` names a file (it ends in one of `suffixes`) rather than a directory."""
    return Path(out).suffix.lower() in suffixes


def check_suffix(out, suffixes, flag: str = "--out") -> Path:
    """`out` as a Path, which must end in one of `suffixes` (e.g. (".npz", ".csv")).

    Raises:
      UseError: another suffix.
    """
    if not is_file_output(out, suffixes):
        raise UseError(f"{flag} {out}: give a file ending in {' or '.join(suffixes)}.")
    return Path(out)


def image_names(count: int) -> list[str]:
    """The files of `count` images in a directory: 0000.png, 0001.png, ... (at least four digits)."""
    width = max(4, len(str(count - 1)))
    return [f"{index:0{width}d}.png" for index in range(count)]


def images_output(out, count: int, overwrite: bool = False):
    """`vae_tf.rundir.outputs` for `write_images`: a .png file, or a directory for `count` PNGs, grid.png and
    codes.npz (all of them appear, or none). Use it as `with images_output(...) as written:` and write to
    `written / Path(out).name` (a .png) or `written.scratch` (a directory).

    Raises:
      UseError: `out` has a suffix other than .png. RunDirError: it would replace files without `overwrite`.
    """
    from vae_tf.rundir import output_file, outputs

    if Path(out).suffix:
        if Path(out).suffix.lower() != ".png":
            raise UseError(f"--out {out}: give a directory (one PNG per image) or a file ending in .png (a grid).")
        return output_file(out, overwrite, "--out")
    return outputs(out, [*image_names(count), GRID, CODES], overwrite, "--out")


def write_images(out, images, title: str = "", codes=None, progress=print) -> list[Path]:
    """Images (N, H, W, C) in [0, 1] into `out` (`images_output`'s): a grid figure if it is a .png,
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
