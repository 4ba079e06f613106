"""Train the report's VAE on Fashion-MNIST and write a run directory.

    python -m vae_tf.train                         # the report's run: KL on, 10 epochs
    python -m vae_tf.train --regularizer none      # the report's "without KL"
    python -m vae_tf.train --regularizer mse       # the report's "MSE instead of KL"
    python -m vae_tf.train --reduction elbo        # the textbook negative ELBO
    python -m vae_tf.train --limit 2000 --epochs 2 --out runs/quick   # a quick look

See `vae_tf.rundir` for what the run directory holds.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

from vae_tf.config import TrainConfig
from vae_tf.losses import REDUCTIONS, REGULARIZERS
from vae_tf.rundir import FORMAT, FORMAT_VERSION, RUN_FILES

_DEFAULTS = TrainConfig()


class UsageError(Exception):
    """A problem with what the user asked for; the CLI prints it as one line and exits 1."""


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
        return value

    parse.__name__ = kind.__name__
    return parse


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def add_training_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add every TrainConfig setting as a flag (defaults: the report's); `config_from_args` reads them.

    Other commands that train (e.g. `vae_tf.compare`) call this so that their flags are the same.
    """
    model = parser.add_argument_group("model and loss")
    model.add_argument("--regularizer", choices=REGULARIZERS, default=_DEFAULTS.regularizer,
                       help="kl: the VAE; none: no regulariser; mse: the report's 'MSE instead of KL'")
    model.add_argument("--reduction", choices=REDUCTIONS, default=_DEFAULTS.reduction,
                       help="report: sum over the batch of per-pixel mean BCE (the report's code); "
                            "elbo: textbook negative ELBO, nats per image")
    model.add_argument("--beta", type=_non_negative_float, default=_DEFAULTS.beta,
                       help="weight of the regulariser")
    model.add_argument("--latent-dim", type=_positive(int), default=_DEFAULTS.latent_dim,
                       help="size of the latent code z")
    model.add_argument("--hidden-units", type=_positive(int), default=_DEFAULTS.hidden_units,
                       help="width of the encoder's and decoder's hidden layer")
    fitting = parser.add_argument_group("training")
    fitting.add_argument("--epochs", type=_positive(int), default=_DEFAULTS.epochs)
    fitting.add_argument("--batch-size", type=_positive(int), default=_DEFAULTS.batch_size)
    fitting.add_argument("--learning-rate", type=_positive(float), default=_DEFAULTS.learning_rate,
                         help="Adam's learning rate")
    fitting.add_argument("--seed", type=int, default=_DEFAULTS.seed,
                         help="seeds shuffling, initial weights and sampling noise")
    fitting.add_argument("--limit", type=_positive(int), default=None, metavar="N",
                         help="train on the first N training images only (default: all 60,000)")
    fitting.add_argument("--data-dir", default=None, metavar="DIR",
                         help="directory with the Fashion-MNIST IDX files (default: $VAE_TF_DATA_DIR, "
                              "Keras' cache, /usr/share/datasets/fashion-mnist, then download)")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                        help="Keras' fit verbosity (default: 1, a progress bar, on a terminal; "
                             "2, one line per epoch, otherwise)")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vae_tf.train",
        description=(
            "Train the report's variational autoencoder (784-100-2-100-784) on Fashion-MNIST "
            "and write a run directory (config.json, history.csv, model.keras, latents.npz, "
            "summary.json). With no arguments: the report's configuration, on all 60,000 "
            "training images."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_training_arguments(parser)
    files = parser.add_argument_group("output")
    files.add_argument("--out", default=None, metavar="DIR",
                       help="run directory to write (default: runs/<regularizer>-<reduction>-seed<seed>-<time>)")
    files.add_argument("--overwrite", action="store_true",
                       help="allow writing into an --out directory that already has files")
    return parser


def fit_verbosity(args: argparse.Namespace) -> int:
    return args.verbose if args.verbose is not None else (1 if sys.stdout.isatty() else 2)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        regularizer=args.regularizer,
        reduction=args.reduction,
        beta=args.beta,
        latent_dim=args.latent_dim,
        hidden_units=args.hidden_units,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        limit=args.limit,
        data_dir=args.data_dir,
    )


def default_out_dir(config: TrainConfig) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config.regularizer}-{config.reduction}-seed{config.seed}-{stamp}"


def prepare_out_dir(out, overwrite: bool) -> Path:
    """Create the run directory, refusing to write into a non-empty one unless asked."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory; choose another path.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UsageError(
            f"--out {out} already exists and is not empty; choose another directory or pass "
            "--overwrite to replace the run files in it."
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def describe_device() -> str:
    """The device training runs on, in words: the GPU's name, or the CPU."""
    import tensorflow as tf

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


