"""Keras callbacks used by training: epoch timing, per-epoch checkpoints, stopping on NaN."""

from __future__ import annotations

import math
import time

import keras


class EpochTimer(keras.callbacks.Callback):
    """Records each epoch's training time in seconds, in `self.seconds`, and the validation that
    follows it, if any, in `self.validation_seconds`."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self.validation_seconds: list[float] = []
        self._start = self._validation_start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._validation_start = None

    def on_test_begin(self, logs=None):
        self._validation_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        end = time.perf_counter()
        self.seconds.append((self._validation_start or end) - self._start)
        self.validation_seconds.append(end - self._validation_start if self._validation_start else 0.0)


class EpochCheckpoint(keras.callbacks.Callback):
    """After every completed epoch, records its row of history.csv and checkpoints the run.

    Args:
      run: the `vae_tf.rundir.writing.RunWriter` of the run (its `history` holds a resumed run's earlier epochs).
      metric_names: the loss terms to record.
      timer: the `EpochTimer` whose seconds go into each row.
      validation: record the validation terms (`val_` + each metric name) and `val_seconds` too.
      snapshots: the run's `vae_tf.training.monitor.LatentSnapshots`, checkpointed with it, or None.
    """

    def __init__(self, run, metric_names: list[str], timer: EpochTimer, validation: bool = False, snapshots=None):
        super().__init__()
        self.run = run
        self.history = run.history
        self.metric_names = list(metric_names) + ([f"val_{name}" for name in metric_names] if validation else [])
        self.validation = validation
        self.timer = timer
        self.snapshots = snapshots

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.model.stop_training or not all(math.isfinite(float(logs.get(name, "nan")))
                                               for name in self.metric_names):
            return  # an epoch cut short or gone non-finite is not a state to resume from
        self.history.append({"epoch": epoch + 1, **{name: float(logs[name]) for name in self.metric_names},
                             **({"val_seconds": self.timer.validation_seconds[-1]} if self.validation else {}),
                             "seconds": self.timer.seconds[-1]})
        self.run.save_checkpoint(self.model, self.history,
                                 self.snapshots.arrays() if self.snapshots is not None else None,
                                 sampling_state=self.model.sampling.seed_generator.state.numpy().tolist())


class ObeyInterrupt(keras.callbacks.Callback):
    """Stops training at the next batch or epoch end once a SIGTERM or SIGINT has been
    taken, with a KeyboardInterrupt, even if the one the signal handler raised was lost.

    Python ignores an exception raised in a finalizer ("Exception ignored in ..."), and a signal can
    be handled in one: TensorFlow's eager all-reduce leaves a `multiprocessing.pool.ThreadPool`
    behind on every call, whose finalizer joins a thread. A SIGTERM handled there used to let a
    cluster's worker train on to the end and exit 0.

    Args:
      taken: a function that says whether a SIGTERM or SIGINT has been taken
        (`vae_tf.training.interrupts.interrupt_taken`).
    """

    def __init__(self, taken):
        super().__init__()
        self.taken = taken

    def _obey(self, *_, **__):
        if self.taken():
            raise KeyboardInterrupt

    on_train_batch_end = on_test_batch_end = on_epoch_begin = on_epoch_end = _obey


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training as soon as the logged loss is NaN or infinite, and says where.

    Keras logs after every call of the train function, i.e. every `steps_per_execution` steps,
    so the step named is the first check at which the loss was no longer finite.
    """

    def __init__(self, steps_per_execution: int = 1):
        super().__init__()
        self.steps_per_execution = steps_per_execution
        self.failure: str | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        bad = {name: float(value) for name, value in logs.items() if not math.isfinite(float(value))}
        if bad and self.failure is None:
            where = f"epoch {self._epoch + 1}, step {batch + 1}"
            if self.steps_per_execution > 1:
                where += f" (losses are checked every {self.steps_per_execution} steps)"
            terms = ", ".join(f"{name}={value}" for name, value in bad.items())
            self.failure = (
                f"the loss became non-finite at {where}: {terms}. Likely cause: a learning rate too high "
                "for this loss (try --learning-rate 1e-4) or a very large --beta."
            )
            self.model.stop_training = True
