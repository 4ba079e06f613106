"""The names of the model's options, and which combinations cannot train, without TensorFlow.

`vae_tf.config.TrainConfig` derives its flags' choices from them and `vae_tf.models.vae.VAE` checks its
settings against them; the registries of `posteriors.py` and `priors.py` hold the same names (a test
checks that they agree).
"""

from __future__ import annotations

__all__ = ["REGULARIZERS", "VARIANT_TITLES", "REDUCTIONS", "SCHEDULES", "POSTERIORS", "PRIORS", "KL_ESTIMATORS",
           "analytic_kl_problem", "kl_settings_problem"]

# The report's three variants, in its order, and how its figures name them.
REGULARIZERS = ("kl", "none", "mse")
VARIANT_TITLES = {"kl": "with KL", "none": "without KL", "mse": "MSE instead of KL"}
REDUCTIONS = ("report", "elbo")
SCHEDULES = ("constant", "linear", "cyclical")
# The registries of vae_tf/models/posteriors.py and vae_tf/models/priors.py, by name (a test checks they agree).
POSTERIORS = ("diagonal", "full", "iaf")
PRIORS = ("standard_normal", "mixture", "vamp")
KL_ESTIMATORS = ("analytic", "monte_carlo")
# What TFP calls each family's distribution, for the refusal of an analytic KL.
_DISTRIBUTION_NAMES = {"diagonal": "MultivariateNormalDiag", "full": "MultivariateNormalTriL",
                       "iaf": "TransformedDistribution (the IAF)", "standard_normal": "MultivariateNormalDiag",
                       "mixture": "MixtureSameFamily", "vamp": "MixtureSameFamily (the VampPrior)"}


def analytic_kl_problem(posterior: str, prior: str) -> str | None:
    """Why KL(q || p) has no analytic form in TFP for this posterior and prior, or None if it has one.

    TFP registers a closed form between two Gaussians (`MultivariateNormalLinearOperator`, which
    covers the diagonal and the full posterior and N(0, I)); it has none for a flow
    (`TransformedDistribution`) or against a mixture (`MixtureSameFamily`, whose KL has no closed form
    at all). `vae_tf.kl.estimators.kl_analytic` asks TFP itself; this is the same answer without TensorFlow,
    for the command line.
    """
    if posterior in ("diagonal", "full") and prior == "standard_normal":
        return None
    return (f"TFP has no closed-form KL between a {_DISTRIBUTION_NAMES[posterior]} posterior and a "
            f"{_DISTRIBUTION_NAMES[prior]} prior; use --kl-estimator monte_carlo")


def kl_settings_problem(settings) -> str | None:
    """Why this combination of posterior, prior and KL estimator cannot train, or None.

    Args:
      settings: anything with the attributes `posterior`, `prior`, `kl_estimator` and `kl_samples`
        (a `TrainConfig`, or the settings of a `vae_tf.VAE`).
    """
    if settings.kl_estimator == "analytic":
        problem = analytic_kl_problem(settings.posterior, settings.prior)
        if problem:
            return f"kl_estimator='analytic': {problem}."
        if settings.kl_samples != 1:
            return (f"kl_samples={settings.kl_samples}: the analytic KL draws no samples; "
                    "use --kl-estimator monte_carlo, or drop --kl-samples.")
    return None
