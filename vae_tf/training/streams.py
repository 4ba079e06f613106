"""Training on a streamed data set (`vae_tf.data.streaming.Stream`): its batches for `fit`, and its codes.

The fast path's form is kept: each element of the dataset is one call's batches stacked
(`CALL_BATCHES`, and the epoch's smaller last batch as `CALL_LAST`), which the train function runs
in one XLA loop (`vae_tf.training.loops.call_train_function`), several steps per call. A call
takes `steps_per_call x batch_size` images of the epoch's stream (`Dataset.rebatch`), so the
images are cut into batches exactly as the in-memory path cuts its permutation. Each epoch is its
own pipeline (`Stream.epoch_blocks(split, seed, epoch)`), so a run resumed after epoch e sees the
batches an uninterrupted one would. Memory: the stream's own (a few shards, or a shuffle
buffer), plus two calls' images in flight.

`--no-fast` takes the stream's batches as float64 in [0, 1] (`as_input`), one a step. Under a
strategy of several replicas (`distributed_stream`) each worker reads only its own stretch of each
epoch's order (`pipeline_share`), cut into its replicas' shares of every step's global batch.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from vae_tf.config import TrainConfig
from vae_tf.data.streaming import Stream
from vae_tf.models.replicas import across_workers
from vae_tf.training.distributed import share_bounds
from vae_tf.training.engine import call_steps, fast_steps_per_execution, steps_per_epoch, workers_steps_per_call
from vae_tf.training.loops import CALL_BATCHES, CALL_LAST

CALL_BYTES = 16 * 2**20  # at most this many bytes of images per call (the in-memory path's 67 steps of 784 bytes fit)


def stream_steps_per_call(config: TrainConfig, stream: Stream, strategy=None) -> int | None:
    """Steps per call on a stream in one device: the in-memory path's (`call_steps`), fewer if a call's images would
    exceed `CALL_BYTES` (a divisor of the steps per epoch all the same); None under op determinism, `--no-fast` or
    a strategy of several devices."""
    images = stream.counts["train"]
    if not call_steps(config, images, strategy):
        return None
    image_bytes = stream.spec.pixels * np.dtype(stream.spec.dtype).itemsize
    most = max(1, min(100, CALL_BYTES // (config.batch_size * image_bytes)))
    return fast_steps_per_execution(steps_per_epoch(images, config.batch_size), most)


def stream_problem(stream: Stream, config: TrainConfig) -> str | None:
    """Why `config` cannot train on a streamed data set, or None."""
    if config.strategy == "multiworker" and stream.spec.name == "tfds":
        return (f"--strategy multiworker cannot split {stream.spec.source} between the workers: TFDS' stream is one "
                "shuffle buffer over the stored records, which every worker would have to read whole; pack it into "
                f"shards once (python -m vae_tf.data pack {stream.spec.source} --out DIR, with the same --data-dir) "
                "and train on --dataset shards:DIR, whose workers each read their own shards")
    return None


def stream_fit_inputs(stream: Stream, config: TrainConfig, first_epoch: int = 0, strategy=None) -> dict:
    """`fit` keyword arguments feeding epochs `first_epoch` .. `config.epochs - 1` of `stream`'s training split.

    In one device: the fast path's calls (`as_call`), or one batch an element (op determinism; and
    `--no-fast`, as float64 in [0, 1]: the report's Keras path, fed the stream's order instead of
    Keras' shuffle). Under a strategy of several replicas: `distributed_stream`.
    """
    images = stream.counts["train"]
    steps = steps_per_epoch(images, config.batch_size)
    if strategy is not None and strategy.num_replicas_in_sync > 1:
        calls = workers_steps_per_call(config, images, strategy)
        return {"x": distributed_stream(strategy, stream, config, first_epoch, with_rows=bool(calls)),
                "steps_per_epoch": steps // (calls or 1), "shuffle": False}
    per_call = stream_steps_per_call(config, stream, strategy)
    pixels = stream.spec.pixels

    def one_epoch(epoch):
        rows = stream.epoch_blocks("train", config.seed, epoch).map(lambda block: tf.reshape(block, (-1, pixels)))
        if per_call is None:  # op determinism, --no-fast: Keras' own train function, one batch an element
            return rows.rebatch(config.batch_size).map(functools.partial(as_input, fast=config.fast))
        return rows.rebatch(per_call * config.batch_size).map(functools.partial(as_call, batch=config.batch_size))

    return {"x": joined_epochs(one_epoch, config, first_epoch).prefetch(2), "steps_per_epoch": steps,
            "shuffle": False}


def joined_epochs(one_epoch, config: TrainConfig, first_epoch: int):
    """The datasets `one_epoch(e)` of epochs `first_epoch` .. `config.epochs - 1`, one after the other."""
    epochs = [one_epoch(epoch) for epoch in range(first_epoch, max(config.epochs, first_epoch + 1))]
    return functools.reduce(lambda joined, epoch: joined.concatenate(epoch), epochs)


def as_input(images, fast: bool = True):
    """A batch as the model takes it: as stored on the fast path; float64 in [0, 1] on the report's (`--no-fast`),
    the array `x / 255.` the report's code feeds Keras."""
    if fast:
        return images
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float64) / 255.0
    return tf.cast(images, tf.float64)


