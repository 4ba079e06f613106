"""A trained decoder as the explorer's page computes it (`python -m vae_tf.explore`): `export_vae`
gives its layers, their weights as base64 and their settings, checked against `vae.decode` before
anything is written; `export_decoder` gives the decoder network alone.

The decoder is exported by walking its Keras layers (Dense, Conv2D, Conv2DTranspose, Reshape,
Flatten, Cropping2D, ZeroPadding2D, Activation; channels-last); any other layer is refused with
one line that names it (`ExportError`). Keras is imported only when a decoder is exported.
"""

from __future__ import annotations

import base64

import numpy as np

from vae_tf.core.errors import UsageError

# The activations the page computes (by the names Keras serialises them under).
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softplus", "elu", "silu", "swish")
# Decoded images of the page must equal `vae.decode`; the export checks the decoder network alone
# gives what `vae.decode` gives (to this tolerance) before writing anything.
EXPORT_TOLERANCE = 1e-4


class ExportError(UsageError):
    """A decoder the page cannot compute (a layer or setting it does not know)."""


def b64(array, dtype) -> str:
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
            "activation": _activation(layer), "kernel": b64(kernel, "float32"), "bias": b64(bias, "float32")}


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
                "activation": _activation(layer), "kernel": b64(kernel, "float32"), "bias": b64(bias, "float32")}
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
