"""The encoder and decoder networks: a small registry of builders.

Inside the model images travel flattened, float32 (B, P) with P = H * W * C, so every
architecture's encoder takes (B, P) and its decoder returns (B, P):

- `"mlp"` (the report's, the default):
      encoder: P -> Dense(hidden_units, relu) -> Dense(D) z_mean, Dense(D) z_log_var
      decoder: D -> Dense(hidden_units, relu) -> Dense(P) logits -> sigmoid
- `"conv"` (the shape of Keras' own VAE example, keras-io examples/generative/vae.py):
      encoder: (H, W, C) -> Conv2D(filters, 3, stride 2, relu, same) -> Conv2D(2 filters, 3,
               stride 2, relu, same) -> Flatten -> Dense(hidden_units, relu) -> z_mean, z_log_var
      decoder: D -> Dense(h * w * 2 filters, relu) -> Reshape (h, w, 2 filters)
               -> Conv2DTranspose(2 filters, 3, stride 2, relu, same)
               -> Conv2DTranspose(filters, 3, stride 2, relu, same)
               -> Conv2DTranspose(C, 3, same) logits -> crop to (H, W, C) -> flatten -> sigmoid
  with h = ceil(H / 4), w = ceil(W / 4). Any size works: the stride-2 convolutions with "same"
  padding round up (28 -> 14 -> 7; 30 -> 15 -> 8), the decoder builds (4h, 4w) and crops the
  extra rows at the bottom and columns at the right (32 -> 30). Keras' example has
  hidden_units = 16 and filters = 32; here `--hidden-units` (default 100) and `--filters`
  (default 32) set them.
- `"linear"` (for the Gaussian likelihood's link to probabilistic PCA, docs/linear-vae.md):
      encoder: P -> Dense(D) z_mean; z_log_var a learned constant (D,), the same for every image
      decoder: D -> Dense(P) logits (-> sigmoid for `decoder(z)`; the Gaussian's mean is the logits)
  The posterior's variance is a learned constant, not an affine map of the image, because that is
  what the exact posterior of the linear Gaussian model has: p(z|x) = N(M^-1 W^T (x - b), sigma^2 M^-1),
  M = W^T W + sigma^2 I, whose covariance does not depend on x (Lucas et al. 2019); an affine
  z_log_var could only add noise to its gradient. `--hidden-units` and `--filters` are not used.

Every decoder is a chain of layers whose layer named `decoder_logits` outputs the logits
(B, P), followed by the sigmoid `pixel_probabilities`: `decoder_logits` (below) runs the chain up
to the logits. To add an architecture: write its two builders here, register them in
`ARCHITECTURES` and `XLA` (whether XLA compiles it faster than TensorFlow's own kernels: time
both), add it to `NAMES` and to the tests (tests/test_architectures.py).
"""

from __future__ import annotations

import math

# Keras is imported inside the builders: `vae_tf.config.settings` reads `NAMES` without importing TensorFlow.
# The flags' choices.
NAMES = ("mlp", "conv", "linear")
LOGITS_LAYER = "decoder_logits"


def pixels(image_shape) -> int:
    """P = H * W * C, the length of a flattened image."""
    return int(math.prod(image_shape))


def encoder_heads(images, features, latent_dim: int, hidden_units: int):
    """Every encoder's end: `encoder_hidden` = Dense(hidden_units, relu) on `features` (B, F), then the
    heads `z_mean` and `z_log_var`, Dense(D) each: the functional `keras.Model` "encoder" from `images` (B, P)
    to `[z_mean, z_log_var]`, (B, D) each. The layers are created in that order (the weights' order)."""
    import keras

    hidden = keras.layers.Dense(hidden_units, activation="relu", name="encoder_hidden")(features)
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(hidden)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(hidden)
    return keras.Model(images, [z_mean, z_log_var], name="encoder")


def decoder_head(z, logits):
    """Every decoder's end: the sigmoid `pixel_probabilities` on the logits (B, P) of the layer
    `decoder_logits`: the functional `keras.Model` "decoder" from codes `z` (B, D) to pixel probabilities (B, P)."""
    import keras

    images = keras.layers.Activation("sigmoid", name="pixel_probabilities")(logits)
    return keras.Model(z, images, name="decoder")


def mlp_encoder(image_shape, latent_dim: int = 2, hidden_units: int = 100, **unused):
    """The report's encoder q(z|x).

    Args:
      image_shape: (H, W, C) of the images.
      latent_dim: D, the size of z.
      hidden_units: width of the hidden layer.

    Returns:
      A functional `keras.Model` mapping flattened images (B, P) with values in [0, 1] to
      `[z_mean, z_log_var]`, each (B, D).
    """
    import keras

    images = keras.Input(shape=(pixels(image_shape),), name="images")
    return encoder_heads(images, images, latent_dim, hidden_units)


