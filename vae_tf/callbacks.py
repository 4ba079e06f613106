"""Keras callbacks used by training."""

from __future__ import annotations

import time

import keras


class EpochTimer(keras.callbacks.Callback):
    """Records each epoch's wall time in seconds, in `self.seconds`."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
