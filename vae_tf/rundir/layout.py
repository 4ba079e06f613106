"""What a run directory holds: its files' names, its format, and how to tell a run directory.

    RUNDIR/
      config.json     every setting, the seed, where the data came from, library versions
      history.csv     one row per epoch: epoch, loss, reconstruction_loss, kl_loss,
                      [mse_loss,] [the same as val_* and val_seconds,] seconds
      model.keras     the trained VAE (`vae_tf.load_model`)
      latents.npz     z_mean, z_log_var, z (sampled codes), y for the training images,
                      in dataset order
      summary.json    final metrics, per-dimension min/max/std of z, the latent diagnostics
                      (`vae_tf.kl.diagnostics`) of the test images, wall time, device, and the
                      run's phases and peak memory (`vae_tf.training.phases`)
      snapshots.npz   with --snapshots: epoch (E,), z_mean (E, N, D) of fixed test images, y (N,)
      tensorboard/    with --tensorboard: TensorBoard's event files (train/, validation/, images/),
                      appended to by TensorBoard's own writers
      checkpoint/     while training: the last completed epoch (removed when the run finishes)
        state.json    the epoch, the history so far, the sampling noise's state
        epoch-NNNN.keras   weights and optimizer state
        snapshots.npz the snapshots so far (with --snapshots)
      .vae_tf-lock    while a process writes there: its pid, host and command (`vae_tf.rundir.locks`)
      .vae_tf-outputs-*   while a command writes its outputs there: their scratch folder
                      (`vae_tf.rundir.outputs`)
"""

from __future__ import annotations

from pathlib import Path

FORMAT = "vae_tf.run"
FORMAT_VERSION = 1
RUN_FILES = ("config.json", "history.csv", "model.keras", "latents.npz", "summary.json")
CHECKPOINT = "checkpoint"
SNAPSHOTS = "snapshots.npz"
TENSORBOARD = "tensorboard"
LOCK = ".vae_tf-lock"
SCRATCH_PREFIX = "vae_tf-worker-"
OUTPUTS_SCRATCH = ".vae_tf-outputs-"  # a command's outputs until they are all written (vae_tf.rundir.outputs)


def is_run_directory(path) -> bool:
    """Whether `path` holds a vae_tf run, finished or not (its config.json or summary.json)."""
    path = Path(path)
    return path.is_dir() and any((path / name).is_file() for name in ("config.json", "summary.json"))
