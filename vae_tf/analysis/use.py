"""Using a trained run: its codes, new images, reconstructions, interpolations and traversals, as arrays.

Each function takes a run directory (a path or a `vae_tf.rundir.Run`) and returns NumPy arrays;
the commands `python -m vae_tf.encode`, `generate`, `reconstruct`, `interpolate` and `traverse`
call them and write what they return (`vae_tf.analysis.use_outputs`).

```py
from vae_tf.analysis import use

result = use.encode("runs/kl-report", split="test")       # codes (z_mean, z_log_var, ...), labels, files
z, images = use.generate("runs/kl-report", 16, seed=0)    # (16, D), (16, 28, 28, 1) in [0, 1]
originals, decoded = use.reconstruct("runs/kl-report", n=10)
path = use.interpolate("runs/kl-report", 0, "my-shoe.png", steps=8, path="spherical")
walk = use.traverse("runs/kl-report", low=-3, high=3, steps=9)   # rows ordered by each dimension's KL
```

They work for every architecture, prior, posterior, likelihood and data source the package trains:
the posterior's parameters are `vae_tf.analysis.codes`', the prior's draws and the paths
`vae_tf.analysis.generation`'s. A request that cannot be met is a `UseError` (a `ValueError`; the
commands print it as one line), naming the argument's flag.
"""

from __future__ import annotations

import numpy as np

from vae_tf.analysis.codes import dimension_usage, encode_images
from vae_tf.analysis.generation import decode_codes, interpolation_path, prior_codes, read_image_files, traversal_codes
from vae_tf.core.errors import UsageError

SPLITS = ("train", "test")
# Test images whose codes measure each dimension's KL and activity for `traverse`.
USAGE_IMAGES = 1000


class UseError(UsageError, ValueError):
    """A request a trained run cannot meet (an index beyond the test set, a dimension it does not have...)."""


def open_run(run):
    """`run` as a `vae_tf.rundir.Run` (a path is opened; a Run is returned as it is)."""
    from vae_tf.rundir import Run

    return run if isinstance(run, Run) else Run.open(run)


def encode(run, dataset: str | None = None, split: str = "test", limit: int | None = None, seed: int = 0,
           data_dir=None) -> dict:
    """The posterior's parameters of every image of a split, with each image's label and file.

    Args:
      run: a run directory (path or `Run`).
      dataset: a `--dataset` value in the run's image shape (`vae_tf.data.load_data_for_run`); None: the run's own.
      split: "train" or "test".
      limit: the split's first N images (None: all).
      seed: seeds the IAF posterior's draws.
      data_dir: where the IDX files are (fashion_mnist, mnist).

    Returns:
      {"codes": `vae_tf.analysis.codes.encode_images`' arrays, "labels": (N,) or None, "files": N names
      relative to the folder (folder sources) or None, "source": the data's `--dataset` value}.
    """
    from vae_tf.data.opening import open_run_stream
    from vae_tf.data.sources import load_data_for_run

    if split not in SPLITS:
        raise UseError(f"--split {split!r}: choose train or test.")
    run = open_run(run)
    stream = open_run_stream(run, dataset, data_dir=data_dir)
    if stream is not None:  # streamed: encoded chunk by chunk, only the codes held
        return {**encode_chunks(run.model(), stream.chunks(split, limit), seed), "files": None,
                "source": stream.spec.source}
    limits = {"limit": limit} if split == "train" else {"test_limit": limit}
    data = load_data_for_run(run, dataset, data_dir=data_dir, **limits)
    images, labels = data.split(split)
    files = data.train_files if split == "train" else data.test_files
    return {"codes": encode_images(run.model(), images, seed), "labels": labels,
            "files": None if files is None else list(files), "source": data.spec.source}


def encode_chunks(vae, chunks, seed: int = 0) -> dict:
    """{"codes": `encode_images`' arrays, "labels": (N,) or None} of the images of (images, labels) `chunks`, in
    order, one chunk in memory at a time (the IAF's draws of chunk at image i seeded by `seed` + i, as `encode_images`
    seeds its batches)."""
    parts, labels, start = [], [], 0
    for images, chunk_labels in chunks:
        parts.append(encode_images(vae, images, seed + start))
        labels.append(chunk_labels)
        start += len(images)
    if not parts:
        raise UseError("the split has no images to encode; give another --split.")
    return {"codes": {name: np.concatenate([part[name] for part in parts]) for name in parts[0]},
            "labels": None if labels[0] is None else np.concatenate(labels)}


