"""vae_tf: the Kullback-Leibler divergence and its variational autoencoder, in Keras 3 + TFP.

`import vae_tf` is instant: TensorFlow is imported only when a name that needs it is first
used (`vae_tf.VAE`, `vae_tf.load_model`, ...), so that every command's --help answers at once.

    import vae_tf
    vae = vae_tf.load_model("runs/kl-report/model.keras")   # a trained vae_tf.VAE
"""

import importlib
import os

__version__ = "0.1.0"

# TensorFlow's C++ INFO and WARNING lines drown the training log; users can set it back.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Compiled XLA programs are kept across runs (vae_tf.cache; VAE_TF_CACHE=off turns it off). It
# must be set before TensorFlow is imported, so here, where no TensorFlow is imported yet.
from vae_tf import cache as _cache  # noqa: E402

_cache.configure()

# name -> the module that defines it, imported on first use (PEP 562).
_LAZY = {
    "CLASS_NAMES": "vae_tf.data",
    "load_fashion_mnist": "vae_tf.data",
    "DataSpec": "vae_tf.data",
    "load_data": "vae_tf.datasets",
    "load_run_data": "vae_tf.datasets",
    "TrainConfig": "vae_tf.config",
    "VAE": "vae_tf.model",
    "Sampling": "vae_tf.model",
    "build_decoder": "vae_tf.model",
    "build_encoder": "vae_tf.model",
    "load_model": "vae_tf.rundir",
    "Run": "vae_tf.rundir",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vae_tf' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
