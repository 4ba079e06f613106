"""One configuration object, `TrainConfig`, whose defaults are the report's setup (see `settings`).

No TensorFlow here: every command parses its flags from it in a blink. The names of the model's
options (`REGULARIZERS`, `POSTERIORS`, ...) are `vae_tf.models.choices`', re-exported here.
"""

from vae_tf.config.settings import *  # noqa: F401, F403
from vae_tf.models.choices import *  # noqa: F401, F403