def pipeline_share(images: int, batch: int, replicas: int, first: int, local: int):
    """What one input pipeline (a worker) feeding replicas `first` .. `first + local - 1` of `replicas` reads.

    Each step's global batch is cut into the replicas' shares (`share_bounds`); a worker's replicas'
    shares are consecutive, so over an epoch of `images` its shares add up to a stretch of the epoch's
    order, the same length every epoch: the workers' stretches follow each other and cover the epoch,
    every image exactly once, and every worker runs `steps_per_epoch(images, batch)` steps.

    Returns:
      ((start, end), sizes): the stretch of the epoch's order, and the worker's batch at each step (a
      list of `steps_per_epoch` ints; one may be 0 in the smaller last step).
    """
    steps = steps_per_epoch(images, batch)
    last = images - (steps - 1) * batch

    def span(size):
        return share_bounds(size, first, replicas)[0], share_bounds(size, first + local - 1, replicas)[1]

    (full_start, full_end), (last_start, last_end) = span(batch), span(last)
    start = (steps - 1) * full_start + last_start
    sizes = [full_end - full_start] * (steps - 1) + [last_end - last_start]
    return (start, start + sum(sizes)), sizes


def input_pipelines(strategy) -> int:
    """How many workers read input under `strategy`: the cluster's, or 1 (one process, any number of replicas)."""
    if not across_workers(strategy):
        return 1
    spec = strategy.cluster_resolver.cluster_spec()
    return sum(spec.num_tasks(job) for job in ("chief", "worker") if job in spec.jobs)


def distributed_stream(strategy, stream: Stream, config: TrainConfig, first_epoch: int, with_rows: bool = False):
    """A distributed dataset of `stream`'s epochs: each worker reads only its stretch of each epoch (`pipeline_share`).

    Every step each replica gets its share (`share_bounds`) of the step's global batch: images as
    `as_input` gives them, or with `with_rows` a dict of `images`, `first_row` and `batch_size` (as
    `vae_tf.training.distributed.distribute_batches` gives them). Endless: `fit` ends each epoch
    after `steps_per_epoch` steps, and no step asks the workers whether they still have data.
    """
    images, batch = stream.counts["train"], config.batch_size
    steps = steps_per_epoch(images, batch)
    step_sizes = [batch] * (steps - 1) + [images - (steps - 1) * batch]

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        replicas = context.num_replicas_in_sync
        local = replicas // context.num_input_pipelines
        first = context.input_pipeline_id * local
        rows, sizes = pipeline_share(images, batch, replicas, first, local)

        def one_epoch(epoch):
            blocks = stream.epoch_blocks("train", config.seed, epoch, None if rows == (0, images) else rows)
            batches = blocks.map(lambda block: tf.reshape(block, (-1, stream.spec.pixels))).rebatch(
                tf.constant(sizes, tf.int64))
            return tf.data.Dataset.zip(batches, tf.data.Dataset.from_tensor_slices(tf.constant(step_sizes, tf.int64)))

        def shares(worker_batch, size):  # this worker's replicas' shares of one global batch, in replica order
            offset = share_bounds(size, first, replicas)[0]

            def share(replica):
                start, end = share_bounds(size, replica, replicas)
                x = as_input(worker_batch[start - offset:end - offset], config.fast)
                if not with_rows:
                    return x
                return {"images": x, "first_row": tf.cast(start, tf.int32), "batch_size": tf.cast(size, tf.int32)}

            return tf.data.Dataset.range(first, first + local).map(share)

        return joined_epochs(one_epoch, config, first_epoch).flat_map(shares).repeat().apply(
            tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY)).prefetch(2)

    return strategy.distribute_datasets_from_function(dataset_fn)


def training_record(stream: Stream, config: TrainConfig, strategy, first_epoch: int = 0) -> dict:
    """What config.json adds under "data" -> "stream" about training: where the batches come from and, under a
    strategy of several replicas, what each worker reads (its stretch of epoch `first_epoch`, in words)."""
    record = {"batches": "the stream's per-epoch order, cut into batches of --batch-size in that order"
              + ("" if config.fast else " (--no-fast: float64 in [0, 1], not Keras' shuffle)")}
    if strategy is None or strategy.num_replicas_in_sync <= 1:
        return record
    images, replicas, workers = stream.counts["train"], strategy.num_replicas_in_sync, input_pipelines(strategy)
    local = replicas // workers
    reads = []
    for worker in range(workers):
        rows, _ = pipeline_share(images, config.batch_size, replicas, worker * local, local)
        reads.append({"worker": worker, "images": rows[1] - rows[0],
                      "reads": stream.reading("train", config.seed, first_epoch, rows)})
    return {**record, "workers": reads, "epoch": first_epoch + 1}


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
