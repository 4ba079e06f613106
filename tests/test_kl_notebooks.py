"""The KL notebooks: committed with their outputs, free of restated formulas, and they run.

The run uses VAE_TF_QUICK=1 (300 Adam steps, coarse grids) and executes the three notebooks
concurrently, each in its own kernel, to stay within the test budget.
"""

import asyncio
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ("kl_divergence_basics", "forward_vs_reverse_kl", "fit_gaussian_to_mixture")
# A KL formula written out in a notebook: a log of a ratio, SciPy's rel_entr, a hand-made integral.
FORMULA = re.compile(r"np\.log\(|tf\.math\.log\(|math\.log\(|rel_entr|trapezoid|trapz|integrate\.quad")


def read(name):
    return nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_is_executed_in_full_and_calls_the_package(name):
    notebook = read(name)
    cells = code_cells(notebook)
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1)), "re-run the notebook"
    assert all(cell.outputs for cell in cells), "every code cell shows something"
    assert not [o for cell in cells for o in cell.outputs if o.output_type == "error"]
    assert "full mode" in cells[0].outputs[-1].text  # not a VAE_TF_QUICK=1 run
    images = [o for cell in cells for o in cell.outputs if "image/png" in o.get("data", {})]
    assert images, "the figures are saved in the notebook"
    for cell in cells:
        assert not FORMULA.search(cell.source), f"{name}: formula restated in\n{cell.source}"
        assert "from vae_tf import" in cells[0].source


def test_committed_notebooks_match_their_generator():
    spec = importlib.util.spec_from_file_location("build_kl_notebooks", NOTEBOOK_DIR / "build_kl_notebooks.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    for name in NAMES:
        built = [(cell.cell_type, cell.source) for cell in builder.build(name).cells]
        committed = [(cell.cell_type, cell.source) for cell in read(name).cells]
        assert built == committed, f"{name}.ipynb is stale: run python notebooks/build_kl_notebooks.py {name}"


def test_notebooks_run_in_quick_mode(monkeypatch):
    monkeypatch.setenv("VAE_TF_QUICK", "1")
    notebooks = [read(name) for name in NAMES]
    clients = [
        NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
        for nb in notebooks
    ]

    async def run_all():
        await asyncio.gather(*(client.async_execute() for client in clients))

    asyncio.run(run_all())
    for name, notebook in zip(NAMES, notebooks):
        cells = code_cells(notebook)
        assert "quick mode" in "".join(o.get("text", "") for o in cells[0].outputs), name
        assert not [o for cell in cells for o in cell.outputs if o.output_type == "error"], name
    basics = "".join(o.get("text", "") for cell in code_cells(notebooks[0]) for o in cell.outputs)
    assert "D(p||q)    1.335680" in basics
    assert "A vs B         0.879276     0.277666   0.277666" in basics
    table = "".join(o.get("text", "") for cell in code_cells(notebooks[2]) for o in cell.outputs)
    assert table.count("| 300 |") == 10  # every loss from both starts, quick mode's 300 steps
