"""The story of a training run: `train` and `resume`, from a `TrainConfig` to a finished run directory.

    from vae_tf.config import TrainConfig
    from vae_tf.training.run import train
    run_dir = train(TrainConfig(limit=2000, epochs=2), "runs/quick", verbose=0)

`python -m vae_tf.train` is this module behind a command line (`vae_tf.train` re-exports `train`
and `resume`); `vae_tf.compare` and `vae_tf.sweep` call it for each run they train. It reads the
data (`vae_tf.data`), builds and feeds the VAE (`vae_tf.training.engine`), adds the callbacks
(`vae_tf.training.callbacks`, `vae_tf.training.monitor`), runs Keras' `fit` (under a cluster, with
`vae_tf.training.cluster`'s guards) and keeps the books in a `vae_tf.rundir.RunWriter`.

Nothing here imports TensorFlow at module level: `train` and `resume` import it when called.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path

from vae_tf.training.cluster import holding_sigterm, is_chief, sigterm_blocked, stop_if_a_worker_is_lost
from vae_tf.training.interrupts import ending_cleanly, interrupt_taken, state_of

with sigterm_blocked():  # the threads these imports start (numpy's) never take SIGTERM: see holding_sigterm
    from vae_tf.config import TrainConfig
    from vae_tf.config.defaults import choose
    from vae_tf.config.defaults import describe as describe_defaults
    from vae_tf.core import cli
    from vae_tf.models.audit import describe, loss_audit


def default_out_dir(settings: TrainConfig) -> Path:
    """Where a run goes without `out`: runs/<regularizer>-<reduction>-seed<seed>-<date>-<time>."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{settings.regularizer}-{settings.reduction}-seed{settings.seed}-{stamp}"


def train(settings: TrainConfig, out=None, overwrite: bool = False, verbose: int = 2,
          command: list[str] | None = None, given=None) -> Path:
    """Train one VAE as `settings` say and write its run directory.

    Args:
      settings: the configuration (defaults: the report's).
      out: run directory to write (default: `default_out_dir(settings)`).
      overwrite: allow writing into a non-empty `out`.
      verbose: Keras' fit verbosity (0, 1 or 2).
      command: the command line to record in config.json.
      given: the names of the settings the user gave; the others may be chosen by
        `vae_tf.config.defaults.choose` (off the report's setup). None: `settings` are used as they are.

    Returns:
      The run directory's path.

    Raises:
      RunDirError: `out` is not empty and `overwrite` is False.
      NonFiniteLoss: the loss became NaN or infinite; the last good epoch stays checkpointed.
    """
    from vae_tf.rundir import RunWriter

    out = out if out is not None else default_out_dir(settings)
    # Under a cluster only the chief writes the run directory; the other workers write nothing there.
    run = RunWriter.create(out, overwrite) if is_chief(settings.strategy) else RunWriter(out).scratch()
    try:
        return _run(settings, run, verbose, command, given=given)
    finally:
        run.close()


def resume(run_dir, verbose: int = 2) -> Path:
    """Continue an interrupted run from its last completed epoch, with its own settings.

    On the fast path (the default) the finished run is the run that would have been, had it
    never stopped (exactly so under `deterministic`): the batches of each epoch, the weights,
    Adam's state and the sampling noise's state all continue where they were.

    Args:
      run_dir: the interrupted run directory (it has `checkpoint/`).
      verbose: Keras' fit verbosity (0, 1 or 2).

    Returns:
      The run directory, finished.
    """
    from vae_tf.data.sources import reread
    from vae_tf.rundir import RunDirError, RunWriter, read_config

    run, stored = RunWriter.resume(run_dir, write=lambda stored: is_chief(stored.get("strategy", "default")))
    try:
        try:
            settings = TrainConfig.from_dict(stored)
        except (TypeError, ValueError) as error:
            raise RunDirError(f"{run.path / 'config.json'}: unusable settings ({error}).") from None
        record = read_config(run.path).get("data") or {}
        # A file or folder is read again from the absolute path recorded when training started.
        source = reread(record.get("name"), record.get("path"))
        return _run(settings, run if is_chief(settings.strategy) else run.scratch(), verbose, source=source)
    finally:
        run.close()


