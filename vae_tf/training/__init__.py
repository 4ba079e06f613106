"""Training: how a run is fed, compiled, looped, distributed, watched and timed.

It builds a `vae_tf.models.VAE` from a `vae_tf.config.TrainConfig`, trains it on `vae_tf.data`, and writes
a run directory through `vae_tf.rundir`.
"""
