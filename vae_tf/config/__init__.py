"""One configuration object, `TrainConfig`, whose defaults are the report's setup (see `settings`).

No TensorFlow here: every command parses its flags from it in a blink.
"""

from vae_tf.config.settings import (  # noqa: F401
    REGULARIZERS, VARIANT_TITLES, REDUCTIONS, STRATEGIES, XLA_CHOICES, SCHEDULES, POSTERIORS, PRIORS,
    KL_ESTIMATORS, analytic_kl_problem, COLORS, DATASET_HELP, setting, TrainConfig, kl_settings_problem, flag,
    add_arguments, changed_settings, title
)