def _run(settings: TrainConfig, run, verbose: int, command=None, source: str | None = None, given=None) -> Path:
    """The story of a training run; `run` (a `vae_tf.rundir.writing.RunWriter`) keeps its books."""
    from vae_tf.training.phases import Phases

    phases = Phases.start()  # where the time goes: summary.json's "phases"
    # A cluster's worker holds SIGTERM back from TensorFlow's threads until its cluster has formed,
    # so that it can be stopped while it waits (vae_tf.training.cluster.waiting_for_the_cluster).
    with holding_sigterm(settings.strategy):
        import keras  # noqa: F401 (TensorFlow and the modules that start threads: imported under the guard)

        from vae_tf.training import callbacks, engine, monitor  # noqa: F401

        phases.mark("imports")
        started = time.time()
        try:  # first: MultiWorkerMirroredStrategy must exist before TensorFlow runs any op
            strategy = engine.make_strategy(settings.strategy, settings.devices)
        except ValueError as error:
            raise cli.UsageError(str(error)) from None
    # From here on, a cluster's worker stops within seconds of SIGTERM or SIGINT, in every phase.
    with ending_cleanly(settings.strategy == "multiworker", lambda: _interrupted_line(settings, run),
                        scratch=run.path if run.path != run.home else None):
        return _train(settings, run, verbose, command, source, strategy, phases, started, given)


def _interrupted_line(settings: TrainConfig, run) -> str:
    """The line an interrupted worker of a cluster prints: what its run directory holds, and the fix."""
    if not is_chief(settings.strategy):
        return ("interrupted: this worker writes nothing; the chief's run directory keeps every completed epoch "
                "(continue with `python -m vae_tf.train --resume RUNDIR` on every worker, if it has a checkpoint)")
    state = state_of(run.home)
    return f"interrupted: {state}" + (" on every worker" if "--resume" in state else "")


