"""Runs written before the layout change still open, evaluate, plot and explore, with the same numbers.

tests/fixtures/runs-d0f4593/ holds two tiny runs on scikit-learn's 8 x 8 digits, written by
`python -m vae_tf.train` at d0f4593 (the flat `vae_tf/` folder; see its README.md): an MLP, and a
conv encoder with an IAF posterior, a VampPrior and the continuous Bernoulli. Their model.keras
records the class `VAE` of the old module `vae_tf.model`, and `<run>.evaluation.json` is what
`python -m vae_tf.evaluate <run>` wrote then. Every test works on a copy: the fixture is never written.

The commands run in this process (`main(argv)` is what `python -m vae_tf.X` calls, and
tests/test_layout.py checks every command has its `__main__` block), so TensorFlow starts once.
"""

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vae_tf
from vae_tf.rundir import Run

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "runs-d0f4593"
RUNS = ("mlp-digits", "conv-iaf-vamp-digits")
FIGURES = ("generated_grid.png", "latent_scatter.png", "loss_curves.png", "reconstructions.png")
# The sections of evaluation.json whose numbers must come out the same (the rest is timing and paths).
NUMBERS = ("overall", "per_class", "rate", "diagnostics")


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """{name: a copy of the old run}; the copies, not the fixture, are what the commands read."""
    home = tmp_path_factory.mktemp("old-runs")
    return {name: Path(shutil.copytree(FIXTURE / name, home / name)) for name in RUNS}


def expected_evaluation(name: str) -> dict:
    return json.loads((FIXTURE / f"{name}.evaluation.json").read_text(encoding="utf-8"))


def numbers(tree, path=""):
    """{"overall.neg_elbo_nats": value, ...}: every number of a JSON tree, by its dotted path."""
    if isinstance(tree, dict):
        return {key: value for name, child in tree.items() for key, value in numbers(child, f"{path}.{name}").items()}
    if isinstance(tree, list):
        return {key: value for index, child in enumerate(tree)
                for key, value in numbers(child, f"{path}[{index}]").items()}
    if isinstance(tree, (int, float)):  # booleans too (the active units)
        return {path.lstrip("."): tree}
    return {}


def test_the_fixture_is_what_its_readme_says():
    for name in RUNS:
        assert sorted(path.name for path in (FIXTURE / name).iterdir()) == sorted(
            ["config.json", "history.csv", "latents.npz", "model.keras", "summary.json"])
        assert expected_evaluation(name)["settings"]["dataset"] == "digits"


