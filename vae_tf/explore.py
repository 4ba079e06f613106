"""The latent plane, live in a browser: a static page that decodes the code under the cursor.

    python -m vae_tf.explore runs/kl-report --out runs/explore
    python -m vae_tf.explore runs/compare-report/kl runs/compare-report/none --out runs/explore-kl-none
    python -m vae_tf.explore runs/sweep --out runs/explore-sweep          # a sweep: a beta slider

Writes OUT/index.html and its assets (explorer.js, explorer.css, data.js): open index.html from
disk (file://); it needs no server and no network. For each RUNDIR it shows the codes (z_mean)
of the first --test-images test images, coloured by class, and the image its decoder makes of the
code under the cursor, computed in the page from the run's own decoder weights (a forward pass of
its own: JavaScript, with the convolutions in WebAssembly SIMD; tests/test_explore.py checks it
against Keras in headless Chromium). Several RUNDIRs share one cursor:
the same z decoded by each, on their own axes or on shared axes. A run trained with --snapshots
gets an epoch slider (the codes as they formed); a `python -m vae_tf.sweep` directory gets a beta
slider over its runs. The page's JavaScript API, `window.vaeExplorer`, is documented on it.

The decoder is exported by walking its Keras layers (Dense, Conv2D, Conv2DTranspose, Reshape,
Flatten, Cropping2D, ZeroPadding2D, Activation; channels-last); any other layer is refused with
one line that names it.
"""

from __future__ import annotations

import base64
import json
import sys
from importlib import resources
from pathlib import Path

import numpy as np

from vae_tf.core import cli
from vae_tf.core.cli import number

ASSETS = ("index.html", "explorer.js", "explorer.css")
DATA = "data.js"
OUTPUTS = (*ASSETS, DATA)
# About 200 test images per class: enough to see the classes' shapes, small enough for a light page
# (about 0.8 KB per greyscale 28x28 image, shared by the runs, plus 8 bytes per code and run).
DEFAULT_TEST_IMAGES = 2000
PAGE_FORMAT = 1
# The activations the page computes (by the names Keras serialises them under).
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softplus", "elu", "silu", "swish")
# Decoded images of the page must equal `vae.decode`; the export checks the decoder network alone
# gives what `vae.decode` gives (to this tolerance) before writing anything.
EXPORT_TOLERANCE = 1e-4


class ExportError(cli.UsageError):
    """A decoder the page cannot compute (a layer or setting it does not know)."""


def build_parser():
    parser = cli.parser(
        "python -m vae_tf.explore",
        "Write an interactive latent-space explorer for one or more runs: a static page (OUT/index.html) that "
        "works from disk with no server and no network. It shows each run's test codes coloured by class and "
        "decodes the code under the cursor live with the run's own decoder; several runs share one cursor; a "
        "run trained with --snapshots gets an epoch slider, a `vae_tf.sweep` directory a beta slider.",
    )
    parser.add_argument("rundirs", nargs="+", metavar="RUNDIR",
                        help="run directories written by `python -m vae_tf.train` (or compare), or sweep "
                             "directories written by `python -m vae_tf.sweep`, shown side by side in this order")
    parser.add_argument("--out", metavar="DIR", required=True, help="where to write index.html and its assets")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the page's files in OUT if they exist (otherwise they are never touched)")
    parser.add_argument("--test-images", type=number(int, at_least=1), default=DEFAULT_TEST_IMAGES, metavar="N",
                        help="show the codes of the first N test images (their images are stored in the page)")
    cli.add_data_dir(parser)
    return parser


# --- the decoder as the page computes it -------------------------------------------------------

