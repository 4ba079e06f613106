"""Training under `tf.distribute`: the strategies' devices, and each replica's share of every batch.

- `make_multiworker_strategy`: `MultiWorkerMirroredStrategy` from $TF_CONFIG, once every worker
  has joined (the cluster itself, who writes and the wait: `vae_tf.training.cluster`).
- `ensure_cpu_devices`: logical CPUs, for `--strategy mirrored --devices /cpu:0 /cpu:1`.
- `distribute_batches`: each worker gathers only its replicas' shares (`share_bounds`) of every
  global batch.
- `weights_fingerprint`: a short hash that shows the workers' copies of the model are identical.

Nothing here imports TensorFlow at module level.
"""

from __future__ import annotations

import hashlib
import os

from vae_tf.training.cluster import (
    heartbeat_timeout_seconds,
    own_port_in_use,
    read_tf_config,
    threads_per_worker,
    waiting_for_the_cluster,
)


def make_multiworker_strategy():
    """`MultiWorkerMirroredStrategy` from $TF_CONFIG, checked first.

    Must run before TensorFlow runs any op. It returns once every worker has started.

    No collective timeout is set (`CommunicationOptions(timeout_seconds=...)`): TensorFlow
    starts a thread per collective that lives as long as the timeout, and with 60 s two workers
    ran out of threads ("Resource temporarily unavailable") in the second epoch of the full
    data set. A dead worker is noticed by TensorFlow's coordination service instead (missing
    heartbeats, or a reset connection), which aborts the other workers' collectives.
    """
    import tensorflow as tf

    task = read_tf_config()
    taken = own_port_in_use(task)
    if taken:
        raise ValueError(taken)
    threads = threads_per_worker(task)
    # Each worker process would otherwise size its thread pools for every core of the machine,
    # and workers sharing a machine would then fight over its cores (a thread pool per worker).
    if not os.environ.get("TF_NUM_INTRAOP_THREADS"):
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    if not os.environ.get("TF_NUM_INTEROP_THREADS"):
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    watch_heartbeats(heartbeat_timeout_seconds())
    with waiting_for_the_cluster(task):
        return tf.distribute.MultiWorkerMirroredStrategy()


def watch_heartbeats(seconds: float) -> None:
    """Configure the cluster's coordination service as `MultiWorkerMirroredStrategy` would, with a
    heartbeat timeout of `seconds`: a worker silent that long is declared lost, and the others stop.

    TensorFlow (2.21) configures the service itself only if nobody has, with its default timeout
    (10 s); this is its configuration, made before it, with the timeout chosen. Before any op runs.
    """
    import tensorflow as tf
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    try:  # where TensorFlow 2.21's strategy takes it from
        from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    except ImportError:  # moved in another version: the strategy configures it, with its default timeout
        return

    spec = tf.distribute.cluster_resolver.TFConfigClusterResolver().cluster_spec()
    jobs = [coordination_config_pb2.CoordinatedJob(name=job, num_tasks=spec.num_tasks(job))
            for job in ("chief", "worker") if job in spec.jobs]
    context.context().configure_coordination_service(
        service_type="standalone", service_leader=multi_worker_util.coordination_leader(spec),
        coordinated_jobs=jobs, heartbeat_timeout_in_ms=int(1000 * seconds))


def ensure_cpu_devices(devices) -> None:
    """Split the CPU into as many logical devices as `devices` names ("/cpu:0 /cpu:1" -> 2).

    For `--strategy mirrored --devices /cpu:0 /cpu:1` on a machine without GPUs. Must run
    before TensorFlow initialises its devices; does nothing if no `/cpu:N` with N > 0 is named.
    """
    import tensorflow as tf

    indices = []
    for device in devices or ():
        spec = tf.DeviceSpec.from_string(device)
        if (spec.device_type or "").upper() == "CPU" and spec.device_index is not None:
            indices.append(spec.device_index)
    needed = max(indices, default=0) + 1
    if needed > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * needed)


def share_bounds(size, replica, replicas):
    """Rows [start, end) of a batch of `size` that replica `replica` of `replicas` trains on.

    Consecutive, in replica order, sizes differing by at most one: 57 rows on 2 replicas give
    rows 0..27 and 28..56. Works on Python ints and on tensors.
    """
    return (replica * size) // replicas, ((replica + 1) * size) // replicas


def distribute_batches(strategy, index_batches, pixels, with_rows: bool = False):
    """A distributed dataset of image batches (uint8 or float32), each replica getting its share of a global batch.

    Args:
      strategy: the tf.distribute strategy.
      index_batches: a `tf.data.Dataset` of int index batches (b,), the global batches, the same
        on every worker (a function of the seed and the epoch only).
      pixels: the images as rows (N, P), uint8 or float32, a host tensor (`vae_tf.training.engine.training_images`).
      with_rows: give each share as a dict: `images`, and `first_row` and `batch_size`, where
        the share starts in the global batch and the global batch's size (int32 scalars), which
        the replica would otherwise learn by an all-gather across the workers every step.

    Returns:
      A `tf.distribute` distributed dataset: at each step replica r gets the rows
      `share_bounds(b, r, R)` of the global batch, gathered by its own worker's input pipeline,
      so each worker reads only its replicas' images.
    """
    import tensorflow as tf

    endless = index_batches.cardinality() == tf.data.INFINITE_CARDINALITY

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        replicas = context.num_replicas_in_sync
        local = replicas // context.num_input_pipelines
        first = context.input_pipeline_id * local

        def shares(indices):  # this worker's replicas' shares of one global batch, in replica order
            size = tf.size(indices, out_type=tf.int64)

            def share(replica):
                start, end = share_bounds(size, replica, replicas)
                return indices[start:end], tf.cast(start, tf.int32), tf.cast(size, tf.int32)

            return tf.data.Dataset.range(first, first + local).map(share)

        def gather(indices, start, size):
            images = tf.gather(pixels, indices)
            return {"images": images, "first_row": start, "batch_size": size} if with_rows else images

        dataset = index_batches.flat_map(shares).map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
            tf.data.AUTOTUNE)
        if endless:  # say so: flat_map's cardinality is unknown, and tf.distribute would then
            # all-reduce a "has data" flag across the workers before every step
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))
        return dataset

    return strategy.distribute_datasets_from_function(dataset_fn)


def weights_fingerprint(weights) -> str:
    """A short SHA-256 of a model's weights (a list of arrays): equal weights, equal fingerprints."""
    import numpy as np

    digest = hashlib.sha256()
    for array in weights:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]
