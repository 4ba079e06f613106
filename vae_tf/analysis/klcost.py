"""What the KL estimator costs: its noise per training step, its final bound, its seconds per epoch.

```python
import tempfile

from vae_tf import TrainConfig
from vae_tf.analysis.klcost import markdown, measure
from vae_tf.data import load_run_data
from vae_tf.rundir import Run
from vae_tf.training.run import train

settings = TrainConfig(dataset="digits", limit=256, batch_size=64, epochs=2, reduction="elbo",
                       kl_estimator="monte_carlo", kl_samples=4)
run = Run.open(train(settings, tempfile.mkdtemp() + "/run", verbose=0))
x_test = load_run_data(run, test_limit=64).x_test
rows = [measure(run, x_test, k=16, draws=8, batches=2)]
print(markdown(rows))                     # what `python -m vae_tf.klcost` prints
assert rows[0]["variance"] > 0            # a Monte Carlo KL term is noisy; the analytic one is not
```

For each run (trained with `--kl-estimator analytic` or `monte_carlo --kl-samples S`):

- the per-step variance of the KL estimate (`kl_estimate_variance`): with the final weights fixed,
  the variance over `draws` fresh draws of the noise of the KL term a training step computes (the
  batch mean of the run's estimator, on batches of the run's batch size of test images), averaged
  over `batches` batches. 0 for the analytic KL; about Var[log q - log p] / (B S) for Monte Carlo;
- -IWAE_K on the test images (`vae_tf.analysis.bounds.importance_sampled`);
- seconds per epoch from history.csv (`epoch_seconds`): the first epoch (with the compilation) and
  the mean of the others.

`combinations_markdown` makes the posteriors x priors table of a sweep's rd.json.
"""

from __future__ import annotations

import numpy as np

from vae_tf.analysis.bounds import importance_sampled


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

    `measured`: the run's point of a sweep's rd.json (`vae_tf.analysis.sweeps.measure`), whose -IWAE_K and rate
    are taken instead of being computed again.
    """
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
