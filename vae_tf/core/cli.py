"""The skeleton every `python -m vae_tf.X` command shares.

    parser = cli.parser("python -m vae_tf.X", "What X does.")
    cli.add_rundir(parser); cli.add_output(parser, "RUNDIR"); cli.add_data_dir(parser)
    def main(argv=None):
        return cli.run(parser_factory(), argv, work)      # work(args) -> exit code

Parse without importing TensorFlow (this module imports only the standard library), then do
the work; a user's mistake is one line `error: ...` on stderr and a non-zero exit, never a
traceback: exit code 2 for a bad flag (argparse's convention), 1 for a problem found while
working (a missing run, a file that would be overwritten), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import errno
import gc
import math
import os
import sys

from vae_tf.core.errors import REPORTED, CommandError, UsageError  # noqa: F401 (cli.CommandError, cli.UsageError)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `error: <what> (see <prog> --help)`, exit code 2."""

    def error(self, message):
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default after its help, unless the help already says it or there is none.

    A flag whose default is None means "see the help" (its help says what happens then), so
    argparse's own "(default: None)" after it would only contradict that.
    """

    def _get_help_string(self, action):
        help_text = action.help or ""
        if action.default is None or "(default" in help_text:
            return help_text
        return super()._get_help_string(action)


def parser(prog: str, description: str, epilog: str | None = None, raw: bool = False) -> Parser:
    """A command's parser; defaults are shown in --help (or the text is kept as written with `raw`)."""
    formatter = argparse.RawDescriptionHelpFormatter if raw else DefaultsFormatter
    return Parser(prog=prog, description=description, epilog=epilog, formatter_class=formatter)


def add_rundir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rundir", metavar="RUNDIR", help="a run directory written by `python -m vae_tf.train`")


def add_output(parser: argparse.ArgumentParser, default: str, what: str = "the results") -> None:
    """--out and --overwrite: where to write, and permission to replace what is there."""
    parser.add_argument("--out", metavar="DIR", default=None, help=f"where to write {what} (default: {default})")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace files that already exist there (otherwise they are never touched)")


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", metavar="DIR", default=None,
                        help="directory with the IDX files of a fashion_mnist or mnist run (default: the run's "
                             "setting, else $VAE_TF_DATA_DIR, Keras' cache, /usr/share/datasets/fashion-mnist); "
                             "other runs reload their data from the file or folder config.json records")


def add_verbosity(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                        help="Keras' fit verbosity (default: 1, a progress bar, on a terminal; 2, one line per "
                             "epoch, otherwise)")


def fit_verbosity(args) -> int:
    """The --verbose of `add_verbosity`, or its default: 1 (a progress bar) on a terminal, else 2."""
    return args.verbose if args.verbose is not None else (1 if sys.stdout.isatty() else 2)


def run(parser: argparse.ArgumentParser, argv, work, *, check=None, interrupted="interrupted",
        errors: tuple = (), aftermath=None) -> int:
    """Parse `argv`, let `check(parser, args)` refuse flags that do not fit together, then `work(args)`.

    Args:
      parser: the command's parser (a `Parser`).
      argv: the arguments (None: sys.argv[1:]).
      work: does the command's work; returns the exit code.
      check: optional; calls `parser.error(...)` for combinations of flags it refuses.
      interrupted: what to print on Ctrl-C (a string, or a function of args returning one).
      errors: more exception types to report as one line.
      aftermath: optional; a function of args returning what an operating-system error left behind
        (appended to its line, e.g. "every completed epoch is kept; continue it with ...").

    Returns:
      The exit code.
    """
    args = parser.parse_args(argv)
    if check is not None:
        check(parser, args)
    return run_command(lambda: work(args),
                       (lambda: interrupted(args)) if callable(interrupted) else interrupted, errors,
                       (lambda: aftermath(args)) if aftermath is not None else None)