@pytest.mark.parametrize("name", RUNS)
def test_an_old_run_opens_and_its_model_encodes_and_decodes(copies, name):
    """`vae_tf.load_model` and `Run.open(path).model()` rebuild the old VAE with its weights: encoding
    the training images gives exactly the codes training wrote to latents.npz."""
    run = Run.open(copies[name]).check()
    vae = vae_tf.load_model(copies[name] / "model.keras")
    assert isinstance(vae, vae_tf.VAE) and isinstance(run.model(), vae_tf.VAE)
    settings = run.settings
    assert (vae.latent_dim, tuple(vae.image_shape)) == (2, (8, 8, 1))
    shared = [key for key in vae.settings if key in settings]  # the model's settings that config.json records
    assert {"architecture", "posterior", "prior", "likelihood", "kl_estimator"} <= set(shared)
    assert {key: vae.settings[key] for key in shared} == {key: settings[key] for key in shared}

    data = vae_tf.load_run_data(run)  # checked against the data fingerprint the old config.json holds
    latents = run.latents()
    images = data.x_train[:settings["limit"]]
    z_mean, z_log_var = vae.encode(images)
    np.testing.assert_allclose(z_mean, latents["z_mean"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z_log_var, latents["z_log_var"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(latents["y"], data.y_train[:settings["limit"]])
    np.testing.assert_allclose(run.model().encode(images[:8])[0], z_mean[:8], rtol=1e-6)

    decoded = vae.decode(z_mean[:5])
    assert decoded.shape == (5, 8, 8, 1)
    assert np.isfinite(decoded).all() and 0 <= decoded.min() and decoded.max() <= 1


@pytest.mark.parametrize("name", RUNS)
def test_evaluate_gives_the_numbers_it_gave_then(copies, name, tmp_path):
    """`python -m vae_tf.evaluate RUN` (same seed, K = 1000, every test image): -ELBO, the KL, -IWAE,
    per class, the rate and the diagnostics match what the old code wrote, to 1e-4 relative."""
    from vae_tf import evaluate

    out = tmp_path / "evaluation.json"
    assert evaluate.main([str(copies[name]), "--out", str(out), "--verbose", "0"]) == 0
    got, expected = json.loads(out.read_text(encoding="utf-8")), expected_evaluation(name)

    assert got["settings"] == expected["settings"]
    for key in ("test_images", "k", "seed", "limit", "grid", "data"):
        assert got[key] == expected[key], key
    assert got["likelihood"]["name"] == expected["likelihood"]["name"]
    assert set(got["overall"]) >= {"neg_elbo_nats", "kl_nats", "neg_iwae_nats"}
    for section in NUMBERS:
        want, have = numbers(expected[section]), numbers(got[section])
        assert have.keys() == want.keys(), section
        wrong = {key: (have[key], want[key]) for key in want
                 if not math.isclose(have[key], want[key], rel_tol=1e-4, abs_tol=1e-7)}
        assert not wrong, f"{section}: (now, then) {wrong}"


@pytest.mark.parametrize("name", RUNS)
def test_plot_draws_an_old_run(copies, name, tmp_path):
    from vae_tf import plot

    out = tmp_path / "figures"
    assert plot.main([str(copies[name]), "--out", str(out)]) == 0
    assert sorted(path.name for path in out.iterdir()) == sorted(FIGURES)
    for figure in FIGURES:
        data = (out / figure).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000, figure


@pytest.mark.parametrize("name", RUNS)
def test_explore_writes_the_page_of_an_old_run(copies, name, tmp_path):
    """The page's data (data.js): the run's 297 test codes and its decoder, exported layer by layer."""
    from vae_tf import explore

    out = tmp_path / "page"
    assert explore.main([str(copies[name]), "--out", str(out)]) == 0
    assert {"index.html", "data.js"} <= {path.name for path in out.iterdir()}
    text = (out / "data.js").read_text(encoding="utf-8")
    prefix = "window.VAE_EXPLORER_DATA = "
    assert text.startswith(prefix)
    page = json.loads(text[len(prefix):].strip().rstrip(";"))
    assert page["datasets"][0]["image_shape"] == [8, 8, 1] and page["datasets"][0]["count"] == 297
    (panel,) = page["panels"]
    (member,) = panel["members"]
    settings = json.loads((copies[name] / "config.json").read_text(encoding="utf-8"))["config"]
    assert (member["latent_dim"], member["count"]) == (2, 297)
    assert member["decoder"]["output_size"] == 64 and member["decoder"]["likelihood"] == settings["likelihood"]
    assert len(member["decoder"]["layers"]) >= 2


def test_keras_load_model_finds_the_old_module_name(copies):
    """Before the change, getting-started.md said: `keras.models.load_model(path)` after `import
    vae_tf.model`, which registers the class. `vae_tf.model` is now an old name (MOVED_MODULES) for
    the module that defines VAE; in a fresh interpreter, importing it still makes Keras' own loader
    read both old runs, and the module is the new one."""
    script = (
        "import sys, keras, vae_tf.model\n"
        "assert sys.modules['vae_tf.model'] is sys.modules[vae_tf.VAE.__module__]\n"
        "for path in sys.argv[1:]:\n"
        "    model = keras.saving.load_model(path)\n"
        "    print(type(model).__module__, type(model).__name__, model.latent_dim)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, *(str(copies[name] / "model.keras") for name in RUNS)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("\n")[:2] == [f"{vae_tf.VAE.__module__} VAE 2"] * 2
