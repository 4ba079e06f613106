"""A command's outputs as one unit: all of them appear in their folder, or none; one writer per folder.

    from vae_tf.rundir import outputs, write_figure, write_json

    with outputs("runs/figures", ["scatter.png", "spread.json"], overwrite=False) as out:
        write_figure(out / "scatter.png", figure)      # written into a scratch folder inside runs/figures
        write_json(out / "spread.json", report)
    print(out.written)                                 # [runs/figures/scatter.png, runs/figures/spread.json]

`outputs` takes the folder's lock (`vae_tf.rundir.locks.lock`, as training does: a second writer is
refused with one line naming the folder and the process that holds it), applies the rule for
output files (`vae_tf.rundir.files.claim`: nothing is replaced without --overwrite), and gives the
command a scratch folder inside the output folder (`.vae_tf-outputs-*`, on the same file system).
When the block ends without an error, every file of the scratch folder is moved into the output
folder (a rename each, which needs no space); when it ends with one (a full disk, Ctrl-C, a bad
input found late), the scratch folder is removed, and so is the output folder if this command
made it: nothing of the command's is left, and the same command runs again without --overwrite.
A command killed outright leaves only its scratch folder, removed by the next writer that takes
the folder's lock (`vae_tf.rundir.files.remove_temporaries`) and ignored by `claim` meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from vae_tf.core.errors import RunDirError
from vae_tf.rundir.files import _fsync_directory, claim
from vae_tf.rundir.layout import OUTPUTS_SCRATCH
from vae_tf.rundir.locks import lock


class Outputs:
    """What `outputs` yields: where the command writes (`out / name`) and, after the block, `written`."""

    def __init__(self, directory: Path, scratch: Path, overwrite: bool, flag: str):
        self.directory = directory  # the output folder
        self.scratch = scratch  # where the files are written until the block ends
        self.overwrite = overwrite
        self.flag = flag
        self.written: list[Path] = []  # the files moved into `directory`, once the block has ended
        self._wrote: list[str] = []  # "wrote PATH" lines of `progress`, printed once the files are in place

    def __truediv__(self, name) -> Path:
        """The path to write the output `name` to (inside the scratch folder)."""
        return self.scratch / name

    def claim(self, names) -> None:
        """Check, under the folder's lock, that the outputs `names` replace nothing without --overwrite
        (for a command that knows its outputs only after reading its inputs).

        Raises:
          RunDirError: the folder already has one of them and --overwrite was not given.
        """
        claim(self.directory, list(names), self.overwrite, self.flag)

    def final(self, path) -> Path:
        """Where a path inside the scratch folder will be once the block ends (other paths unchanged)."""
        path = Path(path)
        try:
            return self.directory / path.relative_to(self.scratch)
        except ValueError:
            return path

    def progress(self, line: str) -> None:
        """Print a line of progress, naming the files by the paths they will have. A "wrote PATH" line
        is printed when the block ends and the file is in place (never for a file that will not be)."""
        line = str(line).replace(str(self.scratch), str(self.directory))
        if line.startswith("wrote "):
            self._wrote.append(line)
        else:
            print(line, flush=True)

    def _commit(self) -> None:
        """Move every file of the scratch folder into the output folder: all of them, or none."""
        entries = sorted(self.scratch.iterdir())
        existing = [entry.name for entry in entries if _exists(self.directory / entry.name)]
        if existing and not self.overwrite:  # only a name the command did not `claim` can get here
            raise RunDirError(f"{self.directory} already has {', '.join(existing)}; pass --overwrite to replace "
                              f"{'it' if len(existing) == 1 else 'them'}, or choose another {self.flag}.")
        moved = []
        try:
            for entry in entries:
                target = self.directory / entry.name
                if entry.is_dir() and target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                os.replace(entry, target)
                moved.append(target)
            _fsync_directory(self.directory)
        except BaseException:
            for target in moved:
                _remove(target)
            raise
        self.written = moved
        os.rmdir(self.scratch)
        for line in self._wrote:
            print(line, flush=True)


@contextlib.contextmanager
def outputs(directory, names=(), overwrite: bool = False, flag: str = "--out", command: str | None = None):
    """Write a command's outputs into `directory` as one unit, holding the folder's lock (see the module).

    Args:
      directory: the output folder (created if missing).
      names: the files the command will write there, checked now (`claim`); () to check them later
        with `out.claim(names)`; None: the folder must be empty.
      overwrite: the user passed --overwrite.
      flag: the flag that named `directory`, for the messages.
      command: what this process is, for a second writer's message (default: its command line).

    Yields:
      An `Outputs`: write each output to `out / name`; `out.progress(line)` prints a line of
      progress; after the block `out.written` lists the files now in `directory`.

    Raises:
      RunBusy: another process is writing into `directory` (the message names it).
      RunDirError: `directory` is a file, or it holds one of `names` and `overwrite` is False.
      OSError: `directory` cannot be created or written; an OSError of the block names the output
        by its final path, not by the scratch folder's.
    """
    directory = Path(directory)
    if _exists(directory) and not directory.is_dir():
        raise RunDirError(f"{flag} {directory} is a file, not a directory; choose another path.")
    made = _make_directories(directory)
    try:
        held = lock(directory, command)
    except BaseException:
        _remove_made(directory, made)
        raise
    out = None
    try:
        if names is None or names:
            claim(directory, names, overwrite, flag)
        out = Outputs(directory, Path(tempfile.mkdtemp(prefix=OUTPUTS_SCRATCH, dir=directory)), overwrite, flag)
        yield out
        out._commit()
    except BaseException as error:
        if out is not None:
            shutil.rmtree(out.scratch, ignore_errors=True)
        held.release()
        _remove_made(directory, made)
        if isinstance(error, OSError):  # for its one line: "...; nothing was written" (`vae_tf.core.cli`)
            if out is not None and error.filename is not None:
                renamed = OSError(error.errno, error.strerror or str(error), str(out.final(error.filename)))
                renamed.nothing_written = True
                raise renamed from error
            error.nothing_written = True
        raise
    held.release()


def output_file(path, overwrite: bool = False, flag: str = "--out", command: str | None = None):
    """`outputs` for one file named by the user (e.g. `--json results.json`): yields an `Outputs` of its
    folder, whose `out / path.name` is where to write it.

    Raises:
      RunDirError: `path` is a directory, or an existing file and `overwrite` is False.
    """
    path = Path(path)
    if path.is_dir():
        raise RunDirError(f"{flag} {path} is a directory; give a file name, e.g. {path / 'results.json'}.")
    if _exists(path) and not overwrite:
        raise RunDirError(f"{flag} {path} already exists; pass --overwrite to replace it, or choose another file.")
    return outputs(path.parent, [path.name], overwrite, flag, command)


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _make_directories(directory: Path) -> Path | None:
    """Create `directory` and its missing parents; return the outermost folder this call created (or None)."""
    missing = []
    for folder in (directory, *directory.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    made = None
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:  # another process made it: not ours to remove
            continue
        made = made or folder
    return made


def _remove_made(directory: Path, made: Path | None) -> None:
    """Remove the folders `_make_directories` made, from `directory` up to `made`, where they are empty:
    a command that failed leaves no empty output folder behind."""
    if made is None:
        return
    for folder in (directory, *directory.parents):
        with contextlib.suppress(OSError):
            folder.rmdir()
        if folder == made:
            return


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
