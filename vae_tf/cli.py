"""What every vae_tf command line shares: a user's mistake is one line on stderr, not a traceback."""

from __future__ import annotations

import sys


class UsageError(Exception):
    """A problem with what the user asked for; the CLI prints it as one line and exits 1."""


def run_command(body, interrupted="interrupted", errors: tuple = ()) -> int:
    """Run a command's `body()` and turn the errors users cause into `error: ...` and exit code 1.

    Args:
      body: the command's work; returns the exit code.
      interrupted: what to print on Ctrl-C (a string, or a function returning one); exit code 130.
      errors: more exception types to report as one line.

    Returns:
      The exit code.
    """
    from vae_tf.data import DataError, DataNotFoundError
    from vae_tf.rundir import RunDirError

    try:
        return body()
    except (UsageError, RunDirError, DataError, DataNotFoundError, *errors) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(interrupted() if callable(interrupted) else interrupted, file=sys.stderr)
        return 130


def number(kind=float, *, at_least=None, above=None):
    """An argparse `type`: a finite int or float, optionally >= `at_least` or > `above`.

    Each refusal names the text given and what was expected, e.g. "'0' must be at least 1".
    """
    import argparse
    import math

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
        return value

    parse.__name__ = kind.__name__
    return parse
