"""The model's step under `tf.distribute`: where a replica's share lies, and whether the replicas span workers.

A replica of the VAE's step takes its rows of the noise the whole batch would get on one device and
divides by the global batch's size, so that R replicas train on exactly what one device would;
these helpers tell it its rows, how many replicas there are, and whether the replicas span several
worker processes (where Keras' own collectives need working around). `ReplicaStep`, a mixin of
`vae_tf.models.vae.VAE`, is the part of its `train_step` and `test_step` that uses them.
"""

from __future__ import annotations

import tensorflow as tf


def replicas_in_sync() -> int:
    """The replicas of the current replica context: 1 outside a strategy (or in a cross-replica context)."""
    context = tf.distribute.get_replica_context()
    return 1 if context is None else context.num_replicas_in_sync


def rows_of_this_replica(local_size):
    """Where this replica's share of the global batch starts, and the global batch's size.

    Call in a replica context. The shares are consecutive in replica order, as
    `vae_tf.training.distributed.distribute_batches` and `tf.distribute`'s own rebatching make them.

    Args:
      local_size: int32 scalar, the rows of this replica's share.

    Returns:
      (first_row, global_batch_size), int32 scalars.
    """
    context = tf.distribute.get_replica_context()
    sizes = context.all_gather(tf.reshape(local_size, [1]), axis=0)  # (R,), in replica order
    replica = context.replica_id_in_sync_group
    return tf.reduce_sum(sizes[:replica]), tf.reduce_sum(sizes)


def across_workers(strategy=None) -> bool:
    """Whether `strategy` (default: the current one) spans several worker processes (Keras' own test)."""
    strategy = strategy or tf.distribute.get_strategy()
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and \
        strategy.extended._in_multi_worker_mode()


def one_replicas_share(strategy, batch):
    """The first local replica's part of each distributed value in `batch` (other values as given)."""
    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    return tf.nest.map_structure(local, batch)


class ReplicaStep:
    """The VAE's step under any `tf.distribute` strategy (a mixin of `vae_tf.models.vae.VAE`).

    `_step_losses` gives each replica its rows of the global batch's noise and the global batch's
    size, `update_trackers` counts a step once however many replicas add to the trackers, and
    `_maybe_symbolic_build` keeps Keras' first build from an all-reduce of the data. The class that
    mixes it in sets `trackers`, `sampling`, `latent_dim`, `pixels`, `pixel_model` and `compute_losses`.
    """

    @staticmethod
    def unpack(data):
        """`fit` data is images, or (images, eps) to train on given noise (for exact comparisons)."""
        if isinstance(data, dict):  # the keys of a dataset of calls, which only training's loop unstacks
            raise ValueError(f"the model got a dict of batches ({', '.join(map(str, data))}), the fast path's dataset "
                             "of calls: give it training's loop first, vae_tf.training.loops.attach(vae) "
                             "(vae_tf.training.engine.build_vae does).")
        if isinstance(data, (tuple, list)):
            return data[0], (data[1] if len(data) > 1 else None)
        return data, None

    def _step_losses(self, data, training):
        x, eps = self.unpack(data)
        global_batch_size = uniform = None
        if replicas_in_sync() > 1:
            # Shares of a global batch need not be equal (the last batch of an epoch).
            local = tf.shape(x)[0]
            first_row, global_batch_size = rows_of_this_replica(local)
            # This replica's rows of the noise the whole batch gets on one device: R replicas
            # then train on exactly what one device would (tested against a one-process run).
            # The binarisation's noise is drawn first, as on one device.
            if training and self.pixel_model.binarizes:
                uniform = self.sampling.draw_uniform((global_batch_size, self.pixels))[first_row:first_row + local]
            if eps is None:
                eps = self.sampling.draw((global_batch_size, self.latent_dim))[first_row:first_row + local]
        return self.compute_losses(x, training=training, eps=eps, global_batch_size=global_batch_size,
                                   uniform=uniform)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3.15 (TF backend), under a strategy, learns the shape and dtype of a batch by
        # all-reducing ("MEAN") the first batch over the replicas: a collective over the data
        # itself. Across workers it is a CollectiveReduceV2, which takes no uint8, so two
        # workers crash before the first step. One replica's share has the shape and dtype
        # needed; take it instead. (Private Keras API: tests/test_multiworker.py guards it.)
        if iterator is not None and data_batch is None and self._distribute_strategy is not None:
            for _, _, batches in iterator:
                data_batch = one_replicas_share(self._distribute_strategy, next(batches))
                if isinstance(data_batch, dict):  # a share with its rows: the images are the data
                    data_batch = data_batch["images"]
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def update_trackers(self, losses):
        replicas = replicas_in_sync()
        for name, tracker in self.trackers.items():
            if replicas == 1:
                tracker.update_state(losses[name])
            else:
                # Each replica holds its share of the global batch's loss and the trackers'
                # states are summed over replicas: weigh 1/R so a step counts once.
                tracker.update_state(losses[name] * replicas, sample_weight=1.0 / replicas)
        if across_workers():
            # Keras 3.15 averages each logged value over the workers with
            # `strategy.reduce("MEAN", value, axis=0)`, which fails on a scalar ("Invalid
            # reduction dimension 0"); a one-element vector reduces to the same scalar.
            return {name: tf.reshape(tracker.result(), [1]) for name, tracker in self.trackers.items()}
        return {name: tracker.result() for name, tracker in self.trackers.items()}
