"""The KL axis, measured: runs of one VAE at several betas placed on the rate-distortion plane (Alemi et al. 2018).

`python -m vae_tf.sweep` trains one run per beta, OUT/beta-<beta> (`plan` says which to train and
which to reuse, `train_planned` trains them), then measures every run, and every extra run, on the
test images the same way (`vae_tf.analysis.bounds.importance_sampled`, K samples per image), in
nats per image:

- rate: the mean KL(q(z|x) || p(z)) under the run's own posterior and prior: analytic where TFP has a
  closed form (the report's N(0, I) prior), else the Monte Carlo mean over the K samples (with its
  standard error in rd.json);
- distortion: the mean of -log p(x|z) over z ~ q(z|x) (the reconstruction's negative log-likelihood);
- -ELBO = rate + distortion, and -IWAE_K, a tighter bound on -log p(x);
- active units: latent dimensions whose posterior mean varies across images, Var_x E_q[z_d] > 0.01
  (Burda et al. 2016); E_q[z|x] is `VAE.posterior_mean` (64 draws per image for an IAF posterior).

A run whose evaluation.json (`python -m vae_tf.evaluate RUNDIR --k K`) measured the same thing (the
same K, seed 0, the same test images, written after the run's model.keras) gives its rate,
distortion, -ELBO and -IWAE_K from that file instead of being measured again (the same numbers:
`evaluate` calls the same function with the same draws). So slow runs can be evaluated one at a
time, and the sweep then only places them.

`measure_all` gives the report, `write_outputs` writes OUT/rd.json (read back by `read_report`),
OUT/rd.md (`rd_markdown`), OUT/rd.png (the plane, with lines of equal -ELBO) and OUT/rd_codes.png
(the test codes and samples from the prior of a few betas side by side; `redraw` draws both again).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from vae_tf.analysis.bounds import importance_sampled, rate_description
from vae_tf.analysis.evaluation import EVALUATION_FILE
from vae_tf.analysis.reruns import next_step, take_step
from vae_tf.config import TrainConfig
from vae_tf.core.errors import UsageError
from vae_tf.kl.diagnostics import ACTIVE_THRESHOLD, active_units

OUTPUTS = ("rd.json", "rd.md", "rd.png", "rd_codes.png")
CODES_SHOWN = 4
SAMPLES_SHOWN = 16
DPI = 80


def settings_as_run(settings):
    """Something with `path` and `settings` for `one_likelihood`: the runs this sweep will train."""
    return dataclasses.make_dataclass("Planned", ["path", "settings"])("the runs of this sweep", settings.to_dict())


def run_name(beta: float) -> str:
    """OUT's directory of one beta: beta-0.3, beta-1, beta-10."""
    return f"beta-{beta:g}"


def open_given(paths) -> dict:
    """{beta: Run} of the --runs directories (finished, --regularizer kl, one per beta)."""
    from vae_tf.rundir import Run

    given = {}
    for path in paths or []:
        run = Run.open(path)
        beta = float(run.settings["beta"])
        if run.settings["regularizer"] != "kl":
            raise UsageError(f"--runs {path} was trained with --regularizer {run.settings['regularizer']}; the "
                                 "sweep places KL-weighted runs (pass it with --extra instead).")
        if beta in given:
            raise UsageError(f"--runs {given[beta].path} and {path} both have beta {beta:g}; give one run a beta.")
        given[beta] = run
    return given


def plan(betas, given: dict, out: Path, settings, overwrite: bool) -> dict:
    """{beta: a step of `vae_tf.analysis.reruns.STEPS`} for OUT/beta-*, checked before anything trains.

    A finished run is reused, an interrupted one resumed (or, stopped before its first epoch ended,
    trained again), so that the same sweep command run again after Ctrl-C carries on.

    Raises:
      UsageError: OUT/beta-B holds a run trained with other settings, or something that is not a run
        (without --overwrite).
    """
    return {beta: next_step(out / run_name(beta), dataclasses.replace(settings, beta=beta), overwrite,
                            rerun="the sweep")
            for beta in betas if beta not in given}