def _b64(array, dtype) -> str:
    """An array as base64 of its little-endian bytes (the page reads it into a typed array)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()).decode()


def _activation(layer) -> str:
    import keras

    name = keras.activations.serialize(layer.activation)
    if isinstance(name, dict):
        name = name.get("config", {}).get("name", name.get("class_name"))
    if name not in ACTIVATIONS:
        raise ExportError(f"decoder layer {layer.name!r} uses the activation {name!r}, which the explorer does not "
                          f"compute (it knows {', '.join(ACTIVATIONS)}).")
    return "silu" if name == "swish" else name


def _shape(tensor) -> list[int]:
    return [int(size) for size in tensor.shape[1:]]


def _same_padding(small: int, big: int, stride: int, kernel: int) -> int:
    """Rows (or columns) padded before the first, as TensorFlow pads a convolution from `big` to `small`."""
    return max((small - 1) * stride + kernel - big, 0) // 2


def _conv(layer, transpose: bool) -> dict:
    config = layer.get_config()
    where = f"decoder layer {layer.name!r} ({type(layer).__name__})"
    if config.get("data_format", "channels_last") != "channels_last":
        raise ExportError(f"{where} is {config['data_format']}; the explorer computes channels_last convolutions.")
    if tuple(config.get("dilation_rate", (1, 1))) != (1, 1):
        raise ExportError(f"{where} has dilation_rate {config['dilation_rate']}; the explorer computes dilation 1.")
    if config.get("groups", 1) != 1:
        raise ExportError(f"{where} has groups {config['groups']}; the explorer computes groups 1.")
    if transpose and config.get("output_padding") is not None:
        raise ExportError(f"{where} has output_padding {config['output_padding']}; the explorer computes None.")
    shape_in, shape_out = _shape(layer.input), _shape(layer.output)
    kernel = np.asarray(layer.kernel.numpy())  # Conv2D (kh, kw, in, out); Conv2DTranspose (kh, kw, out, in)
    if transpose:
        kernel = kernel.transpose(0, 1, 3, 2)
    (kh, kw), (sh, sw) = kernel.shape[:2], tuple(config["strides"])
    small, big = (shape_in, shape_out) if transpose else (shape_out, shape_in)
    bias = np.asarray(layer.bias.numpy()) if config.get("use_bias", True) else np.zeros(kernel.shape[3], np.float32)
    return {"kind": "conv2d_transpose" if transpose else "conv2d", "in": shape_in, "out": shape_out,
            "kernel_size": [int(kh), int(kw)], "strides": [int(sh), int(sw)],
            "pad": [_same_padding(small[0], big[0], sh, kh), _same_padding(small[1], big[1], sw, kw)],
            "activation": _activation(layer), "kernel": _b64(kernel, "float32"), "bias": _b64(bias, "float32")}


def _layer_spec(layer) -> dict | None:
    """One Keras layer as the page computes it (None: nothing to compute, e.g. a Reshape)."""
    import keras

    kinds = keras.layers
    if isinstance(layer, kinds.InputLayer):
        return None
    if isinstance(layer, (kinds.Reshape, kinds.Flatten)):
        # Row-major, channels-last: the values keep their order; only the shape changes.
        return None
    if isinstance(layer, kinds.Dense):
        if len(layer.input.shape) != 2:
            raise ExportError(f"decoder layer {layer.name!r} (Dense) is applied to a {len(layer.input.shape) - 1}-d "
                              "input; the explorer computes Dense layers on vectors (add a Flatten before it).")
        kernel = np.asarray(layer.kernel.numpy())
        bias = np.asarray(layer.bias.numpy()) if layer.use_bias else np.zeros(kernel.shape[1], np.float32)
        return {"kind": "dense", "in": _shape(layer.input), "out": _shape(layer.output),
                "activation": _activation(layer), "kernel": _b64(kernel, "float32"), "bias": _b64(bias, "float32")}
    if isinstance(layer, kinds.Conv2DTranspose):
        return _conv(layer, transpose=True)
    if isinstance(layer, kinds.Conv2D):
        return _conv(layer, transpose=False)
    if isinstance(layer, (kinds.Cropping2D, kinds.ZeroPadding2D)):
        config = layer.get_config()
        if config.get("data_format", "channels_last") != "channels_last":
            raise ExportError(f"decoder layer {layer.name!r} is {config['data_format']}; the explorer computes "
                              "channels_last.")
        (top, bottom), (left, right) = config["cropping" if isinstance(layer, kinds.Cropping2D) else "padding"]
        return {"kind": "crop" if isinstance(layer, kinds.Cropping2D) else "pad",
                "in": _shape(layer.input), "out": _shape(layer.output),
                "top": int(top), "bottom": int(bottom), "left": int(left), "right": int(right)}
    if isinstance(layer, kinds.Activation):
        return {"kind": "activation", "in": _shape(layer.input), "out": _shape(layer.output),
                "activation": _activation(layer)}
    raise ExportError(f"decoder layer {layer.name!r} is a {type(layer).__name__}, which the explorer cannot compute; "
                      "it knows Dense, Conv2D, Conv2DTranspose, Reshape, Flatten, Cropping2D, ZeroPadding2D and "
                      "Activation.")


def _chain(model) -> list:
    """The layers of `model`, a chain (each layer takes the one before's output), nested models unrolled."""
    import keras

    layers, previous = [], model.inputs[0] if getattr(model, "inputs", None) else None
    if len(getattr(model, "inputs", None) or []) != 1 or len(getattr(model, "outputs", None) or []) != 1:
        raise ExportError(f"the decoder {model.name!r} must have one input and one output to be explored.")
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if layer.input is not previous:
            raise ExportError(f"decoder layer {layer.name!r} does not take the previous layer's output; the explorer "
                              "computes decoders that are one chain of layers.")
        layers.extend(_chain(layer) if isinstance(layer, keras.Model) else [layer])
        previous = layer.output
    if previous is not model.outputs[0]:
        raise ExportError(f"the decoder {model.name!r} does not end with its last layer; the explorer computes "
                          "decoders that are one chain of layers.")
    return layers


def export_decoder(decoder) -> dict:
    """A Keras decoder as the page computes it: its layers with their weights, as JSON-ready values.

    Args:
      decoder: a functional or Sequential `keras.Model` mapping codes (B, D) to images, one chain of
        Dense, Conv2D, Conv2DTranspose, Reshape, Flatten, Cropping2D, ZeroPadding2D and Activation
        layers (channels-last), e.g. `vae.decoder`.

    Returns:
      {"latent_dim": D, "output_size": P, "layers": [...]}: each layer a dict with its `kind`,
      its input and output shapes (`in`, `out`, without the batch), its `activation` and its
      weights as base64 little-endian float32 (`kernel`: Dense (in, out), convolutions
      (kh, kw, in, out); `bias`), with `pad` (rows, columns padded before) for convolutions.

    Raises:
      ExportError: a layer, activation or setting the page does not compute (one line naming it).
    """
    specs = [spec for spec in map(_layer_spec, _chain(decoder)) if spec is not None]
    shape_in = _shape(decoder.inputs[0])
    if len(shape_in) != 1:
        raise ExportError(f"the decoder {decoder.name!r} takes inputs of shape {shape_in}; the explorer needs codes "
                          "(B, D).")
    return {"latent_dim": shape_in[0], "output_size": int(np.prod(_shape(decoder.outputs[0]))), "layers": specs}


def continuous_bernoulli_mean(logits):
    """The mean of the continuous Bernoulli with these logits, E[x] in [0, 1] (the page's formula).

    mean = 1 / (1 - exp(-l)) - 1 / l, with its removable singularity at l = 0 replaced by the series
    0.5 + l / 12 - l^3 / 720 for |l| < 1e-3 (as TensorFlow Probability's `ContinuousBernoulli.mean`).

    Args:
      logits: an array of logits l, any shape.

    Returns:
      The means, float64, the shape of `logits`.
    """
    logits = np.asarray(logits, np.float64)
    small = np.abs(logits) < 1e-3
    safe = np.where(small, 1.0, logits)
    with np.errstate(over="ignore"):
        mean = np.where(safe < -40, -1 / safe, 1 / (1 - np.exp(-safe)) - 1 / safe)
    return np.where(small, 0.5 + logits / 12 - logits ** 3 / 720, mean)


def export_vae(vae, check_codes: int = 5) -> dict:
    """`export_decoder(vae.decoder)`, checked: the page's images must be what `vae.decode` gives.

    `vae.decode` is the likelihood's mean: the decoder's sigmoid output for the Bernoulli
    likelihoods; for the continuous Bernoulli (`likelihood="continuous_bernoulli"`) the page
    replaces the decoder's last sigmoid by that distribution's mean of the logits
    (`continuous_bernoulli_mean`).

    Args:
      vae: a `vae_tf.VAE`.
      check_codes: how many random codes the check decodes both ways.

    Returns:
      The decoder's export (see `export_decoder`), with `image_shape` [H, W, C].

    Raises:
      ExportError: the decoder cannot be exported, its output size is not H*W*C, or `vae.decode`
        is not what the page computes.
    """
    image_shape = [int(size) for size in getattr(vae, "image_shape", (28, 28, 1))]
    spec = export_decoder(vae.decoder)
    if spec["output_size"] != int(np.prod(image_shape)):
        raise ExportError(f"the decoder gives {spec['output_size']} values per code, but the images are "
                          f"{'x'.join(map(str, image_shape))}.")
    z = np.random.default_rng(0).normal(0, 2, (check_codes, spec["latent_dim"])).astype(np.float32)
    decoded = np.asarray(vae.decode(z)).reshape(check_codes, -1)
    likelihood = getattr(vae, "likelihood_name", "bernoulli")
    if likelihood == "continuous_bernoulli":
        last = spec["layers"][-1] if spec["layers"] else {}
        if last.get("activation") != "sigmoid":
            raise ExportError("this continuous-Bernoulli model's decoder does not end with a sigmoid; the explorer "
                              "computes the mean from the logits before it.")
        last["activation"] = "continuous_bernoulli_mean"
        page = continuous_bernoulli_mean(np.asarray(vae.decode(z, logits=True)).reshape(check_codes, -1))
    else:
        page = np.asarray(vae.decoder(z, training=False)).reshape(check_codes, -1)
    if not np.allclose(page, decoded, atol=EXPORT_TOLERANCE):
        raise ExportError(f"this model's vae.decode (likelihood {likelihood!r}) is not what the explorer computes "
                          "from its decoder network.")
    return {**spec, "image_shape": image_shape, "likelihood": likelihood}


# --- the runs ---------------------------------------------------------------------------------

def load_test_images(run, limit: int, data_dir=None) -> dict:
    """The first `limit` test images of the data `run` was trained on (`vae_tf.data.sources.load_run_data`).

    Returns:
      {"key": what identifies the data (runs with the same key share the images), "x": uint8
      (N, H*W*C) (what the page shows), "images": the images as loaded (N, H, W, C) (what the model
      encodes), "y": int (N,) or None, "class_names": list or None, "image_shape": [H, W, C]}.
    """
    from vae_tf.data.sources import load_run_data

    data = load_run_data(run, data_dir=data_dir, test_limit=limit)
    images, y = data.split("test")
    x = np.asarray(images).reshape(len(images), -1)
    if x.dtype != np.uint8:  # float32 images in [0, 1]: the page stores bytes
        x = np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)
    spec = data.spec
    return {"key": f"{spec.source} {spec.fingerprint}", "x": x, "images": images,
            "y": None if y is None else np.asarray(y),
            "class_names": None if spec.class_names is None else list(spec.class_names),
            "image_shape": [int(size) for size in spec.image_shape]}


