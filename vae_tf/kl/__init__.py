"""The KL toolkit: every KL formula of vae_tf as a pure function, the primers, and the latent diagnostics.

No Keras model here: arrays (or TFP distributions) in, arrays out, in nats unless said otherwise.
`vae_tf.kl.kl_gaussian(...)` and the rest are defined in `vae_tf.kl.divergences` (see its docstring);
`vae_tf.kl.primers` holds the worked examples, `vae_tf.kl.diagnostics` the posterior-collapse measures.

The names are imported on first use (PEP 562), so that `vae_tf.kl.diagnostics`, which needs only
NumPy, can be imported without TensorFlow.
"""

import importlib

# name -> the module of this package that defines it.
_DEFINED_IN = {
    "UNITS": "divergences",
    "entropy": "divergences",
    "cross_entropy": "divergences",
    "kl_discrete": "divergences",
    "HistogramKL": "divergences",
    "histogram_kl": "divergences",
    "kl_gaussian": "divergences",
    "kl_diag_gaussian": "divergences",
    "kl_standard_normal": "divergences",
    "diag_gaussian": "divergences",
    "standard_normal_prior": "divergences",
    "kl_standard_normal_tfp": "divergences",
    "kl_analytic": "divergences",
    "MonteCarloKL": "divergences",
    "kl_monte_carlo": "divergences",
    "kl_sample_mean": "divergences",
    "kl_numerical": "divergences",
    "kl_grid_mean": "divergences",
    "kl_grid_integral": "divergences",
}

__all__ = sorted(_DEFINED_IN)


def __getattr__(name):
    if name in _DEFINED_IN:
        value = getattr(importlib.import_module(f"vae_tf.kl.{_DEFINED_IN[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vae_tf.kl' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_DEFINED_IN])
