"""Running the things a benchmark compares, each in its own process, and what they share.

`run_process` runs one command to its end and measures its wall time and peak memory
(os.wait4's ru_maxrss, taken by a small launcher process: see `LAUNCHER`), so that the figures are
the whole process's; `train_command` is the
`python -m vae_tf.train` command line of a benchmark's settings; `LOSS_NAMES` the losses every
benchmark reports. `in_scratch` gives a benchmark its scratch folder in /tmp and removes it when
the benchmark ends, finished or failed; `failed` is the one-line error of a process that failed.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vae_tf.core.errors import CommandError

LOSS_NAMES = ("loss", "reconstruction_loss", "kl_loss")


def run_process(command: list[str], env: dict | None = None, log=None) -> dict:
    """Run `command` to its end: wall seconds, peak resident memory (MiB) and return code.

    Args:
      command: the command line.
      env: environment variables added to this process's.
      log: a file for its stdout and stderr (default: discarded).
    """
    import os

    out = log if log is not None else subprocess.DEVNULL
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vae_tf-process-") as scratch:
        figures = Path(scratch) / "figures"
        process = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(figures), *command], stdout=out,
                                   stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        process.wait()
        if not figures.is_file():  # the launcher itself was killed
            return {"seconds": time.perf_counter() - start, "peak_rss_mib": float("nan"),
                    "returncode": process.returncode}
        returncode, peak_kib = (int(value) for value in figures.read_text(encoding="ascii").split())
    return {"seconds": time.perf_counter() - start, "peak_rss_mib": peak_kib / 1024, "returncode": returncode}


# Runs argv[2:] and writes its exit code and peak resident memory (KiB) to argv[1]. os.wait4 straight from a
# large process would not do: Python starts a command with vfork, and the exec then carries the parent's own
# peak into the child's ru_maxrss (a benchmark that read 11 GB once saw 11 GB for every process it started
# after). This launcher is small, so the peak it passes on is its own few MB.
LAUNCHER = """
import os, signal, subprocess, sys
process = subprocess.Popen(sys.argv[2:])
signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the command's to handle; its exit code is still written
_, status, usage = os.wait4(process.pid, 0)
with open(sys.argv[1], "w", encoding="ascii") as handle:
    handle.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def train_command(args, out) -> list[str]:
    """`python -m vae_tf.train` with the benchmark's --epochs, first seed, --dataset, --architecture and
    --limit, writing to `out` (quiet, --overwrite)."""
    command = [sys.executable, "-m", "vae_tf.train", "--epochs", str(args.epochs), "--seed", str(args.seeds[0]),
               "--out", str(out), "--overwrite", "--verbose", "0"]
    command += ["--dataset", args.dataset] if args.dataset != "fashion_mnist" else []
    command += ["--architecture", args.architecture] if args.architecture != "mlp" else []
    return command + (["--limit", str(args.limit)] if args.limit else [])


def in_scratch(bench):
    """`bench(args, scratch)` as `bench(args)`: `scratch` is a new folder /tmp/vae_tf-bench-*, removed when
    the benchmark ends, whether it finished or failed (its runs' files are only read while it runs)."""

    @functools.wraps(bench)
    def run(args):
        scratch = Path(tempfile.mkdtemp(prefix="vae_tf-bench-"))
        try:
            return bench(args, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    return run


def failed(what: str, output) -> CommandError:
    """The one-line error of a benchmark's process that failed: `what`, then the last line it printed.

    Args:
      what: the process, e.g. "python -m vae_tf.train --dataset bogus".
      output: what it printed (a string), or the path of its log file.
    """
    if isinstance(output, Path):
        output = output.read_text(encoding="utf-8", errors="replace") if output.is_file() else ""
    noise = ("I0000", "W0000", "E0000", "WARNING: All log messages")  # TensorFlow's start-up lines
    lines = [line.strip() for line in (output or "").splitlines() if line.strip() and not line.startswith(noise)]
    return CommandError(f"{what} failed: " + (lines[-1] if lines else "it printed nothing"))