def member(run, x) -> dict:
    """One trained run as the page shows it (see `member_of`), with the codes of its test images x.

    Args:
      run: a `vae_tf.rundir.rundir.Run`.
      x: its test images, as `vae.encode` takes them (N, H, W, C).

    Returns:
      `member_of`'s dict: the run's title, path, beta, decoder (`export_vae`), codes z_mean (N, D)
      and its snapshots (of the first n <= N test images) or None.
    """
    vae = run.model()
    snapshots = run.snapshots()
    if snapshots is not None:
        count = min(len(snapshots["y"]), len(x))  # the snapshots hold the first 2,000 test images
        snapshots = {"epoch": snapshots["epoch"], "z_mean": np.asarray(snapshots["z_mean"])[:, :count]}
    return member_of(export_vae(vae), vae.encode(x)[0], title=run.title, path=str(run.path),
                     beta=float(run.settings.get("beta", 1.0)), snapshots=snapshots)


def member_of(decoder: dict, z_mean, title: str, path: str = "", beta: float = 1.0, snapshots=None) -> dict:
    """A decoder and its codes as the page's data holds them (one run of a panel).

    Args:
      decoder: `export_vae` (or `export_decoder` with an `image_shape`).
      z_mean: the codes of the panel's test images, (N, D).
      title, path, beta: how the page names the run.
      snapshots: None, or {"epoch": (E,), "z_mean": (E, n, D)} of the first n <= N test images.

    Returns:
      {"title", "path", "beta", "latent_dim", "decoder", "codes" (base64 float32 (N, D)), "count" N,
      "snapshots": None or {"epochs", "count" n, "z_mean" (base64 float32 (E, n, D))}}.
    """
    z_mean = np.asarray(z_mean, np.float32)
    if z_mean.ndim != 2 or z_mean.shape[1] != decoder["latent_dim"]:
        raise ValueError(f"z_mean must be (N, {decoder['latent_dim']}); got {z_mean.shape}.")
    shown = None
    if snapshots is not None:
        frames = np.asarray(snapshots["z_mean"], np.float32)
        shown = {"epochs": [int(epoch) for epoch in snapshots["epoch"]], "count": int(frames.shape[1]),
                 "z_mean": _b64(frames, "float32")}
    return {"title": title, "path": path, "beta": float(beta), "latent_dim": decoder["latent_dim"],
            "decoder": decoder, "codes": _b64(z_mean, "float32"), "count": len(z_mean), "snapshots": shown}


