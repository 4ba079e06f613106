"""Write every figure in docs/figures: the KL ones computed here, the VAE ones from compare directories.

    python docs/make_figures.py --runs runs/compare-report --watch-runs runs/compare-watch   # every figure
    python docs/make_figures.py --only kl                    # the KL and fitting figures alone
    python docs/make_figures.py --only sweep --sweep runs/sweep   # the KL axis figures alone
    python docs/make_figures.py --only watch --watch-runs runs/compare-watch
    python docs/make_figures.py --only priors --prior-runs runs/d2-diag-sn-analytic runs/d2-diag-mix runs/d2-diag-vamp
    python docs/make_figures.py --only estimators --estimators-sweep runs/kl-sweep-d2 runs/kl-sweep-d16
    python docs/make_figures.py --only data --data-run runs/digits   # docs/data.md's figures
    python docs/make_figures.py --only explorer --runs runs/compare-report   # the explorer's screenshot
    python docs/make_figures.py --only models --model-sweeps runs/sweep-mlp runs/sweep-conv   # docs/models.md

The KL figures (kl_*, fit_*) are computed: the primers' examples and the 10,000-step fits take
seconds each. The VAE figures (vae_*) are drawn from a finished `python -m vae_tf.compare --out DIR`
directory (its kl, none and mse runs); the KL axis figures (kl_axis_*) from a finished
`python -m vae_tf.sweep --out DIR` directory (its rd.json and runs); the watch_* figures from a
compare directory trained with `--validation --snapshots --tensorboard` (the evolution GIF, the
kl run's loss curves and the images its TensorBoard log holds after the last epoch); the data_*
figures from a finished run on your own data (HOW_TO_DATA: its latent scatter and decoded grid,
as `python -m vae_tf.plot` draws them); models_rd.png from sweep directories of one likelihood, one
per architecture (HOW_TO_MODEL_SWEEPS: their curves on one rate-distortion plane); explorer.png
and explorer_shared_axes.png are screenshots, taken by headless Chromium, of the page
`python -m vae_tf.explore` writes for the compare directory's kl and none runs. This script never trains.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIGURES = REPO / "docs" / "figures"
GROUPS = ("kl", "vae", "sweep", "watch", "data", "explorer", "priors", "estimators", "models")
KL_DPI = 80
HOW_TO_COMPARE = "python -m vae_tf.compare --out runs/compare-report"
HOW_TO_SWEEP = ("python -m vae_tf.sweep --betas 0 0.1 0.3 1 3 6.125 10 30 --out runs/sweep "
                "--extra runs/kl-report runs/none-report")
HOW_TO_PRIORS = ("python -m vae_tf.train --reduction elbo --prior mixture --kl-estimator monte_carlo "
                 "--out runs/d2-diag-mix (and the same with --prior standard_normal, --prior vamp)")
HOW_TO_MODEL_SWEEPS = ("python -m vae_tf.sweep --architecture mlp --betas 0.3 1 3 --epochs 5 --k 10 "
                       "--out runs/sweep-mlp (and the same with --architecture conv --out runs/sweep-conv)")
HOW_TO_WATCH = "python -m vae_tf.compare --out runs/compare-watch --validation --snapshots --tensorboard"
HOW_TO_DATA = ("python -m vae_tf.train --dataset digits --reduction elbo --epochs 100 --batch-size 32 "
               "--learning-rate 1e-3 --out runs/digits-elbo")


def kl_figures(out: Path, progress=print) -> None:
    """kl_histograms.png, kl_forward_reverse.png, fit_final_fits.png, fit_kl_div_mu0.png and the two GIFs."""
    import numpy as np

    from vae_tf import plots, rundir
    from vae_tf.kl import fitting, primers

    def save(fig, name):
        rundir.write_figure(out / name, fig, KL_DPI)
        progress(f"wrote {out / name}")

    save(plots.histograms(primers.histogram_example()), "kl_histograms.png")
    x = np.linspace(-20, 25, 1500)
    target = primers.two_peaked_target().prob(x).numpy()
    save(plots.forward_reverse(primers.forward_reverse_landscape(), x, target), "kl_forward_reverse.png")

    results = fitting.fit_table()  # every loss from (0, 1), then from (5, 1); 10,000 steps each
    grid_target = np.exp(fitting.target_log_density(fitting.GRID).numpy())
    save(plots.final_fits(results, fitting.GRID, grid_target), "fit_final_fits.png")
    save(plots.fit_summary(results[0], fitting.GRID, grid_target, fitting.PEAKS), "fit_kl_div_mu0.png")
    mse_from_5 = next(r for r in results if r.loss_name == "mse" and r.mu0 == 5.0)
    for result, name in ((results[0], "fit_kl_div_mu0.gif"), (mse_from_5, "fit_mse_mu5.gif")):
        plots.save_fit_animation(result, out / name, fitting.GRID, grid_target, frames=50)
        progress(f"wrote {out / name}")


def vae_figures(runs: dict, out: Path, progress=print) -> None:
    """vae_comparison.png (as compare draws it) and vae_generated_grid_{kl,none}.png (as plot draws them)."""
    from vae_tf import plots, rundir
    from vae_tf.analysis import comparison

    latents = {variant: run.latents() for variant, run in runs.items()}
    fig = plots.comparison(
        {variant: (arrays["z"], arrays.get("y")) for variant, arrays in latents.items()},
        titles={variant: run.title for variant, run in runs.items()},
    )
    rundir.write_figure(out / "vae_comparison.png", fig, comparison.DPI)
    progress(f"wrote {out / 'vae_comparison.png'}")
    for variant in ("kl", "none"):
        z = latents[variant]["z"]
        model = runs[variant].model()
        lo, hi, fill, where = plots.grid_bounds(z)
        fig = plots.generated_grid(
            model.decode,
            lo,
            hi,
            10,
            fill,
            title=f"{runs[variant].title}: decoded {where}",
            latent_dim=z.shape[1],
        )
        rundir.write_figure(out / f"vae_generated_grid_{variant}.png", fig, plots.DPI)
        progress(f"wrote {out / f'vae_generated_grid_{variant}.png'}")


def sweep_figures(sweep_dir, out: Path, progress=print) -> None:
    """kl_axis_rd.png and kl_axis_codes.png, as `python -m vae_tf.sweep` draws rd.png and rd_codes.png."""
    from vae_tf import rundir
    from vae_tf.analysis import sweeps

    plane, panel = sweeps.redraw(sweep_dir)
    for fig, name in ((plane, "kl_axis_rd.png"), (panel, "kl_axis_codes.png")):
        rundir.write_figure(out / name, fig, sweeps.DPI)
        progress(f"wrote {out / name}")


def watch_figures(runs: dict, out: Path, progress=print) -> None:
    """watch_evolution.gif (as compare draws it), watch_loss_curves_kl.png (as plot draws it) and
    watch_tensorboard_{latent_scatter,generated_grid,reconstructions}.png (the kl run's last TensorBoard images)."""
    from vae_tf import plots, rundir
    from vae_tf.analysis import comparison
    from vae_tf.core.cli import UsageError
    from vae_tf.training import monitor

    missing = [str(run.path) for run in runs.values()
               if not run.has_snapshots or not (run.path / rundir.TENSORBOARD).is_dir()
               or not any(name.startswith("val_") for name in run.history()[0])]
    if missing:
        raise UsageError(f"{', '.join(missing)}: trained without --validation --snapshots --tensorboard; "
                         f"make the runs with `{HOW_TO_WATCH}`")
    comparison.write_evolution(runs, out, progress, name="watch_evolution.gif")
    kl = runs["kl"]
    fig = plots.loss_curves(kl.history(), title=kl.title, regularizer="kl")
    rundir.write_figure(out / "watch_loss_curves_kl.png", fig, plots.DPI)
    progress(f"wrote {out / 'watch_loss_curves_kl.png'}")
    for tag, shown in monitor.read_tensorboard_images(kl.path / "tensorboard").items():
        rundir.write_bytes(out / f"watch_tensorboard_{tag}.png", shown[-1][1])
        progress(f"wrote {out / f'watch_tensorboard_{tag}.png'} (step {shown[-1][0]})")


def prior_figures(paths, out: Path, progress=print, codes: int = 10_000) -> None:
    """kl_priors.png: each run's prior density on the 2-D latent plane, with its first `codes` training codes."""
    import numpy as np

    from vae_tf import plots, rundir
    from vae_tf.core.cli import UsageError
    from vae_tf.models.priors import log_density_on_grid

    panels = []
    for path in paths:
        run = rundir.Run.open(path)
        if run.settings["latent_dim"] != 2:
            raise UsageError(f"{path} has latent size {run.settings['latent_dim']}; the prior figure needs 2 "
                             f"(`{HOW_TO_PRIORS}`)")
        latents = run.latents()
        z, y = latents["z"][:codes], latents["y"][:codes]
        extent = float(np.ceil(max(4.0, np.percentile(np.abs(z), 99.5))))
        axis, log_density = log_density_on_grid(run.model().prior(), extent, 201)
        name = run.settings.get("prior", "standard_normal")
        title = {"standard_normal": "N(0, I)", "mixture": "learned mixture of Gaussians",
                 "vamp": "VampPrior"}[name]
        if name != "standard_normal":
            title += f", K = {run.settings['prior_components']}"
        posterior = run.settings.get("posterior", "diagonal")
        title += f"\n{posterior} posterior" if posterior != "diagonal" else ""
        panels.append((title, axis, log_density, z, y))
    fig = plots.prior_densities(panels)
    rundir.write_figure(out / "kl_priors.png", fig, KL_DPI)
    progress(f"wrote {out / 'kl_priors.png'}")
def data_figures(run_dir, out: Path, progress=print) -> None:
    """data_latent_scatter.png and data_generated_grid.png of one run (docs/data.md: `HOW_TO_DATA`)."""
    from vae_tf import plots, rundir
    from vae_tf.data.sources import class_names_of

    run = rundir.Run.open(run_dir)
    latents = run.latents()
    z = latents["z"]
    source = run.settings.get("dataset", "fashion_mnist")
    fig = plots.latent_scatter(z, latents.get("y"), class_names=class_names_of(run),
                               point_size=plots.scatter_point_size(len(z)),
                               title=f"{source}: sampled codes z of {len(z):,} training images")
    rundir.write_figure(out / "data_latent_scatter.png", fig, plots.DPI)
    progress(f"wrote {out / 'data_latent_scatter.png'}")
    lo, hi, fill, where = plots.grid_bounds(z)
    fig = plots.generated_grid(run.model().decode, lo, hi, 10, fill, title=f"{source}: decoded {where}",
                               latent_dim=z.shape[1])
    rundir.write_figure(out / "data_generated_grid.png", fig, plots.DPI)
    progress(f"wrote {out / 'data_generated_grid.png'}")


def estimator_figures(sweep_dirs, out: Path, progress=print) -> None:
    """kl_estimators_rd.png (latent size 2) and kl_estimators_rd_d<D>.png (any other latent size D): the
    rate-distortion plane of each sweep, its beta sweep with the posteriors x priors runs as extras."""
    from vae_tf import plots, rundir
    from vae_tf.analysis import sweeps

    for sweep_dir in sweep_dirs:
        report = sweeps.read_report(sweep_dir)
        latent = report["points"][0]["latent_dim"]
        name = "kl_estimators_rd.png" if latent == 2 else f"kl_estimators_rd_d{latent}.png"
        fig = plots.rate_distortion(report["points"], title="Posteriors x priors (stars) beside the beta sweep, "
                                    f"latent size {latent}\n({report['test_images']:,} test images, K = {report['k']})")
        rundir.write_figure(out / name, fig, sweeps.DPI)
        progress(f"wrote {out / name}")


# Where the explorer's screenshot puts the cursor, and which test image it clicks: a code a few units
# from the origin, where the run with KL decodes a garment and the run without KL decodes a blur.
EXPLORER_CURSOR = [-1.0, -1.5]
EXPLORER_CLICKED = 0
# Test codes per run in the page the docs embed (its size grows with them: about 1 MiB per 1,000).
EMBEDDED_TEST_IMAGES = 1000


def model_figures(sweep_dirs, out: Path, progress=print) -> None:
    """models_rd.png: the beta sweeps of several architectures (one likelihood) as curves on one plane."""
    from vae_tf import plots, rundir
    from vae_tf.analysis import sweeps
    from vae_tf.core.cli import UsageError

    reports = {str(path): sweeps.read_report(path) for path in sweep_dirs}
    likelihoods = {path: report.get("likelihood", "bernoulli") for path, report in reports.items()}
    if len(set(likelihoods.values())) > 1:
        listing = ", ".join(f"{path}: {name}" for path, name in likelihoods.items())
        raise UsageError(f"--model-sweeps have different likelihoods ({listing}), whose nats are not comparable on "
                         "one plane: give sweeps of one --likelihood.")
    curves = {}
    for path, report in reports.items():
        first = next(p for p in report["points"] if p["kind"] == "sweep")
        config = Path(path) / Path(first["run"]).name / "config.json"
        epochs = f", {rundir.read_config(config.parent)['config']['epochs']} epochs" if config.is_file() else ""
        label = (f"{first.get('architecture', 'mlp')}, latent {first['latent_dim']}{epochs}, "
                 f"{first['reduction']} reduction")
        curves[label if label not in curves else f"{label} ({path})"] = report["points"]
    report = next(iter(reports.values()))
    fig = plots.rate_distortion_curves(curves, title=f"MLP and conv beta sweeps, likelihood "
                                                     f"{next(iter(likelihoods.values()))} "
                                                     f"({report['test_images']:,} test images)")
    rundir.write_figure(out / "models_rd.png", fig, sweeps.DPI)
    progress(f"wrote {out / 'models_rd.png'}")


def explorer_figure(runs: dict, out: Path, progress=print) -> None:
    """explorer.png and explorer_shared_axes.png: the explorer page of the kl and none runs, in headless
    Chromium, the cursor at EXPLORER_CURSOR, each run on its own axes, then on shared axes; and the page
    itself, docs/latent-explorer/, which docs/explorer.md embeds."""
    import tempfile

    from vae_tf import explore, rundir
    from vae_tf.plots.browser import chromium, open_explorer

    data = explore.page_data([runs["kl"].path, runs["none"].path], EMBEDDED_TEST_IMAGES, progress=progress)
    # The same page, kept in the site: docs/explorer.md embeds it (docs/latent-explorer/index.html).
    page = explore.write_page(out.parent / "latent-explorer", data, overwrite=True)
    progress(f"wrote {page}")
    with tempfile.TemporaryDirectory() as directory, chromium(width=1000, height=900) as browser:
        log = open_explorer(browser, explore.write_page(directory, data))
        errors = [entry["message"] for entry in log if entry["level"] == "SEVERE"]
        if errors:
            raise RuntimeError(f"the explorer page logged errors: {errors}")
        browser.execute_script("window.vaeExplorer.select(arguments[0])", EXPLORER_CLICKED)
        for step in range(40, -1, -1):  # the cursor glides to its place, a frame at a time, as a hand moves it
            z = [value * (1 + step / 20) for value in EXPLORER_CURSOR]
            browser.execute_script("window.vaeExplorer.setCursor(arguments[0]); return new Promise((done) => "
                                   "requestAnimationFrame(() => requestAnimationFrame(done)))", z)
        rundir.write_bytes(out / "explorer.png", browser.get_screenshot_as_png())
        browser.execute_script("window.vaeExplorer.setSharedAxes(true); return new Promise((done) => "
                               "requestAnimationFrame(() => requestAnimationFrame(done)))")
        rundir.write_bytes(out / "explorer_shared_axes.png", browser.get_screenshot_as_png())
    progress(f"wrote {out / 'explorer.png'} and {out / 'explorer_shared_axes.png'} (cursor at z = {EXPLORER_CURSOR}, "
             f"test image #{EXPLORER_CLICKED} clicked; own axes, then shared axes)")


def open_compare_dir(path, how: str = HOW_TO_COMPARE) -> dict:
    """{variant: Run} of a compare directory; a `UsageError` that says how to make one if it is not."""
    from vae_tf.analysis.comparison import open_runs
    from vae_tf.config import REGULARIZERS as VARIANTS
    from vae_tf.core.cli import UsageError
    from vae_tf.rundir import RunDirError

    path = Path(path)
    try:
        return open_runs([path / variant for variant in VARIANTS])
    except (RunDirError, UsageError) as error:
        raise UsageError(
            f"{path} is not a finished compare directory ({str(error).rstrip('.')}); make one with `{how}`"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python docs/make_figures.py",
        description=__doc__.splitlines()[0],
        epilog=f"--runs DIR is a directory written by `{HOW_TO_COMPARE}` (about 3 x 15 s on 2 CPU cores).",
    )
    parser.add_argument("--runs", metavar="DIR", default=None, help="a compare directory (DIR/kl, DIR/none, DIR/mse)")
    parser.add_argument("--sweep", metavar="DIR", default=None,
                        help=f"a sweep directory (rd.json and its runs), for the kl_axis_* figures: `{HOW_TO_SWEEP}`")
    parser.add_argument("--watch-runs", metavar="DIR", default=None,
                        help=f"a compare directory trained with --validation --snapshots --tensorboard "
                             f"(`{HOW_TO_WATCH}`)")
    parser.add_argument("--prior-runs", metavar="RUNDIR", nargs="+", default=None,
                        help=f"runs of latent size 2 whose priors kl_priors.png draws side by side (`{HOW_TO_PRIORS}`)")
    parser.add_argument("--data-run", metavar="RUNDIR", default=None,
                        help=f"a run on your own data, for the data_* figures (`{HOW_TO_DATA}`)")
    parser.add_argument("--estimators-sweep", metavar="DIR", nargs="+", default=None,
                        help="sweep directories whose --extra runs are the posteriors x priors runs, for "
                             "kl_estimators_rd.png (latent size 2) and kl_estimators_rd_d<D>.png "
                             "(docs/kl-estimators.md)")
    parser.add_argument("--model-sweeps", metavar="DIR", nargs="+", default=None,
                        help=f"sweep directories of one likelihood, one per architecture, for models_rd.png "
                             f"(docs/models.md): `{HOW_TO_MODEL_SWEEPS}`")
    parser.add_argument("--only", choices=GROUPS, default=None,
                        help="write only the kl_*/fit_*, the vae_*, the kl_axis_* (sweep), the watch_* or the data_* "
                             "figures, explorer.png and explorer_shared_axes.png (from --runs), or models_rd.png (from "
                             "--model-sweeps)")
    parser.add_argument("--out", metavar="DIR", type=Path, default=FIGURES, help="where to write (docs/figures)")
    return parser


def needs() -> dict:
    """Each group of figures that reads runs: (the argument it needs, the error line without it)."""
    return {
        "sweep": ("sweep", f"the kl_axis_* figures need --sweep DIR, a directory made by `{HOW_TO_SWEEP}`"),
        "explorer": ("runs", f"explorer.png needs --runs DIR, a directory made by `{HOW_TO_COMPARE}`"),
        "vae": ("runs", f"the vae_* figures need --runs DIR, a directory made by `{HOW_TO_COMPARE}`; "
                        "or pass --only kl for the KL figures alone"),
        "watch": ("watch_runs", f"the watch_* figures need --watch-runs DIR, a directory made by "
                                f"`{HOW_TO_WATCH}`; or pass --only kl or --only vae"),
        "estimators": ("estimators_sweep",
                       "kl_estimators_rd.png needs --estimators-sweep DIR (see docs/kl-estimators.md)"),
        "models": ("model_sweeps",
                   f"models_rd.png needs --model-sweeps DIR DIR, sweeps made by `{HOW_TO_MODEL_SWEEPS}`"),
        "priors": ("prior_runs", f"kl_priors.png needs --prior-runs RUNDIR..., runs made by `{HOW_TO_PRIORS}`"),
        "data": ("data_run", f"the data_* figures need --data-run RUNDIR, a run made by `{HOW_TO_DATA}`"),
    }


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    groups = [args.only] if args.only else ["kl", "vae"] + (["sweep"] if args.sweep else []) + (
        ["data"] if args.data_run else []) + (["priors"] if args.prior_runs else []) + (
        ["estimators"] if args.estimators_sweep else []) + (["models"] if args.model_sweeps else [])
    for group, (needed, message) in needs().items():
        if group in groups and not getattr(args, needed):
            print(f"error: {message}", file=sys.stderr)
            return 2
    sys.path.insert(0, str(REPO))  # run from a checkout without `pip install -e .`
    from vae_tf.core.cli import run_command

    def body():
        # fail before the slow part
        runs = open_compare_dir(args.runs) if "vae" in groups or "explorer" in groups else None
        if "sweep" in groups:
            from vae_tf.analysis.sweeps import read_report

            read_report(args.sweep)
        if "models" in groups:
            from vae_tf.analysis.sweeps import read_report

            for path in args.model_sweeps:
                read_report(path)
        watched = open_compare_dir(args.watch_runs, HOW_TO_WATCH) if "watch" in groups else None
        args.out.mkdir(parents=True, exist_ok=True)
        if "kl" in groups:
            kl_figures(args.out)
        if "vae" in groups:
            vae_figures(runs, args.out)
        if "explorer" in groups:
            explorer_figure(runs, args.out)
        if "sweep" in groups:
            sweep_figures(args.sweep, args.out)
        if watched is not None:
            watch_figures(watched, args.out)
        if "priors" in groups:
            prior_figures(args.prior_runs, args.out)
        if "estimators" in groups:
            estimator_figures(args.estimators_sweep, args.out)
        if "data" in groups:
            data_figures(args.data_run, args.out)
        if "models" in groups:
            model_figures(args.model_sweeps, args.out)
        return 0

    return run_command(body)


if __name__ == "__main__":
    sys.exit(main())
