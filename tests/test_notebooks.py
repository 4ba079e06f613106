"""The notebooks: each .ipynb is its .py source built and executed in full, and every one runs.

The runs use VAE_TF_QUICK=1 (300 Adam steps and coarse grids; the VAE on 2,000 images for one
epoch). The three KL notebooks run concurrently, each in its own kernel, to stay within the test
budget.
"""

import asyncio
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KL_NOTEBOOKS = ("kl_divergence_basics", "forward_vs_reverse_kl", "fit_gaussian_to_mixture")
VAE_NOTEBOOK = "vae_fashion_mnist"
# A KL formula written out in a notebook: a log of a ratio, SciPy's rel_entr, a hand-made integral.
FORMULA = re.compile(r"np\.log\(|tf\.math\.log\(|math\.log\(|rel_entr|trapezoid|trapz|integrate\.quad")


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("notebook_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read(name):
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def output_text(notebook):
    """Every code cell's printed text and displayed Markdown, joined."""
    return "\n".join(
        output.get("text", "") + output.get("data", {}).get("text/markdown", "")
        for cell in code_cells(notebook)
        for output in cell.outputs
    )


def images(notebook):
    return sum("image/png" in output.get("data", {}) for cell in code_cells(notebook) for output in cell.outputs)


def errors(notebook):
    return [output for cell in code_cells(notebook) for output in cell.outputs if output.output_type == "error"]


def test_every_notebook_is_its_source_and_paired_with_it(build):
    assert build.names() == sorted((*KL_NOTEBOOKS, VAE_NOTEBOOK))
    assert build.stale() == [], "rebuild with python notebooks/build.py"
    for name in build.names():
        assert read(name).metadata["jupytext"]["formats"] == "ipynb,py:percent"


def test_check_finds_a_notebook_edited_on_one_side_only(build, tmp_path, capsys):
    source = (NOTEBOOKS / "forward_vs_reverse_kl.py").read_text()
    (tmp_path / "forward_vs_reverse_kl.py").write_text(source.replace("steps = 300", "steps = 301"))
    (tmp_path / "forward_vs_reverse_kl.ipynb").write_bytes((NOTEBOOKS / "forward_vs_reverse_kl.ipynb").read_bytes())
    (tmp_path / "orphan.py").write_text(source)
    assert build.stale(tmp_path) == [
        "forward_vs_reverse_kl.ipynb differs from forward_vs_reverse_kl.py: run python notebooks/build.py "
        "forward_vs_reverse_kl",
        "orphan.ipynb is missing: every notebook is a pair NAME.py + NAME.ipynb",
    ]
    assert build.main(["--check"]) == 0
    assert "4 notebooks match their sources" in capsys.readouterr().out


@pytest.mark.parametrize("name", KL_NOTEBOOKS)
def test_committed_kl_notebook_is_executed_in_full_and_calls_the_package(name):
    notebook = read(name)
    cells = code_cells(notebook)
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1)), "re-run the notebook"
    assert all(cell.outputs for cell in cells), "every code cell shows something"
    assert not errors(notebook)
    assert "full mode" in cells[0].outputs[-1].text  # not a VAE_TF_QUICK=1 run
    assert images(notebook), "the figures are saved in the notebook"
    assert "from vae_tf import" in cells[0].source
    for cell in cells:
        assert not FORMULA.search(cell.source), f"{name}: formula restated in\n{cell.source}"


def test_committed_vae_notebook_is_executed_in_full():
    notebook = read(VAE_NOTEBOOK)
    assert all(cell.outputs for cell in code_cells(notebook)), "every code cell of the saved notebook has its outputs"
    assert not errors(notebook)
    text = output_text(notebook)
    assert "full run" in text and "quick mode" not in text
    assert text.count("60,000 training images") >= 3  # each variant trained on all of them
    assert "Epoch 10/10" in text and "The report's comparison (60,000 training images):" in text
    assert "cudart_stub" not in text and "absl::InitializeLog" not in text


def test_kl_notebooks_run_in_quick_mode(build, monkeypatch):
    monkeypatch.setenv("VAE_TF_QUICK", "1")
    notebooks = [build.source(name) for name in KL_NOTEBOOKS]

    async def run_all():
        await asyncio.gather(*(build.execute_async(notebook, timeout=240) for notebook in notebooks))

    asyncio.run(run_all())
    for name, notebook in zip(KL_NOTEBOOKS, notebooks):
        assert "quick mode" in "".join(o.get("text", "") for o in code_cells(notebook)[0].outputs), name
        assert not errors(notebook), name
        assert images(notebook), name
    basics, _, fits = (output_text(notebook) for notebook in notebooks)
    assert "D(p||q)    1.335680" in basics
    assert "A vs B         0.879276     0.277666   0.277666" in basics
    assert fits.count("| 300 |") == 10  # every loss from both starts, quick mode's 300 steps


def test_vae_notebook_runs_in_quick_mode(build, tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_TF_QUICK", "1")
    monkeypatch.setenv("VAE_TF_NOTEBOOK_RUNS", str(tmp_path / "runs"))
    notebook = build.execute(build.source(VAE_NOTEBOOK), cwd=tmp_path, timeout=600)
    assert not errors(notebook)
    text = output_text(notebook)
    assert "quick mode" in text
    assert sorted(path.name for path in (tmp_path / "runs").iterdir()) == ["kl", "mse", "none"]
    assert images(notebook) == 5  # comparison, three grids, reconstructions
    assert "| with KL | 1 |" in text and "| without KL | 1 |" in text  # the spread table
    assert "latent dimension 1: std" in text
    assert "The report's comparison (2,000 training images):" in text and "ratio 784" in text
    assert "cudart_stub" not in text and "absl::InitializeLog" not in text


def test_the_builder_refuses_to_save_a_quick_run(build, monkeypatch, capsys):
    monkeypatch.setenv("VAE_TF_QUICK", "1")
    with pytest.raises(SystemExit) as exit_info:
        build.main(["kl_divergence_basics"])
    assert exit_info.value.code == 2
    assert "VAE_TF_QUICK=1 is set: the committed notebooks are full runs" in capsys.readouterr().err
