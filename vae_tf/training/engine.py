"""How a VAE is fed and compiled: the fast default path, the report's path, and tf.distribute.

The fast path (the default) keeps the images as uint8 (47 MB for the training set instead of
the report's 376 MB float64 array; float32 in [0, 1] for data that are not 256 levels, see
`vae_tf.data.sources`), flattened to (N, P), and scales them inside the graph, shuffles with a
stateless, per-epoch permutation (so that a resumed run sees exactly the batches an
uninterrupted one would), compiles the train step with XLA (where the architecture gains from it,
`vae_tf.models.architectures.XLA`: the MLP, not the conv model) and runs several steps per call.
The report's path (`fast=False`) is what the report's code does: `fit` on the float64 array
`x / 255.`, Keras' own shuffling, one step per call, no XLA. Both minimise the same loss.
"""

from __future__ import annotations

import math
import os
import platform

import keras
import numpy as np
import tensorflow as tf

from vae_tf.config import STRATEGIES, TrainConfig
from vae_tf.data import REPORT_SHAPE, flatten_images
from vae_tf.models import architectures
from vae_tf.models.replicas import across_workers
from vae_tf.models.vae import VAE
from vae_tf.training import distributed
from vae_tf.training.loops import CALL_BATCHES, CALL_LAST, attach  # CALL_*: the keys of `make_call_dataset`'s elements

# Most steps per call of the compiled train function on the fast path. More steps per call cut
# the per-call overhead; the progress bar and batch-level callbacks then update every so often.
MAX_STEPS_PER_EXECUTION = 100


def steps_per_epoch(num_images: int, batch_size: int) -> int:
    """Batches per epoch, the last one possibly smaller: ceil(60000 / 128) = 469."""
    return math.ceil(num_images / batch_size)


def fast_steps_per_execution(steps: int, most: int = MAX_STEPS_PER_EXECUTION) -> int:
    """The largest divisor of `steps` (per epoch) not above `most`: 67 for the report's 469.

    Keras runs a fixed number of steps per call and would run a call across the end of an
    epoch of our epoch-by-epoch dataset; a divisor makes every call end inside one epoch.
    """
    return max(d for d in range(1, min(steps, most) + 1) if steps % d == 0)


def epoch_permutation(num_images: int, seed: int, epoch: int):
    """The order of the images in `epoch`: a function of (seed, epoch) only. Shape (num_images,)."""
    return tf.random.experimental.stateless_shuffle(tf.range(num_images), seed=[seed, epoch])


def make_dataset(images, batch_size: int, seed: int, first_epoch: int = 0,
                 epochs: int | None = None) -> tf.data.Dataset:
    """Shuffled uint8 batches for epochs `first_epoch`, `first_epoch + 1`, ... (all epochs if None).

    Args:
      images: uint8 (or float32 in [0, 1]) array or tensor (N, P). Pass a tensor (`training_images`) and drop the
        NumPy array to keep one copy of the images in memory.
      batch_size: images per batch; each epoch has `steps_per_epoch(N, batch_size)` batches.
      seed: with the epoch number, decides each epoch's permutation.
      first_epoch: the first epoch to produce (0-based), for resuming.
      epochs: how many epochs to produce.

    Returns:
      A `tf.data.Dataset` of batches (b, P), the dtype of `images`.
    """
    pixels = training_images(images)
    batches = index_batches(int(pixels.shape[0]), batch_size, seed, first_epoch, epochs)
    return batches.map(lambda indices: tf.gather(pixels, indices),
                       num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def index_batches(num_images: int, batch_size: int, seed: int, first_epoch: int = 0,
                  epochs: int | None = None) -> tf.data.Dataset:
    """The image indices of every batch of `make_dataset`, int32 (b,): each epoch's permutation, batched."""
    def one_epoch(epoch):
        order = epoch_permutation(num_images, seed, tf.cast(epoch, tf.int32))
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    if epochs is None:  # endless, and said to be (flat_map's cardinality is otherwise unknown)
        return tf.data.Dataset.range(first_epoch, 2**62).flat_map(one_epoch).apply(
            tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))
    return tf.data.Dataset.range(first_epoch, first_epoch + epochs).flat_map(one_epoch)


