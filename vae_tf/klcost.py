"""What the KL estimator costs: its noise per training step, its final bound, its seconds per epoch.

    python -m vae_tf.klcost runs/analytic runs/mc1 runs/mc10              # a table, from finished runs
    python -m vae_tf.klcost runs/analytic runs/mc1 --out runs/klcost.json --k 1000
    python -m vae_tf.klcost --combinations --sweep runs/kl-sweep-d2        # the posteriors x priors table

For each run (trained with `--kl-estimator analytic` or `monte_carlo --kl-samples S`):

- the per-step variance of the KL estimate: with the final weights fixed, the variance over
  `--draws` fresh draws of the noise of the KL term a training step computes (the batch mean of
  the run's estimator, on batches of the run's batch size of test images), averaged over
  `--batches` batches. 0 for the analytic KL; about Var[log q - log p] / (B S) for Monte Carlo;
- -IWAE_K on the test images (`vae_tf.evaluate.importance_sampled`);
- seconds per epoch from history.csv: the first epoch (with the compilation) and the mean of the others.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from vae_tf.core import cli
from vae_tf.core.cli import number


def kl_estimate_variance(vae, x, batch_size: int, draws: int = 200, batches: int = 20, seed: int = 0) -> dict:
    """The noise of one training step's KL term, at fixed weights.

    Args:
      vae: a `vae_tf.VAE` (any posterior, prior and KL estimator).
      x: images (N, H, W, C) (or (N, P)), N >= batch_size * batches.
      batch_size: B, the training's batch size.
      draws: fresh draws of the noise per batch.
      batches: consecutive batches of x measured (at most the len(x) // batch_size there are).
      seed: seeds the draws.

    Returns:
      dict: `variance` (nats^2), the mean over batches of the variance over draws of the batch mean
      KL estimate; `mean_kl` (nats), its mean; `estimator`, `samples` (S; None when analytic).
    """
    import tensorflow as tf

    from vae_tf.kl import kl_analytic, kl_sample_mean
    from vae_tf.models.vae import as_pixels

    analytic = vae.kl_estimator == "analytic"
    samples = vae.kl_samples
    batches = min(batches, len(x) // batch_size)
    if batches < 1:
        raise ValueError(f"{len(x)} images make no batch of {batch_size}; give more images.")
    variances, means = [], []
    for batch in range(batches):
        pixels = as_pixels(x[batch * batch_size:(batch + 1) * batch_size], vae.image_shape)
        params = vae.posterior_params(pixels)
        if analytic:
            kl = kl_analytic(vae.posterior_family.distribution(params), vae.prior())
            variances.append(0.0)  # no draws: the same number at every step
            means.append(float(tf.reduce_mean(kl)))
            continue
        eps = tf.random.stateless_normal((draws * samples, *params["z_mean"].shape), seed=[seed, batch])
        z, log_q = vae.posterior_family.sample(params, eps)
        log_p = vae.prior().log_prob(z)
        per_draw = kl_sample_mean(tf.reshape(log_q, (samples, draws, -1)), tf.reshape(log_p, (samples, draws, -1)))
        batch_means = tf.reduce_mean(per_draw, axis=-1).numpy().astype(np.float64)  # (draws,)
        variances.append(float(batch_means.var(ddof=1)))
        means.append(float(batch_means.mean()))
    return {"estimator": vae.kl_estimator, "samples": None if analytic else samples,
            "variance": float(np.mean(variances)), "mean_kl": float(np.mean(means)),
            "draws": None if analytic else draws, "batches": batches, "batch_size": batch_size}


def epoch_seconds(history: list[dict]) -> dict:
    """`first` (with the compilation) and `mean_after_first` seconds per epoch of a run's history rows."""
    seconds = [row["seconds"] for row in history]
    return {"first": seconds[0], "mean_after_first": float(np.mean(seconds[1:])) if len(seconds) > 1 else None}


def measure(run, x, k: int, draws: int, batches: int, measured: dict | None = None) -> dict:
    """One run's row: its settings, the KL estimate's variance, -IWAE_K, KL and seconds per epoch.

    `measured`: the run's point of a sweep's rd.json (`vae_tf.sweep.measure`), whose -IWAE_K and rate
    are taken instead of being computed again.
    """
    from vae_tf.evaluate import importance_sampled

    vae = run.model()
    noise = kl_estimate_variance(vae, x, run.settings["batch_size"], draws, batches)
    if measured is None:
        sampled = importance_sampled(vae, x, k)
        measured = {"neg_iwae": float(-np.mean(sampled["iwae"])), "rate": float(np.mean(sampled["kl"]))}
    return {"run": str(run.path), "title": run.title, **noise, "neg_iwae": measured["neg_iwae"],
            "rate": measured["rate"], "k": k, "test_images": len(x), "seconds_per_epoch": epoch_seconds(run.history())}


def markdown(rows: list[dict]) -> str:
    """The table: estimator, S, per-step variance and standard deviation of the KL term, -IWAE_K, seconds per epoch."""
    k = rows[0]["k"]
    lines = [f"| run | KL estimator | S | per-step variance of the KL term (nats^2) | its std (nats) | "
             f"-IWAE_{k} | s/epoch (first) | s/epoch (others) |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        seconds = row["seconds_per_epoch"]
        lines.append(f"| `{row['run']}` | {row['estimator']} | {row['samples'] or '-'} | {row['variance']:.4g} | "
                     f"{np.sqrt(row['variance']):.3g} | {row['neg_iwae']:.2f} | {seconds['first']:.1f} | "
                     f"{seconds['mean_after_first']:.2f} |")
    return "\n".join(lines) + "\n"


def combinations_markdown(report: dict) -> str:
    """The posteriors x priors table of a sweep's rd.json: one row per beta = 1 run (the sweep's own and the extras).

    Columns: posterior, prior, KL estimator (S), rate (a Monte Carlo rate with its standard error),
    distortion, -ELBO, -IWAE_K, active units, seconds per epoch (the first, with the compilation; the
    mean of the others), from each run's history.csv.
    """
    from vae_tf.rundir import Run

    k = report["k"]
    lines = [f"| posterior | prior | KL estimator | rate | distortion | -ELBO | -IWAE_{k} | active units | "
             "s/epoch (first; others) | run |", "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for point in report["points"]:
        if point["beta"] != 1.0 or point["regularizer"] != "kl":
            continue
        run = Run.open(point["run"])
        settings = run.settings
        estimator = settings.get("kl_estimator", "analytic")
        if estimator == "monte_carlo":
            estimator += f" (S = {settings.get('kl_samples', 1)})"
        rate = f"{point['rate']:.2f}"
        if point.get("rate_estimator") == "monte_carlo":
            rate += f" ± {point['rate_standard_error']:.1g}"
        seconds = epoch_seconds(run.history())
        lines.append(f"| {settings.get('posterior', 'diagonal')} | {settings.get('prior', 'standard_normal')} | "
                     f"{estimator} | {rate} | {point['distortion']:.2f} | {point['neg_elbo']:.2f} | "
                     f"{point['neg_iwae']:.2f} | {point['active_units']} of {point['latent_dim']} | "
                     f"{seconds['first']:.1f}; {seconds['mean_after_first']:.2f} | `{point['run']}` |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python -m vae_tf.klcost",
        "What the KL estimator costs, for finished runs: the per-step variance of the KL term at the final weights, "
        "-IWAE_K on the test images, and seconds per epoch. Prints a Markdown table.")
    parser.add_argument("runs", nargs="*", metavar="RUNDIR", help="finished run directories")
    parser.add_argument("--k", type=number(int, at_least=1), default=1000, metavar="K",
                        help="importance samples per test image for -IWAE_K")
    parser.add_argument("--test-limit", type=number(int, at_least=1), default=None, metavar="N",
                        help="the first N test images only (default: all 10,000)")
    parser.add_argument("--draws", type=number(int, at_least=2), default=200, metavar="M",
                        help="draws of the noise per batch for the variance")
    parser.add_argument("--batches", type=number(int, at_least=1), default=20, metavar="NB",
                        help="test batches the variance is averaged over")
    parser.add_argument("--sweep", default=None, metavar="DIR",
                        help="take -IWAE_K and the rate of runs measured by this sweep directory (its rd.json) "
                             "instead of computing them again")
    parser.add_argument("--combinations", action="store_true",
                        help="print the posteriors x priors table of the --sweep directory's beta = 1 runs instead")
    parser.add_argument("--out", default=None, metavar="FILE.json", help="also write the rows as JSON")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    return parser


def work(args) -> int:
    from pathlib import Path

    from vae_tf.data.sources import load_run_data
    from vae_tf.rundir import Run, claim, write_json

    if args.combinations:
        if not args.sweep:
            raise cli.UsageError("--combinations reads a sweep's rd.json: give --sweep DIR")
        from vae_tf.sweep import read_report

        print(combinations_markdown(read_report(args.sweep)), end="")
        return 0
    if not args.runs:
        raise cli.UsageError("give the run directories to measure (or --combinations --sweep DIR)")
    if args.out:
        claim(Path(args.out).parent, [Path(args.out).name], args.overwrite)
    runs = [Run.open(path) for path in args.runs]
    points, k, limit = {}, args.k, args.test_limit
    if args.sweep:
        from vae_tf.sweep import read_report

        report = read_report(args.sweep)
        points = {Path(point["run"]).resolve(): point for point in report["points"]}
        k, limit = report["k"], report["test_images"]
    x = load_run_data(runs[0], test_limit=limit).x_test  # the runs' own test images (the first run's data)
    rows = []
    for run in runs:
        print(f"klcost: {run.path}", flush=True)
        rows.append(measure(run, x, k, args.draws, args.batches, points.get(Path(run.path).resolve())))
    if args.out:
        write_json(Path(args.out), rows)
    print(markdown(rows), end="")
    return 0


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work)


if __name__ == "__main__":
    sys.exit(main())
