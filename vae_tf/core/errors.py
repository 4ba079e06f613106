"""The exceptions that several layers raise or catch, in one module at the bottom of the stack.

Each is a failure the user can act on: `vae_tf.core.cli.run_command` prints it as one line
`error: ...` and exits 1, with no traceback. Living here, low in the stack, they let a command
catch what the data, the run directory or training raised without importing back up to name it.
"""


class CommandError(Exception):
    """A failure a command reports as one line `error: ...` and exit code 1 (no traceback)."""


class UsageError(CommandError):
    """A problem with what the user asked for."""


class DataError(ValueError):
    """Data exist but are not what they should be (a corrupt file, a wrong shape, values out of range)."""


class DataNotFoundError(FileNotFoundError):
    """The data were found in none of the places searched."""


class RunDirError(ValueError):
    """A path that should be a vae_tf run directory is not one (or not a readable one)."""


class RunBusy(RunDirError):
    """Another process is writing into the directory (it holds the lock)."""


class NonFiniteLoss(CommandError):
    """Training produced a NaN or infinite loss."""


class WorkerLost(CommandError):
    """Another worker of the cluster stopped answering; training cannot continue without it."""


# What a command reports as one line (`vae_tf.core.cli.run_command`), besides an OSError.
REPORTED = (CommandError, DataError, DataNotFoundError, RunDirError)
