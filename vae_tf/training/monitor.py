"""Watching a run as it trains: validation inputs, latent snapshots, TensorBoard.

    --validation    `validation_inputs`: the test images with one fixed noise draw per image, so that
                    `VAE.test_step` computes the training loss without touching the training noise
                    (for the "binarized" likelihood, the test images binarised once, as evaluate does)
    --snapshots     `LatentSnapshots`: each epoch's z_mean of the first 2,000 test images
    --tensorboard   `tensorboard_callbacks`: Keras' `TensorBoard` for the scalars, `TensorBoardImages`
                    for the latent scatter, the decoded grid and the reconstructions

`vae_tf.training.run._run` adds these to `fit`; the run directory's files stay `vae_tf.rundir`'s.
"""

from __future__ import annotations

import io

import keras
import numpy as np

# The fixed test images whose codes are snapshotted and drawn: the first 2,000 (about 200 per class).
SNAPSHOT_IMAGES = 2000
# Test images shown in the reconstructions image.
RECONSTRUCTED_IMAGES = 10


def validation_noise(count: int, latent_dim: int, seed: int) -> np.ndarray:
    """eps ~ N(0, I), one fixed draw per test image: float32 (count, latent_dim), a function of `seed`.

    Validation samples z = z_mean + exp(z_log_var / 2) * eps as training does, but with this
    noise, the same every epoch: the validation loss is the training loss's estimator on the
    test images, its curve is not jittered by fresh noise, and the training noise generator is
    never advanced (so a run with validation trains exactly as one without).
    """
    return np.random.default_rng([seed, 11]).standard_normal((count, latent_dim)).astype(np.float32)


def validation_inputs(images, latent_dim: int, seed: int, batch_size: int, fast: bool) -> dict:
    """`fit` keyword arguments that validate on `images` (uint8 or float32 (N, P)) after every epoch.

    Batches hold (images, eps) pairs, which `VAE.test_step` unpacks; they have the training
    batch size, because the report's reduction sums its reconstruction term over a batch.
    """
    import tensorflow as tf

    from vae_tf.data import flatten_images

    images = flatten_images(images)
    eps = validation_noise(len(images), latent_dim, seed)
    if fast:
        with tf.device("/cpu:0"):
            data = tf.data.Dataset.from_tensor_slices((images, eps)).batch(batch_size).prefetch(tf.data.AUTOTUNE)
        return {"validation_data": data}
    pixels = images / 255.0 if images.dtype == np.uint8 else images.astype(np.float64)
    return {"validation_data": (pixels, eps), "validation_batch_size": batch_size}


class LatentSnapshots(keras.callbacks.Callback):
    """After every epoch, z_mean of fixed images; `arrays()` is what snapshots.npz holds.

    Args:
      images: the fixed images (N, H, W, C) (the first `SNAPSHOT_IMAGES` test images).
      labels: their classes (N,), or None (data without labels: snapshots.npz then holds no `y`).
      earlier: a resumed run's `arrays()` so far (its frames are kept), or None.
    """

    def __init__(self, images, labels, earlier: dict | None = None):
        super().__init__()
        self.images = images
        self.labels = None if labels is None else np.asarray(labels)
        self.epochs = [int(epoch) for epoch in earlier["epoch"]] if earlier else []
        self.frames = list(earlier["z_mean"]) if earlier else []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch + 1)
        self.frames.append(self.model.encode(self.images)[0])

    def arrays(self) -> dict:
        """`epoch` (E,), `z_mean` (E, N, D) float32, `y` (N,) if labelled: one frame per completed epoch."""
        arrays = {"epoch": np.asarray(self.epochs, dtype=np.int64), "z_mean": np.stack(self.frames)}
        return arrays if self.labels is None else {**arrays, "y": self.labels}


def tensorboard_callbacks(log_dir, images, labels, title: str, class_names=None) -> list:
    """Keras' `TensorBoard` (every logged loss term and the learning rate per epoch, in log_dir/train
    and log_dir/validation) and `TensorBoardImages` (log_dir/images), steps = epochs counted from 0."""
    return [EpochTensorBoard(str(log_dir), write_graph=False, update_freq="epoch", profile_batch=0),
            TensorBoardImages(log_dir, images, labels, title, class_names)]


