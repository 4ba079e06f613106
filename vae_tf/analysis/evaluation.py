"""A run directory's evaluation: the bounds and log p(x) of its model on its test images, overall and per
class, in nats per image and bits per dimension; the content of evaluation.json and its text table.

```python
import tempfile

from vae_tf import TrainConfig
from vae_tf.analysis.evaluation import evaluate_run, format_table
from vae_tf.rundir import Run
from vae_tf.training.run import train

settings = TrainConfig(dataset="digits", limit=256, batch_size=64, epochs=1, reduction="elbo")
run = Run.open(train(settings, tempfile.mkdtemp() + "/run", verbose=0))
evaluation = evaluate_run(run, k=16, limit=64)  # what `python -m vae_tf.evaluate` writes (k=1000, every image)
print(format_table(evaluation))
assert evaluation["overall"]["neg_iwae_nats"] <= evaluation["overall"]["neg_elbo_nats"]  # the tighter bound
```

The numbers are `vae_tf.analysis.bounds` (-ELBO, -IWAE_K) and `vae_tf.analysis.grid` (-log p(x) on a
grid of z); the latent diagnostics are `vae_tf.kl.diagnostics`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from vae_tf.analysis.bounds import REPORT_DIMS, bits_per_dim, importance_sampled, pixel_model, rate_description
from vae_tf.analysis.grid import grid_log_marginal
from vae_tf.core.errors import UsageError

EVALUATION_FILE = "evaluation.json"


def _summary(per_image: dict, names, dims: int = REPORT_DIMS) -> dict:
    out = {}
    for name in names:
        nats = float(np.mean(per_image[name]))
        out[f"{name}_nats"] = nats
        if name not in ("reconstruction", "kl"):
            out[f"{name}_bits_per_dim"] = float(bits_per_dim(nats, dims))
    return out


def evaluate_run(run, k: int = 1000, *, exact: bool = False, limit: int | None = None, seed: int = 0,
                 grid_extent: float = 8.0, grid_points: int = 801, images_per_chunk: int = 100,
                 samples_per_chunk: int = 500, data_dir=None, verbose: int = 0) -> dict:
    """Evaluate a run directory's model on the test images (the first `limit` of them, if given).

    Args:
      run: a `vae_tf.rundir.reading.Run`.
      k: importance samples per image.
      exact: also compute log p(x) on a grid (latent size 2 only).
      limit: evaluate on the first `limit` test images only (None: all 10,000).
      seed, grid_extent, grid_points, images_per_chunk, samples_per_chunk: see
        `importance_sampled` and `grid_log_marginal`.
      data_dir: where the IDX files of a fashion_mnist or mnist run are (None: the run's setting, else
        the usual search); other runs reload their own data (`vae_tf.data.sources.load_run_data`).
      verbose: 1 prints progress.

    Returns:
      The content of evaluation.json: overall and per-class means of `neg_elbo`,
      `reconstruction`, `kl`, `neg_iwae` (and `neg_log_px_grid`) in nats per image, with bits
      per dimension (P = H x W x C) for the three bounds, the settings that produced them, and
      `explained_variance` (`vae_tf.training.explained`: the reconstructions' share of the pixel variance).
      Data without labels have no per-class rows.
    """
    from vae_tf.data.opening import open_run_stream, split_chunks, split_count
    from vae_tf.data.sources import load_run_data
    from vae_tf.training.explained import pca_images

    vae = run.model()
    if exact and vae.latent_dim != 2:
        raise UsageError(f"--exact integrates over a grid of 2-dimensional z, but {run.path} has latent size "
                         f"{vae.latent_dim}; drop --exact.")
    started = time.time()
    # A streamed run's test images are read chunk by chunk (Stream.chunks), never all at once.
    data = open_run_stream(run, data_dir=data_dir) or load_run_data(run, data_dir=data_dir, test_limit=limit)
    spec, count = data.spec, split_count(data, "test")
    if limit is not None and limit > count:  # refused, not recorded as if it had acted
        raise UsageError(f"--limit {limit} is more than the {count:,} test images there are; give at most {count}, "
                         "or drop --limit to evaluate all of them.")
    count = split_count(data, "test", limit)
    dims = spec.pixels
    if verbose:
        print(f"vae_tf.evaluate: {run.path} ({run.title}) on {count:,} test images of {spec.source} "
              f"({' x '.join(map(str, spec.image_shape))}), K = {k}", flush=True)
    measured = measure_chunks(vae, split_chunks(data, "test", limit), count, k, exact=exact, seed=seed,
                              grid_extent=grid_extent, grid_points=grid_points, images_per_chunk=images_per_chunk,
                              samples_per_chunk=samples_per_chunk, verbose=verbose)
    per_image, y, seconds = measured["per_image"], measured["labels"], measured["seconds"]
    class_names = spec.class_names if spec.class_names is not None else (
        None if y is None else [str(label) for label in range(int(y.max(initial=0)) + 1)])
    names = list(per_image)
    grid_info = None
    if exact:
        difference = np.abs(measured["grid"]["log_px"] - measured["grid"]["coarse_log_px"])
        grid_info = {
            "extent": grid_extent,
            "points_per_axis": grid_points,
            "spacing": measured["grid"]["spacing"],
            "coarse_grid_difference_nats": {"mean": float(difference.mean()), "max": float(difference.max())},
            "boundary_mass_max": float(measured["grid"]["boundary_mass"].max()),
        }
    x_explained, x_train = explained_images(data, count, pca_images(data.spec.pixels))
    seconds["total"] = time.time() - started
    return {
        "run": str(run.path),
        "settings": run.settings,
        "test_images": count,
        "limit": limit,
        "k": k,
        "seed": seed,
        "units": f"nats per image (mean over images) and bits per dimension = nats / ({dims} ln 2), "
                 f"{dims} = H x W x C = {' x '.join(map(str, spec.image_shape))}; "
                 "all values are negative log-likelihoods or their bounds: neg_elbo >= neg_iwae >= -log p(x)",
        "likelihood": describe_likelihood(vae),
        "overall": _summary(per_image, names, dims),
        "per_class": {} if y is None else {
            name: {"images": int(np.sum(y == label)),
                   **_summary({key: value[y == label] for key, value in per_image.items()}, names, dims)}
            for label, name in enumerate(class_names) if np.any(y == label)
        },
        "grid": grid_info,
        "rate": {**measured["rate"], "prior": getattr(vae, "prior_name", "standard_normal"),
                 "posterior": getattr(vae, "posterior_name", "diagonal")},
        "diagnostics": measured["diagnostics"],  # is every latent dimension used?
        # the share of the pixel variance the reconstructions explain, as at the end of training
        "explained_variance": explained_of(vae, x_explained, x_train[:run.settings.get("limit")], run.settings),
        "data": {"source": spec.source, "image_shape": list(spec.image_shape), "dimensions": dims,
                 "path": spec.path, "found": spec.found},
        "seconds": seconds,
    }


def explained_of(vae, x_test, x_train, settings: dict) -> dict:
    """`vae_tf.training.explained.explained_variance` of the test images, with its warning (or None)."""
    from vae_tf.training.explained import explained_variance, explained_warning

    figures = explained_variance(vae, x_test, x_train)
    return {**figures, "warning": explained_warning(figures, settings)}


def measure_chunks(vae, chunks, count: int, k: int, *, exact: bool = False, seed: int = 0, grid_extent: float = 8.0,
                   grid_points: int = 801, images_per_chunk: int = 100, samples_per_chunk: int = 500,
                   verbose: int = 0) -> dict:
    """The per-image figures of `evaluate_run`, accumulated over chunks of the test images.

    Image i's figures depend on i alone (its draws and binarisation are seeded by its index), so any
    split into chunks gives the figures of the images taken all at once; memory holds one chunk of
    images, and a few numbers per image.

    Args:
      vae: a `vae_tf.VAE`.
      chunks: (images, labels) pairs in order (labels None for data without them), `count` images in all.
      k, exact, seed, grid_extent, grid_points, images_per_chunk, samples_per_chunk, verbose: as `evaluate_run`.

    Returns:
      {"per_image": {name: (count,) nats} of `neg_elbo`, `reconstruction`, `kl`, `neg_iwae` (and
      `neg_log_px_grid`), "labels": (count,) or None, "rate": `rate_description`, "grid": the
      concatenated `grid_log_marginal` (or None), "diagnostics": `diagnostics_from`, "seconds"}.
    """
    from vae_tf.analysis.bounds import uses_xla

    jit_compile = k * count >= 10**6 and uses_xla(vae)  # as one call on all the images would choose
    parts, labels, codes, start = [], [], [], 0
    seconds = {"importance_sampling": 0.0}
    for x, y in chunks:
        indices = np.arange(start, start + len(x))
        chunk_verbose = verbose if len(x) == count else 0  # one bar for the images taken at once, else a line
        sampling_started = time.time()
        sampled = importance_sampled(vae, x, k, seed=seed, indices=indices, images_per_chunk=images_per_chunk,
                                     samples_per_chunk=samples_per_chunk, jit_compile=jit_compile,
                                     verbose=chunk_verbose)
        seconds["importance_sampling"] += time.time() - sampling_started
        if exact:
            grid_started = time.time()
            if verbose and start == 0:
                print(f"grid: {grid_points} x {grid_points} points on [-{grid_extent:g}, {grid_extent:g}]^2",
                      flush=True)
            sampled["grid"] = grid_log_marginal(vae, x, extent=grid_extent, points=grid_points,
                                                verbose=chunk_verbose, indices=indices)
            seconds["grid"] = seconds.get("grid", 0.0) + time.time() - grid_started
        parts.append(sampled)
        labels.append(y)
        codes.append(latent_codes(vae, x, seed + start))
        start += len(x)
        if verbose and not chunk_verbose:
            print(f"vae_tf.evaluate: {start:,}/{count:,} test images", flush=True)
    if not parts:
        raise UsageError("the test split has no images to evaluate.")
    joined = {name: np.concatenate([part[name] for part in parts]) for name in parts[0] if name != "grid"}
    per_image = {"neg_elbo": joined["neg_elbo"], "reconstruction": joined["reconstruction"], "kl": joined["kl"],
                 "neg_iwae": -joined["iwae"]}
    grid = None
    if exact:
        grid = {name: np.concatenate([part["grid"][name] for part in parts])
                for name in ("log_px", "coarse_log_px", "boundary_mass")}
        grid["spacing"] = parts[0]["grid"]["spacing"]
        per_image["neg_log_px_grid"] = -grid["log_px"]
    return {"per_image": per_image, "labels": None if labels[0] is None else np.concatenate(labels),
            "rate": rate_description(joined, k), "grid": grid, "seconds": seconds,
            "diagnostics": diagnostics_from(vae, *(np.concatenate(column) for column in zip(*codes)), seed)}


def explained_images(data, count: int, train_images: int) -> tuple[np.ndarray, np.ndarray]:
    """(test images, training images) `explained_of` measures: for data in memory, the first `count` test images
    and every training image; for a stream, the first test images `explained_variance` measures (at most
    `TEST_IMAGES`, fewer when large) and the first `train_images` training images: bounded, not the splits."""
    from vae_tf.data.streaming import Stream
    from vae_tf.training.explained import measured_images

    if not isinstance(data, Stream):
        return data.x_test[:count], data.x_train
    measured = max(1, min(count, measured_images(data.spec.pixels)))
    return data.head("test", measured), data.head("train", min(train_images, data.counts["train"]))


def latent_codes(vae, x, seed: int = 0) -> tuple[np.ndarray, ...]:
    """(z_mean, z_log_var) of images x, and E_q[z|x] for the posteriors other than the diagonal Gaussian."""
    z_mean, z_log_var = vae.encode(x)
    if getattr(vae, "posterior_name", "diagonal") == "diagonal":
        return z_mean, z_log_var
    return z_mean, z_log_var, vae.posterior_mean(x, seed=seed)


def diagnostics_of(vae, x, seed: int = 0) -> dict:
    """`vae_tf.kl.diagnostics.latent_diagnostics` of the images x under `vae`'s encoder (`diagnostics_from`)."""
    return diagnostics_from(vae, *latent_codes(vae, x, seed), seed)


def diagnostics_from(vae, z_mean, z_log_var, posterior_mean=None, seed: int = 0) -> dict:
    """`vae_tf.kl.diagnostics.latent_diagnostics` of the codes (N, D) of images under `vae`'s encoder.

    The diagnostics assume a diagonal Gaussian posterior. For the others they are those of the
    encoder's diagonal Gaussian N(z_mean, exp(z_log_var)): for the full posterior, its diagonal part
    (the correlations, from another head, are left out); for the IAF, the flow's base distribution.
    The entry `posterior_used` says so, and `active_units_of_the_mean` counts the active units of
    E_q[z|x] itself (`posterior_mean`, `vae.posterior_mean`: exact for the Gaussians, 64 draws per image
    for the IAF). With a learned prior the per-dimension KL is still against N(0, 1) (`prior_note` says so).
    """
    from vae_tf.kl.diagnostics import active_units, latent_diagnostics

    diagnostics = latent_diagnostics(z_mean, z_log_var, seed=seed)
    name = getattr(vae, "posterior_name", "diagonal")
    if name != "diagonal":
        diagnostics["posterior_used"] = (f"the encoder's diagonal Gaussian N(z_mean, exp(z_log_var)), not the {name} "
                                         "posterior itself (the diagnostics assume a diagonal posterior)")
        diagnostics["active_units_of_the_mean"] = int(active_units(posterior_mean).sum())
    prior = getattr(vae, "prior_name", "standard_normal")
    if prior != "standard_normal":
        diagnostics["prior_note"] = (f"kl and kl_per_dimension here are against N(0, I), not the run's {prior} prior; "
                                     "the run's own KL is the evaluation's rate (overall kl_nats)")
    return diagnostics


def describe_likelihood(vae) -> dict:
    """What evaluation.json says of the likelihood: its name, a description, for "binarized" the seed and
    rule of the test images' one-off binarisation, and for "gaussian" the sigma^2 evaluated with."""
    from vae_tf.models.likelihoods import EVALUATION_BINARIZATION_SEED

    model = pixel_model(vae)
    described = {"name": model.name, "description": model.description}
    if model.name == "gaussian":  # the sigma^2 evaluated with, and how the run set it
        described["variance"] = float(model.variance)
        described["variance_mode"] = str(vae.pixel_variance.mode)
    if model.binarizes:
        described["binarization"] = {
            "seed": EVALUATION_BINARIZATION_SEED,
            "rule": "pixel = 1 where u < value / 255, u ~ U[0, 1) from numpy.random.default_rng([seed, image index])",
        }
    return described


_COLUMNS = (("neg_elbo", "-ELBO"), ("reconstruction", "recon"), ("kl", "KL"), ("neg_iwae", "-IWAE_K"),
            ("neg_log_px_grid", "-log p(x) grid"))


def likelihood_line(likelihood) -> str:
    """The likelihood of an evaluation.json in a few words (older files hold a sentence)."""
    if isinstance(likelihood, dict):
        extra = (f" (test images binarised once, seed {likelihood['binarization']['seed']})"
                 if "binarization" in likelihood else "")
        if "variance" in likelihood:
            extra = (f" (sigma^2 = {likelihood['variance']:.6g}, {likelihood['variance_mode']}; a density on R^P, "
                     "with mass outside [0, 1])")
        return likelihood["name"] + extra
    return "bernoulli" if likelihood is None else str(likelihood)


def format_table(evaluation: dict) -> str:
    """The evaluation as a text table: nats per image, and bits per pixel for the bounds."""
    names = [(key, title.replace("_K", f"_{evaluation['k']}")) for key, title in _COLUMNS
             if f"{key}_nats" in evaluation["overall"]]
    header = f"{'':<12}{'images':>7}" + "".join(f"{title:>16}" for _, title in names)
    lines = [f"nats per image ({evaluation['test_images']:,} test images of {evaluation['run']}; lower is better)",
             f"likelihood: {likelihood_line(evaluation.get('likelihood'))}", header]
    rows = [("all", {"images": evaluation["test_images"], **evaluation["overall"]}),
            *evaluation["per_class"].items()]
    for label, values in rows:
        cells = "".join(f"{values[f'{key}_nats']:>16.2f}" for key, _ in names)
        lines.append(f"{label:<12}{values['images']:>7}{cells}")
    overall = evaluation["overall"]
    cells = "".join(f"{overall[f'{key}_bits_per_dim']:>16.4f}" if f"{key}_bits_per_dim" in overall else " " * 16
                    for key, _ in names)
    lines.append(f"{'bits/dim':<12}{'':>7}{cells}")
    rate = evaluation.get("rate")
    if rate and rate["estimator"] == "monte_carlo":
        lines.append(f"KL (the rate) under the run's own prior ({rate['prior']}): Monte Carlo, the mean of "
                     f"log q(z|x) - log p(z) over the K = {rate['samples']} samples per image; standard error "
                     f"{rate['standard_error_nats']:.2g} nats")
    grid = evaluation.get("grid")
    if grid:
        difference = grid["coarse_grid_difference_nats"]
        lines.append(f"grid: {grid['points_per_axis']}^2 points on [-{grid['extent']:g}, {grid['extent']:g}]^2, "
                     f"spacing {grid['spacing']:.4f}; vs. every other point: mean {difference['mean']:.2g}, "
                     f"max {difference['max']:.2g} nats; largest share of mass on the edge "
                     f"{grid['boundary_mass_max']:.2g}")
    return "\n".join(lines)


def output_path(rundir: Path, out, overwrite: bool) -> Path:
    """The file to write (`vae_tf.rundir.files.claim`s rule: never replaced unless asked)."""
    from vae_tf.rundir import claim

    directory, name = output_location(rundir, out)
    return claim(directory, [name], overwrite) / name


def output_location(rundir, out) -> tuple[Path, str]:
    """(directory, file name) of the evaluation file."""
    out = Path(rundir) if out is None else Path(out)
    return (out.parent, out.name) if out.suffix == ".json" and not out.is_dir() else (out, EVALUATION_FILE)
