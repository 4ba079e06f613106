"""The report's "compression" claim, and what an honest reader needs next to it.

    report = compression_report(Run.open("runs/kl-report"))   # what `python -m vae_tf.compress` writes
    print(format_table(report))

The report compares the training images held as the float64 array `x / 255.` (N x P x 8
bytes, P = H x W x C = 784 for Fashion-MNIST) with the float32 latent codes (N x 2 x 4 bytes): a
ratio of 2 P / D = 784. For any data set the sizes come from its own N x H x W x C. That is what the
shapes and dtypes imply, and `report_sizes` reproduces it to the last digit. It also shows what
the ratio leaves out:

- the images are 8-bit: as uint8 they take 1/8 of the float64 array, and the gzip'd IDX file
  they ship in takes less still (the actual file on disk; for an npz or a folder of images, its
  file(s) on disk; scikit-learn's digits, held as float32, have no such row);
- the codes can be float16;
- a code is useless without the decoder, so its weights belong to any "compressed" file;
- the codes are lossy: the reconstruction quality they buy, on the test set, as mean
  per-pixel binary cross-entropy (nats) and PSNR (dB, pixels in [0, 1]);
- the obvious baseline at the same code size, PCA with as many components as latent
  dimensions: its storage and its error.

The pure functions (`array_bytes`, `report_sizes`, `pca_fit`, `psnr`, ...) take shapes and
arrays; `compression_report(run)` puts them together for a run directory.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np

from vae_tf.data import REPORT_SHAPE

MIB = 2**20
PIXELS = math.prod(REPORT_SHAPE)  # the report's 28 x 28 x 1, the default of the size functions
# Clipping for the cross-entropy of reconstructions that are not probabilities (PCA's),
# the same epsilon Keras' binary_crossentropy clips with.
EPSILON = 1e-7
REPORT_FILES = ("compression.json",)


# --- sizes -----------------------------------------------------------------------------------

def array_bytes(shape, dtype) -> int:
    """Bytes of a dense array of `shape` and `dtype` (no header): prod(shape) * itemsize."""
    return int(math.prod(shape)) * np.dtype(dtype).itemsize


def size_entry(name: str, n_bytes: int, images: int, shape=None, dtype=None) -> dict:
    """One row of the size table: bytes, MiB (bytes / 2**20) and bits per image."""
    entry = {"name": name}
    if shape is not None:
        entry["shape"] = [int(s) for s in shape]
    if dtype is not None:
        entry["dtype"] = np.dtype(dtype).name
    entry.update({"bytes": int(n_bytes), "mib": n_bytes / MIB, "images": int(images),
                  "bits_per_image": 8 * n_bytes / images})
    return entry


def report_sizes(images: int, latent_dim: int = 2, pixels: int = PIXELS) -> dict:
    """The report's comparison: images as the float64 array `x / 255.` against float32 codes.

    Args:
      images: N, the number of training images.
      latent_dim: D.
      pixels: values per image.

    Returns:
      dict with `images_float64` and `codes_float32` (see `size_entry`) and `ratio`, the
      first's bytes over the second's (= 2 * pixels / latent_dim).
    """
    image_bytes = array_bytes((images, pixels), np.float64)
    code_bytes = array_bytes((images, latent_dim), np.float32)
    return {
        "images_float64": size_entry("images as float64 (x / 255.)", image_bytes, images,
                                     (images, pixels), np.float64),
        "codes_float32": size_entry("codes z as float32", code_bytes, images, (images, latent_dim), np.float32),
        "ratio": image_bytes / code_bytes,
    }


def decoder_parameter_count(latent_dim: int, hidden_units: int, pixels: int = PIXELS) -> int:
    """Weights and biases of the decoder latent -> Dense(hidden) -> Dense(pixels)."""
    return (latent_dim + 1) * hidden_units + (hidden_units + 1) * pixels


def pca_parameter_count(components: int, pixels: int = PIXELS) -> int:
    """What a PCA decoder stores: the components (k x pixels) and the mean image (pixels)."""
    return (components + 1) * pixels


# --- reconstruction quality ------------------------------------------------------------------

def psnr(x, reconstruction, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of the mean squared error over all pixels: 10 log10(peak^2 / MSE)."""
    x = np.asarray(x, dtype=np.float64)
    error = np.mean((x - np.asarray(reconstruction, dtype=np.float64)) ** 2)
    return float(10 * np.log10(peak**2 / error)) if error > 0 else math.inf


