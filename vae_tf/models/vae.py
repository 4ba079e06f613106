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

The model's parts live beside it: `vae_tf.models.sampling` (the `Sampling` layer),
`vae_tf.models.inference` (the NumPy many-images methods and the distributions, a mixin) and
`vae_tf.models.replicas` (the step under `tf.distribute`, a mixin); `vae_tf.models.checks` checks
its settings as the command line does. Its old names (`Sampling`, `as_pixels`, `pixel_likelihood`,
`reparameterize`, ...) are still importable from here.

The model says what one training step does (`VAE.train_step`). How steps are grouped into the
calls of `fit` is training's: a VAE built by `vae_tf.training.engine.build_vae` runs several steps
per compiled call (`vae_tf.training.loops.attach`); one built by hand, or loaded, trains with
Keras' own train function, one step per batch, until `attach(vae)` is called. This module imports
nothing from training.
"""

from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import tensorflow as tf

from vae_tf.data import REPORT_SHAPE, check_images
from vae_tf.models import architectures, likelihoods
from vae_tf.models.checks import check_model_settings
from vae_tf.models.choices import KL_ESTIMATORS, POSTERIORS, PRIORS, REDUCTIONS, REGULARIZERS, kl_settings_problem
from vae_tf.models.gaussian import build_variance
from vae_tf.models.inference import BATCH, Inference, as_pixels, pixel_likelihood
from vae_tf.models.losses import check_choice, vae_losses
from vae_tf.models.posteriors import build_posterior, reparameterize
from vae_tf.models.priors import build_prior
from vae_tf.models.replicas import ReplicaStep, across_workers, one_replicas_share, rows_of_this_replica
from vae_tf.models.sampling import Sampling
from vae_tf.models.schedules import KLSchedule

# What this module exposed before its parts moved out (`vae_tf.model` and old code import them from here).
__all__ = ["BATCH", "VAE", "Sampling", "across_workers", "as_pixels", "build_decoder", "build_encoder",
           "one_replicas_share", "pixel_likelihood", "reparameterize", "rows_of_this_replica"]


def build_encoder(latent_dim: int = 2, hidden_units: int = 100, pixels: int = 784) -> keras.Model:
    """The report's MLP encoder q(z|x) (`vae_tf.models.architectures.mlp_encoder`) for `pixels` = P values an image.

    Maps flattened images (B, P) in [0, 1] to `[z_mean, z_log_var]`, (B, D) each, D = `latent_dim`.
    """
    return architectures.mlp_encoder((1, pixels, 1), latent_dim, hidden_units)


def build_decoder(latent_dim: int = 2, hidden_units: int = 100, pixels: int = 784) -> keras.Model:
    """The report's MLP decoder p(x|z) (`vae_tf.models.architectures.mlp_decoder`), `build_encoder`'s mirror.

    Maps codes (B, D) to flattened pixel probabilities (B, P); its layers `decoder_hidden` and
    `decoder_logits` give the logits (see `VAE.decode_logits`).
    """
    return architectures.mlp_decoder((1, pixels, 1), latent_dim, hidden_units)


@keras.saving.register_keras_serializable(package="vae_tf")
class VAE(Inference, ReplicaStep, keras.Model):
    """The report's VAE with a custom `train_step` that tracks every loss term.

    Args:
      image_shape: (H, W, C) of the images (the report: 28 x 28 x 1); `vae_tf.training.engine.build_vae`
        takes it from the data. The model's input and output are P = H * W * C values.
      latent_dim: size of z (the report: 2).
      hidden_units: width of the hidden Dense layer (the report: 100); see `vae_tf.models.architectures`.
      architecture: "mlp" (the report's) or "conv" (`vae_tf.models.architectures`).
      filters: the conv architecture's first Conv2D's filters.
      likelihood, gaussian_variance: p(x|z): "bernoulli" (the report's), "binarized", "continuous_bernoulli" or
        "gaussian" (`vae_tf.models.likelihoods`), whose sigma^2 is "learned" (None), "optimal" or a float (the
        layer `pixel_variance`, `vae_tf.models.gaussian`). With "binarized", `train_step` binarises every batch
        afresh (x ~ Bernoulli(pixel), the sampling layer's seeded noise); `test_step` and `evaluate`
        take the images as given (binarise them once: `vae_tf.models.likelihoods.binarize_fixed`).
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
        likelihood: str = "bernoulli", gaussian_variance=None,
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
        image_shape = check_model_settings(locals())  # every argument by name, as the command line checks them
        # What get_config saves, and `vae_tf.config.settings.TrainConfig.model_settings()` fills in.
        self.settings = {"latent_dim": int(latent_dim), "hidden_units": int(hidden_units),
                         "architecture": check_choice("architecture", architecture, architectures.NAMES),
                         "filters": int(filters), "gaussian_variance": gaussian_variance,
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
        self.pixel_variance = build_variance(self.likelihood_name, gaussian_variance)  # sigma^2, or None
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
        names = ["loss", "reconstruction_loss", "kl_loss"] + ["mse_loss"] * (self.regularizer == "mse")
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

    def call(self, inputs, training=False):
        """Reconstructs images: encode, sample z, decode. Returns flattened probabilities (B, P)."""
        if self.posterior_name == "diagonal":
            z_mean, z_log_var = self.encoder(as_pixels(inputs, self.image_shape), training=training)
            return self.decoder(self.sampling([z_mean, z_log_var]), training=training)
        params = self.posterior_params(as_pixels(inputs, self.image_shape), training=training)
        z, _ = self.posterior_family.sample(params, self.sampling.noise(params["z_mean"]))
        return self.decoder(z, training=training)

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
        losses = vae_losses(x, logits, z_mean, z_log_var, self.regularizer, self.reduction, schedule["beta"],
                            global_batch_size, self.free_bits, schedule["capacity"], kl_per_image=kl,
                            likelihood=self.step_pixel_model(x, logits, training))
        return {**losses, **{name: schedule[name] for name in self.schedule_trackers}}

    # What makes `fit`'s train function: None, Keras (a step per batch); `vae_tf.training.loops.attach`
    # sets training's loops (a call's batches in one XLA loop; several steps per call across workers).
    train_loop = None

    def make_train_function(self, force=False):
        """Keras' train function, or the one `train_loop` makes (`vae_tf.training.loops.attach`)."""
        if self.train_loop is None:
            return super().make_train_function(force)
        return self.train_loop(self, force)

    def train_step(self, data):
        with tf.GradientTape() as tape:
            losses = self._step_losses(data, training=True)
        gradients = tape.gradient(losses["loss"], self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        logs = self.update_trackers(losses)
        for name, tracker in self.schedule_trackers.items():
            tracker.update_state(losses[name])
            logs[name] = tracker.result()
        return logs

    def test_step(self, data):
        return self.update_trackers(self._step_losses(data, training=False))

    def get_config(self):
        return {**super().get_config(), **self.settings}
