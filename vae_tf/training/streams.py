"""Training on a streamed data set (`vae_tf.data.streaming.Stream`): its batches for `fit`, and its codes.

The fast path's form is kept: each element of the dataset is one call's batches stacked
(`CALL_BATCHES`, and the epoch's smaller last batch as `CALL_LAST`), which the train function runs
in one XLA loop (`vae_tf.training.loops.call_train_function`), several steps per call. A call
takes `steps_per_call x batch_size` images of the epoch's stream (`Dataset.rebatch`), so the
images are cut into batches exactly as the in-memory path cuts its permutation. Each epoch is its
own pipeline (`Stream.epoch_blocks(split, seed, epoch)`), so a run resumed after epoch e sees the
batches an uninterrupted one would. Memory: the stream's own (a few shards, or a shuffle
buffer), plus two calls' images in flight.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from vae_tf.config import TrainConfig
from vae_tf.data.streaming import Stream
from vae_tf.training.engine import call_steps, fast_steps_per_execution, steps_per_epoch
from vae_tf.training.loops import CALL_BATCHES, CALL_LAST

CALL_BYTES = 16 * 2**20  # at most this many bytes of images per call (the in-memory path's 67 steps of 784 bytes fit)


def stream_steps_per_call(config: TrainConfig, stream: Stream) -> int | None:
    """Steps per call on a stream: the in-memory path's (`call_steps`), fewer if a call's images would
    exceed `CALL_BYTES` (a divisor of the steps per epoch all the same); None under op determinism."""
    images = stream.counts["train"]
    if not call_steps(config, images):
        return None
    image_bytes = stream.spec.pixels * np.dtype(stream.spec.dtype).itemsize
    most = max(1, min(100, CALL_BYTES // (config.batch_size * image_bytes)))
    return fast_steps_per_execution(steps_per_epoch(images, config.batch_size), most)


def stream_problem(stream: Stream, config: TrainConfig) -> str | None:
    """Why `config` cannot train on a streamed data set, or None."""
    if not config.fast:
        return (f"--no-fast trains on the whole float64 array, but {stream.spec.source} is streamed; drop --no-fast "
                "(or give a --data-memory it fits in)")
    if config.strategy != "default":
        return (f"--strategy {config.strategy} is not yet fed from a stream ({stream.spec.source}); train with the "
                "default strategy, or give a --data-memory the data fits in")
    return None


def stream_fit_inputs(stream: Stream, config: TrainConfig, first_epoch: int = 0) -> dict:
    """`fit` keyword arguments feeding epochs `first_epoch` .. `config.epochs - 1` of `stream`'s training split."""
    images = stream.counts["train"]
    steps = steps_per_epoch(images, config.batch_size)
    per_call = stream_steps_per_call(config, stream)
    pixels = stream.spec.pixels

    def one_epoch(epoch):
        rows = stream.epoch_blocks("train", config.seed, epoch).map(lambda block: tf.reshape(block, (-1, pixels)))
        if per_call is None:  # op determinism: Keras' own train function, one batch an element
            return rows.rebatch(config.batch_size)
        return rows.rebatch(per_call * config.batch_size).map(functools.partial(as_call, batch=config.batch_size))

    epochs = [one_epoch(epoch) for epoch in range(first_epoch, max(config.epochs, first_epoch + 1))]
    dataset = functools.reduce(lambda joined, epoch: joined.concatenate(epoch), epochs)
    return {"x": dataset.prefetch(2), "steps_per_epoch": steps, "shuffle": False}


def as_call(images, batch: int) -> dict:
    """A call's images (n, P) as `make_call_dataset`'s element: its full batches (n // b, b, P) and the rest (r, P)."""
    full = tf.shape(images)[0] // batch
    return {CALL_BATCHES: tf.reshape(images[:full * batch], (full, batch, -1)), CALL_LAST: images[full * batch:]}


def stream_codes(vae, stream: Stream, seed: int) -> dict:
    """`vae.sample_codes` of every training image of `stream`, in the stored order, a chunk at a time.

    A chunk's noise is seeded with `seed + 1000 * chunk` (one array could not hold all the images).
    """
    parts = [vae.sample_codes(images, seed + 1000 * number)
             for number, (images, _) in enumerate(stream.chunks("train"))]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
