"""A trained run's encoder and decoder as standalone artifacts for runtimes without Python's vae_tf.

```python
import tempfile

from vae_tf import TrainConfig
from vae_tf.analysis.export import export_run
from vae_tf.rundir import Run
from vae_tf.training.run import train

settings = TrainConfig(dataset="digits", limit=256, batch_size=64, epochs=1)
run = Run.open(train(settings, tempfile.mkdtemp() + "/run", verbose=0))
written = export_run(run, "savedmodel", tempfile.mkdtemp() + "/exported")   # what `python -m vae_tf.export` does
assert written["encoder"]["outputs"]["z_mean"]["shape"] == [None, 2]
```

Two artifacts, each a plain function of float32 tensors, made by Keras' own `Model.export`:

    encoder   images (B, H, W, C) float32 in [0, 1]  ->  z_mean (B, D), z_log_var (B, D)
    decoder   z (B, D) float32                       ->  image (B, H, W, C) in [0, 1], E[x|z]

The decoder's image is the likelihood's mean, what `VAE.decode` returns (the pixel probabilities
for the Bernoulli likelihoods, the continuous Bernoulli's mean for "continuous_bernoulli"); the
encoder's outputs are those of `VAE.encode` (for the full and IAF posteriors, the diagonal Gaussian
head their posterior is built on: the JSON says so). The formats (`FORMATS`):

    savedmodel  encoder/ and decoder/: TensorFlow SavedModels, `tf.saved_model.load(path).serve(x)`
                or the signature "serving_default" (inputs and outputs by name)
    onnx        encoder.onnx and decoder.onnx, through tf2onnx: `onnxruntime.InferenceSession(path)`
    litert      encoder.tflite and decoder.tflite (TensorFlow's converter): LiteRT's
                `ai_edge_litert.interpreter.Interpreter(model_path=path).get_signature_runner()`

and beside them export.json (`EXPORT_FILE`): each artifact's file, input and output names, shapes
(None: any batch size), dtypes and value ranges, and the run they came from. ONNX needs the
packages of the extra `.[export]` (tf2onnx, onnx); its runtimes (onnxruntime, ai-edge-litert) are
in the same extra.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

from vae_tf.core.errors import UsageError

EXPORT_FILE = "export.json"
# Each format: Keras' `Model.export` format name, the artifacts' suffix ("" for a directory), the
# Python modules it needs to write, and the runtime that reads it.
FORMATS = {
    "savedmodel": {"keras": "tf_saved_model", "suffix": "", "needs": (),
                   "runtime": "tensorflow: tf.saved_model.load(path).serve(x)"},
    "onnx": {"keras": "onnx", "suffix": ".onnx", "needs": ("tf2onnx", "onnx"),
             "runtime": "onnxruntime: onnxruntime.InferenceSession(path).run(None, {name: x})"},
    "litert": {"keras": "litert", "suffix": ".tflite", "needs": (),
               "runtime": "ai_edge_litert: Interpreter(model_path=path).get_signature_runner()(name=x)"},
}
EXTRA = "pip install 'vae_tf[export]'"


def artifact_names(format: str) -> dict:
    """{"encoder": file name, "decoder": file name} of `format` (a directory's name for savedmodel)."""
    suffix = FORMATS[format]["suffix"]
    return {part: part + suffix for part in ("encoder", "decoder")}


def check_installed(format: str) -> None:
    """Refuse a format whose writer is not installed, naming the extra that installs it.

    Raises:
      UsageError: `format` is unknown, or a module it needs is missing.
    """
    if format not in FORMATS:
        raise UsageError(f"--format {format!r}: choose one of {', '.join(FORMATS)}.")
    missing = [name for name in FORMATS[format]["needs"] if importlib.util.find_spec(name) is None]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise UsageError(f"--format {format} needs {' and '.join(missing)}, which {verb} not installed; install the "
                         f"export extra: {EXTRA}")


def export_models(vae):
    """The encoder and decoder to export, as functional Keras models with named inputs and outputs.

    Returns:
      (encoder, decoder): `images` (B, H, W, C) -> {"z_mean", "z_log_var"} (B, D) each, and
      `z` (B, D) -> {"image"} (B, H, W, C), the likelihood's mean; float32 throughout.
    """
    import keras

    from vae_tf.models import architectures

    height, width, channels = vae.image_shape
    images = keras.Input((height, width, channels), name="images")
    z_mean, z_log_var = vae.encoder(keras.layers.Reshape((height * width * channels,))(images))
    encoder = keras.Model(images, {"z_mean": keras.layers.Identity(name="z_mean")(z_mean),
                                   "z_log_var": keras.layers.Identity(name="z_log_var")(z_log_var)},
                          name="vae_tf_encoder")
    z = keras.Input((vae.latent_dim,), name="z")
    logits = architectures.decoder_logits(vae.decoder, z)
    image = _likelihood_mean(vae.likelihood_name, vae.image_shape, "image")(logits)
    decoder = keras.Model(z, {"image": image}, name="vae_tf_decoder")
    encoder(keras.ops.zeros((1, height, width, channels)))  # the ONNX export wants models that have been called
    decoder(keras.ops.zeros((1, vae.latent_dim)))
    return encoder, decoder


def _likelihood_mean(likelihood: str, image_shape, name: str):
    """A Keras layer: E[x|z] (B, H, W, C) of the decoder's logits (B, P) under the likelihood `likelihood`."""
    import keras

    class LikelihoodMean(keras.layers.Layer):
        def call(self, logits):
            mean = continuous_bernoulli_mean(logits) if likelihood == "continuous_bernoulli" else \
                keras.ops.sigmoid(logits)
            return keras.ops.reshape(mean, (-1, *image_shape))

    return LikelihoodMean(name=name)


def continuous_bernoulli_mean(logits):
    """The continuous Bernoulli's mean 1 / (1 - exp(-l)) - 1 / l of logits l, TFP's arithmetic (its series
    near l = 0, -1 / l for large negative l) in the ops every runtime has: ONNX has no expm1, so exp(-l) - 1
    (within 2e-6 of TFP's float32 mean where the series does not apply, |l| > 0.27)."""
    import keras
    import numpy as np

    ops = keras.ops
    eps = float(np.finfo(np.float32).eps)
    small, large = (eps * 30240) ** 0.2, -np.log(eps)
    series = 0.5 + logits / 12.0 - logits * ops.square(logits) / 720.0
    safe = ops.logical_and(ops.abs(logits) > small, logits > -large)
    safe_logits = ops.where(safe, logits, ops.ones_like(logits))
    result = ops.where(safe, -(1.0 / (ops.exp(-safe_logits) - 1.0) + 1.0 / safe_logits), series)
    negative = logits <= -large
    return ops.where(negative, -1.0 / ops.where(negative, logits, ops.ones_like(logits)), result)


def describe(vae, run, format: str) -> dict:
    """The content of export.json: each artifact's file, inputs and outputs (name, shape, dtype, range)
    and where the artifacts came from."""
    names = artifact_names(format)
    height, width, channels = vae.image_shape
    latent = vae.latent_dim
    posterior = getattr(vae, "posterior_name", "diagonal")
    code = {"shape": [None, latent], "dtype": "float32"}
    image = {"shape": [None, height, width, channels], "dtype": "float32", "range": [0.0, 1.0]}
    from vae_tf.core import __version__

    return {
        "format": format,
        "vae_tf": __version__,
        "runtime": FORMATS[format]["runtime"],
        "encoder": {
            "file": names["encoder"],
            "inputs": {"images": {**image, "note": "pixel values / 255 (uint8 images scaled to [0, 1])"}},
            "outputs": {"z_mean": {**code, "range": None}, "z_log_var": {**code, "range": None,
                                                                         "note": "the natural log of the variance"}},
            "note": ("q(z|x) = N(z_mean, exp(z_log_var)), as VAE.encode" if posterior == "diagonal" else
                     f"the diagonal Gaussian head of the run's {posterior} posterior, as VAE.encode (not the "
                     "posterior itself)"),
        },
        "decoder": {
            "file": names["decoder"],
            "inputs": {"z": {**code, "range": None}},
            "outputs": {"image": image},
            "note": f"E[x|z], the mean of the run's {vae.likelihood_name} likelihood, as VAE.decode",
        },
        "run": {"path": str(Path(run.path).resolve()), "title": run.title,
                "dataset": run.settings.get("dataset", "fashion_mnist"),
                "architecture": getattr(vae, "architecture", "mlp"), "latent_dim": latent,
                "likelihood": vae.likelihood_name, "posterior": posterior,
                "prior": getattr(vae, "prior_name", "standard_normal")},
    }


def export_run(run, format: str, out, *, overwrite: bool = False, verbose: int = 0) -> dict:
    """Write a run's encoder and decoder in `format` and export.json into the directory `out`.

    Args:
      run: a `vae_tf.rundir.reading.Run`.
      format: one of `FORMATS`.
      out: the directory to write (created; its artifacts and export.json are never replaced
        without `overwrite`). Its lock is held while writing (`vae_tf.rundir.outputs`): a second writer is
        refused, and the artifacts and export.json appear together when all are written, or none does.
      overwrite: replace artifacts already there.
      verbose: 1 prints a line per artifact.

    Returns:
      The content of the export.json written.

    Raises:
      UsageError: the format's writer is not installed (`check_installed`).
      RunDirError: `out` holds the artifacts and `overwrite` is False.
      RunBusy: another process is writing into `out`.
    """
    from vae_tf.rundir import outputs, write_directory, write_json, write_with

    check_installed(format)
    names = artifact_names(format)
    with outputs(out, [*names.values(), EXPORT_FILE], overwrite) as written:  # one writer; every artifact or none
        vae = run.model()
        models = dict(zip(("encoder", "decoder"), export_models(vae)))
        for part, model in models.items():
            if verbose:
                print(f"vae_tf.export: writing the {part} as {format}: {written.final(written / names[part])}",
                      flush=True)
            keras_format = FORMATS[format]["keras"]

            def write(path, model=model, keras_format=keras_format):
                with warnings.catch_warnings():  # tf2onnx's own FutureWarning of NumPy 2, not the user's business
                    warnings.simplefilter("ignore", FutureWarning)
                    model.export(path, format=keras_format, verbose=False)

            if FORMATS[format]["suffix"]:
                write_with(written / names[part], write, suffix=FORMATS[format]["suffix"])
            else:
                write_directory(written / names[part], write)
        described = describe(vae, run, format)
        write_json(written / EXPORT_FILE, described)
    return described
