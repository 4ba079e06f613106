"""A command's outputs are one unit, written by one process at a time (`vae_tf.rundir.outputs`).

Every command that writes (plot, explore, sweep, compare, evaluate, compress, klcost, fit, bench,
encode, generate, reconstruct, interpolate, traverse, score, export, ppca, `python -m vae_tf.data pack`)
holds its output folder's lock, so a second one writing there is refused in one line naming the
folder and the holder; a full disk (an ENOSPC from the write) leaves nothing of the command's, and
the same command then runs without --overwrite. A size that cannot be held in memory, a path the
operating system refuses and a failing benchmark process are one line too.
"""

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from vae_tf import (
    bench,
    compare,
    compress,
    encode,
    evaluate,
    explore,
    export,
    fit,
    generate,
    interpolate,
    klcost,
    plot,
    ppca,
    reconstruct,
    score,
    sweep,
    train,
    traverse,
)
from vae_tf.data import __main__ as data_command
from vae_tf.data import packing
from vae_tf.rundir import OUTPUTS_SCRATCH, RunBusy, files, lock, outputs, write_json, write_text


@pytest.fixture(scope="module")
def three_runs(tiny_run, tmp_path_factory):
    """`tiny_run` three times, recorded as the kl, none and mse runs `compare --runs` takes."""
    root = tmp_path_factory.mktemp("three")
    paths = []
    for variant in ("kl", "none", "mse"):
        path = Path(shutil.copytree(tiny_run, root / variant))
        config = json.loads((path / "config.json").read_text())
        config["config"]["regularizer"] = variant
        (path / "config.json").write_text(json.dumps(config))
        paths.append(str(path))
    return paths


@pytest.fixture
def full_disk(monkeypatch):
    """`full_disk(after)`: every atomic write after the first `after` fails with ENOSPC, as on a full disk
    (rundir's writes, and the shards `python -m vae_tf.data pack` writes)."""
    real = {module: getattr(module, name) for module, name in ((files, "_atomic_write"), (packing, "_save"))}

    def arm(after: int):
        count = [0]

        def failing(real_write):
            def write(path, *args, **kwargs):
                count[0] += 1
                if count[0] > after:
                    raise OSError(errno.ENOSPC, "No space left on device", str(path))
                return real_write(path, *args, **kwargs)
            return write

        monkeypatch.setattr(files, "_atomic_write", failing(real[files]))
        monkeypatch.setattr(packing, "_save", failing(real[packing]))

    yield arm


def _commands(tiny_run, three_runs, out: Path):
    """(name, main, argv, writes that succeed before the disk fills, files it writes into `out`)."""
    run = str(tiny_run)
    return {
        "plot": (plot.main, [run, "--out", str(out), "--grid-size", "3", "--examples", "2"], 2, plot.FIGURES),
        "explore": (explore.main, [run, "--out", str(out), "--test-images", "20"], 1, explore.OUTPUTS),
        "compare": (compare.main, ["--out", str(out), "--runs", *three_runs], 1, compare.OUTPUTS),
        "sweep": (sweep.main, ["--out", str(out), "--runs", run, "--k", "2", "--test-limit", "20"], 2, sweep.OUTPUTS),
        "evaluate": (evaluate.main, [run, "--k", "2", "--limit", "20", "--out", str(out)], 0, ["evaluation.json"]),
        "compress": (compress.main, [run, "--out", str(out)], 0, ["compression.json"]),
        "klcost": (klcost.main, [run, "--k", "2", "--test-limit", "128", "--draws", "2", "--batches", "1",
                                 "--out", str(out / "klcost.json")], 0, ["klcost.json"]),
        "fit": (fit.main, ["--loss", "mse", "--steps", "20", "--frames", "2", "--out", str(out)], 1,
                ["fit.png", "fit.gif", "history.csv", "result.json"]),
        "bench": (bench.main, ["step", "--json", str(out / "bench.json")], 0, ["bench.json"]),
        "encode": (encode.main, [run, "--limit", "20", "--out", str(out / "codes.npz")], 0, ["codes.npz"]),
        "generate": (generate.main, [run, "--n", "2", "--out", str(out)], 2,
                     ["0000.png", "0001.png", "codes.npz", "grid.png"]),
        "reconstruct": (reconstruct.main, [run, "--n", "2", "--out", str(out / "r.png")], 0, ["r.png"]),
        "interpolate": (interpolate.main, [run, "--from", "0", "--to", "1", "--steps", "2", "--out",
                                           str(out / "walk.gif")], 0, ["walk.gif"]),
        "traverse": (traverse.main, [run, "--dims", "0", "--steps", "2", "--out", str(out / "t.png")], 0, ["t.png"]),
        "score": (score.main, [run, "--k", "2", "--limit", "20", "--verbose", "0", "--out", str(out / "s.csv")], 0,
                  ["s.csv"]),
        "export": (export.main, [run, "--format", "savedmodel", "--out", str(out)], 0,
                   ["encoder", "decoder", "export.json"]),
        "ppca": (ppca.main, [run, "--out", str(out)], 1, ["ppca.json", "ppca.png"]),
        "pack": (data_command.main, ["pack", "digits", "--out", str(out)], 2,
                 ["index.json", "train-00000.npy", "train-00000-labels.npy", "test-00000.npy"]),
    }


