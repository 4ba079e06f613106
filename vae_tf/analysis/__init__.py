"""Analysis of trained runs: evaluation in nats, scores per image, export, the spread of the codes, compression, sweeps.

It reads run directories (`vae_tf.rundir`) and, for the experiments that need runs, trains them
through `vae_tf.training`; it never changes a run it reads. The commands at the top of `vae_tf/`
(`evaluate`, `score`, `export`, `sweep`, `compare`, `compress`, `klcost`) parse their flags, call
these, and report.

    bounds.py       -ELBO and -IWAE_K by importance sampling, in nats per image (`importance_sampled`)
    grid.py         log p(x) integrated on a grid of 2-dimensional codes (`grid_log_marginal`)
    evaluation.py   a run directory's evaluation, overall and per class: evaluation.json and its table
    scoring.py      each image's -ELBO, -IWAE_K and complexity-corrected score; AUROC against a reference set
    export.py       the encoder and decoder as SavedModel, ONNX or LiteRT artifacts, and export.json
    sweeps.py       one run per beta on the rate-distortion plane: plan, train, measure, rd.json
    comparison.py   the report's three variants side by side: comparison.png, spread.json, evolution.gif
    spread.py       how far the codes spread (pure functions of latent arrays)
    compression.py  the report's storage claim, the honest sizes and the PCA baseline
    klcost.py       what the KL estimator costs: per-step noise, -IWAE_K, seconds per epoch
    codes.py        the codes of images under a trained VAE (the posterior's parameters), each dimension's KL
    generation.py   draws from a run's prior, decoded images, interpolation paths, traversal codes
    use.py          using a trained run: encode, generate, reconstruct, interpolate, traverse (arrays)
    use_outputs.py  what those commands write: claimed, atomic (codes, image grids, PNGs, strips, GIFs)

Import the modules themselves (`from vae_tf.analysis.bounds import importance_sampled`); none of
them imports TensorFlow at module level.
"""
