"""The codes of a data set's images under a trained VAE, one row per image.

    python -m vae_tf.encode runs/kl-report --out codes.csv                   # the run's own test images
    python -m vae_tf.encode runs/kl-report --split train --out codes.npz
    python -m vae_tf.encode runs/faces --dataset folder:new-photos --out new.csv

Per image: the posterior q(z|x)'s parameters (z_mean and z_log_var for the report's Gaussian; see
`vae_tf.analysis.codes.POSTERIOR_PARAMETERS` for the full-covariance and IAF posteriors), its
index, its label (data with labels) and its file (folder sources). The work is
`vae_tf.analysis.use.encode`; this command parses, runs it and writes the file.
"""

from __future__ import annotations

import sys

from vae_tf.analysis.use_outputs import add_images_flags, add_output_flags
from vae_tf.core import cli
from vae_tf.core.cli import number


def build_parser():
    parser = cli.parser(
        "python -m vae_tf.encode",
        "Write the codes of a data set's images under a run's encoder: per image the posterior's parameters "
        "(z_mean and z_log_var of the report's Gaussian q(z|x); also z_scale_tril for --posterior full, "
        "z_posterior_mean for iaf), its index, label and file. Any data source in the run's image shape.",
    )
    cli.add_rundir(parser)
    add_images_flags(parser, "the images to encode")
    parser.add_argument("--limit", type=number(int, at_least=1), default=None, metavar="N",
                        help="the split's first N images only (default: all of them)")
    parser.add_argument("--seed", type=cli.seed_number(), default=0, help="seeds the IAF posterior's draws")
    add_output_flags(parser, "FILE", "codes.npz (arrays) or codes.csv (a table)")
    cli.add_data_dir(parser)
    return parser


def work(args) -> int:
    import time

    from vae_tf.analysis import use
    from vae_tf.analysis.codes import CODE_SUFFIXES, write_codes
    from vae_tf.analysis.use_outputs import run_and_output

    started = time.perf_counter()
    with run_and_output(args.rundir, args.out, CODE_SUFFIXES, args.overwrite) as (run, out):
        source = args.dataset or "the run's own data"
        print(f"encoding the {args.split} images of {source} ...", flush=True)
        result = use.encode(run, args.dataset, args.split, args.limit, args.seed, args.data_dir)
        write_codes(out, result["codes"], result["labels"], result["files"])
    count, dims = result["codes"]["z_mean"].shape
    print(f"wrote {args.out}: {count:,} images of {result['source']}, {', '.join(result['codes'])} ({dims} dimensions) "
          f"({time.perf_counter() - started:.0f} s)")
    return 0


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work, interrupted="interrupted; nothing written")


if __name__ == "__main__":
    sys.exit(main())