def make_call_dataset(images, batch_size: int, seed: int, steps_per_call: int, first_epoch: int = 0,
                      epochs: int | None = None) -> tf.data.Dataset:
    """The batches of `make_dataset`, one call's worth per element (`steps_per_call` batches, as Keras counts).

    Each element is a dict: `CALL_BATCHES` (k, b, P), the call's full batches, stacked; and
    `CALL_LAST` (r, P), the epoch's smaller last batch in the epoch's last call, else (0, P).
    k is `steps_per_call`, except when the full batches split evenly over the calls before the
    last: then each of those holds its share and the last call only the smaller batch (fewer
    shapes to compile; Keras' progress bar still counts `steps_per_call` a call).
    The train function runs the stacked batches in one XLA loop (`vae_tf.training.loops.call_train_function`): a
    call costs one launch and no per-step input handling. The images, their order and their
    batches are exactly `make_dataset`'s.

    Args:
      images: as `make_dataset`.
      batch_size: images per batch.
      seed: with the epoch number, decides each epoch's permutation.
      steps_per_call: batches per call; must divide `steps_per_epoch(N, batch_size)`.
      first_epoch, epochs: as `make_dataset`.

    Returns:
      A `tf.data.Dataset` of `steps_per_epoch(N, batch_size) // steps_per_call` elements per epoch.
    """
    pixels = training_images(images)
    num_images = int(pixels.shape[0])
    steps = steps_per_epoch(num_images, batch_size)
    if steps % steps_per_call:
        raise ValueError(f"steps_per_call {steps_per_call} does not divide the {steps} batches of an epoch.")
    calls, full = steps // steps_per_call, num_images // batch_size
    # Each distinct shape is a program XLA compiles (or loads from the cache) in the first epoch.
    # When the full batches split evenly over all calls but the last, that last call holds the
    # smaller batch alone: two shapes (the report's 469 steps: 6 calls of 78, then 1 of 96 images)
    # instead of three (6 calls of 67, then 66 and the 96).
    per_call = steps_per_call
    if full < steps and calls > 1 and full % (calls - 1) == 0:
        per_call = full // (calls - 1)

    def one_epoch(epoch):
        order = epoch_permutation(num_images, seed, tf.cast(epoch, tf.int32))
        batches = tf.reshape(order[:full * batch_size], (full, batch_size))
        last = order[full * batch_size:]

        def call(j):
            j = tf.cast(j, tf.int32)
            start = tf.minimum(j * per_call, full)
            rest = tf.where(tf.equal(j, calls - 1), tf.size(last), 0)
            return batches[start:tf.minimum(start + per_call, full)], last[:rest]

        return tf.data.Dataset.range(calls).map(call)

    indices = tf.data.Dataset.range(first_epoch, 2**62 if epochs is None else first_epoch + epochs).flat_map(one_epoch)
    def gather(batches, last):
        return {CALL_BATCHES: tf.gather(pixels, batches), CALL_LAST: tf.gather(pixels, last)}

    return indices.map(gather, num_parallel_calls=2).prefetch(2)  # a call's images: 6.7 MB in the report's run


def training_images(images) -> tf.Tensor:
    """The images as rows (N, P) in a tensor on the host, the fast path's input.

    Args:
      images: uint8 (scaled by 1/255 in the model) or float32 in [0, 1] (taken as they are), shaped
        (N, P) or (N, H, W, C) (flattened here; a view, no copy).
    """
    dtype = tf.as_dtype(images.dtype if isinstance(images, tf.Tensor) else np.asarray(images).dtype)
    if dtype not in (tf.uint8, tf.float32):
        raise ValueError(f"make_dataset expects uint8 or float32 images, got {dtype.name}; pass the loader's arrays.")
    if not isinstance(images, tf.Tensor):
        images = flatten_images(images)
    with tf.device("/cpu:0"):
        return tf.convert_to_tensor(images)