def library_versions() -> dict:
    import keras
    import numpy
    import tensorflow as tf
    import tensorflow_probability as tfp

    import vae_tf

    return {
        "vae_tf": vae_tf.__version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tensorflow_probability": tfp.__version__,
        "numpy": numpy.__version__,
    }


def encode_training_set(vae, x, seed: int, batch_size: int = 2048) -> dict:
    """Latent codes of every image of `x` (N, 784), in order: z_mean, z_log_var and a sampled z."""
    import keras
    import numpy as np

    from vae_tf.model import as_pixels, reparameterize

    z_mean, z_log_var = [], []
    for start in range(0, len(x), batch_size):
        mean, log_var = vae.encoder(as_pixels(x[start:start + batch_size]), training=False)
        z_mean.append(np.asarray(mean))
        z_log_var.append(np.asarray(log_var))
    z_mean = np.concatenate(z_mean)
    z_log_var = np.concatenate(z_log_var)
    eps = np.asarray(keras.random.normal(z_mean.shape, seed=seed + 1))
    z = np.asarray(reparameterize(z_mean, z_log_var, eps))
    return {"z_mean": z_mean, "z_log_var": z_log_var, "z": z}


def train(config: TrainConfig, out=None, overwrite: bool = False, verbose: int = 2,
          command: list[str] | None = None) -> Path:
    """Train one VAE as `config` says and write its run directory.

    Args:
      config: the settings (defaults: the report's).
      out: run directory to write (default: `default_out_dir(config)`).
      overwrite: allow writing into a non-empty `out`.
      verbose: Keras' fit verbosity (0, 1 or 2).
      command: the command line to record in config.json.

    Returns:
      The run directory's path.
    """
    out = prepare_out_dir(out if out is not None else default_out_dir(config), overwrite)

    import keras

    from vae_tf import rundir
    from vae_tf.callbacks import EpochTimer
    from vae_tf.data import flatten_images, load_fashion_mnist
    from vae_tf.model import VAE

    started = time.time()
    ((x_train, y_train), _), source = load_fashion_mnist(config.data_dir, return_source=True)
    x = flatten_images(x_train[: config.limit])
    y = y_train[: config.limit]
    device = describe_device()
    print(f"vae_tf: {len(x):,} training images from {source.directory} ({source.kind}); "
          f"training on {device}", flush=True)

    rundir.write_json(out / "config.json", {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "data": {"source": source.kind, "directory": source.directory, "train_images": len(x)},
        "device": device,
        "versions": library_versions(),
        "command": command,
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    })

    keras.utils.set_random_seed(config.seed)
    vae = VAE(
        latent_dim=config.latent_dim,
        hidden_units=config.hidden_units,
        regularizer=config.regularizer,
        reduction=config.reduction,
        beta=config.beta,
        seed=config.seed,
    )
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate))
    timer = EpochTimer()
    history = vae.fit(x, epochs=config.epochs, batch_size=config.batch_size, shuffle=True,
                      verbose=verbose, callbacks=[timer])

    names = [metric.name for metric in vae.metrics]
    rows = [
        {"epoch": epoch + 1, **{name: history.history[name][epoch] for name in names},
         "seconds": timer.seconds[epoch]}
        for epoch in range(config.epochs)
    ]
    rundir.write_csv(out / "history.csv", rows)
    rundir.save_model(out / "model.keras", vae)
    latents = encode_training_set(vae, x, config.seed)
    rundir.write_npz(out / "latents.npz", **latents, y=y)
    z = latents["z"]
    rundir.write_json(out / "summary.json", {
        "final": {name: rows[-1][name] for name in names},
        "epochs": config.epochs,
        "train_images": len(x),
        "z": {
            "min": z.min(axis=0).tolist(),
            "max": z.max(axis=0).tolist(),
            "std": z.std(axis=0).tolist(),
        },
        "train_seconds": sum(timer.seconds),
        "wall_seconds": time.time() - started,
        "device": device,
    })
    assert all((out / name).is_file() for name in RUN_FILES)
    return out


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = fit_verbosity(args)
    from vae_tf.data import DataError, DataNotFoundError

    try:
        config = config_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    try:
        out = train(config, args.out, args.overwrite, verbose,
                    command=["python", "-m", "vae_tf.train", *(sys.argv[1:] if argv is None else argv)])
    except (UsageError, DataError, DataNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(f"run directory: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
