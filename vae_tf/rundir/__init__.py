"""The run directory: the one package that writes it and reads it back.
"""

from vae_tf.rundir.rundir import (  # noqa: F401
    FORMAT, FORMAT_VERSION, RUN_FILES, CHECKPOINT, SNAPSHOTS, TENSORBOARD, LOCK, SCRATCH_PREFIX, RunDirError,
    RunBusy, write_text, write_bytes, write_json, write_csv, write_npz, save_model, write_figure, write_gif,
    claim, claim_file, is_run_directory, how_to_finish, Lock, lock, held_lock_files, remove_lock_for,
    remove_dead_lock, remove_temporaries, writing_into, DAMAGED, read_history, read_config, Run, read_npz,
    check_keras_archive, load_model, RunWriter
)
