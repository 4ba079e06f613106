"""What the test modules share: the real data, one tiny trained run, and the check for refused input."""

import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest


@pytest.fixture(scope="session")
def fashion_mnist():
    """The real Fashion-MNIST, found the way users find it (CI installs Debian's package)."""
    from vae_tf.data import load_fashion_mnist

    return load_fashion_mnist(download=False)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The path of one finished run, trained once for the whole suite.

    The report's model (KL regularizer, 2-d codes, default seed) on the first 2,000 training images
    for 2 epochs: enough for the analysis commands to have something to read. Tests only read it;
    a test that writes into a run directory takes a `copy_of_tiny_run()`.
    """
    from vae_tf.config import TrainConfig
    from vae_tf.training.run import train

    return train(TrainConfig(limit=2000, epochs=2), tmp_path_factory.mktemp("shared") / "tiny", verbose=0)


@pytest.fixture(scope="session")
def copy_of_tiny_run(tiny_run, tmp_path_factory):
    """A function that returns a fresh copy of `tiny_run`, for a test (or module) to write into."""

    def copy():
        return Path(shutil.copytree(tiny_run, tmp_path_factory.mktemp("copy") / tiny_run.name))

    return copy


@pytest.fixture
def refused(capsys):
    """A function that checks a command refuses its arguments the way every vae_tf command should.

    `refused(main, argv, expected)` runs `main(argv)` in-process and checks that it fails with
    argparse's exit code 2 (a bad flag) or returns 1 (a problem found while working), that stderr
    is exactly one line `error: ...` containing `expected` (no usage dump, no traceback). It
    returns that line, for more checks.
    """

    def check(main, argv, expected):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
            assert code == 2, f"argparse exits with 2, this exited with {code}"
        else:
            assert code == 1, f"a refusal returns 1, this returned {code}"
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert expected in err, err
        return err

    return check
