"""The report's "compression" claim, and what an honest reader needs next to it.

    python -m vae_tf.compress RUNDIR                 # print the table, write RUNDIR/compression.json
    python -m vae_tf.compress RUNDIR --out DIR       # write DIR/compression.json instead

What the table holds, and why, is `vae_tf.analysis.compression`'s docstring; this command parses,
runs `compression_report` on the run directory, writes compression.json and prints the table.
"""

from __future__ import annotations

import sys

from vae_tf.analysis.compression import REPORT_FILES, compression_report, format_table
from vae_tf.core import cli
from vae_tf.core.lazy import lazy_names

# The library's names this command module held in vae_tf 0.1.0, imported
# from where they live now on first use.
__getattr__, __dir__, _moved = lazy_names(__name__, {"vae_tf.analysis.compression": (
    "MIB", "PIXELS", "EPSILON", "array_bytes", "size_entry", "report_sizes", "decoder_parameter_count",
    "pca_parameter_count", "psnr", "mean_bce_from_logits", "mean_bce", "pca_fit", "pca_encode", "pca_decode",
    "source_size", "gzip_idx_size",
)})


def build_parser():
    parser = cli.parser(
        "python -m vae_tf.compress",
        "The report's storage comparison for a run directory (training images as float64 x / 255. vs float32 "
        "latent codes), then the honest one: uint8 and gzip'd images, float16 codes, the decoder's weights, bits "
        "per image, reconstruction quality on the test set and a PCA baseline of the same code size. Prints a "
        "table and writes compression.json. Reads the run; never retrains.",
    )
    cli.add_rundir(parser)
    cli.add_output(parser, "RUNDIR", "compression.json")
    cli.add_data_dir(parser)
    return parser


def work(args) -> int:
    from vae_tf import rundir

    home = rundir.Run.open(args.rundir).path  # a wrong RUNDIR is refused before OUT is made
    out = args.out if args.out is not None else home
    with rundir.outputs(out, REPORT_FILES, args.overwrite) as written:  # one writer per folder
        run = rundir.Run.open(args.rundir)
        report = compression_report(run, args.data_dir)
        rundir.write_json(written / "compression.json", report)
    print(format_table(report))
    print(f"wrote {written.directory / 'compression.json'}")
    return 0


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work)


if __name__ == "__main__":
    sys.exit(main())
