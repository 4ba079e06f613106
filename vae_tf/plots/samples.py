"""Figures and files of a trained model's images: a grid of generated images, an interpolation strip,
a latent traversal, and single images as PNG or an animation as GIF bytes.

    fig = image_grid(images, title="64 draws from the prior")         # images (N, H, W, C) in [0, 1]
    fig = interpolation_strip(path_images, ends=(image_a, image_b))   # decoded path between two inputs
    fig = traversal_grid(images, values, labels, inactive)            # one row per latent dimension
    data = png_bytes(images[0]); data = gif_bytes(path_images)         # for `vae_tf.rundir.write_bytes`

Nothing here writes files or imports TensorFlow.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure

from vae_tf.plots.common import titled_figure, wrapped
from vae_tf.plots.images import image_batch, show_mosaic, tile_images


def to_uint8(images) -> np.ndarray:
    """Images in [0, 1] (or uint8) as uint8 0..255, rounded: (..., H, W, C)."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)


def png_bytes(image) -> bytes:
    """One image (H, W, C), C = 1 or 3, in [0, 1] or uint8, as a PNG of its own size and colour (no metadata)."""
    from PIL import Image

    pixels = to_uint8(image)
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def gif_bytes(frames, fps: float = 8.0, scale: int = 4, bounce: bool = True) -> bytes:
    """Images (K, H, W, C) in [0, 1] as the frames of a looping GIF, each pixel `scale` x `scale`.

    With `bounce` the animation runs forward then back, so that it loops without a jump.
    """
    from PIL import Image

    pixels = to_uint8(frames).repeat(scale, axis=1).repeat(scale, axis=2)
    if bounce and len(pixels) > 2:
        pixels = np.concatenate([pixels, pixels[-2:0:-1]])
    images = [Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame) for frame in pixels]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return buffer.getvalue()


def image_grid(images, columns: int | None = None, title: str = "") -> Figure:
    """Images (N, H, W, C) in [0, 1] in a grid of `columns` (default: about square), row by row.

    Empty cells at the end are left white.
    """
    images = image_batch(images)
    count, height, width, channels = images.shape
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    blank = np.ones((rows * columns - count, height, width, channels), dtype=images.dtype)
    mosaic = tile_images(np.concatenate([images, blank]), rows, columns)
    fig, ax = titled_figure(min(10.0, 0.7 * columns * width / height + 0.4), min(10.0, 0.7 * rows) + 0.5, title)
    show_mosaic(ax, mosaic)
    ax.set_axis_off()
    return fig


def interpolation_strip(images, ends=None, title: str = "", labels=None) -> Figure:
    """A path's decoded images (K, H, W, C) in one row, between its two inputs `ends` (a pair of images) if given.

    Args:
      images: the decoded codes of the path, in order.
      ends: (start image, end image) shown at the row's ends, beside a gap; None: the path alone.
      title: what the path is.
      labels: (start label, end label) under the ends (e.g. "test 0", "cat.png").
    """
    images = image_batch(images)
    count, height, width, channels = images.shape
    row = [images]
    if ends is not None:
        first, last = (image_batch(np.asarray(end)[None], images.shape[1:]) for end in ends)
        gap = np.ones((1, height, max(2, width // 4), channels))
        row = [first, gap, images, gap, last]
    strip = np.concatenate([np.concatenate(list(part), axis=1) for part in row], axis=1)
    figure_width = min(14.0, 0.9 * strip.shape[1] / height + 0.4)
    lines = 0
    if ends is not None and labels is not None:
        # Each end's label (a file name can be long) wrapped to its image's width, so that it stays on the canvas.
        image_inches = (figure_width - 0.4) * width / strip.shape[1]
        labels = [wrapped(label, max(0.8, image_inches), "medium") for label in labels]
        lines = max(label.count("\n") for label in labels)
    fig, ax = titled_figure(figure_width, 1.9 + 0.2 * lines, title)
    show_mosaic(ax, strip[..., 0] if channels == 1 else strip)
    ax.set_yticks([])
    if ends is not None and labels is not None:
        ax.set_xticks([(width - 1) / 2, strip.shape[1] - (width + 1) / 2], list(labels))
    else:
        ax.set_xticks([])
    return fig


def traversal_grid(images, values, labels, inactive=None, title: str = "") -> Figure:
    """A latent traversal: row r shows the images (S, H, W, C) decoded as one dimension takes `values` (S,).

    Args:
      images: (R, S, H, W, C) in [0, 1], one row per latent dimension.
      values: (S,) the dimension's values, ticked under the columns.
      labels: R row labels (e.g. "z[3]  KL 1.20").
      inactive: R booleans; an inactive row's label is grey and says so.
      title: the run and what the other dimensions are held at.
    """
    images = np.asarray(images)
    rows, steps = images.shape[:2]
    height, width = images.shape[2:4]
    mosaic = tile_images(images.reshape(rows * steps, *images.shape[2:]), rows, steps)
    fig, ax = titled_figure(min(12.0, 0.75 * steps * width / height + 1.6), 0.75 * rows + 1.1, title)
    show_mosaic(ax, mosaic)
    ax.set_xticks(width * np.arange(steps) + (width - 1) / 2, [f"{value:.3g}" for value in values])
    inactive = np.zeros(rows, dtype=bool) if inactive is None else np.asarray(inactive, dtype=bool)
    ax.set_yticks(height * np.arange(rows) + (height - 1) / 2,
                  [label + ("  (inactive)" if off else "") for label, off in zip(labels, inactive)])
    for tick, off in zip(ax.get_yticklabels(), inactive):
        tick.set_color("0.55" if off else "black")
    ax.set_xlabel("value of the row's latent dimension")
    return fig
