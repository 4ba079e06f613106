"""The KL toolkit: every KL formula of vae_tf as a pure function, the primers, and the latent diagnostics.

All functions are pure: arrays in, arrays out, in nats unless said otherwise.
They know nothing about Keras, files or the command line. Every formula is `vae_tf.kl.NAME`,
defined in one of four modules, by what it takes:

* `vae_tf.kl.discrete`: discrete distributions (NumPy): `kl_discrete`, `entropy`, `cross_entropy`
  for probability vectors along the last axis, in nats or bits; `histogram_kl` for two samples
  binned on shared bins (the report's figure and the true KL of the histogram densities).
* `vae_tf.kl.gaussian`: Gaussians in closed form (TensorFlow): `kl_gaussian` (univariate),
  `kl_diag_gaussian` (diagonal), and the VAE's `kl_standard_normal` from `z_mean` and `z_log_var`.
* `vae_tf.kl.estimators`: any pair of TFP distributions: `kl_analytic` (TFP's registered closed
  form, refused with the reason where TFP has none), `kl_monte_carlo` (an estimate with its
  standard error), `kl_sample_mean` (the VAE's Monte Carlo KL term from given draws,
  `--kl-estimator monte_carlo`), `kl_numerical` (quadrature on a grid, univariate only), and the
  VAE's `kl_standard_normal_tfp`.
* `vae_tf.kl.grid`: densities tabulated on a grid (TensorFlow, differentiable): `kl_grid_integral`
  (the trapezoid-rule KL) and `kl_grid_mean` (the fitting experiment's "kl_div" loss).

Conventions for every formula here: 0 log(0/q) = 0, and p log(p/0) = +inf for p > 0.

`vae_tf.kl.primers` holds the report's worked examples, `vae_tf.kl.fitting` the experiment that fits one
Gaussian to a two-peaked target by minimising a KL (or MSE, L1, cosine), and `vae_tf.kl.diagnostics`
the posterior-collapse measures of a VAE's codes (active units, KL per dimension).

The names are imported on first use (PEP 562), so that `vae_tf.kl.diagnostics`, which needs only
NumPy, can be imported without TensorFlow.
"""

from vae_tf.core.lazy import lazy_names

# Each module of this package, and the names it defines; a module is imported when one of them is first read.
__getattr__, __dir__, __all__ = lazy_names(__name__, {
    ".discrete": ("UNITS", "entropy", "cross_entropy", "kl_discrete", "HistogramKL", "histogram_kl"),
    ".gaussian": ("kl_gaussian", "kl_diag_gaussian", "kl_standard_normal"),
    ".estimators": (
        "diag_gaussian", "standard_normal_prior", "kl_standard_normal_tfp", "kl_analytic", "MonteCarloKL",
        "kl_monte_carlo", "kl_sample_mean", "kl_numerical",
    ),
    ".grid": ("kl_grid_mean", "kl_grid_integral"),
})
