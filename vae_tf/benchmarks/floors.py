"""The compute floors of an epoch: what no epoch of the model can beat on this machine.

Two floors, measured in the bench's own process: the 2048 x 2048 float32 matmul throughput
(`measure_matmul_gflops`) applied to an epoch's matmul FLOPs (`train_flops_per_image`), and the
step's own five large matmuls at their shapes (`step_matmul_floor`). `floors` measures both now.
See docs/speed.md.
"""

from __future__ import annotations

import math
import time

from vae_tf.data import REPORT_SHAPE
from vae_tf.models import architectures

REPORT_PIXELS = math.prod(REPORT_SHAPE)  # the report's 28 x 28 x 1


def train_flops_per_image(latent_dim: int = 2, hidden_units: int = 100, pixels: int = REPORT_PIXELS) -> int:
    """Multiply-add FLOPs (2 per multiply-add) of one image's forward and backward pass.

    Every Dense layer costs 2*fan_in*fan_out forward, as much again for its weight gradient, and
    as much again for its input gradient, except the first layer, whose input needs none.
    Elementwise work (activations, the loss, Adam) is not counted.
    """
    layers = [(pixels, hidden_units), (hidden_units, latent_dim), (hidden_units, latent_dim),
              (latent_dim, hidden_units), (hidden_units, pixels)]
    forward = sum(2 * fan_in * fan_out for fan_in, fan_out in layers)
    first = 2 * pixels * hidden_units
    return 3 * forward - first


def measure_matmul_gflops(size: int = 2048, repeats: int = 20) -> float:
    """Best float32 matmul throughput of `size` x `size` products on the default device, GFLOP/s."""
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    product = tf.function(lambda a, b: tf.matmul(a, b))
    product(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def step_matmul_floor(batch: int = 128, steps: int = 469, pixels: int = 784, hidden_units: int = 100,
                      repeats: int = 3) -> float:
    """Seconds per epoch of the step's five large matmuls alone, at their own shapes.

    The logic of the shared `matmul_floor.py`: per step, the first layer's forward product
    (batch x pixels x hidden) and its weight gradient, the last layer's forward product
    (batch x hidden x pixels), its weight gradient and its input gradient, `steps` times in one
    `tf.function` loop; the best of `repeats`, with and without XLA. Shapes (batch, pixels) etc.

    Returns:
      Seconds for `steps` steps: a floor that no epoch of this model can beat on this machine.
    """
    import numpy as np
    import tensorflow as tf

    x = tf.Variable(np.random.default_rng(0).random((batch, pixels), dtype=np.float32))
    w0 = tf.Variable(tf.random.normal((pixels, hidden_units)) * 0.05)
    w3 = tf.Variable(tf.random.normal((hidden_units, pixels)) * 0.05)

    def products(n):
        total = tf.zeros((pixels, hidden_units))
        for i in tf.range(n):
            xi = x + tf.cast(i, tf.float32) * 1e-9
            h = xi @ w0  # forward, first layer
            grad_w0 = tf.transpose(xi) @ h  # its weight gradient
            y = h @ w3  # forward, last layer
            grad_w3 = tf.transpose(h) @ y  # its weight gradient
            grad_h = y @ tf.transpose(w3)  # its input gradient
            total += grad_w0 + tf.transpose(grad_w3) + tf.reduce_sum(grad_h) * 0
        return total

    best = float("inf")
    for jit in (True, False):
        function = tf.function(products, jit_compile=jit)
        function(tf.constant(10)).numpy()
        for _ in range(repeats):
            start = time.perf_counter()
            function(tf.constant(steps)).numpy()
            best = min(best, time.perf_counter() - start)
    return best


def floors(images: int, batch_size: int = 128, flops_per_image: int | None = None) -> dict:
    """Both floors of an epoch of `images` images, measured now: seconds per epoch and how.

    Args:
      images, batch_size: the epoch's size.
      flops_per_image: training FLOPs per image of another model than the report's MLP
        (`vae_tf.models.architectures.train_flops_per_image`); its step floor is then not measured (NaN):
        `step_matmul_floor` times the report's five matmuls only.
    """
    steps = -(-images // batch_size)
    gflops = measure_matmul_gflops()
    flops = (flops_per_image or train_flops_per_image()) * images
    return {"matmul_gflops": gflops, "flops_per_epoch": flops, "matmul_2048_floor": flops / (gflops * 1e9),
            "step_matmul_floor": step_matmul_floor(batch_size, steps) if flops_per_image is None else float("nan")}


def run_flops_per_image(run_dir) -> int | None:
    """Training FLOPs per image of a run's model when it is not the report's MLP (None for the MLP)."""
    from vae_tf.rundir import Run

    run = Run.open(run_dir)
    if run.settings.get("architecture", "mlp") == "mlp":
        return None
    vae = run.model()
    return architectures.train_flops_per_image(vae.encoder, vae.decoder)
