"""The model and its parts: what a VAE computes, and nothing of how it is fed, looped or saved.

- `vae`: the `VAE` Keras model (its losses and its `train_step`), `sampling`: the reparameterisation.
- `inference`: the VAE's NumPy many-images methods and its TFP distributions (a mixin), `as_pixels`.
- `replicas`: the VAE's step under `tf.distribute` (a replica's rows of the batch; a mixin).
- `architectures`: the encoder and decoder networks (a registry: `mlp`, `conv`).
- `posteriors`, `priors`, `likelihoods`: q(z|x), p(z) and p(x|z) (registries of TFP families).
- `losses`, `schedules`, `audit`: the loss terms, the KL weight over training, what the KL weighs.
- `choices`: the names of the regularisers, reductions, schedules, posteriors, priors and KL estimators,
  without TensorFlow, for the command line (architectures and likelihoods keep their `NAMES` in their
  own modules, which import TensorFlow only inside functions).
"""
