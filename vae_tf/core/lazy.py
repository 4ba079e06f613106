"""Names a package imports on first use (PEP 562), so that importing the package stays cheap.

A package's `__init__` lists, for each of its modules, the public names the module defines; a
module is imported when one of its names is first read (`vae_tf.plots.latent_scatter` imports
matplotlib, importing `vae_tf.plots.grids` does not). Standard library only.

    __getattr__, __dir__, __all__ = lazy_names(__name__, {
        ".discrete": ("entropy", "kl_discrete"),       # relative to the package, or absolute
        "vae_tf.models.vae": ("VAE",),
    })
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping


def lazy_names(package: str, modules: Mapping[str, Iterable[str]]) -> tuple[Callable, Callable, list[str]]:
    """The module-level `__getattr__`, `__dir__` and `__all__` of a package whose names are imported on first use.

    Args:
      package: the package's name (its `__init__`'s `__name__`).
      modules: module -> the names it defines that the package offers; a module is absolute
        (`vae_tf.data.spec`) or relative to the package (`.latent`).

    Returns:
      (__getattr__, __dir__, __all__): assign them at the top of the package's `__init__`. A name,
      once read, is kept in the package's namespace, so that its module is looked up once.
    """
    namespace = sys.modules[package].__dict__
    defined_in = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name):
        if name in defined_in:
            value = getattr(importlib.import_module(defined_in[name], package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted([*namespace, *defined_in])

    return __getattr__, __dir__, sorted(defined_in)