def matching_evaluation(run, k: int, test_images: int, test_limit=None, seed: int = 0):
    """The run's evaluation.json if it measured what the sweep would, else None.

    Args:
      run: a finished `vae_tf.rundir.reading.Run`.
      k, test_images, test_limit, seed: the sweep's K, the number of test images it measures, its
        --test-limit (None: all of them) and its seed.

    Returns:
      The evaluation (dict), when it has the same K, seed, test images and limit, the run's current
      settings, and was written after the run's model.keras; else None.
    """
    import json

    path, model = Path(run.path) / EVALUATION_FILE, Path(run.path) / "model.keras"
    if not path.is_file() or (model.is_file() and path.stat().st_mtime < model.stat().st_mtime):
        return None
    try:
        evaluation = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    same = (evaluation.get("k") == k and evaluation.get("seed") == seed and evaluation.get("test_images") == test_images
            and evaluation.get("limit") == test_limit and evaluation.get("settings") == run.settings
            and "neg_iwae_nats" in evaluation.get("overall", {}) and "rate" in evaluation)
    return evaluation if same else None


def measure(run, x, k: int, seed: int = 0, evaluation: dict | None = None) -> tuple[dict, dict]:
    """One run on the test images x: (its point on the plane, its codes).

    Args:
      run: a finished `vae_tf.rundir.reading.Run`.
      x: test images, uint8 (N, 28, 28) or (N, 784).
      k: samples of q(z|x) per image for the distortion and the IWAE bound.
      seed: seed of those samples and of the prior draws.
      evaluation: the run's evaluation.json of the same measurement (`matching_evaluation`): its
        rate, distortion, -ELBO and -IWAE_K are taken instead of being computed again.

    Returns:
      point: `rate`, `distortion`, `neg_elbo`, `neg_iwae` (nats per image, means over x, under the
        run's likelihood: binarised test images for "binarized"), `active_units`, `latent_dim`, the
        run's `architecture`, `likelihood`, `beta`, `reduction`, `title` and path.
      codes: `z_mean` (N, D) of x and `samples`, SAMPLES_SHOWN images (H, W, C) decoded from N(0, I) draws.
    """
    vae = run.model()
    if evaluation is None:
        sampled = importance_sampled(vae, x, k, seed=seed)
        rate = rate_description(sampled, k)
        measured = {"rate": float(np.mean(sampled["kl"])), "distortion": float(np.mean(sampled["reconstruction"])),
                    "neg_elbo": float(np.mean(sampled["neg_elbo"])), "neg_iwae": float(-np.mean(sampled["iwae"]))}
    else:
        overall, rate = evaluation["overall"], evaluation["rate"]
        measured = {"rate": overall["kl_nats"], "distortion": overall["reconstruction_nats"],
                    "neg_elbo": overall["neg_elbo_nats"], "neg_iwae": overall["neg_iwae_nats"],
                    "from_evaluation": str(Path(run.path) / EVALUATION_FILE)}
    codes = codes_of(vae, x, seed)
    means = codes["z_mean"] if getattr(vae, "posterior_name", "diagonal") != "iaf" else vae.posterior_mean(x, seed=seed)
    point = {
        "run": str(run.path), "title": run.title, "beta": float(run.settings["beta"]),
        "reduction": run.settings["reduction"], "regularizer": run.settings["regularizer"],
        "posterior": run.settings.get("posterior", "diagonal"), "prior": run.settings.get("prior", "standard_normal"),
        "latent_dim": vae.latent_dim, "architecture": vae.architecture, "likelihood": vae.likelihood_name,
        **measured, "rate_estimator": rate["estimator"], "rate_standard_error": rate["standard_error_nats"],
        "active_units": int(active_units(means).sum()),
    }
    return point, codes


def codes_of(vae, x, seed: int = 0) -> dict:
    """`z_mean` (N, D) of images x and `samples`: SAMPLES_SHOWN images (H, W, C) decoded from draws of the prior."""
    if getattr(vae, "prior_name", "standard_normal") == "standard_normal":
        draws = np.random.default_rng(seed).standard_normal((SAMPLES_SHOWN, vae.latent_dim)).astype(np.float32)
    else:
        draws = np.asarray(vae.prior().sample(SAMPLES_SHOWN, seed=seed))
    return {"z_mean": vae.encode(x)[0], "samples": vae.decode(draws)}


