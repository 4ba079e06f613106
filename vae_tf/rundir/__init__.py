"""The run directory: the one package that writes it and reads it back.

    layout.py   what a run directory holds: the files' names (RUN_FILES, CHECKPOINT, SNAPSHOTS,
                TENSORBOARD, LOCK, SCRATCH_PREFIX), FORMAT and FORMAT_VERSION, is_run_directory
    files.py    durable, atomic writes (write_text, write_bytes, write_json, write_csv, write_npz,
                save_model, write_figure, write_gif, write_with, write_directory), remove_temporaries,
                and `claim`/`claim_file`: the one rule for output files (nothing a user made is
                replaced without --overwrite)
    locks.py    one writer at a time: Lock, lock, writing_into, held_lock_files, and the removal
                of a lock its holder cannot release (remove_lock_for, remove_dead_lock)
    reading.py  reading a run back, every file checked: Run, read_config, read_history, read_npz,
                check_keras_archive, load_model, how_to_finish, DAMAGED
    outputs.py  a command's outputs as one unit, all or none, under the folder's lock: outputs,
                output_file, Outputs
    writing.py  RunWriter: a training run's directory (create, resume, checkpoints, finish)

Training writes through `RunWriter` (`RunWriter.create`, `.write_config`, `.save_checkpoint`,
`.finish`); `RunWriter.resume` reopens an interrupted run; every later tool reads a finished run
through `Run.open`. Every file is written to a temporary name in the same directory, flushed
to disk (fsync), renamed, and the directory entry is flushed too: a run killed at any moment,
even by a power cut, leaves either the old file or the new one, never half of one.

`claim` is the one rule for output files: nothing a user made is replaced without --overwrite.

One writer at a time: training, --resume and every command that writes hold their folder's
lock (`lock`, the file `.vae_tf-lock` with the writer's pid, host and command, locked
with `fcntl.flock`), so a second writer is refused with one line naming the holder. The kernel
drops the lock of a process that dies, so a killed writer's lock is simply taken over. A
command's outputs are one unit (`outputs`): written into a scratch folder and moved in at the
end, all of them, or none when the command fails (a full disk, Ctrl-C). An
--overwrite clears the old run before the new one starts (`RunWriter.create`): files that
analysed the old model (evaluation.json, figures) go with it. Every file is checked as it is
read: a damaged one is a `RunDirError` naming the file and what is wrong with it.
See docs/reliability-guarantees.md.

Every name above is importable from `vae_tf.rundir`, as are `RunDirError` and `RunBusy`
(`vae_tf.core.errors`).
"""

from vae_tf.core.errors import RunBusy, RunDirError  # noqa: F401
from vae_tf.rundir.files import (  # noqa: F401
    claim,
    claim_file,
    remove_temporaries,
    save_model,
    write_bytes,
    write_csv,
    write_directory,
    write_figure,
    write_gif,
    write_json,
    write_npz,
    write_text,
    write_with,
)
from vae_tf.rundir.layout import (  # noqa: F401
    CHECKPOINT,
    FORMAT,
    FORMAT_VERSION,
    LOCK,
    OUTPUTS_SCRATCH,
    RUN_FILES,
    SCRATCH_PREFIX,
    SNAPSHOTS,
    TENSORBOARD,
    is_run_directory,
)
from vae_tf.rundir.locks import (  # noqa: F401
    Lock,
    held_lock_files,
    lock,
    remove_dead_lock,
    remove_lock_for,
    writing_into,
)
from vae_tf.rundir.outputs import Outputs, output_file, outputs  # noqa: F401
from vae_tf.rundir.reading import (  # noqa: F401
    DAMAGED,
    Run,
    check_keras_archive,
    how_to_finish,
    load_model,
    read_config,
    read_history,
    read_npz,
)
from vae_tf.rundir.writing import RunWriter  # noqa: F401
