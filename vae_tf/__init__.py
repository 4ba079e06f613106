"""vae_tf: the Kullback-Leibler divergence and its variational autoencoder, in Keras 3 + TFP.

`import vae_tf` is instant: TensorFlow is imported only when a name that needs it is first
used (`vae_tf.VAE`, `vae_tf.load_model`, ...), so that every command's --help answers at once.

    import vae_tf
    vae = vae_tf.load_model("runs/kl-report/model.keras")   # a trained vae_tf.VAE
"""

import importlib
import importlib.abc
import importlib.util
import os
import sys

# TensorFlow's C++ INFO and WARNING lines drown the training log; users can set it back.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Compiled XLA programs are kept across runs (vae_tf.core.cache; VAE_TF_CACHE=off turns it off). It
# must be set before TensorFlow is imported, so here, where no TensorFlow is imported yet.
from vae_tf.core import __version__  # noqa: E402, F401 (vae_tf.__version__)
from vae_tf.core import cache as _cache  # noqa: E402
from vae_tf.core.lazy import lazy_names  # noqa: E402

_cache.configure()

# The public API: each module, and the names it defines; a module is imported when one of them is first read.
__getattr__, __dir__, __all__ = lazy_names(__name__, {
    "vae_tf.data.idx": ("CLASS_NAMES", "load_fashion_mnist"),
    "vae_tf.data.spec": ("DataSpec",),
    "vae_tf.data.sources": ("load_data", "load_run_data"),
    "vae_tf.config.settings": ("TrainConfig",),
    "vae_tf.models.vae": ("VAE", "build_decoder", "build_encoder"),
    "vae_tf.models.sampling": ("Sampling",),
    "vae_tf.rundir.reading": ("load_model", "Run"),
})


# Modules of the flat layout (vae_tf 0.1.0 up to d0f4593) -> where they live now, so that code written
# against it keeps working: `import vae_tf.model` (which also registers the VAE class with Keras, as
# docs/getting-started.md said to do before `keras.saving.load_model`) and `from vae_tf.engine import
# build_vae` give the new modules themselves. Nothing in the package imports the old names. The cluster's
# part of the old vae_tf.distributed is vae_tf.training.cluster now.
MOVED_MODULES = {
    "vae_tf.cli": "vae_tf.core.cli",
    "vae_tf.cache": "vae_tf.core.cache",
    "vae_tf.primers": "vae_tf.kl.primers",
    "vae_tf.diagnostics": "vae_tf.kl.diagnostics",
    "vae_tf.datasets": "vae_tf.data.sources",
    "vae_tf.model": "vae_tf.models.vae",
    "vae_tf.architectures": "vae_tf.models.architectures",
    "vae_tf.posteriors": "vae_tf.models.posteriors",
    "vae_tf.priors": "vae_tf.models.priors",
    "vae_tf.likelihoods": "vae_tf.models.likelihoods",
    "vae_tf.losses": "vae_tf.models.losses",
    "vae_tf.schedules": "vae_tf.models.schedules",
    "vae_tf.audit": "vae_tf.models.audit",
    "vae_tf.engine": "vae_tf.training.engine",
    "vae_tf.distributed": "vae_tf.training.distributed",
    "vae_tf.callbacks": "vae_tf.training.callbacks",
    "vae_tf.monitor": "vae_tf.training.monitor",
    "vae_tf.phases": "vae_tf.training.phases",
    "vae_tf.spread": "vae_tf.analysis.spread",
    "vae_tf.browser": "vae_tf.plots.browser",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports a module's old name as its new module (`MOVED_MODULES`)."""

    def find_spec(self, name, path=None, target=None):
        if name in MOVED_MODULES:
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(MOVED_MODULES[spec.name])

    def exec_module(self, module):
        pass  # the new module has run already


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())
