"""`python -m vae_tf.sweep`: one run per beta on the rate-distortion plane, finished runs reused, bad lists refused."""

import importlib
import importlib.util
import json
from pathlib import Path

import pytest

from vae_tf import plots
from vae_tf.config import TrainConfig
from vae_tf.rundir import RunWriter, read_config
from vae_tf.sweep import main, redraw

train_module = importlib.import_module("vae_tf.training.run")
TINY = ["--limit", "300", "--epochs", "1", "--no-fast", "--test-limit", "100", "--k", "5", "--verbose", "0"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "out"
    assert main(["--betas", "0.5", "4", "--out", str(out), *TINY]) == 0
    return out


def test_the_sweep_trains_a_run_per_beta_and_writes_the_plane(swept):
    assert sorted(path.name for path in swept.iterdir()) == [
        "beta-0.5", "beta-4", "rd.json", "rd.md", "rd.png", "rd_codes.png"]
    for beta in (0.5, 4):
        settings = read_config(swept / f"beta-{beta:g}")["config"]
        assert (settings["beta"], settings["reduction"], settings["regularizer"], settings["limit"]) == (
            beta, "elbo", "kl", 300)
    report = json.loads((swept / "rd.json").read_text())
    assert [point["beta"] for point in report["points"]] == [0.5, 4.0] and report["test_images"] == 100
    for point in report["points"]:
        assert point["neg_elbo"] == pytest.approx(point["rate"] + point["distortion"])
        assert point["neg_iwae"] <= point["neg_elbo"] and point["rate"] > 0
    rows = [line for line in (swept / "rd.md").read_text().splitlines() if line.startswith("| `beta-")]
    assert [row.split(" | ")[1:3] for row in rows] == [["mlp", "0.5"], ["mlp", "4"]]
    assert "likelihood bernoulli" in (swept / "rd.md").read_text() and report["likelihood"] == "bernoulli"
    assert (swept / "rd.png").read_bytes()[:4] == b"\x89PNG"
    plane, codes = redraw(swept)  # docs/make_figures.py --sweep: the same figures from the directory
    assert len(plane.axes) in (1, 2) and len(codes.axes) == 2 * 2


def test_finished_runs_are_reused_never_retrained(swept, monkeypatch, capsys):
    before = {path: path.stat().st_mtime_ns for path in swept.glob("beta-*/*")}
    trained = []
    real_train = train_module.train

    def recording_train(settings, out, *args, **kwargs):
        trained.append(settings.beta)
        return real_train(settings, out, *args, **kwargs)

    monkeypatch.setattr(train_module, "train", recording_train)
    assert main(["--betas", "0.5", "4", "2", "--out", str(swept), "--overwrite", *TINY]) == 0
    assert trained == [2.0]  # only the new beta
    assert {path: path.stat().st_mtime_ns for path in before} == before
    assert "reusing the finished run" in capsys.readouterr().out
    assert [p["beta"] for p in json.loads((swept / "rd.json").read_text())["points"]] == [0.5, 2.0, 4.0]


def test_an_unfinished_run_of_other_settings_is_refused_with_what_to_do(tmp_path, capsys):
    writer = RunWriter.create(tmp_path / "out" / "beta-1")
    writer.write_config(TrainConfig(beta=1.0, reduction="elbo").to_dict(), data={}, device="cpu", versions={})
    assert main(["--betas", "1", "--out", str(tmp_path / "out"), *TINY]) == 1
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "unfinished run with other settings (" in error
    assert "limit None (asked: 300)" in error
    assert "pass --overwrite to train it again" in error


@pytest.mark.parametrize("betas, message", [
    (["-1"], "argument --betas: '-1' must be at least 0"),
    (["0.1", "nan"], "argument --betas: 'nan' is not a finite number"),
    (["1e999"], "'1e999' is not a finite number"),
    (["0.3", "1", "0.3"], "argument --betas: 0.3 given more than once"),
    ([], "argument --betas: expected at least one argument"),
    (["one"], "'one' is not a number"),
])
def test_bad_beta_lists_are_refused_in_one_line(betas, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--betas", *betas, "--out", str(tmp_path / "out")])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert not (tmp_path / "out").exists()


def test_the_sweep_sets_beta_itself(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--beta", "2", "--out", str(tmp_path / "out")])
    assert "drop --beta" in capsys.readouterr().err




def test_a_matching_evaluation_is_taken_instead_of_measuring_again(swept, tmp_path, capsys):
    import shutil

    from vae_tf import evaluate

    run = tmp_path / "beta-0.5"
    shutil.copytree(swept / "beta-0.5", run)
    assert evaluate.main([str(run), "--k", "5", "--limit", "100", "--verbose", "0"]) == 0
    evaluation = json.loads((run / "evaluation.json").read_text())
    evaluation["overall"]["neg_iwae_nats"] = 1234.5  # a value no measurement gives: it must come from the file
    (run / "evaluation.json").write_text(json.dumps(evaluation))
    capsys.readouterr()

    assert main(["--runs", str(run), "--out", str(tmp_path / "same"), *TINY]) == 0
    point, = json.loads((tmp_path / "same" / "rd.json").read_text())["points"]
    assert point["neg_iwae"] == 1234.5 and point["from_evaluation"] == str(run / "evaluation.json")
    assert point["rate"] == evaluation["overall"]["kl_nats"] and point["active_units"] >= 1
    assert "from its evaluation.json" in capsys.readouterr().out

    other_k = [*TINY[:TINY.index("--k")], "--k", "4", *TINY[TINY.index("--k") + 2:]]
    assert main(["--runs", str(run), "--out", str(tmp_path / "other"), *other_k]) == 0
    point, = json.loads((tmp_path / "other" / "rd.json").read_text())["points"]
    assert point["neg_iwae"] < 1000 and "from_evaluation" not in point  # another K: measured again
    assert "sweep: measuring" in capsys.readouterr().out


def test_make_figures_puts_two_sweeps_on_one_plane_and_refuses_mixed_likelihoods(swept, tmp_path, refused, capsys):
    spec = importlib.util.spec_from_file_location(
        "make_figures", Path(__file__).resolve().parents[1] / "docs" / "make_figures.py")
    make_figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_figures)
    report = json.loads((swept / "rd.json").read_text())
    for point in report["points"]:
        point.update(architecture="conv", rate=point["rate"] + 1.0)
    conv = tmp_path / "conv"
    conv.mkdir()
    (conv / "rd.json").write_text(json.dumps(report))
    argv = ["--only", "models", "--model-sweeps", str(swept), str(conv), "--out", str(tmp_path / "figures")]
    assert make_figures.main(argv) == 0
    assert (tmp_path / "figures" / "models_rd.png").read_bytes()[:4] == b"\x89PNG"
    mlp = json.loads((swept / "rd.json").read_text())["points"]
    fig = plots.rate_distortion_curves({"mlp": mlp, "conv": report["points"]})
    curves = [line for line in fig.axes[0].lines if line.get_marker() == "o"]
    assert [len(line.get_xdata()) for line in curves] == [len(mlp), len(report["points"])]
    assert [text.get_text() for text in fig.legends[0].get_texts()] == ["mlp", "conv"]  # beside the plane
    report["likelihood"] = "binarized"
    (conv / "rd.json").write_text(json.dumps(report))
    refused(make_figures.main, argv, "different likelihoods")
    assert make_figures.main(["--only", "models"]) == 2
    for group in make_figures.needs():  # every group that reads runs refuses to start without them
        assert make_figures.main(["--only", group]) == 2, group
    assert capsys.readouterr().err.startswith("error: models_rd.png needs --model-sweeps")
