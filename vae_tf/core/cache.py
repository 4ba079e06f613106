"""The compilation cache: XLA programs compiled by one run are loaded, not compiled, by the next.

TensorFlow's persistent XLA cache (`--tf_xla_persistent_cache_directory` in $TF_XLA_FLAGS) is
on by default, under

    ${XDG_CACHE_HOME:-~/.cache}/vae_tf/xla/<machine>/

where <machine> names the TensorFlow version and a hash of the CPU's model and instruction-set
flags (a compiled program is machine code: a cache shared between machines over a network home
directory must not hand one machine's code to another). Each file holds one compiled program
(about 0.8 MB for the report's train step); delete the directory at any time to empty it.

    VAE_TF_CACHE=off      no cache (TensorFlow compiles every run, as without vae_tf)
    VAE_TF_CACHE=DIR      the cache in DIR instead

It must be configured before TensorFlow is imported (TensorFlow reads $TF_XLA_FLAGS once):
`import vae_tf` does it (`configure()`); flags already in $TF_XLA_FLAGS are kept, and a
persistent-cache directory already set there wins unless $VAE_TF_CACHE is set. No TensorFlow here.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

ENV = "VAE_TF_CACHE"
FLAG = "--tf_xla_persistent_cache_directory"


def base_dir(environ=None) -> Path:
    """vae_tf's cache directory: $XDG_CACHE_HOME/vae_tf, or ~/.cache/vae_tf."""
    environ = os.environ if environ is None else environ
    root = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "vae_tf"


def machine_key() -> str:
    """"tf<version>-<hash>": the TensorFlow version and 12 hex digits of the CPU's model and flags."""
    tf_version = _installed_version("tensorflow") or "unknown"
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            lines = [line for line in handle if line.startswith(("model name", "flags"))]
        cpu = "".join(sorted(set(lines)))
    except OSError:
        import platform

        cpu = f"{platform.machine()} {platform.processor()}"
    return f"tf{tf_version}-{hashlib.sha256(cpu.encode()).hexdigest()[:12]}"


def _installed_version(name: str) -> str | None:
    """The version in the first `name-VERSION.dist-info` on sys.path (importlib.metadata costs ~40 ms)."""
    prefix = f"{name}-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for item in names:
            if item.startswith(prefix) and item.endswith(".dist-info"):
                return item[len(prefix):-len(".dist-info")]
    return None


def xla_cache_dir(environ=None) -> Path | None:
    """Where compiled XLA programs are kept, or None when $VAE_TF_CACHE is "off" (or "0", "no", "false")."""
    environ = os.environ if environ is None else environ
    setting = environ.get(ENV, "").strip()
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    if setting and setting.lower() not in ("on", "1", "yes", "true"):
        return Path(setting).expanduser()
    return base_dir(environ) / "xla" / machine_key()


def configure(environ=None, tensorflow_imported: bool | None = None) -> Path | None:
    """Turn TensorFlow's persistent XLA cache on in $TF_XLA_FLAGS, unless TensorFlow is already
    imported, $VAE_TF_CACHE is off, or the flags already name a cache directory ($VAE_TF_CACHE,
    if set, replaces that one: "off" removes it).

    Args:
      environ: the environment to read and change (default: os.environ).
      tensorflow_imported: whether TensorFlow is imported already (default: look in sys.modules).

    Returns:
      The cache directory in effect (from $TF_XLA_FLAGS if set there), or None.
    """
    environ = os.environ if environ is None else environ
    if tensorflow_imported is None:
        tensorflow_imported = "tensorflow" in sys.modules
    flags = environ.get("TF_XLA_FLAGS", "")
    if FLAG in flags:
        before, after = flags.split(FLAG, 1)
        value = after.lstrip("= ").split(maxsplit=1)
        if not environ.get(ENV, "").strip():  # a directory set in $TF_XLA_FLAGS wins over the default
            return Path(value[0]) if value else None
        # $VAE_TF_CACHE set explicitly wins (e.g. over flags inherited from a parent process)
        flags = f"{before} {value[1] if len(value) > 1 else ''}".strip()
    directory = xla_cache_dir(environ)
    if tensorflow_imported:
        return None
    if directory is None:
        if flags != environ.get("TF_XLA_FLAGS", ""):
            environ["TF_XLA_FLAGS"] = flags
        return None
    environ["TF_XLA_FLAGS"] = f"{flags} {FLAG}={directory}".strip()
    return directory
