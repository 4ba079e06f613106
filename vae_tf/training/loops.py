"""How a VAE's training steps are looped into the calls of its train function (`fit` makes one call a "step").

The model says what one step does (`vae_tf.models.vae.VAE.train_step`); this module says how
steps are batched into calls, compiled and looped, as Keras' own trainers do for theirs:

- in one process, `call_train_function`: a call's batches, stacked in one element of
  `vae_tf.training.engine.make_call_dataset` (keyed `CALL_BATCHES`, `CALL_LAST`), run in one XLA loop
  around `train_step`; any other dataset goes to Keras' own train function;
- across workers, `workers_train_function`: several steps per call in one `tf.function`, the logs
  averaged over the workers once per call, each replica's loss and gradients compiled with XLA
  where the architecture is.

`attach` gives a VAE these loops (`VAE.train_loop`, which its `make_train_function` calls);
`vae_tf.training.engine.build_vae` does it for every model it builds. A VAE without them trains with
Keras' own train function, one step per batch.
"""

from __future__ import annotations

import functools

import keras
import tensorflow as tf

from vae_tf.models.replicas import across_workers, rows_of_this_replica

# The keys of `vae_tf.training.engine.make_call_dataset`'s elements, which `call_train_function` recognises.
CALL_BATCHES, CALL_LAST = "vae_tf_batches", "vae_tf_last_batch"


def attach(vae, workers_steps_per_call: int | None = None, workers_jit: bool = False) -> None:
    """Give `vae` this module's train functions: its `make_train_function` then calls `make_train_function` here.

    Args:
      vae: a `vae_tf.models.vae.VAE`.
      workers_steps_per_call: under a strategy spanning several workers, steps per call of the
        workers' train function (`vae_tf.training.engine.workers_steps_per_call`); None elsewhere.
      workers_jit: whether the workers' replicas compile their loss and gradients with XLA (the
        all-reduce and Adam stay outside).
    """
    vae.train_loop = functools.partial(make_train_function, workers_steps_per_call=workers_steps_per_call,
                                       workers_jit=workers_jit)


def make_train_function(vae, force=False, workers_steps_per_call=None, workers_jit=False):
    """`vae`'s train function: across workers `workers_train_function`, else `call_train_function`.

    Keras calls `vae.make_train_function(force)` (from `fit`), which calls this (`attach`). The
    train function is made once and kept in `vae.train_function`, as Keras keeps its own; `force`
    makes it again.
    """
    if not workers_steps_per_call or not across_workers(vae.distribute_strategy):
        return call_train_function(vae, force)
    return workers_train_function(vae, workers_steps_per_call, workers_jit, force)


def workers_train_function(vae, steps: int, jit: bool = False, force=False):
    """Keras' train function, except across workers: `steps` steps per call.

    Keras' own function (3.15) reduces every logged value over the workers after every step,
    one collective each, and fails with several steps per call under tf.distribute. This one
    runs the steps in a loop inside one `tf.function` (the dataset is endless, so no step
    asks the workers whether they still have data), and averages the logs over the workers
    once per call, in one all-reduce of a vector. The epoch's logs are Keras' own (the trackers
    read across the workers), so history.csv is unchanged. With `jit`, each replica's loss and
    gradients are compiled with XLA (`replica_step`).
    """
    if vae.train_function is not None and not force:
        return vae.train_function
    strategy = vae.distribute_strategy

    def synced_logs():
        context = tf.distribute.get_replica_context()
        names = [metric.name for metric in vae.metrics]
        values = context.all_reduce("MEAN", tf.stack([metric.result() for metric in vae.metrics]))
        return {name: values[i] for i, name in enumerate(names)}

    def gradients(x, eps, global_batch_size):
        return replica_gradients(vae, x, eps, global_batch_size)

    step_gradients = tf.function(gradients, jit_compile=True) if jit else gradients

    def one_step(data):
        replica_step(vae, data, step_gradients)

    @tf.function
    def train_function(iterator):
        for _ in tf.range(steps):
            strategy.run(one_step, args=(next(iterator),))
        logs = strategy.run(synced_logs)
        return {name: strategy.experimental_local_results(value)[0] for name, value in logs.items()}

    vae.train_function = train_function
    return train_function


