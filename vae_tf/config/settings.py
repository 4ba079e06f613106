"""One configuration object; its defaults are the report's setup.

Each setting is one field of `TrainConfig`, declared with `setting(...)`: its default, its help
text, its allowed values. The command-line flags (`add_arguments`), the reading of them
(`TrainConfig.from_args`), the checks (`__post_init__`) and config.json (`to_dict`/`from_dict`)
are all derived from the fields. To add a setting, add a field here and use it where it acts
(for a model setting: `VAE.__init__` in model.py, which receives every field marked `model=True`);
if it acts only with another setting, add its row to `vae_tf.config.needs.NEEDS`.

This module imports no TensorFlow, so that every command parses its flags in a blink.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

from vae_tf.config.needs import inert_setting
from vae_tf.core.cli import SEED_RANGE, number
from vae_tf.models import architectures, choices, likelihoods
from vae_tf.models.checks import value_problem

__all__ = ["COLORS", "DATASET_HELP", "STRATEGIES", "XLA_CHOICES", "TrainConfig", "add_arguments", "changed_settings",
           "flag", "setting", "setting_problem", "title"]

STRATEGIES = ("default", "mirrored", "multiworker")
XLA_CHOICES = ("auto", "on", "off")  # --xla
COLORS = ("grayscale", "rgb")
# `--dataset`'s help (the registry in vae_tf/data/sources.py, which this module does not import: no NumPy here).
DATASET_HELP = ("fashion_mnist (the report's), mnist, digits (scikit-learn's 8 x 8), npz:FILE (arrays x_train, x_test, "
                "optionally y_train, y_test), folder:DIR (image files, one sub-folder per class or none), "
                "shards:DIR (written by python -m vae_tf.data pack, streamed) or tfds:NAME[:SPLIT] (prepared in "
                "--data-dir); see docs/data.md")


def setting(default, help: str, *, group: str = "training", model: bool = False, choices=None, kind=None,
            at_least=None, above=None, optional: bool = False, many: bool = False, metavar=None, count=None,
            at_most=None):
    """A `TrainConfig` field with what its flag and its check need.

    Args:
      default: the report's value.
      help: the flag's help text.
      group: the --help section ("model and loss", "training", "data and devices").
      model: the setting is an argument of `vae_tf.VAE` (and saved with the model).
      choices: the allowed values of a str setting.
      kind: int or float for a number (checked to be finite and within `at_least`/`above`/`at_most`);
        bool for a switch; None for a str.
      optional: None is allowed (and is the "not given" value).
      many: a list (a flag taking one or more values): of str, or of `kind` numbers.
      metavar: the flag's placeholder in --help (a tuple for a `count` of values).
      count: with `many`, exactly this many values.
    """
    metadata = {"help": help, "group": group, "model": model, "choices": choices, "kind": kind,
                "at_least": at_least, "above": above, "at_most": at_most, "optional": optional, "many": many,
                "metavar": metavar, "count": count}
    return dataclasses.field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Every setting of a training run. The defaults reproduce the report; see each field's help."""

    regularizer: str = setting("kl", "kl: the VAE; none: no regulariser (the report's 'without KL'); mse: the "
                               "report's 'MSE instead of KL'", group="model and loss", model=True,
                               choices=choices.REGULARIZERS)
    reduction: str = setting("report", "report: sum over the batch of per-pixel mean BCE (the report's code); "
                             "elbo: textbook negative ELBO, nats per image", group="model and loss", model=True,
                             choices=choices.REDUCTIONS)
    beta: float = setting(1.0, "weight of the regulariser in the loss", group="model and loss", model=True,
                          kind=float, at_least=0)
    latent_dim: int = setting(2, "size of the latent code z", group="model and loss", model=True, kind=int,
                              at_least=1)
    hidden_units: int = setting(100, "width of the hidden Dense layer: the MLP's encoder's and decoder's; the conv "
                                "encoder's, before the heads", group="model and loss", model=True, kind=int, at_least=1)
    architecture: str = setting("mlp", "mlp: the report's 784-100-D MLP; conv: Keras' example's convolutional encoder "
                                "and decoder (Conv2D --filters and 2 --filters, 3x3, stride 2; any image size)",
                                group="model and loss", model=True, choices=architectures.NAMES)
    filters: int = setting(32, "conv only: filters of the first Conv2D (the second has twice as many; the decoder "
                           "mirrors them)", group="model and loss", model=True, kind=int, at_least=1)
    likelihood: str = setting("bernoulli", "p(x|z) per pixel: bernoulli (the report's: greyscale targets, not a "
                              "normalised density); binarized (x ~ Bernoulli(pixel) afresh each batch, the test "
                              "images binarised once with a fixed seed); continuous_bernoulli (a proper density on "
                              "[0, 1]); gaussian (Normal pixels with one shared sigma^2, --gaussian-variance; a true "
                              "density of real-valued pixels, which puts mass outside [0, 1])", group="model and loss",
                              model=True, choices=likelihoods.NAMES)
    gaussian_variance: str | None = setting(None, "--likelihood gaussian only: sigma^2, one for every pixel: learned "
                                            "(a weight; the default), optimal (sigma-VAE: each training batch's mean "
                                            "squared error; evaluation uses their moving average) or a number (fixed; "
                                            "for a Gaussian decoder beta and 2 sigma^2 play the same role)",
                                            group="model and loss", model=True, optional=True,
                                            metavar="{learned,optimal}|FLOAT")
    epochs: int = setting(10, "passes over the training images", kind=int, at_least=1)
    batch_size: int = setting(128, "images per step (the global batch under tf.distribute); 60,000 / 128 gives "
                              "469 steps per epoch, the last of 96 images", kind=int, at_least=1)
    learning_rate: float = setting(1e-4, "Adam's learning rate", kind=float, above=0)
    seed: int = setting(0, "seeds the initial weights, the shuffling and the sampling noise", model=True, kind=int,
                        at_least=SEED_RANGE[0], at_most=SEED_RANGE[1])
    limit: int | None = setting(None, "train on the first N training images only (default: all 60,000)",
                                kind=int, at_least=1, optional=True, metavar="N")
    fast: bool = setting(True, "uint8 input scaled in the graph, XLA (--xla), several steps per call; --no-fast trains "
                         "the way the report's code does (float64 array, one step per call)", kind=bool)
    deterministic: bool = setting(False, "TensorFlow's op determinism: the same seed gives identical bytes "
                                  "(slower)", kind=bool)
    xla: str = setting("auto", "the fast path's XLA compilation: auto compiles the architectures XLA makes "
                       "faster on a CPU (the MLP; not conv, whose XLA convolutions were many times slower here: "
                       "vae_tf.models.architectures.XLA); on or off forces it (off under --deterministic)",
                       choices=XLA_CHOICES)
    strategy: str = setting("default", "tf.distribute: one device; MirroredStrategy over the visible GPUs (or "
                            "--devices); or MultiWorkerMirroredStrategy configured from $TF_CONFIG",
                            group="data and devices", choices=STRATEGIES)
    devices: list[str] | None = setting(None, "devices of --strategy mirrored, e.g. /gpu:0 /gpu:1",
                                        group="data and devices", optional=True, many=True, metavar="DEVICE")
    dataset: str = setting("fashion_mnist", DATASET_HELP, group="data", metavar="SOURCE")
    data_dir: str | None = setting(None, "directory with the IDX files of fashion_mnist or mnist (default: "
                                   "$VAE_TF_DATA_DIR, Keras' cache, /usr/share/datasets/fashion-mnist, then download)",
                                   group="data", optional=True, metavar="DIR")
    image_size: list[int] | None = setting(None, "folder:DIR: resize every image to H x W pixels (default: keep "
                                           "their size, which must then be one)", group="data", optional=True,
                                           many=True, count=2, kind=int, at_least=1, metavar=("H", "W"))
    color: str | None = setting(None, "folder:DIR: convert the images to grayscale or rgb (default: rgb if any file "
                                "is in colour, else grayscale)", group="data", optional=True, choices=COLORS)
    test_fraction: float = setting(0.1, "folder:DIR without train/ and test/ sub-folders: the share of images "
                                   "held out as the test split (a fixed split, the same for every --seed)",
                                   group="data", kind=float, above=0, metavar="F")
    data_memory: str | None = setting(None, "how much memory the images may take, e.g. 200M or 4G: a folder: or tfds: "
                                      "source larger than this is streamed from disk, any other refused (pack it: "
                                      "python -m vae_tf.data pack); shards: always stream (default: a quarter of the "
                                      "machine's memory; docs/data.md)", group="data", optional=True, metavar="SIZE")
    # The KL axis (formulas: vae_tf/models/schedules.py). t = epochs completed, fractions included.
    beta_schedule: str = setting("constant", "how the KL weight grows: constant (beta throughout); linear (beta * "
                                 "min(1, t / --warmup-epochs)); cyclical (Fu et al. 2019: --cycles cycles over the "
                                 "training, each ramping beta up from 0 over its first --ramp-fraction, then holding)",
                                 group="KL schedule", model=True, choices=choices.SCHEDULES)
    warmup_epochs: float = setting(5.0, "epochs over which the linear schedule ramps beta up from 0",
                                   group="KL schedule", model=True, kind=float, above=0, metavar="E")
    cycles: int = setting(4, "cycles of the cyclical schedule over the whole training", group="KL schedule",
                          model=True, kind=int, at_least=1, metavar="M")
    ramp_fraction: float = setting(0.5, "share of each cycle over which the cyclical schedule ramps beta up "
                                   "(0 < R <= 1)",
                                   group="KL schedule", model=True, kind=float, above=0, at_most=1, metavar="R")
    free_bits: float = setting(0.0, "free bits (Kingma et al. 2016): the KL term becomes sum_d max(LAMBDA, KL_d), "
                               "KL_d the batch mean of dimension d's KL, in nats (with another posterior, prior or "
                               "estimator, whose KL does not split by dimension: max(D * LAMBDA, KL), one group of all "
                               "D dimensions); "
                               "0: off (--regularizer kl only)",
                               group="KL schedule", model=True, kind=float, at_least=0, metavar="LAMBDA")
    capacity: float = setting(0.0, "capacity target C in nats (Burgess et al. 2018): the KL term becomes |KL - C_t|, "
                              "C_t growing linearly from 0 to C over --capacity-epochs, weighed by --beta (gamma); "
                              "0: off (--regularizer kl only)", group="KL schedule", model=True, kind=float,
                              at_least=0, metavar="C")
    capacity_epochs: float = setting(5.0, "epochs over which the capacity target grows from 0 to C",
                                     group="KL schedule", model=True, kind=float, above=0, metavar="E")
    # Beyond the closed form (posteriors: vae_tf/models/posteriors.py; priors: vae_tf/models/priors.py;
    # estimators: vae_tf/kl/).
    posterior: str = setting("diagonal", "q(z|x): diagonal (the report's Gaussian); full (a full-covariance Gaussian, "
                             "tfd.MultivariateNormalTriL); iaf (an inverse autoregressive flow on the diagonal "
                             "Gaussian, --flow-steps steps)", group="posterior, prior and KL estimator", model=True,
                             choices=choices.POSTERIORS)
    prior: str = setting("standard_normal", "p(z): standard_normal (N(0, I)); mixture (a learned mixture of "
                         "--prior-components diagonal Gaussians); vamp (the VampPrior: the mixture of the posteriors "
                         "of --prior-components learned pseudo-inputs)", group="posterior, prior and KL estimator",
                         model=True, choices=choices.PRIORS)
    kl_estimator: str = setting("analytic", "analytic: TFP's closed-form KL (only where it has one: diagonal or full "
                                "posterior against standard_normal); monte_carlo: log q(z|x) - log p(z) averaged over "
                                "--kl-samples draws of z ~ q(z|x), the first the reconstruction's own",
                                group="posterior, prior and KL estimator", model=True, choices=choices.KL_ESTIMATORS)
    kl_samples: int = setting(1, "draws of z per image for --kl-estimator monte_carlo", kind=int, at_least=1,
                              group="posterior, prior and KL estimator", model=True, metavar="S")
    flow_steps: int = setting(2, "IAF steps of --posterior iaf", kind=int, at_least=1,
                              group="posterior, prior and KL estimator", model=True, metavar="T")
    prior_components: int = setting(10, "components K of --prior mixture and vamp", kind=int, at_least=1,
                                    group="posterior, prior and KL estimator", model=True, metavar="K")
    validation: bool = setting(False, "after every epoch, the same loss on the 10,000 test images (fixed noise, "
                               "training's batch size): val_* in the log and history.csv", group="watching", kind=bool)
    tensorboard: bool = setting(False, "write RUNDIR/tensorboard/: every loss term and the learning rate per epoch, "
                                "and the latent scatter, decoded grid and reconstructions as images",
                                group="watching", kind=bool)
    snapshots: bool = setting(False, "store each epoch's z_mean of the first 2,000 test images (snapshots.npz), "
                              "for `vae_tf.plot`'s latent_evolution.gif", group="watching", kind=bool)

    def __post_init__(self):
        for field in dataclasses.fields(self):
            problem = _problem(field, getattr(self, field.name))
            if problem:
                raise ValueError(f"{field.name}={getattr(self, field.name)!r}: {problem}.")
        if not self.test_fraction < 1:
            raise ValueError(f"test_fraction={self.test_fraction!r}: must be less than 1 (a share of the images).")
        if self.devices is not None and self.strategy != "mirrored":
            raise ValueError("devices are only used by strategy='mirrored'.")
        if self.gaussian_variance is not None:
            likelihoods.parse_variance(self.gaussian_variance)
        problem = inert_setting(self) or choices.kl_settings_problem(self)  # a setting that cannot act: needs.py
        if problem:
            raise ValueError(problem)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig settings: {', '.join(unknown)}.")
        return cls(**values)

    @classmethod
    def from_args(cls, args: argparse.Namespace, **overrides) -> TrainConfig:
        """The config the flags of `add_arguments` describe (`overrides` replace some)."""
        values = {field.name: getattr(args, field.name) for field in dataclasses.fields(cls)}
        return cls(**{**values, **overrides})

    def model_settings(self) -> dict:
        """The settings `vae_tf.VAE` takes (the fields marked `model=True`), by name."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self) if field.metadata["model"]}


def _problem(field: dataclasses.Field, value) -> str | None:
    """Why `value` is not allowed for `field`, or None."""
    meta = field.metadata
    if value is None:
        return None if meta["optional"] else "must be given"
    if meta["many"]:
        if meta["kind"] is int:
            ok = isinstance(value, list) and all(isinstance(item, int) and not isinstance(item, bool)
                                                 and (meta["at_least"] is None or item >= meta["at_least"])
                                                 for item in value)
            ok = ok and (meta["count"] is None or len(value) == meta["count"])
            return None if ok else f"must be a list of {meta['count'] or 'some'} integers >= {meta['at_least']}"
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
        return None if ok else "must be a list of strings"
    if meta["choices"] is not None:
        return None if value in meta["choices"] else f"choose one of {', '.join(meta['choices'])}"
    kind = meta["kind"]
    if kind is bool:
        return None if isinstance(value, bool) else "must be True or False"
    if kind is None:
        return None if isinstance(value, str) else "must be a string"
    return value_problem(value, kind, meta["at_least"], meta["above"], meta.get("at_most"))  # the API's check too


def setting_problem(name: str, value) -> str | None:
    """Why `value` is not allowed for the setting `name` (its type and range, as the flag checks it), or
    None; None too for a name that is no setting (a run's config.json may hold settings of another version)."""
    fields = {field.name: field for field in dataclasses.fields(TrainConfig)}
    return _problem(fields[name], value) if name in fields else None


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, hide=()) -> argparse.ArgumentParser:
    """Add a flag for every `TrainConfig` field (defaults: the report's), grouped as in --help.

    Args:
      parser: the command's parser; `TrainConfig.from_args(args)` reads the flags back.
      hide: field names whose flag is accepted but not shown (a command that sets them itself).
    """
    groups = {}
    for field in dataclasses.fields(TrainConfig):
        meta = field.metadata
        group = groups.get(meta["group"]) or groups.setdefault(meta["group"], parser.add_argument_group(meta["group"]))
        options = {"default": field.default, "help": argparse.SUPPRESS if field.name in hide else meta["help"]}
        if meta["kind"] is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["metavar"] = meta["metavar"]
            if meta["choices"] is not None:
                options.update(choices=meta["choices"], metavar=None)
            elif meta["kind"] is not None:
                options["type"] = number(meta["kind"], at_least=meta["at_least"], above=meta["above"],
                                         at_most=meta.get("at_most"))
            if meta["many"]:
                options["nargs"] = meta["count"] or "+"
        group.add_argument(flag(field.name), **options)
    return parser


def changed_settings(args: argparse.Namespace) -> list[str]:
    """The flags of `add_arguments` given a value other than their default, e.g. ['--epochs']."""
    return [flag(field.name) for field in dataclasses.fields(TrainConfig)
            if getattr(args, field.name, field.default) != field.default]


def title(settings: dict) -> str:
    """A run's title: the variant as the report names it, then the settings that differ from the report's.

    Args:
      settings: a TrainConfig as a dict (e.g. `Run.settings`).
    """
    name = choices.VARIANT_TITLES.get(settings["regularizer"], settings["regularizer"])
    defaults = TrainConfig()
    extras = [f"{key}={settings[key]:g}" if isinstance(settings[key], float) else f"{key}={settings[key]}"
              for key in ("architecture", "likelihood", "gaussian_variance", "reduction", "beta", "latent_dim",
                          "beta_schedule", "free_bits", "capacity", "posterior", "prior", "kl_estimator", "kl_samples")
              if key in settings and settings[key] != getattr(defaults, key)]
    return name + (f" ({', '.join(extras)})" if extras else "")
