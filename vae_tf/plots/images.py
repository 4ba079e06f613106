"""Figures of images: the report's grid of images decoded over a grid of codes, reconstructions under
their inputs, and the mosaics both are drawn from.

    lo, hi, fill, where = grid_bounds(z)                   # vae_tf.plots.grids: where the grid goes
    fig = generated_grid(decode, lo, hi, 10, fill)        # the report's 10x10 grid
    fig = reconstructions(images, vae.decode(vae.encode(images)[0]))
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib.figure import Figure

from vae_tf.plots.common import latent_axis_labels, set_title, titled_figure, wrapped
from vae_tf.plots.grids import grid_codes


def image_batch(images, image_shape=None) -> np.ndarray:
    """Images as (K, H, W, C) floats in [0, 1] (uint8 scaled by 1/255).

    Args:
      images: (K, H, W, C), (K, H, W) greyscale, or flattened (K, P).
      image_shape: (H, W, C) of flattened images; None: square greyscale (P = side * side).
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images / 255.0
    if images.ndim == 4:
        return images
    if images.ndim == 3:
        return images[..., None]
    if image_shape is None:
        side = int(round(images.shape[1] ** 0.5))
        if side * side != images.shape[1]:
            raise ValueError(f"flattened images of {images.shape[1]} values: give image_shape (H, W, C).")
        image_shape = (side, side, 1)
    return images.reshape((len(images), *tuple(image_shape)))


def tile_images(images, rows: int, columns: int, image_shape=None) -> np.ndarray:
    """rows * columns images -> one mosaic, row by row: (rows*H, columns*W) greyscale or (rows*H, columns*W, C).

    Args:
      images: (rows*columns, H, W, C), (rows*columns, H, W), or flattened (see `image_batch`).
      rows, columns: the mosaic's layout.
      image_shape: (H, W, C) of flattened images (None: square greyscale).
    """
    images = image_batch(images, image_shape)
    _, height, width, channels = images.shape
    mosaic = images.reshape(rows, columns, height, width, channels).transpose(0, 2, 1, 3, 4)
    mosaic = mosaic.reshape(rows * height, columns * width, channels)
    return mosaic[..., 0] if channels == 1 else mosaic


def show_mosaic(ax, mosaic) -> None:
    """A mosaic of `tile_images`: greyscale with the report's colour map, colour images as they are."""
    if mosaic.ndim == 2:
        ax.imshow(mosaic, cmap="Greys_r", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(np.clip(mosaic, 0, 1), interpolation="nearest")


def generated_grid(
    decode: Callable[[np.ndarray], np.ndarray],
    lo,
    hi,
    n: int = 10,
    fill=None,
    title: str = "",
    latent_dim: int | None = None,
    image_shape=None,
) -> Figure:
    """The report's grid of decoded images over a regular grid of codes (see `grid_codes`).

    Args:
      decode: maps codes (M, D) float32 to images (M, H, W, C) in [0, 1] (e.g. `VAE.decode`);
        flattened (M, P) with `image_shape`.
      lo, hi: per-coordinate ends of the grid (length D), e.g. z.min(axis=0), z.max(axis=0).
      n: images per side.
      fill: values of coordinates 3..D (default 0).
      title: the variant and where the grid comes from.
      latent_dim: D, for the axis labels (default len(lo)).
      image_shape: (H, W, C) of flattened images (None: square greyscale).

    Returns:
      A Figure with one mosaic of n x n images (1 x n with one latent dimension), its axes
      ticked with the codes at the images' centres.
    """
    codes = grid_codes(lo, hi, n, fill)
    rows, columns, dims = codes.shape
    images = image_batch(decode(codes.reshape(-1, dims)), image_shape)
    height, width = images.shape[1:3]
    mosaic = tile_images(images, rows, columns)
    extra = 0.25 * wrapped(title, 6.5).count("\n")  # room for a title of several lines
    fig = Figure(figsize=(7, (7.4 * min(1.6, max(0.6, height / width)) if rows > 1 else 1.9) + extra),
                 layout="constrained")
    ax = fig.add_subplot()
    show_mosaic(ax, mosaic)
    centres = width * np.arange(columns) + (width - 1) / 2
    ax.set_xticks(centres, [f"{value:.3g}" for value in codes[0, :, 0]], rotation=90)
    xlabel, ylabel = latent_axis_labels(latent_dim or dims)
    ax.set_xlabel(xlabel)
    if rows > 1:
        ax.set_yticks(height * np.arange(rows) + (height - 1) / 2, [f"{value:.3g}" for value in codes[:, 0, 1]])
        ax.set_ylabel(ylabel)
    else:
        ax.set_yticks([])
    set_title(ax, title)
    return fig


def reconstructions(images, reconstructed, title: str = "", image_shape=None) -> Figure:
    """Images (top row) above their reconstructions (bottom row), greyscale or colour.

    Args:
      images: (K, H, W, C) or (K, H, W) pixel values in [0, 1] (uint8 is scaled by 1/255), or
        flattened (K, P) with `image_shape`.
      reconstructed: the same number of images, in [0, 1] (any of those layouts).
      title: what was reconstructed and how.
      image_shape: (H, W, C) of flattened images (None: square greyscale).

    Returns:
      A Figure with one 2 x K mosaic.
    """
    images = image_batch(images, image_shape)
    reconstructed = image_batch(reconstructed, images.shape[1:])
    if len(images) != len(reconstructed):
        raise ValueError(f"{len(images)} images but {len(reconstructed)} reconstructions.")
    count = len(images)
    height, width = images.shape[1:3]
    mosaic = tile_images(np.concatenate([images, reconstructed]), 2, count)
    figure_width = 0.8 * count * min(2.0, max(0.5, width / height)) + 0.9
    fig, ax = titled_figure(figure_width, 2.3, title)
    show_mosaic(ax, mosaic)
    ax.set_xticks([])
    ax.set_yticks([(height - 1) / 2, height + (height - 1) / 2], ["input", "output"])
    return fig
