"""Out-of-distribution sets for a Fashion-MNIST run, made offline, as npz files `--dataset npz:FILE` reads.

    python docs/make_ood_sets.py /tmp/ood    # writes noise.npz, flipped.npz, digits28.npz, blank.npz there

- noise.npz: uniform noise, each pixel U[0, 1) (float32; seed 0), 10,000 images 28 x 28 x 1;
- flipped.npz: the Fashion-MNIST test images upside down (uint8), 10,000;
- digits28.npz: scikit-learn's 1,797 handwritten digits (8 x 8, grey levels 0..16), resized to
  28 x 28 with Pillow's bilinear filter and scaled to uint8 0..255;
- blank.npz: 1,000 nearly black images, each of one grey level drawn from 0..25 (uint8; seed 0):
  the simplest images there are, where a likelihood fails (Nalisnick et al., ICLR 2019).

Each file holds x_train (the first image only: the npz source wants both splits) and x_test.
docs/scoring.md scores them against the report's run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def ood_sets(fashion_test: np.ndarray, seed: int = 0) -> dict:
    """{name: images (N, 28, 28, 1)} of the three sets, from the Fashion-MNIST test images (N, 28, 28, 1) uint8."""
    from PIL import Image
    from sklearn.datasets import load_digits

    noise = np.random.default_rng(seed).random((len(fashion_test), 28, 28, 1), dtype=np.float32)
    flipped = fashion_test[:, ::-1].copy()
    digits = load_digits().images  # (1797, 8, 8), 0..16
    digits28 = np.stack([np.asarray(Image.fromarray((image * 255.0 / 16.0).astype(np.float32), mode="F")
                                    .resize((28, 28), Image.BILINEAR)) for image in digits])
    digits28 = np.clip(np.round(digits28), 0, 255).astype(np.uint8)[..., None]
    levels = np.random.default_rng(seed).integers(0, 26, 1000).astype(np.uint8)
    blank = np.broadcast_to(levels[:, None, None, None], (1000, 28, 28, 1)).copy()
    return {"noise": noise, "flipped": flipped, "digits28": digits28, "blank": blank}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the directory to write the npz files into")
    args = parser.parse_args(argv)
    from vae_tf.data import load_fashion_mnist

    fashion_test = load_fashion_mnist(download=False)[1][0]
    fashion_test = fashion_test.reshape((-1, 28, 28, 1))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, images in ood_sets(fashion_test).items():
        np.savez(out / f"{name}.npz", x_train=images[:1], x_test=images)
        print(f"wrote {out / name}.npz: {images.shape[0]:,} images {images.shape[1:]} {images.dtype}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
