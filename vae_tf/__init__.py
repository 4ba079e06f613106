"""vae_tf: the Kullback-Leibler divergence and its variational autoencoder, in Keras 3 + TFP.

Importing the package registers its Keras classes, so that
`keras.models.load_model("RUNDIR/model.keras")` works after `import vae_tf`.
"""

import os

__version__ = "0.1.0"

# TensorFlow's C++ INFO and WARNING lines drown the training log; users can set it back.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from vae_tf.config import TrainConfig
from vae_tf.data import CLASS_NAMES, load_fashion_mnist
from vae_tf.model import VAE, Sampling, build_decoder, build_encoder

__all__ = [
    "CLASS_NAMES",
    "VAE",
    "Sampling",
    "TrainConfig",
    "build_decoder",
    "build_encoder",
    "load_fashion_mnist",
]
