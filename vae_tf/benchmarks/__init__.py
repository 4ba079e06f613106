"""The benchmarks behind `python -m vae_tf.bench`, which print speed and memory as figures.

Where a run's time goes, the compile cache, two workers, the compiled step, the two training paths;
docs/speed.md and docs/performance.md hold their figures.

    processes.py  running what is compared, each in its own process: wall time, peak memory (run_process);
                  the `python -m vae_tf.train` command line of a benchmark (train_command)
    floors.py     the compute floors of an epoch: matmul throughput x FLOPs, the step's five large matmuls
    phases.py     `bench phases` (the default): a training run phase by phase, against the floors and
                  optionally the report's own code
    cache.py      `bench cache`: a cold, a warm and an uncached run's first epoch against the later ones
    workers.py    `bench workers`: two workers pinned to a core each against one process; the all-reduce floor
    step.py       `bench step`: the compiled step and its parts on one fixed batch
    paths.py      `bench paths`: the report's training path against the fast one, per epoch and seed

Each benchmark is one function `bench_<mode>(args) -> dict`: it takes the command's parsed flags,
prints its progress and its report, and returns what `--json` writes. No module imports
TensorFlow before a benchmark runs, so that the command parses its flags at once.
"""
