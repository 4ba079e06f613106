"""`python -m vae_tf.bench step`: where the compiled train step's time goes, part by part.

Runs in the bench's own process (no `python -m vae_tf.train`): the step and its parts, each an
epoch's worth of iterations in one XLA-compiled loop on one fixed batch, against the step's five
large matmuls (`floors.step_matmul_floor`). See docs/speed.md.
"""

from __future__ import annotations

import time

from vae_tf.benchmarks.floors import step_matmul_floor


def bench_step(args) -> dict:
    """Where the compiled step's time goes: the step and its parts on one fixed batch, per epoch.

    Each variant runs `steps` (an epoch's worth) iterations in one XLA-compiled loop on the
    first batch of the training images, so neither the input pipeline nor Keras' loop is in it:
    the whole train step (losses, gradients, Adam, the loss trackers), the same without Adam and
    the trackers (the gradients are summed instead), the forward pass and losses alone, and the
    step's five large matmuls (`step_matmul_floor`). Best of `--runs`, interleaved.
    """
    import keras
    import tensorflow as tf

    from vae_tf.config import TrainConfig
    from vae_tf.data import load_split
    from vae_tf.training.engine import build_vae, steps_per_epoch

    images = load_split("train", limit=args.limit)[0]
    config = TrainConfig(seed=args.seeds[0])
    steps = steps_per_epoch(len(images), config.batch_size)
    keras.utils.set_random_seed(config.seed)
    vae = build_vae(config, len(images))
    batch = tf.constant(images[:config.batch_size])
    vae.optimizer.build(vae.trainable_variables)

    def whole_step(n):
        for _ in tf.range(n):
            vae.train_step(batch)
        return vae.trackers["loss"].result()

    def gradients_only(n):
        total = tf.constant(0.0)
        for _ in tf.range(n):
            with tf.GradientTape() as tape:
                losses = vae.compute_losses(batch, training=True)
            grads = tape.gradient(losses["loss"], vae.trainable_weights)
            total += tf.add_n([tf.reduce_sum(g) for g in grads]) * 0 + losses["loss"]
        return total

    def forward_only(n):
        total = tf.constant(0.0)
        for _ in tf.range(n):
            total += vae.compute_losses(batch, training=True)["loss"]
        return total

    variants = {"whole train step": whole_step, "losses and gradients (no Adam, no trackers)": gradients_only,
                "forward pass and losses": forward_only}
    functions = {name: tf.function(f, jit_compile=True) for name, f in variants.items()}
    for function in functions.values():
        function(tf.constant(steps)).numpy()  # the loop bound is a compile-time constant to XLA
    best = {name: float("inf") for name in functions}
    for _ in range(args.runs):
        for name, function in functions.items():  # interleaved
            start = time.perf_counter()
            function(tf.constant(steps)).numpy()
            best[name] = min(best[name], time.perf_counter() - start)
    best["the five large matmuls (floor)"] = step_matmul_floor(config.batch_size, steps, repeats=max(2, args.runs))
    whole = best["whole train step"]
    print(f"\nthe compiled step on one fixed batch, {steps} steps (an epoch), best of {args.runs}:")
    for name, seconds in best.items():
        print(f"  {name:45} {seconds:7.3f} s  {seconds / whole:6.1%} of the whole step")
    print(f"  Adam and the trackers: {whole - best['losses and gradients (no Adam, no trackers)']:.3f} s; the backward "
          f"pass: {best['losses and gradients (no Adam, no trackers)'] - best['forward pass and losses']:.3f} s")
    return {"mode": "step", "steps": steps, "seconds": best}
