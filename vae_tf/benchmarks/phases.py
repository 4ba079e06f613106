"""`python -m vae_tf.bench phases`: where a run's time goes, and how far its epochs are from the floors.

`python -m vae_tf.train` runs `--runs` times, each its own process (`processes.run_process`), so
that its wall time and peak memory are the whole process's; its phases come from its
summary.json (`vae_tf.training.phases`). Right after each run the two floors of its epoch are
measured (`floors.floors`), so that they see about the load its epochs saw. With `--baseline
SCRIPT` the report's own code runs too, interleaved with the runs so that a change in machine load
hits both; the figures are medians.
"""

from __future__ import annotations

import json
import statistics
import sys

from vae_tf.benchmarks.floors import floors, run_flops_per_image
from vae_tf.benchmarks.processes import LOSS_NAMES, failed, in_scratch, run_process, train_command


def _median_phases(summaries: list[dict]) -> dict:
    keys = [k for k in summaries[0]["phases"] if k not in ("epoch_seconds", "peak_rss_mib_after")]
    return {k: statistics.median(s["phases"].get(k, 0.0) for s in summaries) for k in keys}


@in_scratch
def bench_phases(args, scratch) -> dict:
    """`python -m vae_tf.train` `--runs` times (interleaved with the baseline, if given): phases and floors."""
    from vae_tf.rundir import read_history
    from vae_tf.training.phases import format_phases

    train, baseline, summaries = [], [], []
    measured, ratios_2048, ratios_step = [], [], []
    for index in range(args.runs):
        # The baseline first: a --baseline that fails is reported in its first seconds.
        if args.baseline:
            command = [sys.executable, args.baseline, "--epochs", str(args.epochs)]
            command += ["--n", str(args.limit)] if args.limit else []
            with open(scratch / f"baseline{index}.log", "w") as log:
                result = run_process(command, log=log)
            lines = (scratch / f"baseline{index}.log").read_text().strip().splitlines()
            if result["returncode"] != 0 or not lines:
                raise failed(f"--baseline {args.baseline}", scratch / f"baseline{index}.log")
            try:
                printed = json.loads(lines[-1])
                losses = {name: printed[name][-1] for name in LOSS_NAMES}
            except (ValueError, TypeError, KeyError, IndexError):
                raise failed(f"--baseline {args.baseline} (its last line must be JSON with {', '.join(LOSS_NAMES)})",
                             lines[-1]) from None
            baseline.append({**result, "final": losses})
            print(f"bench: baseline run {index + 1}: {result['seconds']:.2f} s, peak "
                  f"{result['peak_rss_mib']:.0f} MiB, loss {printed['loss'][-1]:.4f}", flush=True)
        out = scratch / f"run{index}"
        with open(scratch / f"train{index}.log", "w") as log:
            result = run_process(train_command(args, out), log=log)
        if result["returncode"] != 0:
            raise failed("python -m vae_tf.train (the benchmark's run)", scratch / f"train{index}.log")
        summary = json.loads((out / "summary.json").read_text())
        summaries.append(summary)
        train.append({**result, "final": summary["final"], "history": read_history(out / "history.csv")})
        print(f"bench: train run {index + 1}: {result['seconds']:.2f} s, peak {result['peak_rss_mib']:.0f} MiB, "
              f"loss {summary['final']['loss']:.4f}", flush=True)
        # The floors right after each run, so that they see about the load its epochs saw.
        measured.append(floors(summary["train_images"], flops_per_image=run_flops_per_image(out)))
        run_epoch = statistics.median(summary["phases"]["epoch_seconds"][1:] or [float("nan")])
        ratios_2048.append(run_epoch / measured[-1]["matmul_2048_floor"])
        ratios_step.append(run_epoch / measured[-1]["step_matmul_floor"])
    phases = _median_phases(summaries)
    epochs = [s for summary in summaries for s in summary["phases"]["epoch_seconds"][1:]]
    phases["epoch_seconds"] = []
    floor = {key: statistics.median(m[key] for m in measured) for key in measured[0]}
    per_epoch = statistics.median(epochs) if epochs else float("nan")

    print(f"\nphases of `python -m vae_tf.train --epochs {args.epochs}` (median of {args.runs} runs; summary.json):")
    print(format_phases({**phases, "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in train)}))
    print(f"whole process: {statistics.median(r['seconds'] for r in train):.2f} s wall (median), peak "
          f"{statistics.median(r['peak_rss_mib'] for r in train):.0f} MiB (wait4)")
    print(f"seconds per epoch after the first (median): {per_epoch:.3f}")
    print(f"floor, 2048 x 2048 matmuls: {floor['flops_per_epoch'] / 1e9:.1f} GFLOP / {floor['matmul_gflops']:.1f} "
          f"GFLOP/s = {floor['matmul_2048_floor']:.3f} s per epoch (median, measured after each run); "
          f"epoch at {statistics.median(ratios_2048):.2f}x (median of the runs' ratios)")
    if args.architecture == "mlp":
        print(f"floor, the step's matmuls at their shapes: {floor['step_matmul_floor']:.3f} s per epoch; epoch at "
              f"{statistics.median(ratios_step):.2f}x (per run: {', '.join(f'{r:.2f}' for r in ratios_step)})")
    else:
        print("floor, the step's matmuls at their shapes: measured for the report's MLP only, not "
              f"{args.architecture}")
    result = {"mode": "phases", "epochs": args.epochs, "runs": train, "phases": phases,
              "seconds_per_epoch": per_epoch, **floor, "floors": measured, "epoch_over_2048_floor": ratios_2048,
              "epoch_over_step_floor": ratios_step}
    if baseline:
        ratios = [t["seconds"] / b["seconds"] for t, b in zip(train, baseline)]
        memory = [t["peak_rss_mib"] / b["peak_rss_mib"] for t, b in zip(train, baseline)]
        print(f"against {args.baseline} --epochs {args.epochs}: wall time {statistics.median(ratios):.2f}x "
              f"(median of {len(ratios)} interleaved pairs: {', '.join(f'{r:.2f}' for r in ratios)}), peak memory "
              f"{statistics.median(memory):.2f}x ({statistics.median(b['peak_rss_mib'] for b in baseline):.0f} MiB)")
        for name in LOSS_NAMES:
            print(f"  final {name}: vae_tf {statistics.median(t['final'][name] for t in train):.4f}, baseline "
                  f"{statistics.median(b['final'][name] for b in baseline):.4f}")
        result.update(baseline=baseline, wall_ratios=ratios, memory_ratios=memory)
    return result
