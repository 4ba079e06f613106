"""The bottom layer: what every other layer may use, with no TensorFlow and nothing of vae_tf above it.

- `errors`: the exceptions several layers raise or catch (one line each for the user).
- `cli`: the skeleton every `python -m vae_tf.X` command shares (parsing, one-line errors, exit codes).
- `cache`: the XLA compilation cache, configured before TensorFlow is imported.
"""