def mlp_decoder(image_shape, latent_dim: int = 2, hidden_units: int = 100, **unused):
    """The report's decoder p(x|z), `mlp_encoder`'s mirror (the same arguments): a functional
    `keras.Model` mapping codes (B, D) through `decoder_hidden` and `decoder_logits` to pixel
    probabilities (B, P) (`decoder_head`)."""
    import keras

    z = keras.Input(shape=(latent_dim,), name="z")
    hidden = keras.layers.Dense(hidden_units, activation="relu", name="decoder_hidden")(z)
    return decoder_head(z, keras.layers.Dense(pixels(image_shape), name=LOGITS_LAYER)(hidden))


def conv_encoder(image_shape, latent_dim: int = 2, hidden_units: int = 100, filters: int = 32,
                 **unused):
    """A convolutional encoder q(z|x), the shape of Keras' VAE example.

    Args:
      image_shape: (H, W, C) of the images, any size.
      latent_dim: D, the size of z.
      hidden_units: width of the Dense layer before the heads (Keras' example: 16).
      filters: the first Conv2D's filters; the second has twice as many (Keras': 32 and 64).

    Returns:
      A functional `keras.Model` mapping flattened images (B, P) with values in [0, 1] to
      `[z_mean, z_log_var]`, each (B, D).
    """
    import keras

    images = keras.Input(shape=(pixels(image_shape),), name="images")
    h = keras.layers.Reshape(tuple(image_shape), name="encoder_image")(images)
    h = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu", name="encoder_conv1")(h)
    h = keras.layers.Conv2D(2 * filters, 3, strides=2, padding="same", activation="relu", name="encoder_conv2")(h)
    h = keras.layers.Flatten(name="encoder_flatten")(h)
    return encoder_heads(images, h, latent_dim, hidden_units)


def conv_decoder(image_shape, latent_dim: int = 2, filters: int = 32, **unused):
    """A convolutional decoder p(x|z) mirroring `conv_encoder`, the shape of Keras' VAE example.

    Args:
      image_shape: (H, W, C) of the images, any size (see the module docstring for the crop).
      latent_dim: D, the size of z.
      filters: the last hidden Conv2DTranspose's filters; the first has twice as many.

    Returns:
      A functional `keras.Model` mapping codes (B, D) to pixel probabilities (B, P).
    """
    import keras

    height, width, channels = image_shape
    small = (math.ceil(height / 4), math.ceil(width / 4))
    z = keras.Input(shape=(latent_dim,), name="z")
    h = keras.layers.Dense(small[0] * small[1] * 2 * filters, activation="relu", name="decoder_hidden")(z)
    h = keras.layers.Reshape((*small, 2 * filters), name="decoder_reshape")(h)
    h = keras.layers.Conv2DTranspose(2 * filters, 3, strides=2, padding="same", activation="relu",
                                     name="decoder_deconv1")(h)
    h = keras.layers.Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu",
                                     name="decoder_deconv2")(h)
    h = keras.layers.Conv2DTranspose(channels, 3, padding="same", name="decoder_image_logits")(h)
    extra = (4 * small[0] - height, 4 * small[1] - width)
    if any(extra):
        h = keras.layers.Cropping2D(((0, extra[0]), (0, extra[1])), name="decoder_crop")(h)
    return decoder_head(z, keras.layers.Flatten(name=LOGITS_LAYER)(h))


def linear_encoder(image_shape, latent_dim: int = 2, **unused):
    """The linear encoder: z_mean = A x + c, z_log_var a learned constant (see the module docstring).

    Returns:
      A functional `keras.Model` mapping flattened images (B, P) to `[z_mean, z_log_var]`, each (B, D).
    """
    import keras

    images = keras.Input(shape=(pixels(image_shape),), name="images")
    # A start near 0: a dimension that should collapse starts collapsed (Var z_mean far below the active-unit
    # threshold) instead of decaying there slowly; the others grow away from 0 along the data's top directions.
    z_mean = keras.layers.Dense(latent_dim, kernel_initializer=keras.initializers.RandomNormal(stddev=1e-3),
                                name="z_mean")(images)
    from vae_tf.models.linear import ConstantLogVariance

    z_log_var = ConstantLogVariance(latent_dim, name="z_log_var")(images)
    return keras.Model(images, [z_mean, z_log_var], name="encoder")


