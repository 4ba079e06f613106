"""Room in memory: a size numpy or TensorFlow could not allocate is refused before the work, in one line.

    check_fits(10_000**2 * 784 * 4, "--grid-size 10000 (100,000,000 images of 28 x 28 x 1 pixels)",
               "choose a smaller --grid-size")

The figure compared with is the memory the operating system says is available now (Linux's
MemAvailable), or else the machine's physical memory: a request above it would fail inside numpy
or TensorFlow with a traceback, or make the kernel kill the process, after part of the work.
"""

from __future__ import annotations

import os

from vae_tf.core.errors import UsageError


def available_bytes() -> int | None:
    """The memory this process could allocate now, in bytes (None: unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError, AttributeError):
        return None


def format_bytes(count: float) -> str:
    """`count` bytes in binary units, e.g. 3.1 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def check_fits(needed: float, what: str, fix: str, error: type[Exception] = UsageError) -> None:
    """Refuse `what` if it needs more than the memory available.

    Args:
      needed: bytes the work would allocate.
      what: the value that asks for it, for the message (e.g. "--grid-size 10000").
      fix: what to do instead (e.g. "choose a smaller --grid-size").
      error: the exception to raise (a command's UsageError, the data's DataError, ValueError...).

    Raises:
      `error`: `needed` is above `available_bytes()`; its one-sentence message names both.
    """
    available = available_bytes()
    if available is not None and needed > available:
        raise error(f"{what} would need about {format_bytes(needed)} of memory, more than the "
                    f"{format_bytes(available)} available; {fix}.")