def dataset_of(x, y=None, class_names=None, image_shape=(28, 28, 1)) -> dict:
    """Test images as the page's data holds them (shown when a point is clicked).

    Args:
      x: uint8 images (N, H*W*C) or (N, H, W[, C]).
      y: their labels (N,) (colours the codes by class), or None (coloured by density).
      class_names: the labels' names, or None.
      image_shape: [H, W, C].

    Returns:
      {"image_shape", "class_names", "count" N, "images" (base64 uint8 (N, H*W*C)), "labels"
      (base64 uint8 (N,) or None)}.
    """
    x = np.asarray(x, np.uint8)
    return {"image_shape": [int(size) for size in image_shape], "class_names": class_names, "count": len(x),
            "images": _b64(x.reshape(len(x), -1), "uint8"), "labels": None if y is None else _b64(y, "uint8")}


def open_panel(path):
    """What one RUNDIR argument shows: ("run", [Run]) or, for a sweep directory, ("sweep", [Run by beta]).

    Raises:
      RunDirError, UsageError: not a finished run nor a sweep directory.
    """
    from vae_tf.rundir import Run

    path = Path(path)
    if (path / "rd.json").is_file() and not (path / "config.json").is_file():
        from vae_tf.sweep import read_report

        report = read_report(path)
        runs = []
        for point in report["points"]:
            if point["kind"] == "sweep":
                inside = path / Path(point["run"]).name
                runs.append(Run.open(inside if inside.is_dir() else point["run"]))
        if not runs:
            raise cli.UsageError(f"{path} is a sweep directory without runs of its own (rd.json lists none).")
        return "sweep", sorted(runs, key=lambda run: float(run.settings["beta"]))
    return "run", [Run.open(path)]