def linear_decoder(image_shape, latent_dim: int = 2, **unused):
    """The linear decoder: logits = W z + b, one Dense(P) `decoder_logits`, then the sigmoid (`decoder_head`)."""
    import keras

    z = keras.Input(shape=(latent_dim,), name="z")
    # W starts at 0: its random start would be noise far larger than the data's spread in most directions,
    # which the training must first undo; from 0 the encoder's random start gives W its first directions.
    return decoder_head(z, keras.layers.Dense(pixels(image_shape), kernel_initializer="zeros", name=LOGITS_LAYER)(z))


ARCHITECTURES = {"mlp": (mlp_encoder, mlp_decoder), "conv": (conv_encoder, conv_decoder),
                 "linear": (linear_encoder, linear_decoder)}
assert tuple(ARCHITECTURES) == NAMES

# Whether the fast path and the evaluation compile an architecture with XLA. XLA's CPU
# convolutions (TensorFlow 2.21) are far slower than TensorFlow's own (oneDNN) kernels: on this
# project's 2-core machine, an epoch of 3,072 images of the conv model took 80.1 s with XLA and
# 0.93 s without, and -IWAE_5000 of 20 test images 31.3 s against 10.5 s (docs/models.md). The
# MLP is faster with XLA (docs/speed.md), and its runs stay the report's, bit for bit.
XLA = {"mlp": True, "conv": False, "linear": True}
assert tuple(XLA) == NAMES


def build(name: str, image_shape, latent_dim: int, **widths) -> tuple:
    """The encoder and the decoder of architecture `name`.

    Args:
      name: one of `NAMES`.
      image_shape: (H, W, C).
      latent_dim: D.
      **widths: `hidden_units`, `filters` (each builder takes the ones it uses).

    Returns:
      (encoder, decoder): encoder (B, P) -> [z_mean, z_log_var] (B, D) each; decoder (B, D) ->
      pixel probabilities (B, P).

    Raises:
      ValueError: an unknown name.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"architecture={name!r} is not one of {', '.join(map(repr, NAMES))}.")
    encoder, decoder = ARCHITECTURES[name]
    return encoder(tuple(image_shape), latent_dim, **widths), decoder(tuple(image_shape), latent_dim, **widths)


def decoder_logits(decoder, z):
    """The decoder's logits (B, P) for codes z (B, D): its chain of layers up to `decoder_logits`."""
    import keras

    h = z
    for layer in decoder.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        h = layer(h)
        if layer.name == LOGITS_LAYER:
            return h
    raise ValueError(f"decoder {decoder.name!r} has no layer named {LOGITS_LAYER!r}.")


def count_parameters(model) -> int:
    """Number of weights of a built model (trainable and not)."""
    return int(sum(math.prod(weight.shape) for weight in model.weights))


def layer_flops(layer) -> int:
    """Multiply-add FLOPs (2 per multiply-add) of one image through `layer`'s forward pass.

    Dense: 2 * fan_in * fan_out; Conv2D: 2 * H_out * W_out * k * k * C_in * C_out;
    Conv2DTranspose: 2 * H_in * W_in * k * k * C_in * C_out (every input pixel is spread over
    a k x k patch of every output channel). Layers without a kernel count 0.
    """
    import keras

    if not hasattr(layer, "kernel"):
        return 0
    kernel = tuple(layer.kernel.shape)
    if isinstance(layer, keras.layers.Dense):
        return 2 * kernel[0] * kernel[1]
    if isinstance(layer, keras.layers.Conv2DTranspose):
        _, height, width, _ = layer.input.shape
        return 2 * height * width * math.prod(kernel)
    if isinstance(layer, keras.layers.Conv2D):
        _, height, width, _ = layer.output.shape
        return 2 * height * width * math.prod(kernel)
    raise ValueError(f"no FLOP count for layer {layer.name!r} ({type(layer).__name__}).")


def train_flops_per_image(encoder, decoder) -> int:
    """Multiply-add FLOPs of one image's forward and backward pass through encoder and decoder.

    Every layer costs its forward FLOPs (`layer_flops`), as much again for its weight gradient,
    and as much again for its input gradient, except the encoder's first layer with weights,
    whose input needs none. Elementwise work (activations, the loss, Adam) is not counted.
    For the report's MLP: `vae_tf.benchmarks.floors.train_flops_per_image()`.

    Args:
      encoder, decoder: the models of `build`.

    Returns:
      FLOPs per training image.
    """
    forward = [layer_flops(layer) for model in (encoder, decoder) for layer in model.layers]
    first = next(flops for flops in forward if flops)
    return 3 * sum(forward) - first
