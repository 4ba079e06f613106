"""One configuration object, `TrainConfig`, whose defaults are the report's setup (see `settings`).

No TensorFlow here: every command parses its flags from it in a blink.
"""

from vae_tf.config.settings import (  # noqa: F401
    COLORS,
    DATASET_HELP,
    KL_ESTIMATORS,
    POSTERIORS,
    PRIORS,
    REDUCTIONS,
    REGULARIZERS,
    SCHEDULES,
    STRATEGIES,
    VARIANT_TITLES,
    XLA_CHOICES,
    TrainConfig,
    add_arguments,
    analytic_kl_problem,
    changed_settings,
    flag,
    kl_settings_problem,
    setting,
    title,
)