def page_data(paths, limit: int = DEFAULT_TEST_IMAGES, data_dir=None, progress=print) -> dict:
    """Everything the page shows, as JSON-ready values (what data.js holds).

    Args:
      paths: the RUNDIR arguments (run or sweep directories), in the order shown.
      limit: test images per run.
      data_dir: where the test images are (None: where each run found its data).

    Returns:
      {"format", "datasets": [`dataset_of`...], "panels": [{"kind", "title", "path", "dataset",
      "initial", "members": [`member`...]}]}.
    """
    opened = [(path, *open_panel(path)) for path in paths]  # every path checked before the slow part
    datasets, images_of, panels = [], {}, []
    for path, kind, runs in opened:
        members, dataset = [], None
        for run in runs:
            images = load_test_images(run, limit, data_dir)
            if images["key"] not in images_of:
                images_of[images["key"]] = (len(datasets), images["images"])
                datasets.append(dataset_of(images["x"], images["y"], images["class_names"], images["image_shape"]))
            index, x = images_of[images["key"]]
            if dataset is not None and index != dataset:
                raise cli.UsageError(f"the runs of the sweep {path} were trained on different data; explore them "
                                     "one by one.")
            dataset = index
            progress(f"explore: exporting {run.path} ({run.title})")
            members.append(member(run, x))
        title = runs[0].title if kind == "run" else f"sweep {Path(path).name}"
        panels.append({"kind": kind, "title": title, "path": str(path), "dataset": dataset, "members": members,
                       "initial": 0 if kind == "run" else _nearest_beta(members, 1.0)})
    return {"format": PAGE_FORMAT, "datasets": datasets, "panels": panels}


def _nearest_beta(members, beta: float) -> int:
    return int(np.argmin([abs(np.log1p(entry["beta"]) - np.log1p(beta)) for entry in members]))


def write_page(out, data: dict, overwrite: bool = False) -> Path:
    """OUT/index.html, explorer.js, explorer.css (the package's page) and data.js (`data`).

    Returns:
      The path of index.html.

    Raises:
      RunDirError: OUT holds one of those files and `overwrite` is False.
    """
    from vae_tf import rundir

    out = rundir.claim(out, OUTPUTS, overwrite)
    page = resources.files("vae_tf.plots") / "explorer"
    for name in ASSETS:
        rundir.write_text(out / name, (page / name).read_text(encoding="utf-8"))
    rundir.write_text(out / DATA, "window.VAE_EXPLORER_DATA = " + json.dumps(data, separators=(",", ":")) + ";\n")
    return out / "index.html"


def work(args) -> int:
    from vae_tf import rundir

    for path in args.rundirs:  # refuse a wrong RUNDIR before making OUT
        open_panel(path)
    rundir.claim(args.out, OUTPUTS, args.overwrite)  # refuse before the slow part
    data = page_data(args.rundirs, args.test_images, args.data_dir)
    index = write_page(args.out, data, args.overwrite)
    size = sum((Path(args.out) / name).stat().st_size for name in OUTPUTS)
    codes = ", ".join(f"{entry['count']:,}" for panel in data["panels"] for entry in panel["members"][:1])
    print(f"wrote {index} ({size / 2**20:.1f} MiB with its assets; test codes per run: {codes}); open it in a "
          f"browser: file://{index.resolve()}")
    return 0


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work)


if __name__ == "__main__":
    sys.exit(main())
