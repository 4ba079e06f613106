"""The report's variational autoencoder as a Keras 3 model, for images of any shape H x W x C.

    encoder: P -> Dense(hidden, relu) -> Dense(latent) z_mean, Dense(latent) z_log_var
    sampling: z = z_mean + exp(0.5 * z_log_var) * eps,  eps ~ N(0, I)
    decoder: latent -> Dense(hidden, relu) -> Dense(P, sigmoid)

P = H * W * C (`image_shape`, a model setting; the report's 28 x 28 x 1 gives its 784). Inside
the model images travel flattened, float32 (B, P), so that the losses see (B, P); the public
NumPy methods take and return images (N, H, W, C).

The decoder's last layer is split into its logits (`decoder_logits`) and the sigmoid, so that
training computes the cross-entropy from logits (stable) while `decoder(z)` still returns
pixel probabilities in [0, 1], as in the report.

Usage:

    import keras, vae_tf
    vae = vae_tf.VAE(regularizer="kl", reduction="report")   # image_shape=(28, 28, 1)
    vae.compile(optimizer=keras.optimizers.Adam(1e-4))
    vae.fit(x_train, epochs=10, batch_size=128)      # uint8 (N, 28, 28[, 1]) or (N, 784), or floats in [0, 1]
    z_mean, z_log_var = vae.encode(x)                 # NumPy (N, D) each, in batches
    images = vae.decode(z)                            # NumPy (N, 28, 28, 1) probabilities
    q = vae.posterior(x); p = vae.likelihood(z)       # TFP distributions q(z|x) and p(x|z), event (28, 28, 1)
"""

from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import tensorflow as tf

from vae_tf.data import REPORT_SHAPE, check_images
from vae_tf.kl import kl_analytic, kl_sample_mean
from vae_tf.models import architectures, likelihoods
from vae_tf.models.choices import KL_ESTIMATORS, POSTERIORS, PRIORS, REDUCTIONS, REGULARIZERS, kl_settings_problem
from vae_tf.models.losses import check_choice, vae_losses
from vae_tf.models.posteriors import build_posterior, reparameterize  # noqa: F401 (vae_tf.models.vae.reparameterize)
from vae_tf.models.priors import build_prior
from vae_tf.models.schedules import KLSchedule

# Images per batch when encoding or decoding many at once (memory: 4096 x P floats).
BATCH = 4096


@keras.saving.register_keras_serializable(package="vae_tf")
class Sampling(keras.layers.Layer):
    """Draws z = z_mean + exp(0.5 * z_log_var) * eps with eps ~ N(0, I), shape (B, D).

    In training under a `tf.distribute` strategy, `VAE` draws the noise of the whole global
    batch and gives each replica its rows (`draw`), so R replicas use the noise one device
    would. Called on its own under a strategy, each replica folds its replica id into the seed,
    so the replicas draw independent noise for their shares of the batch.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def draw(self, shape, dtype=tf.float32):
        """eps ~ N(0, I) of `shape`, from this layer's seed generator, the same on every replica."""
        return tf.random.stateless_normal(shape, seed=self.seed_generator.next(), dtype=dtype)

    def draw_uniform(self, shape, dtype=tf.float32):
        """u ~ U[0, 1) of `shape`, from this layer's seed generator, the same on every replica.

        The "binarized" likelihood's noise (`vae_tf.models.likelihoods.binarize`): drawn from the
        sampling's generator, so that it follows the run's seed and is resumed with it.
        """
        # Philox named explicitly: XLA on a CPU draws the default ("auto_select") algorithm about a
        # hundred times slower (0.4 s for 128 x 784 uniforms, against 5 ms for Philox).
        return tf.random.stateless_uniform(shape, seed=self.seed_generator.next(), dtype=dtype, alg="philox")

    def noise(self, z_mean):
        """eps ~ N(0, I) of the shape and dtype of `z_mean`, from this layer's seed generator."""
        seed = self.seed_generator.next()
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            replica = tf.cast(context.replica_id_in_sync_group, seed.dtype)
            seed = seed + tf.stack([tf.zeros_like(replica), replica + 1])
        return tf.random.stateless_normal(tf.shape(z_mean), seed=seed, dtype=z_mean.dtype)

    def call(self, inputs, eps=None):
        z_mean, z_log_var = inputs
        if eps is None:
            eps = self.noise(z_mean)
        return reparameterize(z_mean, z_log_var, eps)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def pixel_likelihood(logits, image_shape=None, likelihood: str = "bernoulli"):
    """p(x|z): independent pixels with the decoder's logits (..., P), as a TFP distribution.

    For "bernoulli" its `log_prob(x)` is minus the binary cross-entropy summed over pixels, in
    nats, also for greyscale x in [0, 1] used as continuous targets (the training loss); see
    `vae_tf.models.likelihoods` for "binarized" and "continuous_bernoulli".

    Args:
      logits: float tensor (..., P).
      image_shape: (H, W, C) with H * W * C = P for event shape (H, W, C); None: event shape (P,).
      likelihood: a name of `vae_tf.models.likelihoods.NAMES`.
    """
    model = likelihoods.get(likelihood)
    if image_shape is None:
        return model.distribution(logits)
    shaped = tf.reshape(logits, tf.concat([tf.shape(logits)[:-1], tf.constant(image_shape, tf.int32)], 0))
    return model.distribution(shaped, event_ndims=3)


