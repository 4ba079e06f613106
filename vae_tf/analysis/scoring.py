"""Each image's score under a trained run, for out-of-distribution detection: how unlikely the model finds it.

```python
import tempfile

import numpy as np

from vae_tf import TrainConfig
from vae_tf.analysis.scoring import auroc, score_images
from vae_tf.data.sources import load_data
from vae_tf.rundir import Run
from vae_tf.training.run import train

settings = TrainConfig(dataset="digits", limit=256, batch_size=64, epochs=1)
vae = Run.open(train(settings, tempfile.mkdtemp() + "/run", verbose=0)).model()
digits = load_data("digits", test_limit=32).x_test            # (32, 8, 8, 1), in [0, 1]
noise = np.random.default_rng(0).random((32, 8, 8, 1)).astype("float32")
scores, noise_scores = score_images(vae, digits, k=8), score_images(vae, noise, k=8)  # what `vae_tf.score` writes
print(auroc(scores["neg_iwae_nats"], noise_scores["neg_iwae_nats"]))   # 1: noise told apart, 0.5: chance
```
```

Three scores per image x, each larger for an image the model finds less likely:

- `neg_elbo`: -ELBO(x) = E_q[-log p(x|z)] + KL(q(z|x) || p(z)), in nats per image and bits per
  dimension (nats / (P ln 2), P = H x W x C), under the run's likelihood, prior and posterior
  (`vae_tf.analysis.bounds.importance_sampled`);
- `neg_iwae`: -IWAE_K(x), the importance-weighted bound, >= -log p(x), tighter as K grows;
- `complexity`: Serra et al. (ICLR 2020, "Input complexity and out-of-distribution detection"):
  S(x) = -log2 p(x) - L(x) in bits, with -IWAE_K for -log p(x) and L(x) the length in bits of the
  image losslessly compressed as a PNG (Pillow, compress_level 9, optimize; the image as the model
  scores it, quantised to 8 bits: `png_bits`). A likelihood mostly measures how simple an image is
  (Nalisnick et al., ICLR 2019: a model of clothes can find plain digits *more* likely than its
  own test set); a generic compressor measures simplicity too, and subtracting it leaves what the
  model knows beyond it. The PNG's headers add about 600 bits to every image alike: S is shifted,
  its ranking (and AUROC) is not.

`auroc(in_scores, out_scores)` is the area under the ROC curve of a score that calls the larger
values out-of-distribution (scikit-learn's `roc_auc_score`): 1 separates the two sets perfectly,
0.5 is chance, below 0.5 ranks the out-of-distribution images as *more* likely.
"""

from __future__ import annotations

import io
import math

import numpy as np

from vae_tf.analysis.bounds import bits_per_dim, evaluation_images
from vae_tf.core.errors import UsageError

SCORES = ("neg_elbo", "neg_iwae", "complexity")  # each larger for a less likely image
PNG = "PNG (Pillow, compress_level=9, optimize=True) of the 8-bit image"


def png_bits(images) -> np.ndarray:
    """The lossless compressed length of each image in bits: its PNG file (Pillow at maximum compression).

    Args:
      images: (N, H, W, C) with C = 1 or 3, uint8 or floats in [0, 1] (rounded to 8 bits: round(255 x)).

    Returns:
      float64 (N,), 8 x the PNG file's bytes (headers included).
    """
    from PIL import Image

    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)
    lengths = np.empty(len(images))
    for i, image in enumerate(images):
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
            buffer, format="PNG", compress_level=9, optimize=True)
        lengths[i] = 8 * buffer.tell()
    return lengths


def score_images(vae, x, k: int = 100, *, seed: int = 0, indices=None, verbose: int = 0) -> dict:
    """Every image's scores under `vae` (see the module's docstring).

    Args:
      vae: a `vae_tf.VAE`.
      x: images (N, H, W, C) of `vae.image_shape`, uint8 or floats in [0, 1].
      k: importance samples per image for -IWAE_K.
      seed: seeds the importance samples (image i's draws depend only on (seed, i)): the same
        call gives the same scores.
      indices: each image's index (default 0..N-1), for its draws and its one-off binarisation.
      verbose: 1 shows progress.

    Returns:
      dict of float64 arrays (N,): `neg_elbo_nats`, `neg_elbo_bits_per_dim`, `neg_iwae_nats`,
      `neg_iwae_bits_per_dim`, `png_bits`, `complexity_bits` (-IWAE_K in bits minus `png_bits`)
      and `complexity_bits_per_dim` (the same over P).
    """
    from vae_tf.analysis.bounds import importance_sampled

    indices = np.arange(len(x)) if indices is None else np.asarray(indices)
    sampled = importance_sampled(vae, x, k, seed=seed, indices=indices, verbose=verbose)
    dims = math.prod(vae.image_shape)
    scored = np.asarray(evaluation_images(vae, x, indices))  # binarised once for "binarized", as scored
    scores = {"neg_elbo_nats": sampled["neg_elbo"], "neg_elbo_bits_per_dim": bits_per_dim(sampled["neg_elbo"], dims),
              "neg_iwae_nats": -sampled["iwae"], "neg_iwae_bits_per_dim": bits_per_dim(-sampled["iwae"], dims),
              "png_bits": png_bits(scored.reshape((len(scored), *vae.image_shape)))}
    scores["complexity_bits"] = scores["neg_iwae_nats"] / math.log(2.0) - scores["png_bits"]
    scores["complexity_bits_per_dim"] = scores["complexity_bits"] / dims
    return scores


