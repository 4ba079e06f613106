"""`python -m vae_tf.bench cache`: what the compile cache (vae_tf.core.cache) saves on a run's first epoch.

Per round, three `python -m vae_tf.train` processes one after another: a cold run (an empty
cache), a warm run (the cache the cold run filled) and an uncached run (VAE_TF_CACHE=off); the
first epoch of each against its later ones. See docs/speed.md.
"""

from __future__ import annotations

import statistics

from vae_tf.benchmarks.processes import failed, in_scratch, run_process, train_command


@in_scratch
def bench_cache(args, scratch) -> dict:
    """A cold run (empty cache), a warm run (the same cache) and an uncached run, `--runs` times, interleaved."""
    import shutil

    from vae_tf.rundir import read_history

    rows = {"cold": [], "warm": [], "off": []}
    for index in range(args.runs):
        cache = scratch / f"cache{index}"
        for kind in rows:
            env = {"VAE_TF_CACHE": "off" if kind == "off" else str(cache)}
            out = scratch / f"{kind}{index}"
            with open(scratch / f"{kind}{index}.log", "w") as log:
                result = run_process(train_command(args, out), env=env, log=log)
            if result["returncode"] != 0:
                raise failed(f"the {kind} run (python -m vae_tf.train)", scratch / f"{kind}{index}.log")
            seconds = [row["seconds"] for row in read_history(out / "history.csv")]
            later = statistics.median(seconds[1:])
            rows[kind].append({"first": seconds[0], "later": later, "wall": result["seconds"],
                               "programs": len(list(cache.glob("*"))) if cache.exists() else 0})
            print(f"bench: {kind} run {index + 1}: first epoch {seconds[0]:.2f} s, later {later:.3f} s "
                  f"({seconds[0] / later:.2f}x), whole process {result['seconds']:.2f} s", flush=True)
        shutil.rmtree(cache, ignore_errors=True)
    print(f"\n{'run':6}{'first epoch':>12}{'later':>8}{'first/later':>12}{'process':>9}")
    for kind, results in rows.items():
        first = statistics.median(r["first"] for r in results)
        later = statistics.median(r["later"] for r in results)
        ratio = statistics.median(r["first"] / r["later"] for r in results)
        print(f"{kind:6}{first:12.2f}{later:8.3f}{ratio:12.2f}{statistics.median(r['wall'] for r in results):9.2f}")
    print(f"compiled programs in the cache after a run: {rows['warm'][0]['programs']}")
    return {"mode": "cache", "epochs": args.epochs, "runs": rows}