def run_command(body, interrupted="interrupted", errors: tuple = (), aftermath=None) -> int:
    """Run `body()` and turn the errors users cause into `error: ...` and exit code 1 (130 on Ctrl-C).

    An `OSError` (a full disk, a read-only file system...) is one line too: the path and the cause
    (`describe_os_error`), then `aftermath()` if given."""
    try:
        return body()
    except (*REPORTED, *errors) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a full disk, a read-only file system, a path that is not a directory...
        left = _aftermath(aftermath) if aftermath else ("nothing was written" if getattr(
            error, "nothing_written", False) else None)  # set by vae_tf.rundir.outputs, which removed it all
        print(f"error: {describe_os_error(error)}" + (f"; {left}" if left else ""), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(interrupted() if callable(interrupted) else interrupted, file=sys.stderr, flush=True)
        # Stopped, the process should end now: the interpreter's last garbage collection skips the
        # objects alive at this point (a training process stopped in `fit` took 5 to 25 s to end in it).
        gc.freeze()
        return 130


def _aftermath(aftermath) -> str:
    """What an operating-system error left behind, as `aftermath()` says; if looking fails too (the same
    path refused again, e.g. a name too long), that nothing was written."""
    try:
        return aftermath()
    except OSError:
        return "nothing was written"


# What an operating-system error means for the user, and what to do about it.
_OS_ERRORS = {
    errno.ENOSPC: "the disk is full; free some space and run the command again",
    errno.EDQUOT: "the disk quota is exhausted; free some space and run the command again",
    errno.EROFS: "the file system is read-only; choose a writable path",
    errno.EACCES: "permission denied; choose a path you may write to (or read)",
    errno.EPERM: "operation not permitted; choose a path you may write to",
    errno.ENOTDIR: "a part of the path is a file, not a directory; choose another path",
    errno.EISDIR: "it is a directory, not a file; give a file name",
    errno.ENOENT: "no such file or directory",
    errno.EEXIST: "it already exists",
    errno.EIO: "an input/output error of the device",
    errno.ENAMETOOLONG: "the name is too long for the file system; choose a shorter path",
    errno.ELOOP: "too many symbolic links in the path; choose another path",
}


def describe_os_error(error: OSError) -> str:
    """An `OSError` as one line: the path, then the cause in words and the fix, e.g.
    "runs/a/model.keras: the disk is full (No space left on device); free some space ..."."""
    paths = [str(name) for name in (error.filename, error.filename2) if name is not None]
    cause = error.strerror or (str(error.args[0]) if error.args else type(error).__name__)
    known = _OS_ERRORS.get(error.errno)
    if known:
        meaning, _, fix = known.partition("; ")
        text = f"{meaning} ({cause or os.strerror(error.errno)})" + (f"; {fix}" if fix else "")
    else:
        text = cause
    return f"{' -> '.join(paths)}: {text}" if paths else text


SEED_RANGE = (0, 2**31 - 1)  # what every seed consumer takes (NumPy, Keras, TensorFlow's stateless ops)


def number(kind=float, *, at_least=None, above=None, odd=False, at_most=None):
    """An argparse `type`: a finite int or float, optionally >= `at_least`, > `above`, <= `at_most`, or odd.

    Each refusal names the text given and what was expected, e.g. "'0' must be at least 1".
    """

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if at_least is not None and value < at_least:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {at_least}")
        if above is not None and not value > above:
            raise argparse.ArgumentTypeError(f"{text!r} must be greater than {above}")
        if at_most is not None and value > at_most:
            raise argparse.ArgumentTypeError(f"{text!r} must be at most {at_most}")
        if odd and value % 2 == 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be odd")
        return value

    parse.__name__ = kind.__name__
    return parse


def seed_number():
    """The argparse `type` of a seed: an integer from 0 to 2**31 - 1."""
    return number(int, at_least=SEED_RANGE[0], at_most=SEED_RANGE[1])