def mean_bce_from_logits(x, logits) -> float:
    """Mean over all pixels of the binary cross-entropy of `x` under Bernoulli(logits), in nats."""
    from vae_tf.models.losses import binary_cross_entropy_with_logits

    bce = binary_cross_entropy_with_logits(np.asarray(x, np.float32), np.asarray(logits, np.float32))
    return float(np.mean(np.asarray(bce, dtype=np.float64)))


def mean_bce(x, probabilities, epsilon: float = EPSILON) -> float:
    """Like `mean_bce_from_logits` for reconstructions given as values, clipped to [epsilon, 1 - epsilon]."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), epsilon, 1 - epsilon)
    return mean_bce_from_logits(x, np.log(p) - np.log1p(-p))


# --- PCA baseline ----------------------------------------------------------------------------

def pca_fit(x, components: int, chunk: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """Principal components of images, from the eigendecomposition of their covariance.

    Args:
      x: images (N, P), uint8 (scaled by 1/255) or floats; read in chunks, never copied whole.
      components: k, how many components to keep.
      chunk: rows per chunk.

    Returns:
      (mean, basis): float64 (P,) and (k, P), the basis rows orthonormal, by decreasing variance.
    """
    x = np.asarray(x)
    scale = 1 / 255 if x.dtype == np.uint8 else 1.0
    n, pixels = x.shape
    if not 1 <= components <= pixels:
        raise ValueError(f"components={components}: must be between 1 and {pixels}.")
    mean = np.zeros(pixels)
    for start in range(0, n, chunk):
        mean += (x[start:start + chunk] * scale).sum(axis=0)
    mean /= n
    scatter = np.zeros((pixels, pixels))
    for start in range(0, n, chunk):
        centred = x[start:start + chunk] * scale - mean
        scatter += centred.T @ centred
    eigenvalues, eigenvectors = np.linalg.eigh(scatter / n)
    order = np.argsort(eigenvalues)[::-1][:components]
    return mean, eigenvectors[:, order].T


def pca_encode(x, mean, basis) -> np.ndarray:
    """Codes (N, k) of images x (N, P) in [0, 1]: their coordinates along the basis rows."""
    return (np.asarray(x, dtype=np.float64) - mean) @ basis.T


def pca_decode(codes, mean, basis) -> np.ndarray:
    """Images (N, P) from codes (N, k): mean + codes @ basis."""
    return mean + np.asarray(codes, dtype=np.float64) @ basis


def source_size(spec) -> tuple[str, int, int, str, str] | None:
    """What the data take on disk as they ship: (row name, bytes, images, path, how measured), or None.

    Args:
      spec: the run's `vae_tf.data.spec.DataSpec`.
    """
    total = spec.train_images + spec.test_images
    if spec.name in ("fashion_mnist", "mnist") and spec.path and Path(spec.path).is_dir():
        gz_bytes, path, how = gzip_idx_size(spec.path)
        return f"images as the gzip'd IDX file (all {spec.train_images:,})", gz_bytes, spec.train_images, path, how
    if spec.path and Path(spec.path).is_file():  # an npz: Keras' mnist.npz or the user's
        return (f"images as the .npz file (all {total:,}, both splits)", Path(spec.path).stat().st_size, total,
                spec.path, "file size on disk")
    if spec.name == "folder" and spec.path and Path(spec.path).is_dir():
        from vae_tf.data.sources import IMAGE_SUFFIXES

        files = [path for path in Path(spec.path).rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES]
        return (f"images as their files (all {total:,}, both splits)", sum(path.stat().st_size for path in files),
                total, spec.path, f"sum of the {len(files):,} files' sizes on disk")
    return None


def gzip_idx_size(directory) -> tuple[int, str, str]:
    """Size of the gzip'd training-images IDX file: (bytes, path, how it was measured).

    Measured on disk when the directory holds `train-images-idx3-ubyte.gz`; if it holds the
    uncompressed file only, the size of `gzip -9` of it, computed in memory.
    """
    from vae_tf.data import SPLITS

    stem = Path(directory) / SPLITS["train"][0]
    gzipped = stem.with_name(stem.name + ".gz")
    if gzipped.is_file():
        return gzipped.stat().st_size, str(gzipped), "file size on disk"
    return len(gzip.compress(stem.read_bytes(), compresslevel=9)), str(stem), "gzip -9 of the file, computed"


def _quality(x, reconstruction=None, logits=None) -> dict:
    if logits is not None:
        from scipy.special import expit

        return {"bce": mean_bce_from_logits(x, logits), "psnr_db": psnr(x, expit(logits))}
    return {"bce": mean_bce(x, reconstruction), "psnr_db": psnr(x, reconstruction)}


def compression_report(run, data_dir=None, progress=print) -> dict:
    """Everything `compression.json` holds, for a run directory.

    Args:
      run: a `vae_tf.rundir.reading.Run`.
      data_dir: where the IDX files of a fashion_mnist or mnist run are (default: the run's setting,
        then the usual search); other runs reload their own data (`vae_tf.data.sources.load_run_data`).
      progress: called with a line of text at each slow step (`print`, or `lambda _: None`).

    Returns:
      dict with `report` (see `report_sizes`), `sizes` (rows, see `size_entry`), `quality`
      (mean per-pixel BCE in nats and PSNR in dB on the test set, for the VAE from its stored
      float32 and float16 codes and for PCA) and what it was computed from.
    """
    from vae_tf.data import flatten_images, to_unit
    from vae_tf.data.opening import check_whole_fits
    from vae_tf.data.sources import load_run_data

    check_whole_fits(run, "compress")
    settings = run.settings
    latent_dim = settings["latent_dim"]
    n = int(run.summary["train_images"])
    progress(f"compress: loading {settings.get('dataset', 'fashion_mnist')}")
    data = load_run_data(run, data_dir=data_dir, limit=n)
    spec = data.spec
    pixels = spec.pixels
    x_train = flatten_images(data.x_train)
    x_test = to_unit(flatten_images(data.x_test))

    progress("compress: loading the model and decoding the test set")
    model = run.model()
    decoder_params = int(sum(np.prod(weight.shape) for weight in model.decoder.weights))
    z_test = model.encode(x_test)[0]  # the code a VAE would store: z_mean
    vae_float32 = _quality(x_test, logits=model.decode(z_test, logits=True))
    vae_float16 = _quality(x_test, logits=model.decode(z_test.astype(np.float16), logits=True))

    progress(f"compress: fitting PCA with {latent_dim} components on {n:,} training images")
    mean, basis = pca_fit(x_train, latent_dim)
    pca = _quality(x_test, reconstruction=pca_decode(pca_encode(x_test, mean, basis), mean, basis))
    mean_only = _quality(x_test, reconstruction=np.broadcast_to(mean, x_test.shape))

    on_disk = source_size(spec)
    report = report_sizes(n, latent_dim, pixels)
    code16 = array_bytes((n, latent_dim), np.float16)
    decoder_bytes = array_bytes((decoder_params,), np.float32)
    pca_bytes = array_bytes((n, latent_dim), np.float32) + array_bytes((pca_parameter_count(latent_dim, pixels),),
                                                                      np.float32)
    stored = np.dtype(spec.dtype)
    sizes = [
        report["images_float64"],
        size_entry(f"images as {stored.name} (as stored)", array_bytes((n, pixels), stored), n, (n, pixels), stored),
        *([{**size_entry(on_disk[0], on_disk[1], on_disk[2]), "file": on_disk[3], "measured": on_disk[4]}]
          if on_disk else []),
        report["codes_float32"],
        size_entry("codes z as float16", code16, n, (n, latent_dim), np.float16),
        size_entry("decoder weights as float32", decoder_bytes, n, (decoder_params,), np.float32),
        size_entry("VAE: float32 codes + decoder", report["codes_float32"]["bytes"] + decoder_bytes, n),
        size_entry("VAE: float16 codes + decoder", code16 + decoder_bytes, n),
        size_entry(f"PCA ({latent_dim} components): float32 codes + components + mean", pca_bytes, n),
    ]
    for entry in sizes:
        entry["times_smaller_than_float64"] = report["images_float64"]["bits_per_image"] / entry["bits_per_image"]
        entry["times_smaller_than_uint8"] = 8 * pixels / entry["bits_per_image"]  # vs P bytes per image
    return {
        "run": str(run.path),
        "train_images": n,
        "latent_dim": latent_dim,
        "decoder_parameters": decoder_params,
        "report": report,
        "sizes": sizes,
        "quality": {
            "test_images": int(len(x_test)),
            "measures": "bce: mean per-pixel binary cross-entropy in nats; psnr_db: 10 log10(1 / MSE), "
                        "pixels in [0, 1]; the VAE decodes z_mean of each test image",
            "vae_float32_codes": {"name": "VAE, z_mean as float32", **vae_float32},
            "vae_float16_codes": {"name": "VAE, z_mean as float16", **vae_float16},
            "pca": {"name": f"PCA, {latent_dim} components", "components": latent_dim, **pca},
            "mean_image": {"name": "the mean training image (0 bits per image)", **mean_only},
        },
        "data": {"source": spec.source, "image_shape": list(spec.image_shape), "path": spec.path,
                 "found": spec.found},
    }


def format_table(report: dict) -> str:
    """The report's comparison, the size table and the quality table, as plain text."""
    r = report["report"]
    lines = [
        f"The report's comparison ({report['train_images']:,} training images):",
        f"  {r['images_float64']['name']:<34} {str(tuple(r['images_float64']['shape'])):>13} "
        f"{r['images_float64']['bytes']:>13,} bytes  {r['images_float64']['mib']!r} MiB",
        f"  {r['codes_float32']['name']:<34} {str(tuple(r['codes_float32']['shape'])):>13} "
        f"{r['codes_float32']['bytes']:>13,} bytes  {r['codes_float32']['mib']!r} MiB",
        f"  ratio {r['ratio']:g}",
        "",
        f"  {'what is stored':<58} {'bytes':>13} {'MiB':>10} {'bits/image':>11} {'vs float64':>10} {'vs uint8':>9}",
    ]
    for entry in report["sizes"]:
        lines.append(
            f"  {entry['name']:<58} {entry['bytes']:>13,} {entry['mib']:>10.4f} {entry['bits_per_image']:>11.1f} "
            f"{entry['times_smaller_than_float64']:>9.1f}x {entry['times_smaller_than_uint8']:>8.2f}x"
        )
    quality = report["quality"]
    lines += ["", f"  {'reconstruction of the ' + format(quality['test_images'], ',') + ' test images':<58} "
                  f"{'BCE (nats/pixel)':>16} {'PSNR (dB)':>10}"]
    for value in quality.values():
        if isinstance(value, dict):
            lines.append(f"  {value['name']:<58} {value['bce']:>16.4f} {value['psnr_db']:>10.2f}")
    return "\n".join(lines)
