"""The bottom layer: what every other layer may use, with no TensorFlow and nothing of vae_tf above it.

- `errors`: the exceptions several layers raise or catch (one line each for the user).
- `cli`: the skeleton every `python -m vae_tf.X` command shares (parsing, one-line errors, exit codes).
- `cache`: the XLA compilation cache, configured before TensorFlow is imported.
- `lazy`: a package's names imported on first use (PEP 562), so that importing it stays cheap.
- `layers`: the layer order of the packages, and the reader of the import graph that checks it.
"""

__version__ = "0.1.0"  # vae_tf.__version__; pyproject.toml's version