COMMANDS = ("plot", "explore", "compare", "sweep", "evaluate", "compress", "klcost", "fit", "bench", "encode",
            "generate", "reconstruct", "interpolate", "traverse", "score", "export", "ppca", "pack")


@pytest.fixture
def quick_bench(monkeypatch):
    """`bench step`, `compress`, `export` and `ppca` without their slow work (their output files are what these
    tests are about; ppca's comparison also needs a linear Gaussian run)."""
    from matplotlib.figure import Figure

    from vae_tf.analysis import export as exporting
    from vae_tf.analysis import ppca as comparing

    class Exported:  # Keras' `Model.export`, as fast as a file
        def export(self, path, format, verbose):
            Path(path, "saved_model.pb").write_bytes(b"model")

    monkeypatch.setitem(bench.BENCHMARKS, "step", lambda args: {"mode": "step", "seconds": 1.0})
    monkeypatch.setattr(compress, "compression_report", lambda run, data_dir=None: {"ratio": 1.0})
    monkeypatch.setattr(compress, "format_table", lambda report: "| ratio | 1.0 |")
    monkeypatch.setattr(exporting, "export_models", lambda vae: (Exported(), Exported()))
    monkeypatch.setattr(comparing, "compare_run", lambda run, data_dir=None: {"variance": 1.0})
    monkeypatch.setattr(comparing, "figure", lambda result: Figure(figsize=(1, 1)))
    monkeypatch.setattr(comparing, "format_comparison", lambda result: "variance 1.0")


@pytest.mark.parametrize("name", COMMANDS)
def test_a_second_writer_of_an_output_folder_is_refused_naming_the_folder_and_the_holder(
        name, tiny_run, three_runs, tmp_path, refused, quick_bench):
    out = tmp_path / "out"
    out.mkdir()
    main, argv, _, written = _commands(tiny_run, three_runs, out)[name]
    with lock(out, command="python -m vae_tf.plot (the first writer)"):
        line = refused(main, argv, f"error: {out} is being written by another process (pid {os.getpid()} ")
    assert "python -m vae_tf.plot (the first writer)" in line
    assert sorted(path.name for path in out.iterdir()) == []  # nothing written, the first writer's lock released


@pytest.mark.parametrize("name", COMMANDS)
def test_a_full_disk_leaves_nothing_and_the_same_command_then_works(
        name, tiny_run, three_runs, tmp_path, refused, full_disk, quick_bench):
    out = tmp_path / "new" / "out"
    main, argv, after, written = _commands(tiny_run, three_runs, out)[name]
    full_disk(after)
    refused(main, argv, "the disk is full (No space left on device); free some space and run the command again")
    assert not (tmp_path / "new").exists()  # neither a partial output nor an empty folder the command made
    full_disk(10**6)
    assert main(argv) == 0  # no --overwrite needed
    assert set(written) <= {path.name for path in out.iterdir()}
    assert not list(out.glob(OUTPUTS_SCRATCH + "*"))