def rd_markdown(report: dict) -> str:
    """rd.md: one row per run, then whether rate falls and distortion rises along the sweep."""
    k = report["k"]
    likelihood = report.get("likelihood", "bernoulli")
    lines = [f"Measured on {report['test_images']:,} test images, nats per image (K = {k} importance samples), "
             f"likelihood {likelihood}.", "",
             f"| run | architecture | beta | rate (KL) | distortion | -ELBO | -IWAE_{k} | active units |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for point in report["points"]:
        name = f"`{Path(point['run']).name}`" if point["kind"] == "sweep" else f"{point['title']} (`{point['run']}`)"
        lines.append(f"| {name} | {point.get('architecture', 'mlp')} | {point['beta']:g} | "
                     f"{point['rate']:.2f} | {point['distortion']:.2f} | "
                     f"{point['neg_elbo']:.2f} | {point['neg_iwae']:.2f} | {point['active_units']} of "
                     f"{point['latent_dim']} |")
    estimated = [point for point in report["points"] if point.get("rate_estimator") == "monte_carlo"]
    if estimated:
        largest = max(point["rate_standard_error"] for point in estimated)
        lines += ["", f"{len(estimated)} of the rates are Monte Carlo estimates under the run's own prior (the mean of "
                      f"log q(z|x) - log p(z) over the K = {k} samples per image; standard errors at most "
                      f"{largest:.2g} nats); the others are analytic."]
    sweep = [point for point in report["points"] if point["kind"] == "sweep"]
    if len(sweep) > 1:
        rates, distortions = [p["rate"] for p in sweep], [p["distortion"] for p in sweep]
        lines += ["", f"As beta grows from {sweep[0]['beta']:g} to {sweep[-1]['beta']:g}: the rate "
                      f"{'falls at every step' if _monotone(rates, -1) else 'does not fall at every step'} "
                      f"({rates[0]:.2f} to {rates[-1]:.2f}), the distortion "
                      f"{'rises at every step' if _monotone(distortions, 1) else 'does not rise at every step'} "
                      f"({distortions[0]:.2f} to {distortions[-1]:.2f})."]
    return "\n".join(lines) + "\n"


def _monotone(values, sign: int) -> bool:
    return all(sign * (after - before) > 0 for before, after in zip(values, values[1:]))


def figures(report: dict, codes: dict, y):
    """(rd.png, rd_codes.png) as matplotlib figures; `codes` maps a sweep beta to `measure`'s codes."""
    from vae_tf import plots
    from vae_tf.data import CLASS_NAMES

    shown = sorted(codes)
    if len(shown) > CODES_SHOWN:
        shown = [shown[i] for i in np.linspace(0, len(shown) - 1, CODES_SHOWN).round().astype(int)]
    columns = [(f"beta = {beta:g}", codes[beta]["z_mean"], y, codes[beta]["samples"]) for beta in shown]
    data = report.get("data") or {"class_names": list(CLASS_NAMES)}  # rd.json before data sources
    return plots.rate_distortion(report["points"]), plots.sweep_codes(columns, data["class_names"])


def write_outputs(out: Path, report: dict, codes: dict, y, progress=print) -> None:
    from vae_tf import rundir

    plane, panel = figures(report, codes, y)
    for name, write in (("rd.json", lambda path: rundir.write_json(path, report)),
                        ("rd.md", lambda path: rundir.write_text(path, rd_markdown(report))),
                        ("rd.png", lambda path: rundir.write_figure(path, plane, DPI)),
                        ("rd_codes.png", lambda path: rundir.write_figure(path, panel, DPI))):
        write(out / name)
        progress(f"wrote {out / name}")


def read_report(out) -> dict:
    """A sweep directory's rd.json (written by `write_outputs`).

    Args:
      out: the sweep directory (`--out` of `python -m vae_tf.sweep`).

    Returns:
      The report: `k`, `test_images`, `seed`, `units` and `points` (one dict per run, as `measure` gives).
    """
    import json

    path = Path(out) / "rd.json"
    if not path.is_file():
        raise UsageError(f"{out} is not a sweep directory (no rd.json); make one with "
                             "`python -m vae_tf.sweep --out DIR`.")
    return json.loads(path.read_text())


def redraw(out, data_dir=None) -> tuple:
    """The figures of a finished sweep directory again, from its rd.json and its runs: (rd.png, rd_codes.png)."""
    from vae_tf.rundir import Run

    out = Path(out)
    report = read_report(out)
    runs = {}
    for point in report["points"]:
        if point["kind"] == "sweep":
            inside = out / Path(point["run"]).name
            runs[point["beta"]] = Run.open(inside if inside.is_dir() else point["run"])
    x, y = common_data(list(runs.values()), data_dir, report["test_images"]).split("test")
    codes = {beta: codes_of(run.model(), x, report["seed"]) for beta, run in runs.items()}
    return figures(report, codes, y)


def _data_key(run) -> tuple:
    """What identifies a run's data: its source (the file or folder for npz and folder) and image shape."""
    from vae_tf.data import REPORT_SHAPE
    from vae_tf.data.sources import reread, run_spec

    spec = run_spec(run)
    if spec is None:  # a run from before data sources: Fashion-MNIST
        return ("fashion_mnist", None, REPORT_SHAPE)
    return (spec.name, spec.path if reread(spec.name, spec.path) else None, tuple(spec.image_shape))


def common_data(runs: list, data_dir=None, test_limit=None):
    """The test data the runs were all trained on (`vae_tf.data.sources.Data`).

    Raises:
      UsageError: the runs were trained on different data sets.
    """
    from vae_tf.data.opening import load_run_test_data

    keys = {_data_key(run): run for run in runs}
    if len(keys) > 1:
        described = "; ".join(f"{run.path}: {key[0]}{':' + key[1] if key[1] else ''} {key[2]}"
                              for key, run in keys.items())
        raise UsageError(f"the runs were trained on different data ({described}); measure runs of one data set.")
    return load_run_test_data(runs[0], data_dir=data_dir, test_limit=test_limit)  # a streamed run's: no train image


def measure_all(sweep_runs: dict, extras: list, k: int, test_limit=None, data_dir=None, progress=print):
    """Measure {beta: Run} and the extra runs on the test images: (report, {beta: codes}, labels y)."""
    every = [*sweep_runs.values(), *extras]
    likelihood = one_likelihood(every)
    data = common_data(every, data_dir, test_limit)
    x, y = data.split("test")
    if test_limit is not None and test_limit > len(x):  # refused, not recorded as if it had acted
        raise UsageError(f"--test-limit {test_limit} is more than the {len(x):,} test images there are; give at "
                             f"most {len(x)}, or drop --test-limit.")
    points, codes = [], {}
    for kind, beta, run in [*(("sweep", beta, run) for beta, run in sorted(sweep_runs.items())),
                            *(("extra", None, run) for run in extras)]:
        evaluation = matching_evaluation(run, k, len(x), test_limit)
        if evaluation is None:
            progress(f"sweep: measuring {run.path} on {len(x):,} test images (K = {k})")
        else:
            progress(f"sweep: {run.path}: rate, distortion and -IWAE_{k} on {len(x):,} test images from its "
                     "evaluation.json")
        point, codes_of_run = measure(run, x, k, evaluation=evaluation)
        points.append({"kind": kind, **point})
        if kind == "sweep":
            codes[beta] = codes_of_run
    report = {"k": k, "test_images": len(x), "seed": 0, "active_variance": ACTIVE_THRESHOLD, "likelihood": likelihood,
              "units": "nats per test image (means); rate = KL(q(z|x) || p(z)) under the run's own prior, "
                       "distortion = E_q[-log p(x|z)], "
                       "neg_elbo = rate + distortion >= neg_iwae",
              "data": {"source": data.spec.source, "image_shape": list(data.spec.image_shape),
                       "class_names": None if data.spec.class_names is None else list(data.spec.class_names)},
              "points": points}
    return report, codes, y


def one_likelihood(runs) -> str:
    """The likelihood every run shares: nats of different likelihoods do not share a plane."""
    default = TrainConfig().likelihood
    found = {str(run.path): run.settings.get("likelihood", default) for run in runs}
    names = sorted(set(found.values()))
    if len(names) > 1:
        listing = "; ".join(f"{path}: {name}" for path, name in found.items())
        raise UsageError(f"these runs have different likelihoods ({listing}), whose nats are not comparable on "
                             "one plane: sweep and place runs of one --likelihood.")
    return names[0] if names else default


def train_planned(actions: dict, out: Path, settings, overwrite: bool = False, verbose: int = 2,
                  command: list[str] | None = None, progress=print) -> None:
    """Train, resume or reuse each beta as `plan` says, into out/beta-<beta>, with `settings` at each beta.

    Args:
      actions: `plan`'s {beta: step}.
      out: the sweep's directory.
      settings: the `TrainConfig` every run shares (its beta is replaced).
      overwrite, verbose, command: as `vae_tf.training.run.train` takes them.
      progress: called with a line of text per run (`print`, or `lambda _: None`).
    """
    for count, (beta, action) in enumerate(sorted(actions.items()), start=1):
        path = out / run_name(beta)
        if action == "reuse":
            progress(f"sweep: reusing the finished run {path}")
            continue
        doing = {"resume": "resuming", "restart": "training again"}.get(action, "training")
        progress(f"sweep: {doing} beta = {beta:g} ({count} of {len(actions)}) into {path}")
        take_step(action, path, dataclasses.replace(settings, beta=beta), overwrite, verbose, command=command)
