"""Cut scikit-learn's two sample photographs into 32 x 32 colour patches, one class folder per photo.

    python docs/make_photo_patches.py photos              # 1,500 patches of each photo: photos/china, photos/flower
    python -m vae_tf.train --dataset folder:photos --color rgb --architecture conv --out runs/photos

The patches are the data of docs/your-own-photos.md: real colour images that need no download
(`sklearn.datasets.load_sample_images`, 427 x 640 pixels each). Their corners are drawn uniformly
with a fixed seed, so the same command always makes the same files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_images


def make_patches(out, per_photo: int = 1500, size: int = 32, seed: int = 0) -> int:
    """Write `per_photo` size x size PNG patches of each sample photo into out/<photo name>/; return the count."""
    photos = load_sample_images()
    rng = np.random.default_rng(seed)
    written = 0
    for name, image in zip(photos.filenames, photos.images):
        folder = Path(out) / Path(name).stem
        folder.mkdir(parents=True, exist_ok=True)
        height, width = image.shape[:2]
        for index in range(per_photo):
            top, left = rng.integers(0, height - size + 1), rng.integers(0, width - size + 1)
            Image.fromarray(image[top:top + size, left:left + size]).save(folder / f"{index:04d}.png")
            written += 1
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Cut scikit-learn's two sample photos into 32 x 32 patches.")
    parser.add_argument("out", help="folder to write (one sub-folder per photo)")
    parser.add_argument("--per-photo", type=int, default=1500)
    args = parser.parse_args()
    print(f"wrote {make_patches(args.out, args.per_photo)} patches into {args.out}")