def generate(run, n: int, temperature: float = 1.0, seed: int = 0, sample: bool = False) -> tuple[np.ndarray, ...]:
    """`n` new images from the run's own prior through its decoder.

    Args:
      run: a run directory (path or `Run`).
      n: how many (at least 1).
      temperature: scales the noise behind each draw of z (`vae_tf.analysis.generation`; 1: the prior itself).
      seed: seeds every draw: the same arguments give the same arrays.
      sample: False: the likelihood's mean E[x|z]; True: one draw from p(x|z).

    Returns:
      (z float32 (n, D), images float32 (n, H, W, C) in [0, 1]).
    """
    if n < 1:
        raise UseError(f"--n {n}: draw at least 1 image.")
    if not temperature > 0:
        raise UseError(f"--temperature {temperature:g}: give a temperature above 0 (1 draws from the prior itself).")
    vae = open_run(run).model()
    z = prior_codes(vae, n, temperature, seed)
    return z, decode_codes(vae, z, sample, seed)


def reconstruct(run, dataset: str | None = None, n: int = 10, split: str = "test", data_dir=None):
    """The first `n` images of a split and their reconstructions: E[x|z] at z = E_q[z|x].

    Returns:
      (images (n, H, W, C) as the data holds them, reconstructions float32 (n, H, W, C) in [0, 1]).
    """
    from vae_tf.data.opening import open_run_stream
    from vae_tf.data.sources import load_data_for_run

    if n < 1:
        raise UseError(f"--n {n}: reconstruct at least 1 image.")
    if split not in SPLITS:
        raise UseError(f"--split {split!r}: choose train or test.")
    run = open_run(run)
    stream = open_run_stream(run, dataset, data_dir=data_dir)
    if stream is not None:  # streamed: only the first n images are read
        images = stream.head(split, min(n, stream.counts[split]))
    else:
        limits = {"limit": n} if split == "train" else {"test_limit": n}
        images = load_data_for_run(run, dataset, data_dir=data_dir, **limits).split(split)[0]
    vae = run.model()
    return images, vae.decode(vae.posterior_mean(images))


def image_reference(text) -> int | str:
    """A `--from`/`--to` value: an int (a test index) when it is one, else the path of an image file."""
    text = str(text)
    return int(text) if text.strip().lstrip("-").isdigit() else text


def pick_images(run, references, data_dir=None) -> tuple[np.ndarray, list[str]]:
    """Images named by test indices or image files, in the run's shape, and a label for each.

    Args:
      run: a `Run`.
      references: ints (indices into the run's own test images) or paths of image files (converted
        and resized to the run's images, `vae_tf.analysis.generation.read_image_files`), with the
        flag each came from: [(reference, flag), ...].

    Returns:
      (images (N, H, W, C) float32 in [0, 1], labels such as "test 3" or "shoe.png").
    """
    from pathlib import Path

    vae = run.model()
    test = None
    images, labels = [], []
    for reference, flag in references:
        reference = image_reference(reference)
        if isinstance(reference, int):
            test = TestImages(run, data_dir) if test is None else test
            if not 0 <= reference < len(test):
                raise UseError(f"{flag} {reference}: {run.path} has {len(test):,} test images; give an index from 0 "
                               f"to {len(test) - 1}, or the path of an image file.")
            image, label = test[reference], f"test {reference}"
        else:
            image, label = read_image_files([reference], vae.image_shape)[0], Path(reference).name
        images.append(image.astype(np.float32) / (255.0 if image.dtype == np.uint8 else 1.0))
        labels.append(label)
    return np.stack(images), labels