def test_a_full_disk_leaves_a_run_directory_as_it_was(copy_of_tiny_run, full_disk, capsys):
    run = copy_of_tiny_run()
    before = sorted(path.name for path in run.iterdir())
    full_disk(3)
    assert plot.main([str(run), "--grid-size", "3", "--examples", "2"]) == 1
    printed = capsys.readouterr()
    assert printed.err == (f"error: {run / 'reconstructions.png'}: the disk is full (No space left on device); "
                           "free some space and run the command again; nothing was written\n")
    assert "wrote" not in printed.out  # no "wrote PATH" for a file that is not there
    assert sorted(path.name for path in run.iterdir()) == before
    full_disk(10**6)
    assert plot.main([str(run), "--grid-size", "3", "--examples", "2"]) == 0
    assert f"wrote {run / 'reconstructions.png'}" in capsys.readouterr().out  # the final paths, not the scratch's


def test_outputs_appear_together_when_the_block_ends(tmp_path):
    out = tmp_path / "figures"
    with outputs(out, ["a.txt", "b.json"]) as written:
        write_text(written / "a.txt", "a\n")
        assert not (out / "a.txt").exists()  # not before the block ends
        write_json(written / "b.json", {"b": 1})
    assert written.written == [out / "a.txt", out / "b.json"]
    assert sorted(path.name for path in out.iterdir()) == ["a.txt", "b.json"]
    with pytest.raises(ValueError, match="already has a.txt; pass --overwrite"):
        with outputs(out, ["a.txt"]):
            pass
    with outputs(out, ["a.txt"], overwrite=True) as again:
        write_text(again / "a.txt", "new\n")
    assert (out / "a.txt").read_text() == "new\n" and (out / "b.json").is_file()


def test_outputs_of_a_failed_block_are_removed_and_a_folder_it_made_too(tmp_path):
    user = tmp_path / "mine.txt"
    user.write_text("keep")
    with pytest.raises(KeyboardInterrupt):
        with outputs(tmp_path / "a" / "b", ["x.txt"]) as written:
            write_text(written / "x.txt", "x")
            raise KeyboardInterrupt
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mine.txt"]


def test_the_scratch_folder_of_a_killed_command_is_ignored_then_removed(tmp_path):
    out = tmp_path / "out"
    (out / (OUTPUTS_SCRATCH + "killed") / "half.png").parent.mkdir(parents=True)
    (out / (OUTPUTS_SCRATCH + "killed") / "half.png").write_bytes(b"\x89PNG")
    with outputs(out, None) as written:  # None: the folder must be empty; a killed command's scratch does not count
        write_text(written / "a.txt", "a")
    assert sorted(path.name for path in out.iterdir()) == ["a.txt"]


def test_a_second_writer_in_the_same_process_is_refused_too(tmp_path):
    with outputs(tmp_path / "out"):
        with pytest.raises(RunBusy, match=f"{tmp_path / 'out'} is being written by another process"):
            with outputs(tmp_path / "out"):
                pass


# --- item 6: sizes that cannot be held, paths the system refuses, failing benchmark processes ----

def test_a_grid_too_large_for_memory_is_refused_up_front_with_what_it_needs(tiny_run, tmp_path, refused):
    refused(plot.main, [str(tiny_run), "--out", str(tmp_path / "p"), "--grid-size", "1000000"],
            "error: --grid-size 1000000 (1,000,000,000,000 decoded images of 28 x 28 x 1 pixels) would need about "
            "8.4 PiB of memory, more than the ")
    refused(evaluate.main, [str(tiny_run), "--exact", "--grid-points", "1000001", "--out", str(tmp_path / "e")],
            "error: --grid-points 1000001 (1,000,002,000,001 grid points) would need about 36.4 TiB of memory")
    assert not (tmp_path / "p").exists() and not (tmp_path / "e").exists()