def _train(settings: TrainConfig, run, verbose: int, command, source, strategy, phases, started,
           given=None) -> Path:
    """`_run` once the strategy exists: the data, the model, `fit`, the finished run directory."""
    import keras

    from vae_tf.core.errors import NonFiniteLoss
    from vae_tf.data import DataError, flatten_images
    from vae_tf.data.opening import held_data, open_config_data
    from vae_tf.data.streaming import Stream
    from vae_tf.kl.diagnostics import latent_diagnostics
    from vae_tf.training import engine
    from vae_tf.training.agreement import check_agreement, data_fingerprint, stream_fingerprint
    from vae_tf.training.callbacks import EpochCheckpoint, EpochTimer, ObeyInterrupt, StopOnNonFiniteLoss
    from vae_tf.training.distributed import weights_fingerprint
    from vae_tf.training.explained import pca_images, report_explained
    from vae_tf.training.monitor import watchers

    phases.mark("building")
    data = open_config_data({**settings.to_dict(), **({} if source is None else {"dataset": source})})
    stream = data if isinstance(data, Stream) else None  # too large for memory: read as training goes
    if stream is not None:
        from vae_tf.training.streams import stream_problem

        if problem := stream_problem(stream, settings):
            raise cli.UsageError(problem)
        data = held_data(stream, TEST_IMAGES_HELD)  # the training images stay on disk; the first test images
    spec, y, x_test, y_test = data.spec, data.y_train, data.x_test, data.y_test
    images = len(data.x_train) if stream is None else stream.counts["train"]
    if settings.limit is not None and images < settings.limit:  # refused, not recorded as if it acted
        raise cli.UsageError(f"--limit {settings.limit} is more than the {images:,} training images of "
                             f"{spec.source}; give at most {images}, or drop --limit to use them all.")
    if images < settings.batch_size:
        raise DataError(f"{spec.source}: {images:,} training images, fewer than one batch of "
                        f"{settings.batch_size}; give --batch-size {images} or less, or more images.")
    x = flatten_images(data.x_train) if stream is None else None  # (N, P): the model's layout
    settings, defaults = choose(settings, given, images)  # off the report's setup: defaults that learn
    if settings.strategy == "multiworker":  # every worker has the chief's settings and data, or all stop here
        check_agreement(settings, data_fingerprint(x, y) if stream is None else stream_fingerprint(stream))
    del data  # from here on `x` holds the training images, the only copy
    if settings.fast and stream is None:
        x = engine.training_images(x)  # the fast path keeps one copy of the images: a tensor
    phases.mark("data")
    device = engine.describe_device()
    height, width, channels = spec.image_shape
    audit = loss_audit(settings.regularizer, settings.reduction, settings.beta, settings.batch_size,
                       height * width * channels, images, settings.beta_schedule)
    print(f"vae_tf: {images:,} training images ({height}x{width}x{channels}) of {spec.source} from "
          f"{spec.path or spec.found} ({spec.found}); training on {device}{engine.describe_replicas(strategy)}"
          + ("; streamed" if stream is not None else "")
          + (f"; resuming after epoch {run.epochs_done}" if run.state else "") + f"; {describe(audit)}"
          + "".join(f"; {chosen}" for chosen in [describe_defaults(defaults)] if chosen), flush=True)
    if not run.state:
        run.write_config(settings.to_dict(), device=device, versions=engine.library_versions(), command=command,
                         data=spec.to_dict() if stream is None else {**spec.to_dict(), "stream": stream_record(
                             stream, settings, strategy)},
                         loss_audit=audit, defaults=defaults)

    engine.set_op_determinism(settings.deterministic)
    keras.utils.set_random_seed(settings.seed)
    vae = engine.build_vae(settings, images, strategy, spec.image_shape)
    if stream is not None:  # a call's images in memory at once: bounded (`streams.CALL_BYTES`)
        from vae_tf.training.streams import stream_steps_per_call

        vae.steps_per_execution = stream_steps_per_call(settings, stream, strategy) or vae.steps_per_execution
    if run.state:
        engine.restore(vae, run.checkpoint_model(), run.state["sampling_state"], strategy)

    first_epoch = run.epochs_done
    timer = EpochTimer()
    watching, validation, snapshots = watchers(settings, run, x_test, y_test, spec.class_names)
    checkpoint = EpochCheckpoint(run, [metric.name for metric in vae.metrics], timer, settings.validation, snapshots)
    watchdog = StopOnNonFiniteLoss(vae.steps_per_execution)
    phases.mark("building")
    with stop_if_a_worker_is_lost(settings.strategy, run.home):  # one line, not a hang, if a worker dies
        vae.fit(**fit_inputs(x, stream, settings, first_epoch, strategy), **validation, epochs=settings.epochs,
                initial_epoch=first_epoch, verbose=verbose,
                callbacks=[ObeyInterrupt(interrupt_taken), timer, watchdog, *watching, checkpoint])
    if interrupt_taken():  # handled, and lost, after the last batch: the run is not finished
        raise KeyboardInterrupt
    phases.split_fit(phases.mark("fit"), timer.seconds, timer.validation_seconds)
    if watchdog.failure:
        kept = (f"the last good state (epoch {checkpoint.history[-1]['epoch']}) is kept in {run.home / 'checkpoint'}"
                if checkpoint.history else "no epoch completed")
        raise NonFiniteLoss(f"{watchdog.failure} Training stopped; {kept}.")

    if settings.strategy == "multiworker":  # equal on every worker, by construction
        print(f"final weights fingerprint: {weights_fingerprint(vae.get_weights())}", flush=True)
    phases.mark("finishing")
    diagnostics = latent_diagnostics(*vae.encode(x_test), seed=settings.seed)
    seen = x if stream is None else flatten_images(stream.head("train", pca_images(spec.pixels)))  # the PCA's images
    explained = report_explained(vae, x_test, seen, settings.to_dict())  # how well it learned, printed
    phases.mark("diagnostics")
    if interrupt_taken():  # taken, and lost, since: stop before the run is marked finished
        raise KeyboardInterrupt
    codes = vae.sample_codes(x, settings.seed) if stream is None else stream_codes(vae, stream, settings.seed)
    home = run.finish(vae, checkpoint.history, codes, y,
                      snapshots.arrays() if snapshots else None, device=device, diagnostics=diagnostics,
                      wall_seconds=time.time() - started, resumed_after_epoch=first_epoch or None,
                      loss_audit=audit, explained_variance=explained)
    phases.mark("finishing")
    run.add_to_summary(phases=phases.as_dict())
    return home


TEST_IMAGES_HELD = 10_000  # a streamed data set: the test images held for validation, snapshots and diagnostics


def fit_inputs(x, stream, settings, first_epoch, strategy) -> dict:
    """`fit`'s inputs: the in-memory images' (`engine.fit_inputs`), or the stream's."""
    from vae_tf.training import engine

    if stream is None:
        return engine.fit_inputs(x, settings, first_epoch, strategy)
    from vae_tf.training.streams import stream_fit_inputs

    return stream_fit_inputs(stream, settings, first_epoch, strategy)


def stream_record(stream, settings, strategy) -> dict:
    """config.json's "data" -> "stream": the stream's record and how training reads it (`streams.training_record`)."""
    from vae_tf.training.streams import training_record

    return {**stream.record(), **training_record(stream, settings, strategy)}


def stream_codes(vae, stream, seed: int) -> dict:
    from vae_tf.training.streams import stream_codes as codes

    return codes(vae, stream, seed)