class TestImages:
    """A run's own test images, read whole if its data is, else streamed: one image or the first few at a time."""

    def __init__(self, run, data_dir=None):
        from vae_tf.data.opening import open_run_stream
        from vae_tf.data.sources import load_run_data

        self.stream = open_run_stream(run, data_dir=data_dir)
        self.images = None if self.stream is not None else load_run_data(run, data_dir=data_dir).x_test

    def __len__(self) -> int:
        return self.stream.counts["test"] if self.stream is not None else len(self.images)

    def __getitem__(self, index: int) -> np.ndarray:
        """Test image `index` (H, W, C)."""
        from vae_tf.data.opening import image_at

        return self.images[index] if self.stream is None else image_at(self.stream, "test", index)

    def first(self, count: int) -> np.ndarray:
        """The first `count` test images (at most all), (N, H, W, C)."""
        return self.images[:count] if self.stream is None else self.stream.head("test", min(count, len(self)))


def interpolate(run, start, end, steps: int = 8, path: str = "linear", data_dir=None) -> dict:
    """Decoded images along a path between the codes E_q[z|x] of two images.

    Args:
      run: a run directory (path or `Run`).
      start, end: test indices (int) or image files (path).
      steps: codes on the path, both ends included (at least 2).
      path: "linear" or "spherical" (`vae_tf.analysis.generation.interpolation_path`).

    Returns:
      {"images": (steps, H, W, C) in [0, 1], "codes": (steps, D), "ends": the two input images,
      "labels": their labels ("test 3", "shoe.png")}.
    """
    if steps < 2:
        raise UseError(f"--steps {steps}: a path needs at least 2 images, its two ends.")
    run = open_run(run)
    ends, labels = pick_images(run, [(start, "--from"), (end, "--to")], data_dir)
    vae = run.model()
    codes = vae.posterior_mean(ends)
    path_codes = interpolation_path(codes[0], codes[1], steps, path)
    return {"images": vae.decode(path_codes), "codes": path_codes, "ends": ends, "labels": labels}


def traverse(run, dims=None, low: float = -3.0, high: float = 3.0, steps: int = 9, at: int | None = 0,
             data_dir=None) -> dict:
    """Decoded images as each latent dimension walks from `low` to `high`, the others held fixed.

    Args:
      run: a run directory (path or `Run`).
      dims: the dimensions to walk, in the rows' order; None: all of them, by decreasing KL.
      low, high: the range of the walked dimension's values.
      steps: images per row.
      at: the test image whose code E_q[z|x] the other dimensions keep; None: zero.

    Returns:
      {"images": (R, steps, H, W, C), "values": (steps,), "dims": (R,), "kl": (R,) nats and
      "active": (R,) bool of each row's dimension (`vae_tf.analysis.codes.dimension_usage`, on the
      first `USAGE_IMAGES` test images), "base": (D,) the code held, "at": `at`}.
    """
    if not low < high:
        raise UseError(f"--range {low:g} {high:g}: LO must be less than HI, e.g. --range -3 3.")
    if steps < 2:
        raise UseError(f"--steps {steps}: a walk needs at least 2 images.")
    run = open_run(run)
    vae = run.model()
    if dims is not None:
        dims = [int(dim) for dim in dims]
        wrong = [dim for dim in dims if not 0 <= dim < vae.latent_dim]
        if wrong or not dims:
            raise UseError(f"--dims {' '.join(map(str, dims))}: {run.path} has latent size {vae.latent_dim}; give "
                           f"dimensions from 0 to {vae.latent_dim - 1}.")
    test = TestImages(run, data_dir)
    if at is not None and not 0 <= at < len(test):
        raise UseError(f"--at {at}: {run.path} has {len(test):,} test images; give an index from 0 to "
                       f"{len(test) - 1}, or --at zero.")
    usage = dimension_usage(vae, test.first(USAGE_IMAGES))
    if dims is None:
        dims = [int(dim) for dim in np.argsort(-usage["kl"], kind="stable")]
    base = np.zeros(vae.latent_dim, np.float32) if at is None else vae.posterior_mean(test[at][None])[0]
    codes = traversal_codes(base, dims, low, high, steps)
    images = vae.decode(codes.reshape(-1, vae.latent_dim)).reshape((len(dims), steps, *vae.image_shape))
    return {"images": images, "values": np.linspace(low, high, steps, dtype=np.float32), "dims": np.array(dims),
            "kl": usage["kl"][dims], "active": usage["active"][dims], "base": base, "at": at}