def auroc(in_scores, out_scores) -> float:
    """The AUROC of telling `out_scores` (positives) from `in_scores` by thresholding: larger is more out.

    Equal to the probability that a random out-of-distribution image scores above a random
    in-distribution one (ties count half).
    """
    from sklearn.metrics import roc_auc_score

    in_scores, out_scores = np.asarray(in_scores, np.float64), np.asarray(out_scores, np.float64)
    if len(in_scores) == 0 or len(out_scores) == 0:
        raise ValueError("auroc needs at least one image in each set.")
    labels = np.concatenate([np.zeros(len(in_scores)), np.ones(len(out_scores))])
    return float(roc_auc_score(labels, np.concatenate([in_scores, out_scores])))


def aurocs(reference: dict, scores: dict) -> dict:
    """{score name: AUROC} of each of `SCORES` (their `..._nats` or `..._bits` column), `reference` the
    in-distribution images' `score_images`, `scores` the others'."""
    columns = {"neg_elbo": "neg_elbo_nats", "neg_iwae": "neg_iwae_nats", "complexity": "complexity_bits"}
    return {name: auroc(reference[columns[name]], scores[columns[name]]) for name in SCORES}


def score_rows(scores: dict, labels=None, files=None) -> list[dict]:
    """The rows of scores.csv: `index`, `label` (empty without labels), `file` (empty but for folder
    sources), then the columns of `score_images`."""
    rows = []
    for i in range(len(scores["neg_elbo_nats"])):
        row = {"index": i, "label": "" if labels is None else int(labels[i]), "file": "" if files is None else files[i]}
        row.update({name: float(values[i]) for name, values in scores.items()})
        rows.append(row)
    return rows


def scored_images(run, dataset, split: str = "test", limit: int | None = None, *, k: int = 100, seed: int = 0,
                  data_dir=None, verbose: int = 0) -> dict:
    """The `score_images` of `split` of the `--dataset` value `dataset` (None: the run's own data), the first
    `limit` images, in the run's image shape (`vae_tf.data.sources.load_data_for_run`); a streamed one
    (`vae_tf.data.opening.open_run_stream`) is scored chunk by chunk, only the scores held.

    Returns:
      {"scores": `score_images`' arrays, "labels": (N,) or None, "files": N names or None, "spec": the data's spec}.
    """
    from vae_tf.data.opening import open_run_stream, split_chunks, split_count
    from vae_tf.data.sources import load_data_for_run

    data = open_run_stream(run, dataset, data_dir=data_dir)
    if data is None:
        keyword = {"test": "test_limit", "train": "limit"}[split]
        data = load_data_for_run(run, dataset, data_dir=data_dir, **{keyword: limit})
    count = split_count(data, split, limit)
    if count == 0:
        raise UsageError(f"{dataset or 'the run data'}: its {split} split has no images; give another --split.")
    if verbose:
        print(f"vae_tf.score: {count:,} {split} images of {data.spec.source}, K = {k}", flush=True)
    vae, parts, labels, start = run.model(), [], [], 0
    for x, y in split_chunks(data, split, limit):  # image i's scores depend on i alone: chunks change nothing
        parts.append(score_images(vae, x, k, seed=seed, indices=np.arange(start, start + len(x)),
                                  verbose=verbose if len(x) == count else 0))
        labels.append(y)
        start += len(x)
        if verbose and len(x) < count:
            print(f"vae_tf.score: {start:,}/{count:,} images", flush=True)
    files = getattr(data, "test_files" if split == "test" else "train_files", None)
    return {"scores": {name: np.concatenate([part[name] for part in parts]) for name in parts[0]},
            "labels": None if labels[0] is None else np.concatenate(labels), "files": files, "spec": data.spec}


def score_run(run, dataset=None, *, split: str = "test", k: int = 100, seed: int = 0, limit: int | None = None,
              reference=None, data_dir=None, verbose: int = 0) -> dict:
    """Score every image of a data source under a run's model, and compare with a reference set.

    Args:
      run: a `vae_tf.rundir.reading.Run`.
      dataset: a `--dataset` value ("digits", "npz:FILE", "folder:DIR", ...); None: the run's own data.
      split: "test" or "train".
      k, seed: as `score_images`.
      limit: the first `limit` images of the split (and of the reference's test split) only.
      reference: a `--dataset` value of in-distribution images (their test split), or None.
      data_dir: where the IDX files are, for the fashion_mnist and mnist sources.
      verbose: 1 prints progress.

    Returns:
      {"rows": scores.csv's rows (`score_rows`), "images": N, "source": ..., "k": k, "auroc": {score: AUROC}
      or None without a reference, "reference_images": its N or None}.
    """
    scored = scored_images(run, dataset, split, limit, k=k, seed=seed, data_dir=data_dir, verbose=verbose)
    scores = scored["scores"]
    found = {"rows": score_rows(scores, scored["labels"], scored["files"]), "images": len(scores["png_bits"]),
             "source": scored["spec"].source, "k": k,
             "means": {name: float(np.mean(values)) for name, values in scores.items()},
             "auroc": None, "reference_images": None}
    if reference is not None:
        if verbose:
            print(f"vae_tf.score: the reference, the test images of {reference}", flush=True)
        reference_scores = scored_images(run, reference, "test", limit, k=k, seed=seed, data_dir=data_dir,
                                         verbose=verbose)["scores"]
        found["auroc"] = aurocs(reference_scores, scores)
        found["reference_images"] = len(reference_scores["png_bits"])
    return found