def build_encoder(latent_dim: int = 2, hidden_units: int = 100, pixels: int = 784) -> keras.Model:
    """The report's MLP encoder q(z|x) (`vae_tf.models.architectures.mlp_encoder`).

    Args:
      latent_dim: D, the size of z.
      hidden_units: width of the hidden layer.
      pixels: P = H * W * C, the values per image.

    Returns:
      A functional `keras.Model` mapping flattened images (B, P) with values in [0, 1] to
      `[z_mean, z_log_var]`, each (B, D).
    """
    return architectures.mlp_encoder((1, pixels, 1), latent_dim, hidden_units)


def build_decoder(latent_dim: int = 2, hidden_units: int = 100, pixels: int = 784) -> keras.Model:
    """The report's MLP decoder p(x|z) (`vae_tf.models.architectures.mlp_decoder`).

    Args:
      latent_dim: D, the size of z.
      hidden_units: width of the hidden layer.
      pixels: P = H * W * C, the values per image.

    Returns:
      A functional `keras.Model` mapping codes (B, D) to flattened pixel probabilities (B, P).
      Its layers `decoder_hidden` and `decoder_logits` give the logits (see `VAE.decode_logits`).
    """
    return architectures.mlp_decoder((1, pixels, 1), latent_dim, hidden_units)


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


def as_pixels(x, image_shape=REPORT_SHAPE):
    """Images as flattened float32 (B, P) in [0, 1]: uint8 is scaled by 1/255 inside the graph.

    Args:
      x: images (B, P), (B, H, W, C), or (B, H, W) when C = 1; uint8 or floats in [0, 1].
      image_shape: (H, W, C); P = H * W * C.

    Concrete arrays are checked first (`vae_tf.data.spec.check_images`: shape, dtype, NaN, range);
    symbolic tensors inside a traced graph are not.
    """
    if not isinstance(x, tf.Tensor) or hasattr(x, "numpy"):
        x = check_images(x, image_shape=image_shape)
    x = tf.convert_to_tensor(x)
    if x.dtype == tf.uint8:
        x = tf.cast(x, tf.float32) / 255.0
    else:
        x = tf.cast(x, tf.float32)
    height, width, channels = image_shape
    return tf.reshape(x, (-1, height * width * channels))