def test_an_image_size_too_large_for_memory_is_refused_up_front(tmp_path, refused):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(3):
        Image.new("L", (8, 8), color=index * 80).save(folder / f"{index}.png")
    refused(train.main, ["--dataset", f"folder:{folder}", "--image-size", "1000000", "1000000", "--epochs", "1",
                         "--out", str(tmp_path / "run")],
            "--image-size 1000000 1000000 (3 images) would need about 5.5 TiB of memory")


def test_a_path_the_system_refuses_is_one_line_naming_it(tmp_path, refused):
    long = tmp_path / ("x" * 300)
    line = refused(train.main, ["--dataset", "digits", "--batch-size", "32", "--limit", "64", "--epochs", "1",
                                "--out", str(long)], "the name is too long for the file system")
    assert str(long) in line
    refused(train.main, ["--resume", str(long)], "the name is too long")


def test_a_read_only_output_folder_is_one_line_naming_it(tiny_run, tmp_path, refused, monkeypatch):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    real_open = os.open

    def refusing_open(path, flags, *args):  # as the kernel refuses a non-root user (root is not refused)
        if str(path).startswith(str(folder)) and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing_open)
    try:
        refused(plot.main, [str(tiny_run), "--out", str(folder)],
                f"error: {folder / '.vae_tf-lock'}: permission denied")
    finally:
        folder.chmod(0o755)
    assert list(folder.iterdir()) == []


def test_a_failing_baseline_is_one_line_and_leaves_no_scratch_folder(tmp_path, refused, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the benchmark's scratch folder goes
    script = tmp_path / "baseline.py"
    script.write_text("import sys\nprint('Traceback ...')\nprint('ValueError: no data here')\nsys.exit(3)\n")
    refused(bench.main, ["phases", "--runs", "1", "--epochs", "2", "--baseline", str(script)],
            f"error: --baseline {script} failed: ValueError: no data here")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["baseline.py"]


def test_a_failing_dataset_is_one_line_and_leaves_no_scratch_folder(tmp_path, refused, monkeypatch):
    import tempfile

    from vae_tf.benchmarks import phases

    def failing_train(command, env=None, log=None):  # what `python -m vae_tf.train --dataset bogus` prints
        log.write("error: --dataset 'bogus': unknown source 'bogus'; choose one of fashion_mnist, mnist\n")
        return {"seconds": 1.0, "peak_rss_mib": 100.0, "returncode": 1}

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(phases, "run_process", failing_train)
    refused(bench.main, ["phases", "--runs", "1", "--epochs", "2", "--dataset", "bogus"],
            "error: python -m vae_tf.train (the benchmark's run) failed: error: --dataset 'bogus': unknown source")
    assert list(tmp_path.iterdir()) == []


def test_a_run_that_fails_before_writing_leaves_no_empty_out_folder(tmp_path, refused):
    out = tmp_path / "new" / "run"
    refused(train.main, ["--dataset", "digits", "--limit", "100", "--epochs", "1", "--out", str(out)],
            "fewer than one batch of 128")
    assert not (tmp_path / "new").exists()


def test_a_pack_over_an_older_one_leaves_only_its_own_shards(tmp_path, capsys):
    out = tmp_path / "shards"
    assert data_command.main(["pack", "digits", "--out", str(out), "--shard-size", "40K"]) == 0
    assert f"packed {out / 'train-00009.npy'} (60 images" in capsys.readouterr().out  # named where it ends up
    assert data_command.main(["pack", "digits", "--out", str(out), "--overwrite"]) == 0
    index = json.loads((out / "index.json").read_text())
    shards = [shard for split in index["splits"].values() for shard in split["shards"]]
    listed = {shard[key] for shard in shards for key in ("file", "labels")}
    assert {path.name for path in out.iterdir()} == {"index.json", *listed}  # the older pack's ten shards are gone
    assert len(listed) == 4  # a shard and its labels for each split