def make_strategy(name: str = "default", devices=None) -> tf.distribute.Strategy:
    """The tf.distribute strategy for `name`: "default" (one device), "mirrored" (the visible
    GPUs, or `devices`, e.g. /cpu:0 /cpu:1), or "multiworker" (configured from $TF_CONFIG).

    Call it before TensorFlow runs any op: both the logical CPUs of "mirrored" and the
    cluster of "multiworker" must exist before TensorFlow initialises.

    Raises:
      ValueError: an unknown name, or a missing or malformed $TF_CONFIG (one line).
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        distributed.ensure_cpu_devices(devices)
        return tf.distribute.MirroredStrategy(devices=devices or None)
    if name == "multiworker":
        return distributed.make_multiworker_strategy()
    raise ValueError(f"strategy={name!r}: choose one of {', '.join(STRATEGIES)}.")


def build_vae(config: TrainConfig, num_images: int, strategy: tf.distribute.Strategy | None = None,
              image_shape=REPORT_SHAPE) -> VAE:
    """A compiled VAE for `config` and a training set of `num_images`, its variables placed by `strategy`.

    Args:
      config: the run's settings.
      num_images: the training images (the KL schedules follow the steps per epoch).
      strategy: places the variables (default: the current strategy).
      image_shape: (H, W, C) of the data (`DataSpec.image_shape`).
    """
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        vae = VAE(**config.model_settings(), steps_per_epoch=steps_per_epoch(num_images, config.batch_size),
                  epochs=config.epochs, image_shape=image_shape)
        optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
        vae.compile(optimizer=optimizer, **compile_options(config, num_images, tf.distribute.has_strategy()))
        # Adam's slots now, not inside the first trace of the step: a tf.function whose first
        # trace creates variables traces again, and that second trace cost ~1.5 s of the first epoch.
        optimizer.build(vae.trainable_variables)
    # The train function is training's (`vae_tf.training.loops`): in one process a call's batches run in
    # one XLA loop; across workers several steps run per call, and XLA compiles each replica's loss
    # and gradients.
    steps = workers_steps_per_call(config, num_images, strategy)
    attach(vae, steps, bool(steps) and uses_xla(config))
    return vae


def workers_steps_per_call(config: TrainConfig, num_images: int, strategy=None) -> int | None:
    """Steps per call of the train function across workers on the fast path (else None).

    Keras is told that an epoch has steps_per_epoch / this many "steps" (`fit_inputs`): each of
    its calls runs this many training steps in `vae_tf.training.loops.workers_train_function`'s loop.
    """
    if not config.fast or strategy is None or not across_workers(strategy):
        return None
    return fast_steps_per_execution(steps_per_epoch(num_images, config.batch_size))


def call_steps(config: TrainConfig, num_images: int, strategy=None) -> int | None:
    """Batches per element of the fast path's dataset in one process (`make_call_dataset`), else None.

    The fast path on one device: the train function runs a call's batches in one loop, compiled
    with XLA where the architecture is (`architectures.XLA`). Not under op determinism, nor under
    a strategy of several devices.
    """
    if not config.fast or config.deterministic:
        return None
    if strategy is not None and strategy is not tf.distribute.get_strategy():
        return None
    return fast_steps_per_execution(steps_per_epoch(num_images, config.batch_size))


def uses_xla(config: TrainConfig) -> bool:
    """Whether the fast path compiles `config`'s model with XLA: never under op determinism (Keras
    turns it off there anyway); else `--xla on` or `off`, or for `auto` the architecture's entry in
    `architectures.XLA` (an architecture XLA compiles slowly on a CPU, the conv model, keeps
    TensorFlow's own kernels)."""
    if config.deterministic:
        return False
    if config.xla == "auto":
        return architectures.XLA[config.architecture]
    return config.xla == "on"


def compile_options(config: TrainConfig, num_images: int, distributed: bool = False) -> dict:
    """`compile` arguments: XLA and several steps per call on the fast path, neither on the report's.

    `distributed`: whether a tf.distribute strategy other than the default one is in use.
    """
    if distributed:
        # Keras 3.15 fails on MirroredStrategy with several steps per call ("Detected at node
        # while/cond/Placeholder"), and XLA fails on mirrored variables ("Trying to access
        # resource ... located in device CPU:1 from device CPU:0"): one uncompiled step per call.
        return {"jit_compile": False, "steps_per_execution": 1}
    if config.fast:
        steps = steps_per_epoch(num_images, config.batch_size)
        # Off under op determinism: Keras turns XLA off there anyway; saying so here avoids its warning.
        return {"jit_compile": uses_xla(config), "steps_per_execution": fast_steps_per_execution(steps)}
    return {"jit_compile": False, "steps_per_execution": 1}


def fit_inputs(images: np.ndarray, config: TrainConfig, first_epoch: int = 0,
               strategy: tf.distribute.Strategy | None = None) -> dict:
    """`fit` keyword arguments that feed `images` (uint8 or float32 (N, P)) the way `config` says.

    Under a strategy with several replicas the fast path's batches are distributed here, not
    by Keras: each worker gathers only its replicas' shares of every global batch
    (`vae_tf.training.distributed.distribute_batches`).
    """
    if config.fast:
        epochs = config.epochs - first_epoch
        if strategy is not None and strategy.num_replicas_in_sync > 1:
            pixels = training_images(images)
            # Endless (epochs=None; fit stops each epoch after steps_per_epoch): tf.distribute then
            # skips its partial-batch handling, an all-reduce of a "has data" flag every step.
            batches = index_batches(int(pixels.shape[0]), config.batch_size, config.seed, first_epoch)
            # Across workers each share says where it lies in its global batch (no all-gather per step).
            x = distributed.distribute_batches(strategy, batches, pixels,
                                               with_rows=bool(workers_steps_per_call(config, len(images), strategy)))
        elif steps_per_call := call_steps(config, len(images), strategy):
            x = make_call_dataset(images, config.batch_size, config.seed, steps_per_call, first_epoch, epochs)
        else:
            x = make_dataset(images, config.batch_size, config.seed, first_epoch, epochs)
        calls = workers_steps_per_call(config, len(images), strategy) or 1
        return {
            "x": x,
            "steps_per_epoch": steps_per_epoch(len(images), config.batch_size) // calls,
            "shuffle": False,  # the dataset is shuffled, epoch by epoch
        }
    # Keras shuffles the report's path itself, so a resumed run sees other batches than an
    # uninterrupted one would: equally valid, but not the same run.
    pixels = images / 255.0 if images.dtype == np.uint8 else images.astype(np.float64)
    return {"x": pixels, "batch_size": config.batch_size, "shuffle": True}


def set_op_determinism(on: bool) -> None:
    """TensorFlow's op determinism on or off, as a run's `deterministic` setting says.

    Off matters too: an earlier deterministic run in the same process leaves it on (and XLA then
    off), and TensorFlow has no public switch back, so its own `config` module's is used.
    """
    from tensorflow.python.framework import config as framework_config

    if on:
        tf.config.experimental.enable_op_determinism()
    elif framework_config.is_op_determinism_enabled():
        framework_config.disable_op_determinism()


def describe_device() -> str:
    """The device training runs on, in words: the GPU's name, or the CPU."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name) for gpu in gpus]
        return "GPU: " + ", ".join(names)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"CPU: {cpu} ({os.cpu_count()} cores)"


def describe_replicas(strategy: tf.distribute.Strategy) -> str:
    """", 2 replicas" under a tf.distribute strategy other than the default one, else ""."""
    if strategy is tf.distribute.get_strategy():  # the default strategy: one device
        return ""
    count = strategy.num_replicas_in_sync
    return f", {count} replica{'s' if count != 1 else ''}"


def library_versions() -> dict:
    """The versions of vae_tf, Python and the libraries a run depends on, for config.json."""
    from importlib.metadata import version

    from vae_tf.core import __version__

    return {
        "vae_tf": __version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tensorflow_probability": version("tensorflow-probability"),  # without importing it
        "numpy": np.__version__,
    }


def restore(vae: VAE, saved: VAE, sampling_state, strategy: tf.distribute.Strategy) -> None:
    """Give `vae` the weights and Adam's state of `saved` (a checkpoint) and the noise generator's state."""
    with strategy.scope():
        vae.set_weights(saved.get_weights())
        vae.optimizer.build(vae.trainable_variables)
        for target, source in zip(vae.optimizer.variables, saved.optimizer.variables, strict=True):
            target.assign(source)
    vae.sampling.seed_generator.state.assign(sampling_state)
