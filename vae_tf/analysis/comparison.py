"""The report's three variants side by side: with KL, without KL, MSE instead of KL.

`python -m vae_tf.compare` trains them (`train_variants`: out/kl, out/none and out/mse, the same
seed and settings) or opens finished runs (`open_runs`), then writes, into its directory:
comparison.png (the scatters of the sampled codes, top row on each panel's own axes, bottom row on
shared axes), spread.json and spread.md (per variant and latent dimension: min, max, standard
deviation, and the share of codes inside [-3, 3]^2: `vae_tf.analysis.spread`), all by
`write_comparison`, and, when the three runs were trained with --snapshots, evolution.gif
(`write_evolution`: their z_mean of the same test images, epoch by epoch, side by side).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from vae_tf.analysis.reruns import next_step, take_step
from vae_tf.config import REGULARIZERS as VARIANTS
from vae_tf.config import VARIANT_TITLES, TrainConfig
from vae_tf.core.errors import UsageError

OUTPUTS = ("comparison.png", "spread.json", "spread.md")
EVOLUTION = "evolution.gif"
DPI = 80


def open_runs(paths) -> dict:
    """{variant: Run} for run directories given in the order kl, none, mse; checks each one's regularizer."""
    from vae_tf.rundir import Run

    runs = {}
    for variant, path in zip(VARIANTS, paths):
        run = Run.open(path)
        if run.settings["regularizer"] != variant:
            raise UsageError(
                f"--runs expects the kl, none and mse runs in that order, but {path} was trained with "
                f"--regularizer {run.settings['regularizer']} where the {variant} run belongs."
            )
        runs[variant] = run
    return runs


def differing_settings(runs: dict) -> list[str]:
    """Settings other than the regularizer in which the runs differ, e.g. ['epochs: 10, 2, 10']."""
    notes = []
    settings = [run.settings for run in runs.values()]
    for key in settings[0]:
        values = [entry.get(key) for entry in settings]
        if key != "regularizer" and len({repr(value) for value in values}) > 1:
            notes.append(f"{key}: {', '.join(map(str, values))}")
    return notes


def train_variants(settings, out: Path, overwrite: bool = False, verbose: int = 2, progress=print) -> dict:
    """Train the three variants from `settings` (its regularizer is replaced) into out/<variant>; {variant: path}.

    Without `overwrite`, a variant's finished run is reused and an interrupted one resumed
    (`vae_tf.analysis.reruns`), so that the same command run again after Ctrl-C carries on; with
    it, each is trained again from scratch.
    """
    variants = {variant: dataclasses.replace(settings, regularizer=variant) for variant in VARIANTS}
    steps = {variant: "train" if overwrite else next_step(out / variant, variants[variant], rerun="compare")
             for variant in VARIANTS}  # every directory checked before anything trains
    paths = {}
    for number, variant in enumerate(VARIANTS, start=1):
        path = out / variant
        doing = {"reuse": "reusing", "resume": "resuming", "restart": "training again"}.get(steps[variant], "training")
        progress(f"compare: {doing} {variant} ({VARIANT_TITLES[variant]}), {number} of {len(VARIANTS)}, "
                 f"into {path}")
        command = ["python", "-m", "vae_tf.compare", *sys.argv[1:]]
        paths[variant] = take_step(steps[variant], path, variants[variant], overwrite, verbose, command=command)
    return paths


def write_comparison(runs: dict, out: Path, progress=print) -> dict:
    """Write comparison.png, spread.json and spread.md for {variant: Run} into `out`; return spread.json's content."""
    from vae_tf import plots, rundir
    from vae_tf.analysis.spread import latent_spread, spread_markdown, spread_report
    from vae_tf.data.sources import class_names_of

    latents = {variant: run.latents() for variant, run in runs.items()}
    stats = {variant: latent_spread(arrays["z"]) for variant, arrays in latents.items()}
    defaults = TrainConfig()
    models = {variant: {key: run.settings.get(key, getattr(defaults, key)) for key in ("architecture", "likelihood")}
              for variant, run in runs.items()}
    report = {"codes": "z, sampled (as the report plots them)",
              "runs": {variant: str(run.path) for variant, run in runs.items()},
              "models": models,
              **spread_report(stats)}
    described = "; ".join(f"{variant}: {model['architecture']}, likelihood {model['likelihood']}"
                          for variant, model in models.items())
    fig = plots.comparison({variant: (arrays["z"], arrays.get("y")) for variant, arrays in latents.items()},
                           titles={variant: run.title for variant, run in runs.items()},
                           class_names=class_names_of(next(iter(runs.values()))))
    for name, write in (("comparison.png", lambda path: rundir.write_figure(path, fig, DPI)),
                        ("spread.json", lambda path: rundir.write_json(path, report)),
                        ("spread.md", lambda path: rundir.write_text(
                            path, f"Models: {described}.\n\n" + spread_markdown(stats)))):
        write(out / name)
        progress(f"wrote {out / name}")
    return report


def all_snapshotted(runs: dict) -> bool:
    return all(run.has_snapshots for run in runs.values())


def write_evolution(runs: dict, out: Path, progress=print, name: str = EVOLUTION) -> Path:
    """Write evolution.gif (or `name`): the runs' snapshots side by side, frame by frame (`plots.evolution`)."""
    from vae_tf import plots, rundir
    from vae_tf.data.sources import class_names_of
    from vae_tf.plots import FPS

    snapshots = {variant: run.snapshots() for variant, run in runs.items()}
    labels = [arrays.get("y") for arrays in snapshots.values()]
    sizes = [len(arrays["z_mean"][0]) for arrays in snapshots.values()]
    if len(set(sizes)) > 1 or any((y is None) != (labels[0] is None) or (y is not None and not (y == labels[0]).all())
                                  for y in labels):
        raise UsageError(f"{EVOLUTION}: the runs' snapshots are of different test images; retrain them with "
                             "this version's --snapshots.")
    frames = plots.evolution({variant: (arrays["epoch"], arrays["z_mean"], arrays.get("y"))
                              for variant, arrays in snapshots.items()},
                             titles={variant: run.title for variant, run in runs.items()},
                             class_names=class_names_of(next(iter(runs.values()))))
    path = rundir.write_gif(out / name, frames, FPS)
    progress(f"wrote {path}")
    return path