@keras.saving.register_keras_serializable(package="vae_tf")
class VAE(keras.Model):
    """The report's VAE with a custom `train_step` that tracks every loss term.

    Args:
      image_shape: (H, W, C) of the images (the report: 28 x 28 x 1); `vae_tf.training.engine.build_vae`
        takes it from the data. The model's input and output are P = H * W * C values.
      latent_dim: size of z (the report: 2).
      hidden_units: width of the hidden Dense layer (the report: 100); see `vae_tf.models.architectures`.
      architecture: "mlp" (the report's) or "conv" (`vae_tf.models.architectures`).
      filters: the conv architecture's first Conv2D's filters.
      likelihood: p(x|z): "bernoulli" (the report's), "binarized" or "continuous_bernoulli"
        (`vae_tf.models.likelihoods`). With "binarized", `train_step` binarises every batch afresh
        (x ~ Bernoulli(pixel), the sampling layer's seeded noise); `test_step` and `evaluate`
        take the images as given (binarise them once: `vae_tf.models.likelihoods.binarize_fixed`).
        The setting is `likelihood_name`; `likelihood(z)` is p(x|z) as a TFP distribution.
      regularizer: "kl" (the report's VAE), "none" (a plain autoencoder with noise) or "mse"
        (the report's "MSE instead of KL").
      reduction: "report" (the report's loss reduction) or "elbo" (the textbook negative ELBO);
        see `vae_tf.models.losses`.
      beta: weight of the regulariser.
      seed: seed of the sampling noise.
      beta_schedule, warmup_epochs, cycles, ramp_fraction, free_bits, capacity, capacity_epochs:
        how the KL term is weighed and shaped as training goes (`vae_tf.models.schedules`); the
        defaults leave the loss as above.
      steps_per_epoch, epochs: the training's length, which the schedules follow (set by
        `vae_tf.training.engine.build_vae`; needed only by a schedule or a capacity).

    `fit` accepts uint8 images (scaled inside the graph) or floats in [0, 1], shaped (N, P),
    (N, H, W, C), or (N, H, W) when C = 1. It logs `loss`, `reconstruction_loss`, `kl_loss` and, for "mse", `mse_loss`;
    with a schedule, the epoch's mean `beta`, and with a capacity, the mean target `capacity`.
    """

    def __init__(
        self,
        latent_dim: int = 2,
        hidden_units: int = 100,
        architecture: str = "mlp",
        filters: int = 32,
        likelihood: str = "bernoulli",
        regularizer: str = "kl",
        reduction: str = "report",
        beta: float = 1.0,
        seed=None,
        beta_schedule: str = "constant",
        warmup_epochs: float = 5.0,
        cycles: int = 4,
        ramp_fraction: float = 0.5,
        free_bits: float = 0.0,
        capacity: float = 0.0,
        capacity_epochs: float = 5.0,
        posterior: str = "diagonal",
        prior: str = "standard_normal",
        kl_estimator: str = "analytic",
        kl_samples: int = 1,
        flow_steps: int = 2,
        prior_components: int = 10,
        steps_per_epoch: int | None = None,
        epochs: int | None = None,
        image_shape=REPORT_SHAPE,
        **kwargs,
    ):
        super().__init__(**kwargs)
        image_shape = tuple(int(size) for size in image_shape)
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ValueError(f"image_shape={image_shape!r}: give (H, W, C), three positive sizes.")
        # What get_config saves, and `vae_tf.config.settings.TrainConfig.model_settings()` fills in.
        self.settings = {"latent_dim": int(latent_dim), "hidden_units": int(hidden_units),
                         "architecture": check_choice("architecture", architecture, architectures.NAMES),
                         "filters": int(filters),
                         "likelihood": check_choice("likelihood", likelihood, likelihoods.NAMES),
                         "regularizer": check_choice("regularizer", regularizer, REGULARIZERS),
                         "reduction": check_choice("reduction", reduction, REDUCTIONS),
                         "beta": float(beta), "seed": seed,
                         "beta_schedule": beta_schedule, "warmup_epochs": float(warmup_epochs), "cycles": int(cycles),
                         "ramp_fraction": float(ramp_fraction), "free_bits": float(free_bits),
                         "capacity": float(capacity), "capacity_epochs": float(capacity_epochs),
                         "posterior": check_choice("posterior", posterior, POSTERIORS),
                         "prior": check_choice("prior", prior, PRIORS),
                         "kl_estimator": check_choice("kl_estimator", kl_estimator, KL_ESTIMATORS),
                         "kl_samples": int(kl_samples), "flow_steps": int(flow_steps),
                         "prior_components": int(prior_components),
                         "steps_per_epoch": steps_per_epoch, "epochs": epochs, "image_shape": list(image_shape)}
        problem = kl_settings_problem(SimpleNamespace(**self.settings))
        if problem:
            raise ValueError(problem)
        self.kl_schedule = KLSchedule(self.settings["beta"], beta_schedule, float(warmup_epochs), int(cycles),
                                      float(ramp_fraction), float(capacity), float(capacity_epochs),
                                      steps_per_epoch, epochs)
        for name, value in self.settings.items():
            # The methods posterior(x), prior() and likelihood(z) keep those names: the settings are
            # `posterior_name`, `prior_name` and `likelihood_name`.
            if name not in ("posterior", "prior", "likelihood"):
                setattr(self, name, value)
        self.posterior_name, self.prior_name = posterior, prior
        self.image_shape = image_shape
        self.pixels = image_shape[0] * image_shape[1] * image_shape[2]
        self.encoder, self.decoder = architectures.build(self.architecture, self.image_shape, self.latent_dim,
                                                         hidden_units=self.hidden_units, filters=self.filters)
        self.sampling = Sampling(seed=seed, name="sampling")
        # Created after the report's layers, so that the report's model draws its initial weights as before.
        features = self.encoder.get_layer("z_mean").input  # what the encoder's heads read
        self.posterior_family = build_posterior(posterior, self.latent_dim, features.shape[-1], self.flow_steps)
        self.prior_family = build_prior(prior, self.latent_dim, self.prior_components, self.pixels)
        # The report's pair and estimator train through the report's own code path (byte for byte).
        self.report_kl = (posterior, prior, kl_estimator) == ("diagonal", "standard_normal", "analytic")
        # The encoder with its features as a third output, for the families that read them. Not
        # tracked (a SimpleNamespace), so that its layers, the encoder's, are saved only once.
        self._untracked = SimpleNamespace(heads=keras.Model(self.encoder.inputs, [*self.encoder.outputs, features])
                                          if self.posterior_family.needs_features else None)
        names = ["loss", "reconstruction_loss", "kl_loss"]
        if self.regularizer == "mse":
            names.append("mse_loss")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        # The schedule's values, averaged over each epoch; only where they change.
        varying = ["beta"] * (beta_schedule != "constant") + ["capacity"] * (self.kl_schedule.capacity > 0)
        self.schedule_trackers = {name: keras.metrics.Mean(name=name) for name in varying}
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers.values()) + list(self.schedule_trackers.values())

    def fit(self, x=None, *args, **kwargs):
        """Keras' `fit`; image arrays are checked first (shape, dtype, NaN, [0, 1])."""
        if isinstance(x, np.ndarray):
            check_images(x, "x", self.image_shape)
        return super().fit(x, *args, **kwargs)

    @property
    def pixel_model(self) -> likelihoods.Likelihood:
        """The `vae_tf.models.likelihoods.Likelihood` of this model's `likelihood` setting."""
        return likelihoods.get(self.likelihood_name)

    @property
    def likelihood_name(self) -> str:
        """The `likelihood` setting: "bernoulli", "binarized" or "continuous_bernoulli"."""
        return self.settings["likelihood"]

    def decode_logits(self, z):
        """The decoder's logits, flattened (B, P), for codes z (B, D)."""
        return architectures.decoder_logits(self.decoder, z)

    def call(self, inputs, training=False):
        """Reconstructs images: encode, sample z, decode. Returns flattened probabilities (B, P)."""
        if self.posterior_name == "diagonal":
            z_mean, z_log_var = self.encoder(as_pixels(inputs, self.image_shape), training=training)
            return self.decoder(self.sampling([z_mean, z_log_var]), training=training)
        params = self.posterior_params(as_pixels(inputs, self.image_shape), training=training)
        z, _ = self.posterior_family.sample(params, self.sampling.noise(params["z_mean"]))
        return self.decoder(z, training=training)

    def posterior_params(self, x, training=False) -> dict:
        """The encoder's outputs for flattened images x (B, P): `z_mean`, `z_log_var` (B, D) and, for
        the families that read them, `features` (B, F) (see `vae_tf.models.posteriors`)."""
        if self._untracked.heads is None:
            z_mean, z_log_var = self.encoder(x, training=training)
            return {"z_mean": z_mean, "z_log_var": z_log_var}
        z_mean, z_log_var, features = self._untracked.heads(x, training=training)
        return {"z_mean": z_mean, "z_log_var": z_log_var, "features": features}

    def _posterior_of_pixels(self, images):
        """q(z|u) for flattened images u (K, P) in [0, 1]: the VampPrior's components."""
        return self.posterior_family.distribution(self.posterior_params(images))

    def kl_per_image(self, params, z, log_q):
        """The KL term's estimate per image (B,), nats, as `kl_estimator` says.

        Args:
          params: `posterior_params` of the batch.
          z, log_q: the reconstruction's draw z (B, D) from q(z|x) and its log q(z|x) (B,).

        Returns:
          analytic: KL(q(z|x) || p(z)) (`vae_tf.kl.divergences.kl_analytic`); monte_carlo: the mean over
          `kl_samples` draws (the first is z) of log q(z|x) - log p(z) (`vae_tf.kl.divergences.kl_sample_mean`).
        """
        prior = self.prior()
        if self.kl_estimator == "analytic":
            return kl_analytic(self.posterior_family.distribution(params), prior)
        log_q, log_p = log_q[None], prior.log_prob(z)[None]
        if self.kl_samples > 1:
            shape = tf.concat([[self.kl_samples - 1], tf.shape(params["z_mean"])], axis=0)
            more_z, more_log_q = self.posterior_family.sample(params, self.sampling.noise(tf.zeros(shape)))
            log_q = tf.concat([log_q, more_log_q], axis=0)
            log_p = tf.concat([log_p, prior.log_prob(more_z)], axis=0)
        return kl_sample_mean(log_q, log_p)

    def compute_losses(self, data, training=False, eps=None, global_batch_size=None, uniform=None) -> dict:
        """Every loss term of one batch (see `vae_tf.models.losses.vae_losses`).

        Args:
          data: images (B, P), (B, H, W, C) or (B, H, W), uint8 or floats in [0, 1].
          training: passed to the encoder and decoder; with the "binarized" likelihood, the
            images are binarised afresh (x ~ Bernoulli(pixel)).
          eps: optional noise (B, D) for the sampling; drawn from the seed generator if None.
          global_batch_size: the whole batch's size when `data` is one replica's share.
          uniform: optional U[0, 1) noise (B, P) of the binarisation; drawn from the seed
            generator if None (before eps).

        With a KL schedule the weights are those of the optimizer's current step (before
        compiling: the end of training's), and the result also holds them (`beta`, `capacity`).
        """
        x = as_pixels(data, self.image_shape)
        if training and self.pixel_model.binarizes:
            if uniform is None:
                uniform = self.sampling.draw_uniform(tf.shape(x), x.dtype)
            x = likelihoods.binarize(x, uniform)
        kl = None
        if self.report_kl:
            z_mean, z_log_var = self.encoder(x, training=training)
            z = self.sampling([z_mean, z_log_var], eps=eps)
        else:
            params = self.posterior_params(x, training=training)
            z_mean, z_log_var = params["z_mean"], params["z_log_var"]
            z, log_q = self.posterior_family.sample(params, self.sampling.noise(z_mean) if eps is None else eps)
            kl = self.kl_per_image(params, z, log_q)
        logits = self.decode_logits(z)
        optimizer = getattr(self, "optimizer", None)
        schedule = self.kl_schedule.at(optimizer.iterations if optimizer is not None else None)
        losses = vae_losses(
            x, logits, z_mean, z_log_var, self.regularizer, self.reduction, schedule["beta"],
            global_batch_size, self.free_bits, schedule["capacity"], kl_per_image=kl, likelihood=self.likelihood_name,
        )
        return {**losses, **{name: schedule[name] for name in self.schedule_trackers}}

    @staticmethod
    def _unpack(data):
        """`fit` data is images, or (images, eps) to train on given noise (for exact comparisons)."""
        if isinstance(data, (tuple, list)):
            return data[0], (data[1] if len(data) > 1 else None)
        return data, None

    @staticmethod
    def _replicas():
        context = tf.distribute.get_replica_context()
        return 1 if context is None else context.num_replicas_in_sync

    def _step_losses(self, data, training):
        x, eps = self._unpack(data)
        global_batch_size = uniform = None
        if self._replicas() > 1:
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

    def _update_trackers(self, losses):
        replicas = self._replicas()
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

    # Set by `vae_tf.training.engine.build_vae` under a strategy spanning several workers: steps per call
    # of `make_train_function`'s own train function, and whether the replica's loss and
    # gradients are compiled with XLA (the all-reduce and Adam stay outside).
    workers_steps_per_call = None
    workers_jit = False

    def make_train_function(self, force=False):
        """Keras' train function, except across workers: `workers_steps_per_call` steps per call.

        Keras' own function (3.15) reduces every logged value over the workers after every step,
        one collective each, and fails with several steps per call under tf.distribute. This one
        runs the steps in a loop inside one `tf.function` (the dataset is endless, so no step
        asks the workers whether they still have data), and averages the logs over the workers
        once per call, in one all-reduce of a vector. The epoch's logs are Keras' own (the trackers
        read across the workers), so history.csv is unchanged.
        """
        steps = self.workers_steps_per_call
        if not steps or not across_workers(self.distribute_strategy):
            return self._make_call_train_function(force)
        if self.train_function is not None and not force:
            return self.train_function
        strategy = self.distribute_strategy

        def synced_logs():
            context = tf.distribute.get_replica_context()
            names = [metric.name for metric in self.metrics]
            values = context.all_reduce("MEAN", tf.stack([metric.result() for metric in self.metrics]))
            return {name: values[i] for i, name in enumerate(names)}

        @tf.function
        def train_function(iterator):
            for _ in tf.range(steps):
                strategy.run(self._train_one_step, args=(next(iterator),))
            logs = strategy.run(synced_logs)
            return {name: strategy.experimental_local_results(value)[0] for name, value in logs.items()}

        self.train_function = train_function
        return train_function

    def _make_call_train_function(self, force=False):
        """Keras' train function, and for a dataset of whole calls (`engine.make_call_dataset`) one XLA loop.

        Keras' own loop (3.15) pulls every batch through a `tf.data` optional, a `tf.cond` and a
        launch of the compiled step: about a third of an epoch of the report's model on 2 cores.
        An element of `make_call_dataset` holds a call's batches stacked; they run in one
        compiled `tf.while_loop` (then the epoch's smaller last batch, if the call has it, as a
        loop of one step). The step is `train_step`, traced with the batch size unknown as Keras
        traces it, so the numbers are Keras' own to the last bit (tests/test_engine.py). Any
        other dataset goes to Keras' function.
        """
        if self.train_function is not None and not force:
            return self.train_function
        super().make_train_function(force)  # sets self.train_function
        keras_function = self.train_function
        from vae_tf.training.engine import CALL_BATCHES, CALL_LAST

        compiled = {}

        def logs_now():
            return {name: tracker.result() for name, tracker in [*self.trackers.items(),
                                                                 *self.schedule_trackers.items()]}

        def run_batches(batches):
            def body(step):
                self.train_step(batches[step])
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
                compiled["batches"] = tf.function(run_batches, jit_compile=bool(self.jit_compile), autograph=False,
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
        self.train_function = function
        return function

    def _train_one_step(self, data):
        if isinstance(data, dict):  # `distribute_batches(..., with_rows=True)`: where this share lies
            x, eps = data["images"], None
            local, first_row, global_batch_size = tf.shape(x)[0], data["first_row"], data["batch_size"]
        else:
            x, eps = self._unpack(data)
            local = tf.shape(x)[0]
            first_row, global_batch_size = rows_of_this_replica(local)
        if eps is None:
            eps = self.sampling.draw((global_batch_size, self.latent_dim))[first_row:first_row + local]
        if self.workers_jit:
            if getattr(self, "_compiled_gradients", None) is None:
                self._compiled_gradients = tf.function(self._gradients, jit_compile=True)
            losses, gradients = self._compiled_gradients(x, eps, global_batch_size)
        else:
            losses, gradients = self._gradients(x, eps, global_batch_size)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        self._update_trackers(losses)
        for name, tracker in self.schedule_trackers.items():
            tracker.update_state(losses[name])

    def _gradients(self, x, eps, global_batch_size):
        with tf.GradientTape() as tape:
            losses = self.compute_losses(x, training=True, eps=eps, global_batch_size=global_batch_size)
        return losses, tape.gradient(losses["loss"], self.trainable_weights)

    def train_step(self, data):
        with tf.GradientTape() as tape:
            losses = self._step_losses(data, training=True)
        gradients = tape.gradient(losses["loss"], self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        logs = self._update_trackers(losses)
        for name, tracker in self.schedule_trackers.items():
            tracker.update_state(losses[name])
            logs[name] = tracker.result()
        return logs

    def test_step(self, data):
        return self._update_trackers(self._step_losses(data, training=False))

    def get_config(self):
        return {**super().get_config(), **self.settings}

    # --- many images at once, in batches: NumPy in, NumPy out -----------------------------------

    def encode(self, x, batch_size: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
        """(z_mean, z_log_var) of images x, float32 (N, D) each.

        Args:
          x: images (N, H, W, C), (N, H, W) when C = 1, or (N, P); uint8 or floats in [0, 1].
          batch_size: images per call of the encoder.
        """
        parts = [self.encoder(as_pixels(x[start:start + batch_size], self.image_shape), training=False)
                 for start in range(0, len(x), batch_size)]
        return tuple(np.concatenate([np.asarray(part[i]) for part in parts]) for i in range(2))

    def sample_codes(self, x, seed: int, batch_size: int = BATCH) -> dict:
        """The codes of every image of x, in order: `z_mean`, `z_log_var` and a sampled `z`, (N, D) each.

        The noise of z is a function of `seed` (N(0, I) draws seeded with seed + 1).
        """
        z_mean, z_log_var = self.encode(x, batch_size)
        eps = np.asarray(keras.random.normal(z_mean.shape, seed=seed + 1))
        if self.posterior_name == "diagonal":
            return {"z_mean": z_mean, "z_log_var": z_log_var, "z": np.asarray(reparameterize(z_mean, z_log_var, eps))}
        z = np.concatenate([np.asarray(self.posterior_family.sample(
            self.posterior_params(as_pixels(x[start:start + batch_size], self.image_shape)),
            eps[start:start + batch_size])[0]) for start in range(0, len(x), batch_size)])
        return {"z_mean": z_mean, "z_log_var": z_log_var, "z": z}

    def posterior_mean(self, x, samples: int = 64, seed: int = 0, batch_size: int = BATCH) -> np.ndarray:
        """E_q[z|x] (N, D) of images x: z_mean for the Gaussian posteriors; for the IAF, the mean of
        `samples` draws per image (seeded by `seed`)."""
        if self.posterior_name != "iaf":
            return self.encode(x, batch_size)[0]
        parts = []
        for start in range(0, len(x), batch_size):
            params = self.posterior_params(as_pixels(x[start:start + batch_size], self.image_shape))
            eps = keras.random.normal((samples, *params["z_mean"].shape), seed=seed + start)
            parts.append(np.asarray(self.posterior_family.mean(params, eps)))
        return np.concatenate(parts)

    def decode(self, z, batch_size: int = BATCH, logits: bool = False) -> np.ndarray:
        """Images for codes z (N, D): the likelihood's mean E[x|z] in [0, 1], (N, H, W, C).

        That is the pixel probabilities for the Bernoulli likelihoods, and the continuous
        Bernoulli's mean (not sigmoid(logits)) for "continuous_bernoulli".

        Args:
          z: codes (N, D).
          batch_size: codes per call of the decoder.
          logits: return the decoder's logits instead, flattened (N, P).
        """
        z = np.asarray(z, dtype=np.float32)
        if logits:
            step = self.decode_logits
        elif self.likelihood_name == "continuous_bernoulli":
            step = lambda codes: self.pixel_model.mean(self.decode_logits(codes))  # noqa: E731
        else:
            step = lambda codes: self.decoder(codes, training=False)  # noqa: E731
        flat = np.concatenate([np.asarray(step(z[start:start + batch_size])) for start in range(0, len(z), batch_size)])
        return flat if logits else flat.reshape((len(flat), *self.image_shape))

    # --- the model as distributions ------------------------------------------------------------

    def posterior(self, x):
        """q(z|x) for images x (B, H, W, C) (or (B, P)), a TFP distribution with batch shape (B,) and event
        shape (D,): `MultivariateNormalDiag` (the report's), `MultivariateNormalTriL` (full) or a
        `TransformedDistribution` (iaf); see `vae_tf.models.posteriors`."""
        return self.posterior_family.distribution(self.posterior_params(as_pixels(x, self.image_shape)))

    def prior(self):
        """p(z), a TFP distribution with event shape (D,): N(0, I) (the report's), a learned
        `MixtureSameFamily` of Gaussians, or the VampPrior; see `vae_tf.models.priors`."""
        return self.prior_family.distribution(self._posterior_of_pixels)
    def likelihood(self, z):
        """p(x|z) for codes z (B, D): the model's likelihood (`vae_tf.models.likelihoods`) as a TFP distribution,
        batch shape (B,), event (H, W, C)."""
        return pixel_likelihood(self.decode_logits(z), self.image_shape, self.likelihood_name)
