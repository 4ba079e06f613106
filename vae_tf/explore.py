"""The latent plane, live in a browser: a static page that decodes the code under the cursor.

    python -m vae_tf.explore runs/kl-report --out runs/explore
    python -m vae_tf.explore runs/compare-report/kl runs/compare-report/none --out runs/explore-kl-none
    python -m vae_tf.explore runs/sweep --out runs/explore-sweep          # a sweep: a beta slider

Writes OUT/index.html and its assets (explorer.js, explorer.css, data.js): open index.html from
disk (file://); it needs no server and no network. For each RUNDIR it shows the codes (z_mean)
of the first --test-images test images, coloured by class, and the image its decoder makes of the
code under the cursor, computed in the page from the run's own decoder weights (a forward pass of
its own: JavaScript, with the convolutions in WebAssembly SIMD; tests/test_explore.py checks it
against Keras in headless Chromium). Several RUNDIRs share one cursor:
the same z decoded by each, on their own axes or on shared axes. A run trained with --snapshots
gets an epoch slider (the codes as they formed); a `python -m vae_tf.sweep` directory gets a beta
slider over its runs. The page's JavaScript API, `window.vaeExplorer`, is documented on it.

The decoder is exported by walking its Keras layers (Dense, Conv2D, Conv2DTranspose, Reshape,
Flatten, Cropping2D, ZeroPadding2D, Activation; channels-last); any other layer is refused with
one line that names it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vae_tf.core import cli
from vae_tf.core.cli import number

# The export and the page moved to vae_tf.plots; tests, docs and old code use them from here.
from vae_tf.plots.explorer_export import (  # noqa: F401
    ACTIVATIONS,
    EXPORT_TOLERANCE,
    ExportError,
    continuous_bernoulli_mean,
    export_decoder,
    export_vae,
)
from vae_tf.plots.explorer_page import (  # noqa: F401
    ASSETS,
    DATA,
    DEFAULT_TEST_IMAGES,
    OUTPUTS,
    PAGE_FORMAT,
    dataset_of,
    load_test_images,
    member,
    member_of,
    page_data_of,
    page_files,
)


def build_parser():
    parser = cli.parser(
        "python -m vae_tf.explore",
        "Write an interactive latent-space explorer for one or more runs: a static page (OUT/index.html) that "
        "works from disk with no server and no network. It shows each run's test codes coloured by class and "
        "decodes the code under the cursor live with the run's own decoder; several runs share one cursor; a "
        "run trained with --snapshots gets an epoch slider, a `vae_tf.sweep` directory a beta slider.",
    )
    parser.add_argument("rundirs", nargs="+", metavar="RUNDIR",
                        help="run directories written by `python -m vae_tf.train` (or compare), or sweep "
                             "directories written by `python -m vae_tf.sweep`, shown side by side in this order")
    parser.add_argument("--out", metavar="DIR", required=True, help="where to write index.html and its assets")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the page's files in OUT if they exist (otherwise they are never touched)")
    parser.add_argument("--test-images", type=number(int, at_least=1), default=DEFAULT_TEST_IMAGES, metavar="N",
                        help="show the codes of the first N test images (their images are stored in the page)")
    cli.add_data_dir(parser)
    return parser


def open_panel(path):
    """What one RUNDIR argument shows: ("run", [Run]) or, for a sweep directory, ("sweep", [Run by beta]).

    Raises:
      RunDirError, UsageError: not a finished run nor a sweep directory.
    """
    from vae_tf.rundir import Run

    path = Path(path)
    if (path / "rd.json").is_file() and not (path / "config.json").is_file():
        from vae_tf.analysis.sweeps import read_report

        report = read_report(path)
        runs = []
        for point in report["points"]:
            if point["kind"] == "sweep":
                inside = path / Path(point["run"]).name
                runs.append(Run.open(inside if inside.is_dir() else point["run"]))
        if not runs:
            raise cli.UsageError(f"{path} is a sweep directory without runs of its own (rd.json lists none).")
        return "sweep", sorted(runs, key=lambda run: float(run.settings["beta"]))
    return "run", [Run.open(path)]


def page_data(paths, limit: int = DEFAULT_TEST_IMAGES, data_dir=None, progress=print) -> dict:
    """Everything the page shows, as JSON-ready values (what data.js holds).

    Args:
      paths: the RUNDIR arguments (run or sweep directories), in the order shown.
      limit: test images per run.
      data_dir: where the test images are (None: where each run found its data).

    Returns:
      {"format", "datasets": [`dataset_of`...], "panels": [{"kind", "title", "path", "dataset",
      "initial", "members": [`member`...]}]}.
    """
    opened = [(path, *open_panel(path)) for path in paths]  # every path checked before the slow part
    return page_data_of(opened, limit, data_dir, progress)


def write_page(out, data: dict, overwrite: bool = False) -> Path:
    """OUT/index.html, explorer.js, explorer.css (the package's page) and data.js (`data`).

    Returns:
      The path of index.html.

    Raises:
      RunDirError: OUT holds one of those files and `overwrite` is False.
    """
    from vae_tf import rundir

    with rundir.outputs(out, OUTPUTS, overwrite) as written:  # every file of the page, or none
        for name, text in page_files(data).items():
            rundir.write_text(written / name, text)
    return written.directory / "index.html"


def work(args) -> int:
    from vae_tf import rundir

    for path in args.rundirs:  # refuse a wrong RUNDIR before making OUT
        open_panel(path)
    with rundir.outputs(args.out, OUTPUTS, args.overwrite) as written:  # one writer; refused before the slow part
        data = page_data(args.rundirs, args.test_images, args.data_dir)
        for name, text in page_files(data).items():
            rundir.write_text(written / name, text)
    index = written.directory / "index.html"
    size = sum((written.directory / name).stat().st_size for name in OUTPUTS)
    codes = ", ".join(f"{entry['count']:,}" for panel in data["panels"] for entry in panel["members"][:1])
    print(f"wrote {index} ({size / 2**20:.1f} MiB with its assets; test codes per run: {codes}); open it in a "
          f"browser: file://{index.resolve()}")
    return 0


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work)


if __name__ == "__main__":
    sys.exit(main())
