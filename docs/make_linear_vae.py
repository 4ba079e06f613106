"""The figures and numbers of docs/linear-vae.md, from finished runs (it trains nothing).

    python docs/make_linear_vae.py --fixed runs/linear16-fixed7 \\
        --sweeps runs/sigma-linear runs/sigma-mlp

writes docs/figures/linear_vae_ppca.png (`vae_tf.analysis.ppca.figure` of the fixed-sigma^2 run) and
docs/figures/linear_vae_sigma.png (the sigma^2 sweeps of the linear and the MLP model: the
rate-distortion plane, and the active units against the eigenvalues above sigma^2), and prints the
numbers the page quotes. The runs are made by the commands on the page.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

FIGURES = Path(__file__).resolve().parent / "figures"


def sweep_points(directory) -> tuple[list[dict], float]:
    """The points of a sweep directory's rd.json, and the fixed sigma^2 it swept beta at (its gaussian_variance)."""
    report = json.loads((Path(directory) / "rd.json").read_text())
    points = [point for point in report["points"] if point["kind"] == "sweep"]
    settings = json.loads((Path(directory) / f"beta-{points[0]['beta']:g}" / "config.json").read_text())["config"]
    return points, float(settings["gaussian_variance"])


def sigma_figure(sweeps: dict, eigenvalues, latent_dim: int):
    """Two panels: rate against distortion per model, and active units against eigenvalues above sigma^2."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.5))
    plane, units = fig.subplots(1, 2)
    top = np.asarray(eigenvalues[:latent_dim])
    for (name, (points, base)), marker in zip(sweeps.items(), ("o", "s")):
        variances = [point["beta"] * base for point in points]
        plane.plot([p["rate"] for p in points], [p["distortion"] for p in points], marker=marker, label=name)
        for point, variance in zip(points, variances):
            plane.annotate(f"{variance:g}", (point["rate"], point["distortion"]), fontsize=7,
                           textcoords="offset points", xytext=(4, 4))
        units.plot(variances, [p["active_units"] for p in points], marker=marker, label=f"{name}: active units")
    grid = np.geomspace(min(top.min(), 0.2) * 0.8, top.max() * 1.2, 400)
    units.step(grid, [(top > value).sum() for value in grid], where="post", color="k", linestyle=":",
               label=f"eigenvalues above sigma^2 (top {latent_dim})")
    plane.set_xlabel("rate: KL (nats per image)")
    plane.set_ylabel("distortion: -log p(x|z) at sigma_0^2 (nats per image)")
    plane.set_title("sigma^2 sweep (labels: sigma^2 = beta sigma_0^2)")
    plane.legend(fontsize=8)
    units.set_xscale("log")
    units.set_xlabel("sigma^2")
    units.set_ylabel(f"of {latent_dim} latent dimensions")
    units.set_title("active units against eigenvalues above sigma^2")
    units.legend(fontsize=8)
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixed", required=True, metavar="RUNDIR", help="the linear run at a fixed sigma^2")
    parser.add_argument("--sweeps", nargs=2, required=True, metavar=("LINEAR", "MLP"),
                        help="the sweep directories of the linear and the MLP model")
    parser.add_argument("--out", default=str(FIGURES), help="where the figures go")
    args = parser.parse_args()

    from vae_tf.analysis.ppca import compare_run, figure, format_comparison, spectrum
    from vae_tf.data.sources import load_run_data
    from vae_tf.rundir import Run, write_figure

    out = Path(args.out)
    run = Run.open(args.fixed)
    saved = run.path / "ppca.json"  # written by `python -m vae_tf.ppca RUNDIR`; else computed here
    result = json.loads(saved.read_text()) if saved.exists() else compare_run(run)
    print(format_comparison(result))
    write_figure(out / "linear_vae_ppca.png", figure(result))
    sweeps = {name: sweep_points(directory) for name, directory in zip(("linear", "mlp"), args.sweeps)}
    first = Run.open(Path(args.sweeps[0]) / f"beta-{sweeps['linear'][0][0]['beta']:g}")
    _, eigenvalues = spectrum(load_run_data(first, limit=first.settings.get("limit")).x_train)
    latent_dim = int(first.settings["latent_dim"])
    for name, (points, base) in sweeps.items():
        for point in points:
            variance = point["beta"] * base
            print(f"{name}: sigma^2 {variance:g}: rate {point['rate']:.2f}, distortion {point['distortion']:.2f}, "
                  f"active units {point['active_units']} of {latent_dim}, eigenvalues above sigma^2 "
                  f"{int((np.asarray(eigenvalues[:latent_dim]) > variance).sum())}")
    write_figure(out / "linear_vae_sigma.png", sigma_figure(sweeps, eigenvalues, latent_dim))
    print(f"wrote {out / 'linear_vae_ppca.png'} and {out / 'linear_vae_sigma.png'}")


if __name__ == "__main__":
    main()