class EpochTensorBoard(keras.callbacks.TensorBoard):
    """Keras' `TensorBoard`, its event files flushed after every epoch.

    Its writers otherwise flush every ten summaries or two minutes: a run killed mid-training
    would lose the scalars of epochs that its checkpoint (and so its resumed history) keeps.
    """

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        for writer in getattr(self, "_writers", {}).values():  # Keras' own writers (train, val)
            writer.flush()


def png(figure, dpi: int = 72) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


class TensorBoardImages(keras.callbacks.Callback):
    """Per-epoch images in TensorBoard: `latent_scatter` (z_mean of `images`, coloured by class),
    `generated_grid` (the 10x10 grid over their min..max) and `reconstructions` (the first ten).
    Images (N, H, W, C), greyscale or RGB; labels (N,) or None (the scatter is coloured by density)."""

    def __init__(self, log_dir, images, labels, title: str, class_names=None):
        super().__init__()
        self.log_dir = log_dir
        self.images = images
        self.labels = None if labels is None else np.asarray(labels)
        self.title = title
        self.class_names = class_names
        self._writer = None

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        self._writer = tf.summary.create_file_writer(str(self.log_dir / "images"))

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()

    def figures(self) -> dict:
        """{tag: Figure} of the model as it is now."""
        from vae_tf import plots
        from vae_tf.data import to_unit

        z_mean = self.model.encode(self.images)[0]
        shown = to_unit(self.images[:RECONSTRUCTED_IMAGES])
        dims = z_mean.shape[1]
        return {
            "latent_scatter": plots.latent_scatter(z_mean, self.labels, point_size=2.0, class_names=self.class_names,
                                                   title=f"{self.title}: z_mean of {len(z_mean):,} test images"),
            "generated_grid": plots.generated_grid(self.model.decode, z_mean.min(axis=0), z_mean.max(axis=0), 10,
                                                   np.median(z_mean, axis=0), latent_dim=dims,
                                                   title=f"{self.title}: decoded over z_mean's min..max"),
            "reconstructions": plots.reconstructions(shown, self.model.decode(self.model.encode(shown)[0]),
                                                     title=f"{self.title}: test images, decoded from z_mean"),
        }

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        with self._writer.as_default():
            for tag, figure in self.figures().items():
                tf.summary.image(tag, tf.image.decode_png(png(figure), channels=4)[None], step=epoch)
        self._writer.flush()


def watchers(settings, run, x_test, y_test, class_names=None) -> tuple[list, dict, LatentSnapshots | None]:
    """What `settings.validation`, `.snapshots` and `.tensorboard` add to a run's `fit`.

    Args:
      settings: the run's `TrainConfig`.
      run: its `vae_tf.rundir.writing.RunWriter` (a resumed run's snapshots continue).
      x_test, y_test: the test images (N, H, W, C), uint8 or float32, and their classes (or None).
      class_names: the names of the classes (or None), for the TensorBoard scatter.

    Returns:
      (callbacks to run before the checkpoint, more `fit` keyword arguments, the snapshots or None).
    """
    from vae_tf.config import title
    from vae_tf.models import likelihoods

    fixed = x_test[:SNAPSHOT_IMAGES]
    labels = None if y_test is None else y_test[:SNAPSHOT_IMAGES]
    callbacks, inputs, snapshots = [], {}, None
    if settings.validation:
        if likelihoods.get(settings.likelihood).binarizes:
            # The test images binarised once, as `vae_tf.evaluate` binarises them: val_* are its nats.
            x_test = likelihoods.binarize_fixed(x_test, likelihoods.EVALUATION_BINARIZATION_SEED)
        inputs = validation_inputs(x_test, settings.latent_dim, settings.seed, settings.batch_size, settings.fast)
    if settings.snapshots:
        snapshots = LatentSnapshots(fixed, labels, run.snapshots)
        callbacks.append(snapshots)
    if settings.tensorboard:
        callbacks += tensorboard_callbacks(run.tensorboard_dir, fixed, labels, title(settings.to_dict()), class_names)
    return callbacks, inputs, snapshots


def read_tensorboard_images(log_dir) -> dict:
    """The images `TensorBoardImages` wrote under log_dir/images: {tag: [(step, PNG bytes), ...]} by step."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir / "images"), size_guidance={"tensors": 0})
    events.Reload()
    return {tag: [(event.step, event.tensor_proto.string_val[2]) for event in events.Tensors(tag)]
            for tag in events.Tags()["tensors"]}