def replica_step(vae, data, gradients):
    """One replica's training step across workers: its rows of the global batch's noise, its loss and
    gradients (`gradients(x, eps, global_batch_size)`, `replica_gradients` or it compiled), Adam, the trackers.

    Args:
      vae: the model.
      data: this replica's share: images (b, P), (images, eps), or, from
        `vae_tf.training.distributed.distribute_batches(..., with_rows=True)`, a dict of `images`,
        `first_row` and `batch_size` (where the share lies in its global batch).
      gradients: the function giving (losses, gradients).
    """
    if isinstance(data, dict):  # `distribute_batches(..., with_rows=True)`: where this share lies
        x, eps = data["images"], None
        local, first_row, global_batch_size = tf.shape(x)[0], data["first_row"], data["batch_size"]
    else:
        x, eps = vae.unpack(data)
        local = tf.shape(x)[0]
        first_row, global_batch_size = rows_of_this_replica(local)
    if eps is None:
        eps = vae.sampling.draw((global_batch_size, vae.latent_dim))[first_row:first_row + local]
    losses, step_gradients = gradients(x, eps, global_batch_size)
    vae.optimizer.apply_gradients(zip(step_gradients, vae.trainable_weights))
    vae.update_trackers(losses)
    for name, tracker in vae.schedule_trackers.items():
        tracker.update_state(losses[name])


def replica_gradients(vae, x, eps, global_batch_size):
    """The losses of one replica's share x (b, P) with noise eps (b, D), and their gradients."""
    with tf.GradientTape() as tape:
        losses = vae.compute_losses(x, training=True, eps=eps, global_batch_size=global_batch_size)
    return losses, tape.gradient(losses["loss"], vae.trainable_weights)


def call_train_function(vae, force=False):
    """Keras' train function, and for a dataset of whole calls (`engine.make_call_dataset`) one XLA loop.

    Keras' own loop (3.15) pulls every batch through a `tf.data` optional, a `tf.cond` and a
    launch of the compiled step: about a third of an epoch of the report's model on 2 cores.
    An element of `make_call_dataset` holds a call's batches stacked; they run in one
    compiled `tf.while_loop` (then the epoch's smaller last batch, if the call has it, as a
    loop of one step). The step is `train_step`, traced with the batch size unknown as Keras
    traces it, so the numbers are Keras' own to the last bit (tests/test_engine.py). Any
    other dataset goes to Keras' function.
    """
    if vae.train_function is not None and not force:
        return vae.train_function
    # Keras' own (the model's `make_train_function` is the hook that called this); sets vae.train_function.
    keras.Model.make_train_function(vae, force)
    keras_function = vae.train_function

    compiled = {}

    def logs_now():
        return {name: tracker.result() for name, tracker in [*vae.trackers.items(),
                                                             *vae.schedule_trackers.items()]}

    def run_batches(batches):
        def body(step):
            vae.train_step(batches[step])
            return (step + 1,)

        tf.while_loop(lambda step: step < tf.shape(batches)[0], body, (tf.constant(0),))
        return logs_now()

    def function(iterator):
        spec = getattr(iterator, "element_spec", None)
        if not (isinstance(spec, dict) and CALL_BATCHES in spec):
            return keras_function(iterator)
        if not compiled:  # traced once; XLA compiles it for each shape it meets (two an epoch)
            batches_spec = spec[CALL_BATCHES]
            # No AutoGraph: the step has no Python control flow on tensors, and converting its
            # code was most of the first epoch's tracing (an error at trace time if that changes).
            compiled["batches"] = tf.function(run_batches, jit_compile=bool(vae.jit_compile), autograph=False,
                                              input_signature=[
                tf.TensorSpec((None, None, *batches_spec.shape[2:]), batches_spec.dtype)])
        data = next(iterator)
        logs = None
        if data[CALL_BATCHES].shape[0]:
            logs = compiled["batches"](data[CALL_BATCHES])
        if data[CALL_LAST].shape[0]:  # the epoch's smaller last batch: a loop of one step
            logs = compiled["batches"](data[CALL_LAST][None])
        return logs

    function.compiled = compiled  # filled once a dataset of calls has run (tests look)
    vae.train_function = function
    return function
