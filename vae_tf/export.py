"""Export a trained run's encoder and decoder for runtimes without vae_tf: SavedModel, ONNX or LiteRT.

    python -m vae_tf.export runs/kl-report --format savedmodel --out exported/kl-report
    python -m vae_tf.export runs/kl-report --format onnx --out exported/onnx     # needs .[export]
    python -m vae_tf.export runs/kl-report --format litert --out exported/litert

Writes the decoder (z -> the likelihood's mean image) and the encoder (images -> z_mean, z_log_var)
as two artifacts, made by Keras' own `Model.export`, and export.json beside them: input and output
names, shapes, dtypes, value ranges and the run they came from (`vae_tf.analysis.export`).
"""

from __future__ import annotations

import argparse
import sys

from vae_tf.core import cli

FORMAT_NAMES = ("savedmodel", "onnx", "litert")  # vae_tf.analysis.export.FORMATS (no TensorFlow to list them)


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python -m vae_tf.export",
        "Export a run directory's encoder (images (B, H, W, C) float32 in [0, 1] -> z_mean, z_log_var) and "
        "decoder (z -> the likelihood's mean image) as two artifacts for a runtime without Python's vae_tf: a "
        "TensorFlow SavedModel, ONNX (onnxruntime) or LiteRT (.tflite), with export.json beside them (names, "
        "shapes, dtypes, value ranges, the run). ONNX and the runtimes: pip install 'vae_tf[export]'.",
    )
    cli.add_rundir(parser)
    parser.add_argument("--format", required=True, choices=FORMAT_NAMES,
                        help="savedmodel: encoder/ and decoder/ directories; onnx: encoder.onnx and decoder.onnx; "
                             "litert: encoder.tflite and decoder.tflite")
    parser.add_argument("--out", required=True, metavar="DIR", help="the directory to write the artifacts into")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace artifacts and export.json already in DIR (otherwise they are never touched)")
    return parser


def work(args) -> int:
    from vae_tf.analysis.export import check_installed, export_run
    from vae_tf.rundir import Run

    check_installed(args.format)  # before the model is loaded: a missing package is said at once
    run = Run.open(args.rundir)
    written = export_run(run, args.format, args.out, overwrite=args.overwrite, verbose=1)  # one writer; all or none
    for part in ("encoder", "decoder"):
        entry = written[part]
        print(f"  {entry['file']}: {_shapes(entry['inputs'])} -> {_shapes(entry['outputs'])}")
    print(f"wrote {args.out} ({args.format}; see export.json there)")
    return 0


def _shapes(specs: dict) -> str:
    return ", ".join(f"{name} {tuple(spec['shape'])}" for name, spec in specs.items())


def main(argv=None) -> int:
    return cli.run(build_parser(), argv, work, interrupted="interrupted; nothing written")


if __name__ == "__main__":
    sys.exit(main())
