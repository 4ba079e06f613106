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
import shutil
import signal
import sys
import time
from pathlib import Path

from vae_tf.cli import UsageError, number, run_command
from vae_tf.config import STRATEGIES, TrainConfig
from vae_tf.distributed import WorkerLost, is_chief
from vae_tf.losses import REDUCTIONS, REGULARIZERS
from vae_tf.rundir import FORMAT, FORMAT_VERSION, RUN_FILES

_DEFAULTS = TrainConfig()




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
    model.add_argument("--beta", type=number(float, at_least=0), default=_DEFAULTS.beta,
                       help="weight of the regulariser")
    model.add_argument("--latent-dim", type=number(int, at_least=1), default=_DEFAULTS.latent_dim,
                       help="size of the latent code z")
    model.add_argument("--hidden-units", type=number(int, at_least=1), default=_DEFAULTS.hidden_units,
                       help="width of the encoder's and decoder's hidden layer")
    fitting = parser.add_argument_group("training")
    fitting.add_argument("--epochs", type=number(int, at_least=1), default=_DEFAULTS.epochs)
    fitting.add_argument("--batch-size", type=number(int, at_least=1), default=_DEFAULTS.batch_size)
    fitting.add_argument("--learning-rate", type=number(float, above=0), default=_DEFAULTS.learning_rate,
                         help="Adam's learning rate")
    fitting.add_argument("--seed", type=int, default=_DEFAULTS.seed,
                         help="seeds shuffling, initial weights and sampling noise")
    fitting.add_argument("--limit", type=number(int, at_least=1), default=None, metavar="N",
                         help="train on the first N training images only (default: all 60,000)")
    fitting.add_argument("--fast", action=argparse.BooleanOptionalAction, default=_DEFAULTS.fast,
                         help="uint8 input scaled in the graph, XLA, several steps per call; --no-fast "
                              "trains the way the report's code does (float64 array, one step per call)")
    fitting.add_argument("--deterministic", action="store_true",
                         help="TensorFlow's op determinism: the same seed gives identical bytes (slower)")
    fitting.add_argument("--strategy", choices=STRATEGIES, default=_DEFAULTS.strategy,
                         help="tf.distribute: one device, MirroredStrategy over the visible GPUs (or "
                              "--devices), or MultiWorkerMirroredStrategy configured from $TF_CONFIG")
    fitting.add_argument("--devices", nargs="+", default=None, metavar="DEVICE",
                         help="devices for --strategy mirrored, e.g. /gpu:0 /gpu:1")
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
    files.add_argument("--resume", default=None, metavar="RUNDIR",
                       help="continue an interrupted run from its last completed epoch, with the "
                            "settings in RUNDIR/config.json (give no other training flags)")
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
        fast=args.fast,
        strategy=args.strategy,
        devices=args.devices,
        deterministic=args.deterministic,
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

    Raises:
      UsageError: `out` is not empty and `overwrite` is False.
      NonFiniteLoss: the loss became NaN or infinite; the last good epoch stays checkpointed.
    """
    out = Path(out if out is not None else default_out_dir(config))
    if is_chief(config.strategy):  # [multiworker] only the chief writes the run directory
        out = prepare_out_dir(out, overwrite)
    return _run(config, out, verbose, command=command)


def resume(run_dir, verbose: int = 2) -> Path:
    """Continue an interrupted run from its last completed epoch, with its own settings.

    On the fast path (the default) the finished run is the run that would have been, had it
    never stopped (exactly so under `deterministic`): the batches of each epoch, the weights,
    Adam's state and the sampling noise's state all continue where they were.
    """
    import json

    from vae_tf.rundir import RunDirError, read_config

    run_dir = Path(run_dir)
    try:
        stored = read_config(run_dir)
    except RunDirError as error:
        raise UsageError(f"--resume: {error}") from None
    state_path = run_dir / "checkpoint" / "state.json"
    if (run_dir / "summary.json").is_file():
        raise UsageError(f"--resume {run_dir}: this run has finished; there is nothing to resume.")
    if not state_path.is_file():
        raise UsageError(
            f"--resume {run_dir}: no completed epoch was checkpointed ({state_path} is missing); "
            "start the run again instead."
        )
    try:
        config = TrainConfig.from_dict(stored["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise RunDirError(f"{run_dir / 'config.json'}: unusable settings ({error}).") from None
    state = json.loads(state_path.read_text())
    return _run(config, run_dir, verbose, state=state)


def _run(config: TrainConfig, out: Path, verbose: int, command=None, state: dict | None = None) -> Path:
    import keras
    import tensorflow as tf

    from vae_tf import rundir
    from vae_tf.callbacks import EpochCheckpoint, EpochTimer, NonFiniteLoss, StopOnNonFiniteLoss
    from vae_tf.data import flatten_images, load_fashion_mnist
    from vae_tf.distributed import stop_if_a_worker_is_lost, weights_fingerprint, writable_run_dir
    from vae_tf.engine import build_vae, fit_inputs, make_strategy, training_images

    started = time.time()
    try:  # first: MultiWorkerMirroredStrategy must exist before TensorFlow runs any op
        strategy = make_strategy(config.strategy, config.devices)
    except ValueError as error:
        raise UsageError(str(error)) from None
    # [multiworker] every worker saves every file (saving takes part in collectives); only the
    # chief's land in the run directory, the others' in a temporary one deleted at exit.
    run_dir, out = out, writable_run_dir(out, is_chief(config.strategy))
    ((x_train, y_train), _), source = load_fashion_mnist(config.data_dir, return_source=True)
    y = y_train[: config.limit]
    x = flatten_images(x_train[: config.limit])
    del x_train  # the fast path keeps one copy of the images: a tensor
    if config.fast:
        x = training_images(x)
    device = describe_device()
    first_epoch = state["epochs_done"] if state else 0
    count = strategy.num_replicas_in_sync
    replicas = f", {count} replica{'s' if count != 1 else ''}" if config.strategy != "default" else ""
    print(f"vae_tf: {len(x):,} training images from {source.directory} ({source.kind}); "
          f"training on {device}{replicas}" + (f"; resuming after epoch {first_epoch}" if state else ""),
          flush=True)

    if state is None:
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

    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    vae = build_vae(config, len(x), strategy)
    if state:
        _restore(vae, run_dir / "checkpoint", state, strategy)

    names = [metric.name for metric in vae.metrics]
    timer = EpochTimer()
    checkpoint = EpochCheckpoint(out / "checkpoint", state["history"] if state else [], names, timer)
    watchdog = StopOnNonFiniteLoss(vae.steps_per_execution)
    with stop_if_a_worker_is_lost(config.strategy, run_dir):  # [multiworker] no hang if one dies
        vae.fit(**fit_inputs(x, config, first_epoch, strategy), epochs=config.epochs,
                initial_epoch=first_epoch, verbose=verbose, callbacks=[timer, watchdog, checkpoint])
    if watchdog.failure:
        kept = (f"the last good state (epoch {checkpoint.history[-1]['epoch']}) is kept in {out / 'checkpoint'}"
                if checkpoint.history else "no epoch completed")
        raise NonFiniteLoss(f"{watchdog.failure} Training stopped; {kept}.")

    rows = checkpoint.history
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
        "train_seconds": sum(row["seconds"] for row in rows),
        "wall_seconds": time.time() - started,
        "resumed_after_epoch": first_epoch if state else None,
        "device": device,
    })
    shutil.rmtree(out / "checkpoint", ignore_errors=True)  # the finished run supersedes it
    assert out != run_dir or all((out / name).is_file() for name in RUN_FILES)  # [multiworker] the chief's
    if config.strategy == "multiworker":  # [multiworker] equal on every worker, by construction
        print(f"final weights fingerprint: {weights_fingerprint(vae.get_weights())}", flush=True)
    return run_dir


def _restore(vae, checkpoint_dir: Path, state: dict, strategy) -> None:
    """Weights, Adam's state and the noise generator's state of the checkpointed epoch."""
    import keras

    with strategy.scope():
        saved = keras.models.load_model(checkpoint_dir / state["model"])
        vae.set_weights(saved.get_weights())
        vae.optimizer.build(vae.trainable_variables)
        for target, source in zip(vae.optimizer.variables, saved.optimizer.variables, strict=True):
            target.assign(source)
    vae.sampling.seed_generator.state.assign(state["sampling_state"])


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = fit_verbosity(args)
    argv = sys.argv[1:] if argv is None else list(argv)
    if args.resume is not None:
        changed = sorted(f"--{name.replace('_', '-')}" for name, value in vars(args).items()
                         if name not in ("resume", "verbose") and value != parser.get_default(name))
        if changed:
            parser.error(f"--resume takes every setting from RUNDIR/config.json; drop {', '.join(changed)}")
    else:
        try:
            config = config_from_args(args)
        except ValueError as error:
            parser.error(str(error))

    from vae_tf.callbacks import NonFiniteLoss

    def stop_on_sigterm(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    out = Path(args.resume) if args.resume is not None else None

    def body():
        nonlocal out
        if args.resume is not None:
            out = resume(args.resume, verbose)
        else:
            out = Path(args.out if args.out is not None else default_out_dir(config))
            if is_chief(config.strategy):  # [multiworker] only the chief writes the run directory
                out = prepare_out_dir(out, args.overwrite)
            out = train(config, out, overwrite=True, verbose=verbose,
                        command=["python", "-m", "vae_tf.train", *argv])
        print(f"run directory: {out}")
        return 0

    def interrupted():
        return (f"\ninterrupted: {out} keeps every completed epoch; continue with "
                f"`python -m vae_tf.train --resume {out}`")

    return run_command(body, interrupted, errors=(NonFiniteLoss, WorkerLost))


if __name__ == "__main__":
    sys.exit(main())
