"""notebooks/vae_fashion_mnist.ipynb: it runs (quick mode), and the saved one is current and from a full run."""

import importlib.util
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def load_builder():
    spec = importlib.util.spec_from_file_location("build_vae_notebook", NOTEBOOKS / "build_vae_notebook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def outputs_of(notebook):
    """Every output's text and MIME types, cell by cell (code cells only)."""
    cells = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            texts = [output.get("text", "") + output.get("data", {}).get("text/markdown", "")
                     for output in cell.outputs]
            kinds = [kind for output in cell.outputs for kind in output.get("data", {})]
            cells.append(("".join(texts), kinds, [output.output_type for output in cell.outputs]))
    return cells


@pytest.fixture(scope="module")
def builder():
    return load_builder()


def test_the_notebook_runs_in_quick_mode(builder, tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_TF_QUICK", "1")
    monkeypatch.setenv("VAE_TF_NOTEBOOK_RUNS", str(tmp_path / "runs"))
    notebook = builder.drop_tensorflow_noise(builder.execute(builder.build_notebook(), cwd=tmp_path, timeout=600))
    cells = outputs_of(notebook)
    assert not any("error" in types for _, _, types in cells)
    text = "\n".join(text for text, _, _ in cells)
    assert "quick mode" in text
    assert sorted(path.name for path in (tmp_path / "runs").iterdir()) == ["kl", "mse", "none"]
    assert sum(kinds.count("image/png") for _, kinds, _ in cells) == 5  # comparison, three grids, reconstructions
    assert "| with KL | 1 |" in text and "| without KL | 1 |" in text  # the spread table
    assert "latent dimension 1: std" in text
    assert "The report's comparison (2,000 training images):" in text and "ratio 784" in text
    assert "cudart_stub" not in text and "absl::InitializeLog" not in text


def test_the_saved_notebook_is_the_generated_one_run_in_full(builder):
    saved = nbformat.read(NOTEBOOKS / "vae_fashion_mnist.ipynb", as_version=4)
    built = builder.build_notebook()
    assert [(cell.cell_type, cell.source) for cell in saved.cells] == [
        (cell.cell_type, cell.source) for cell in built.cells], "rerun notebooks/build_vae_notebook.py --execute"
    cells = outputs_of(saved)
    assert all(outputs for _, _, outputs in cells), "every code cell of the saved notebook has its outputs"
    text = "\n".join(text for text, _, _ in cells)
    assert "full run" in text and "quick mode" not in text
    assert text.count("60,000 training images") >= 3  # each variant trained on all of them
    assert "Epoch 10/10" in text and "The report's comparison (60,000 training images):" in text
