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
import math
import sys


class CommandError(Exception):
    """A failure a command reports as one line `error: ...` and exit code 1 (no traceback)."""


class UsageError(CommandError):
    """A problem with what the user asked for."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `error: <what> (see <prog> --help)`, exit code 2."""

    def error(self, message):
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def parser(prog: str, description: str, epilog: str | None = None, raw: bool = False) -> Parser:
    """A command's parser; defaults are shown in --help (or the text is kept as written with `raw`)."""
    formatter = argparse.RawDescriptionHelpFormatter if raw else argparse.ArgumentDefaultsHelpFormatter
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


def run(parser: argparse.ArgumentParser, argv, work, *, check=None, interrupted="interrupted",
        errors: tuple = ()) -> int:
    """Parse `argv`, let `check(parser, args)` refuse flags that do not fit together, then `work(args)`.

    Args:
      parser: the command's parser (a `Parser`).
      argv: the arguments (None: sys.argv[1:]).
      work: does the command's work; returns the exit code.
      check: optional; calls `parser.error(...)` for combinations of flags it refuses.
      interrupted: what to print on Ctrl-C (a string, or a function of args returning one).
      errors: more exception types to report as one line.

    Returns:
      The exit code.
    """
    args = parser.parse_args(argv)
    if check is not None:
        check(parser, args)
    return run_command(lambda: work(args),
                       (lambda: interrupted(args)) if callable(interrupted) else interrupted, errors)


def run_command(body, interrupted="interrupted", errors: tuple = ()) -> int:
    """Run `body()` and turn the errors users cause into `error: ...` and exit code 1 (130 on Ctrl-C)."""
    from vae_tf.data import DataError, DataNotFoundError
    from vae_tf.rundir import RunDirError

    try:
        return body()
    except (CommandError, RunDirError, DataError, DataNotFoundError, *errors) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(interrupted() if callable(interrupted) else interrupted, file=sys.stderr)
        return 130


def number(kind=float, *, at_least=None, above=None, odd=False):
    """An argparse `type`: a finite int or float, optionally >= `at_least`, > `above`, or odd.

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
        if odd and value % 2 == 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be odd")
        return value

    parse.__name__ = kind.__name__
    return parse
