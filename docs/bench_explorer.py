"""Benchmark: how long the explorer page takes to decode one code, for the MLP and a conv decoder.

    python docs/bench_explorer.py                                  # the report's MLP and a conv decoder
    python docs/bench_explorer.py --run runs/compare-report/kl     # the MLP of a trained run instead
    python docs/bench_explorer.py --decodes 1000 --repeats 5

Writes a page (python -m vae_tf.explore's) with two decoders into a temporary directory, opens it
in headless Chromium from file:// and times `window.vaeExplorer.timeDecode(run, n)`: n decodes of
one code each, in the page, as the cursor makes them, with the convolutions in WebAssembly SIMD (the
page's default) and in plain JavaScript (its fallback). Prints the median over the repeats, in
milliseconds per decode, and the share of a 60 fps frame (16.7 ms) one decode takes.
The conv decoder is Keras' VAE example's (Dense(7*7*64, relu) -> Reshape -> Conv2DTranspose(64, 3,
strides 2, relu) -> Conv2DTranspose(32, 3, strides 2, relu) -> Conv2DTranspose(1, 3) -> sigmoid),
with random weights: the arithmetic is that of a trained one (the page skips the multiplications
by exact zeros that a relu makes, so a trained network's share of zeros moves the figure a little).
Keras' own time for one code (`decoder(z)`, eager, batch of 1) is printed beside it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def keras_example_conv_decoder(latent_dim: int = 2):
    import keras

    z = keras.Input((latent_dim,))
    h = keras.layers.Dense(7 * 7 * 64, activation="relu")(z)
    h = keras.layers.Reshape((7, 7, 64))(h)
    h = keras.layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.Conv2DTranspose(1, 3, padding="same")(h)
    images = keras.layers.Activation("sigmoid")(keras.layers.Flatten()(h))
    return keras.Model(z, images, name="conv_decoder")


def keras_seconds(decoder, latent_dim: int, n: int = 200) -> float:
    import numpy as np

    z = np.zeros((1, latent_dim), np.float32)
    decoder(z)
    start = time.perf_counter()
    for _ in range(n):
        decoder(z, training=False)
    return (time.perf_counter() - start) / n


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None, help="a run directory whose MLP decoder to time (default: the "
                                                    "report's MLP, untrained)")
    parser.add_argument("--decodes", type=int, default=1000, help="decodes per timing")
    parser.add_argument("--repeats", type=int, default=5, help="timings per decoder (the median is printed)")
    args = parser.parse_args(argv)

    import numpy as np

    from vae_tf import explore
    from vae_tf.models.vae import build_decoder
    from vae_tf.plots.browser import chromium, open_explorer
    from vae_tf.rundir import Run

    mlp = Run.open(args.run).model().decoder if args.run else build_decoder()
    decoders = {"MLP (2-100-784)" + (f", {args.run}" if args.run else ", untrained"): mlp,
                "conv (Keras example: 7x7x64, 64, 32, 1 filters), untrained": keras_example_conv_decoder()}
    x = np.zeros((10, 28, 28, 1), np.uint8)
    data = {"format": explore.PAGE_FORMAT, "datasets": [explore.dataset_of(x)], "panels": [
        {"kind": "run", "title": name, "path": "", "dataset": 0, "initial": 0,
         "members": [explore.member_of({**explore.export_decoder(decoder), "image_shape": [28, 28, 1]},
                                       np.zeros((10, 2)), name)]}
        for name, decoder in decoders.items()]}
    with tempfile.TemporaryDirectory() as directory, chromium() as browser:
        open_explorer(browser, explore.write_page(directory, data))
        browser.set_script_timeout(600)
        for run, (name, decoder) in enumerate(decoders.items()):
            figures = []
            for engine in (True, False):
                used = browser.execute_script("return window.vaeExplorer.useWebAssembly(arguments[0])", engine)
                browser.execute_script("return window.vaeExplorer.timeDecode(arguments[0], 50)", run)  # warm the JIT
                timings = [browser.execute_script("return window.vaeExplorer.timeDecode(arguments[0], arguments[1])",
                                                  run, args.decodes) for _ in range(args.repeats)]
                ms = statistics.median(timings)
                share = 100 * ms / (1000 / 60)
                figures.append(f"{'WebAssembly SIMD' if used else 'plain JavaScript'} {ms:.3f} ms "
                               f"({min(timings):.3f}..{max(timings):.3f}; {share:.0f}% of a 60 fps frame)")
            print(f"{name}: ms per decode in the page, median of {args.repeats} x {args.decodes} decodes (range): "
                  f"{'; '.join(figures)}; Keras decoder(z), eager, one code: {1000 * keras_seconds(decoder, 2):.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
