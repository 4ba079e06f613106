"""Write a data set as shards, to stream it with bounded memory: `python -m vae_tf.data pack SOURCE --out DIR`.

    python -m vae_tf.data pack folder:photos --image-size 64 64 --color rgb --out shards/photos
    python -m vae_tf.train --dataset shards:shards/photos --out runs/photos

SOURCE is any `--dataset` value of `python -m vae_tf.train`. The format and how training streams
it: `vae_tf.data.shards`; the writing: `vae_tf.data.packing`; docs/data.md. This module is a
command living inside the data package (`python -m vae_tf.data`): thin, as every command is.
"""

from __future__ import annotations

import argparse
import math
import sys

from vae_tf.core import cli


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("python -m vae_tf.data",
                        "pack: read a data set (any --dataset source of vae_tf.train) once and write it to --out as "
                        "NumPy shards with an index.json (its description and fingerprint), for --dataset "
                        "shards:DIR, which training streams with bounded memory.")
    parser.add_argument("action", choices=("pack",), help="what to do (pack: write shards)")
    parser.add_argument("source", metavar="SOURCE", help="the data set, as vae_tf.train's --dataset "
                        "(fashion_mnist, digits, npz:FILE, folder:DIR, tfds:NAME[:SPLIT], ...)")
    parser.add_argument("--out", required=True, metavar="DIR", help="the directory to write (empty, or --overwrite)")
    parser.add_argument("--overwrite", action="store_true", help="replace the shards of an earlier pack in --out")
    parser.add_argument("--shard-size", default="32M", metavar="SIZE",
                        help="bytes of images per shard (e.g. 32M): training holds a few shards in memory")
    parser.add_argument("--keep-order", action="store_true",
                        help="write the training images in the source's order (default: a fixed permutation, seed 0, "
                             "so that every shard holds a mix of the classes)")
    parser.add_argument("--data-memory", default=None, metavar="SIZE",
                        help="read the source whole if its images fit in SIZE (e.g. 4G), else stream it (an "
                             "npz: a shard at a time) (default: a quarter of the machine's memory)")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="fashion_mnist and mnist: their IDX files; tfds: the directory TFDS prepared NAME in")
    parser.add_argument("--image-size", type=cli.number(int, at_least=1), nargs=2, default=None, metavar=("H", "W"),
                        help="folder:DIR: resize every image to H x W")
    parser.add_argument("--color", choices=("grayscale", "rgb"), default=None,
                        help="folder:DIR: convert the images (default: rgb if any file is in colour)")
    parser.add_argument("--test-fraction", type=cli.number(float, above=0), default=0.1, metavar="F",
                        help="folder:DIR without train/ and test/: the share held out for testing")
    return parser


def work(args) -> int:
    import numpy as np

    from vae_tf.data.packing import pack
    from vae_tf.data.streaming import describe_bytes, parse_size
    from vae_tf.rundir import outputs

    shard_bytes = parse_size(args.shard_size, "--shard-size")
    with outputs(args.out, None, args.overwrite) as written:  # one writer per --out; all the shards or none
        def progress(line):  # a shard written into the scratch folder, named by where it will be
            line = line.replace(str(written.scratch), str(written.directory))
            print(line.replace("wrote ", "packed ", 1), flush=True)

        index = pack(args.source, written.scratch, data_dir=args.data_dir, image_size=args.image_size,
                     color=args.color, test_fraction=args.test_fraction, data_memory=args.data_memory,
                     shard_bytes=shard_bytes, keep_order=args.keep_order, progress=progress)
        kept = {shard[key] for split in index["splits"].values() for shard in split["shards"]
                for key in ("file", "labels")}
        for old in written.directory.glob("*.npy"):  # --overwrite: an earlier pack's shards these do not replace
            if old.name not in kept:
                old.unlink()
    splits = index["splits"]
    size = (sum(split["images"] for split in splits.values()) * math.prod(index["image_shape"])
            * np.dtype(index["dtype"]).itemsize)  # bytes: uint8 pixels are one each, float32 four
    print(f"packed {args.source}: {splits['train']['images']:,} training and {splits['test']['images']:,} test images "
          f"({describe_bytes(size)}) in {len(splits['train']['shards']) + len(splits['test']['shards'])} shards, "
          f"fingerprint {index['fingerprint']}; train with --dataset shards:{args.out}")
    return 0


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work)


if __name__ == "__main__":
    sys.exit(main())
