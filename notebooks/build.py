"""Build the notebooks from their sources: each NAME.py (jupytext percent format) -> NAME.ipynb, executed.

    python notebooks/build.py                          # every notebook, executed in full
    python notebooks/build.py fit_gaussian_to_mixture  # only these
    python notebooks/build.py --check                  # only check that every .ipynb matches its .py

A notebook's source is NAME.py, `# %%` code cells and `# %% [markdown]` cells, paired with NAME.ipynb
(jupytext formats `ipynb,py:percent`): edit the .py, lint it like any code, then build. The builder
runs every cell in a fresh kernel (working directory notebooks/) and saves the outputs, without
TensorFlow's C++ start-up lines. The committed notebooks are full runs: the KL ones take a minute
or so each, and vae_fashion_mnist trains its three VAEs (about two minutes, into runs/notebook).
VAE_TF_QUICK=1 shrinks every notebook to seconds; the tests run them that way, and the builder
refuses to save such a run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FORMATS = "ipynb,py:percent"

# TensorFlow's C++ start-up lines ("Could not find cuda drivers", "failed call to cuInit", ...)
# reach the kernel's stderr before any Python setting can silence them; they say nothing about
# the notebook, so the saved notebook leaves them out.
_NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWEF]\d{4} [0-9:. ]+\d+ \S+:\d+\])")


def names(directory: Path = HERE) -> list[str]:
    """Every notebook in `directory`: the stems of its .py sources (this builder aside) and of its .ipynb."""
    sources = {path.stem for path in directory.glob("*.py") if path.name != Path(__file__).name}
    return sorted(sources | {path.stem for path in directory.glob("*.ipynb")})


def source(name: str, directory: Path = HERE):
    """The notebook NAME.py describes, without outputs."""
    import jupytext

    notebook = jupytext.read(directory / f"{name}.py")
    for index, cell in enumerate(notebook.cells):
        cell.id = f"{name}-{index}"[-64:]  # stable ids: a rebuild changes only what changed
    return notebook


def stale(directory: Path = HERE, only=None) -> list[str]:
    """Why each notebook in `directory` is out of sync with its source, one line each; [] when all match.

    A notebook matches when NAME.py and NAME.ipynb both exist, the .ipynb is paired (jupytext
    formats `ipynb,py:percent`) and has the same cells (type and text) in the same order.
    """
    import nbformat

    problems = []
    for name in only or names(directory):
        py, ipynb = directory / f"{name}.py", directory / f"{name}.ipynb"
        if not py.is_file() or not ipynb.is_file():
            missing = py if not py.is_file() else ipynb
            problems.append(f"{missing.name} is missing: every notebook is a pair NAME.py + NAME.ipynb")
            continue
        saved = nbformat.read(ipynb, as_version=4)
        if saved.metadata.get("jupytext", {}).get("formats") != FORMATS:
            problems.append(f"{ipynb.name} is not paired with {py.name} (jupytext formats {FORMATS!r})")
        cells = [(cell.cell_type, cell.source) for cell in source(name, directory).cells]
        if cells != [(cell.cell_type, cell.source) for cell in saved.cells]:
            problems.append(f"{ipynb.name} differs from {py.name}: run python notebooks/build.py {name}")
    return problems


def drop_tensorflow_noise(notebook):
    """Remove TensorFlow's C++ log lines from the cells' stderr outputs (and outputs left empty)."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            if output.output_type == "stream" and output.name == "stderr":
                lines = output.text.splitlines(keepends=True)
                output.text = "".join(line for line in lines if not _NOISE.match(line))
                if not output.text.strip():
                    continue
            kept.append(output)
        cell.outputs = kept
    return notebook


async def execute_async(notebook, cwd: Path = HERE, timeout: int = 1200):
    """Run every cell in a fresh kernel with working directory `cwd`; raises on the first failing cell."""
    from nbclient import NotebookClient

    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    await client.async_execute()
    return drop_tensorflow_noise(notebook)


def execute(notebook, cwd: Path = HERE, timeout: int = 1200):
    """`execute_async`, waited for."""
    return asyncio.run(execute_async(notebook, cwd, timeout))


def build(name: str, directory: Path = HERE) -> Path:
    """Execute NAME.py and write NAME.ipynb with its outputs; return the .ipynb's path."""
    import jupytext

    notebook = execute(source(name, directory), cwd=directory)
    path = directory / f"{name}.ipynb"
    jupytext.write(notebook, path)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python notebooks/build.py",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:6]),
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"which notebooks (default: {', '.join(names())})")
    parser.add_argument("--check", action="store_true", help="check that every .ipynb matches its .py; run nothing")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(names()))
    if unknown:
        parser.error(f"unknown notebook {', '.join(unknown)}; choose from {', '.join(names())}")
    if args.check:
        problems = stale(only=args.names or None)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        if not problems:
            print(f"{len(args.names or names())} notebooks match their sources")
        return 1 if problems else 0
    if os.environ.get("VAE_TF_QUICK") == "1":
        parser.error("VAE_TF_QUICK=1 is set: the committed notebooks are full runs; unset it to build them")
    for name in args.names or names():
        print(f"executing {name}.py", flush=True)
        print(f"wrote {build(name).relative_to(HERE.parent)} (executed)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
