"""Analysis of trained runs: evaluation in nats, the spread of the codes, compression, sweeps.

It reads run directories (`vae_tf.rundir`) and, for the experiments that need runs, trains them
through `vae_tf.training`; it never changes a run it reads.
"""
