"""Training: how a run is fed, compiled, looped, distributed, watched and timed.

It builds a `vae_tf.models.vae.VAE` from a `vae_tf.config.TrainConfig`, trains it on `vae_tf.data`, and writes
a run directory through `vae_tf.rundir`.

- `run`: the story of a run, `train` and `resume`, from a `TrainConfig` to a finished run directory.
- `engine`: how the images are fed (the fast path's datasets, the report's path) and the model compiled.
- `loops`: the train functions that run several steps per call (one XLA loop per call; across workers).
- `distributed`: `tf.distribute` strategies and each replica's share of the data.
- `cluster`: the processes of a multi-worker run: `$TF_CONFIG`, who writes, signals, a lost worker.
- `callbacks`, `monitor`: Keras callbacks: timing, checkpoints, stops; validation, snapshots, TensorBoard.
- `phases`: where a run's time goes, and its peak memory.
"""
