"""vae_tf: the Kullback-Leibler divergence and its variational autoencoder, in Keras 3 + TFP."""

__version__ = "0.1.0"
