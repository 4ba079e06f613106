"""The KL toolkit: every KL formula of vae_tf as a pure function, the primers, and the latent diagnostics.

No Keras model here: arrays (or TFP distributions) in, arrays out, in nats unless said otherwise.
`vae_tf.kl.kl_gaussian(...)` and the rest are defined in `vae_tf.kl.divergences` (see its docstring);
`vae_tf.kl.primers` holds the worked examples, `vae_tf.kl.diagnostics` the posterior-collapse measures.
"""

from vae_tf.kl.divergences import (  # noqa: F401
    UNITS,
    HistogramKL,
    MonteCarloKL,
    cross_entropy,
    diag_gaussian,
    entropy,
    histogram_kl,
    kl_analytic,
    kl_diag_gaussian,
    kl_discrete,
    kl_gaussian,
    kl_grid_integral,
    kl_grid_mean,
    kl_monte_carlo,
    kl_numerical,
    kl_sample_mean,
    kl_standard_normal,
    kl_standard_normal_tfp,
    standard_normal_prior,
)
