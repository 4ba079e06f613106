"""Where a run's time goes: wall-clock seconds per phase and the peak memory, for summary.json.

```python
from vae_tf.training.phases import Phases

phases = Phases.start()          # at the start of a run
phases.mark("imports")           # the time since the previous mark goes to "imports"
phases.mark("data")              # ... and since then to "data"
phases.mark("fit")               # the whole of Keras' fit, then split into its epochs:
phases.split_fit(fit_seconds=phases.seconds["fit"], epoch_seconds=[0.0, 0.0])
summary = phases.as_dict()       # {"imports": s, "data": s, "first_epoch": s, ..., "total": s, "peak_rss_mib": MiB}
assert list(summary)[:2] == ["imports", "data"] and summary["peak_rss_mib"] > 0
```

`vae_tf.training.run` records these phases of a run, in order:

    imports       from the process's start (when TensorFlow was not imported yet; otherwise
                  from the run's start) until TensorFlow, Keras, TFP and vae_tf are imported
    data          reading the training and test images
    building      the strategy, the model, config.json, the watchers
    first_epoch   the first epoch's training (tracing, XLA compilation or the cache's load)
    other_epochs  every later epoch's training, summed (`epoch_seconds` lists them one by one)
    validation    the validation passes after the epochs (with --validation)
    epoch_ends    the rest of `fit`: Keras' set-up and the per-epoch callbacks (checkpoints)
    finishing     the latent codes of the training images and the run directory's files
    diagnostics   the test images' codes and `vae_tf.kl.diagnostics.latent_diagnostics`

plus `total` (their sum), `epoch_seconds`, `peak_rss_mib`, the process's resident memory
high-water mark (VmHWM; getrusage's ru_maxrss where there is no /proc) at the end of the run, and
`peak_rss_mib_after`, that mark when each phase was last marked (which phase raised it). No TensorFlow here.
"""

from __future__ import annotations

import os
import sys
import time

PHASES = ("imports", "data", "building", "first_epoch", "other_epochs", "validation", "epoch_ends",
          "finishing", "diagnostics")


def _clock() -> float:
    """Seconds on the clock that /proc/self/stat's start time is counted on (since boot, on Linux)."""
    if hasattr(time, "CLOCK_BOOTTIME"):
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    return time.monotonic()


def process_start() -> float | None:
    """When this process started, on `_clock()`'s scale (Linux), or None where that is unknown."""
    try:
        with open("/proc/self/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime, in clock ticks
    except (OSError, IndexError, ValueError, AttributeError):
        return None


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, MiB: /proc/self/status' VmHWM on Linux, else ru_maxrss.

    VmHWM is this program's own since it started; ru_maxrss also carries the peak of the process
    that started it when that one used vfork (Python's subprocess does): a run started by a large
    benchmark would report the benchmark's peak.
    """
    import resource

    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


class Phases:
    """A stopwatch that hands the time between marks to named phases.

    Args:
      origin: the start, on `_clock()`'s scale (default: now).
    """

    def __init__(self, origin: float | None = None):
        self.seconds: dict[str, float] = {}
        self.peaks: dict[str, float] = {}  # the peak resident memory when each phase ended, MiB
        self._last = _clock() if origin is None else origin

    @classmethod
    def start(cls) -> Phases:
        """A stopwatch for a run that starts now, or at the process's start if TensorFlow is not
        imported yet (then the interpreter's start-up and every import count as "imports")."""
        return cls(process_start() if "tensorflow" not in sys.modules else None)

    def mark(self, name: str) -> float:
        """Give the time since the previous mark to phase `name` (added up if marked again). Returns it."""
        now = _clock()
        elapsed = max(0.0, now - self._last)
        self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
        self.peaks[name] = peak_rss_mib()
        self._last = now
        return elapsed

    def split_fit(self, fit_seconds: float, epoch_seconds, validation_seconds=()) -> None:
        """Split the `fit` phase (marked "fit") into the epochs, validation and the rest.

        Args:
          fit_seconds: the whole `fit` call's seconds.
          epoch_seconds: each epoch's training seconds, in order (`vae_tf.training.callbacks.EpochTimer`).
          validation_seconds: each epoch's validation seconds.
        """
        epochs = list(epoch_seconds)
        self.seconds.pop("fit", None)
        self.seconds["first_epoch"] = epochs[0] if epochs else 0.0
        self.seconds["other_epochs"] = sum(epochs[1:])
        self.seconds["validation"] = sum(validation_seconds)
        self.seconds["epoch_ends"] = max(0.0, fit_seconds - sum(epochs) - self.seconds["validation"])
        self._epochs = epochs

    def as_dict(self) -> dict:
        """JSON-ready: each phase in `PHASES` order (then any other), `total`, `epoch_seconds`, `peak_rss_mib`."""
        ordered = {name: round(self.seconds[name], 4) for name in PHASES if name in self.seconds}
        ordered.update({name: round(value, 4) for name, value in self.seconds.items() if name not in ordered})
        return {**ordered, "total": round(sum(self.seconds.values()), 4),
                "epoch_seconds": [round(s, 4) for s in getattr(self, "_epochs", [])],
                "peak_rss_mib": round(peak_rss_mib(), 1),
                "peak_rss_mib_after": {name: round(value, 1) for name, value in self.peaks.items()}}


def format_phases(phases: dict) -> str:
    """A phases dict (summary.json's "phases") as an aligned text table, seconds and share of the total."""
    total = phases.get("total") or 1.0
    lines = [f"{'phase':<14}{'seconds':>9}{'share':>8}"]
    for name, value in phases.items():
        if name in ("total", "epoch_seconds", "peak_rss_mib", "peak_rss_mib_after"):
            continue
        lines.append(f"{name:<14}{value:>9.2f}{value / total:>8.1%}")
    lines.append(f"{'total':<14}{phases.get('total', 0.0):>9.2f}")
    if phases.get("epoch_seconds"):
        lines.append("epochs: " + " ".join(f"{s:.2f}" for s in phases["epoch_seconds"]))
    lines.append(f"peak memory: {phases.get('peak_rss_mib', 0.0):.0f} MiB")
    return "\n".join(lines)
