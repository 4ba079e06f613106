"""The fast input path, tf.distribute, and where the train step runs."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from vae_tf.config import TrainConfig
from vae_tf.training.engine import (
    CALL_BATCHES,
    CALL_LAST,
    build_vae,
    compile_options,
    epoch_permutation,
    fast_steps_per_execution,
    fit_inputs,
    make_call_dataset,
    make_dataset,
    steps_per_epoch,
)


def test_the_reports_epoch_has_469_steps_and_calls_end_inside_an_epoch():
    assert steps_per_epoch(60000, 128) == 469
    assert fast_steps_per_execution(469) == 67 and 469 % 67 == 0
    for steps in (1, 8, 47, 100, 101, 1000, 4673):
        spe = fast_steps_per_execution(steps)
        assert steps % spe == 0 and 1 <= spe <= 100


def test_each_epoch_is_a_seeded_permutation_in_full_batches():
    images = np.arange(1000, dtype=np.uint8)[:, None].repeat(784, axis=1)  # image i has pixels i % 256
    images[:, 1] = np.arange(1000) // 256  # with this, (pixel 0, pixel 1) names the image
    batches = list(make_dataset(images, 128, seed=5, epochs=3).as_numpy_iterator())
    assert [len(b) for b in batches] == ([128] * 7 + [104]) * 3
    epochs = [np.concatenate(batches[i * 8:(i + 1) * 8]) for i in range(3)]
    order = [e[:, 0].astype(int) + 256 * e[:, 1].astype(int) for e in epochs]
    for o in order:
        assert sorted(o) == list(range(1000))
    assert not np.array_equal(order[0], order[1])
    np.testing.assert_array_equal(order[1], epoch_permutation(1000, 5, 1))
    # A resumed run starting at epoch 2 sees the batches an uninterrupted one would.
    resumed = np.concatenate(list(make_dataset(images, 128, seed=5, first_epoch=2, epochs=1).as_numpy_iterator()))
    np.testing.assert_array_equal(resumed, epochs[2])


def test_a_dataset_of_calls_holds_make_datasets_batches_a_call_at_a_time():
    images = np.arange(1000, dtype=np.uint8)[:, None].repeat(784, axis=1)
    images[:, 1] = np.arange(1000) // 256
    for first_epoch in (0, 2):
        batches = list(make_dataset(images, 128, 5, first_epoch, epochs=2).as_numpy_iterator())
        for steps_per_call, calls in ((8, 1), (4, 2), (1, 8)):
            calls_dataset = make_call_dataset(images, 128, 5, steps_per_call, first_epoch, epochs=2)
            elements = list(calls_dataset.as_numpy_iterator())
            assert len(elements) == 2 * calls
            unstacked = [batch for e in elements
                         for batch in [*e[CALL_BATCHES], *([e[CALL_LAST]] if len(e[CALL_LAST]) else [])]]
            assert [len(b) for b in unstacked] == [len(b) for b in batches]
            for ours, theirs in zip(unstacked, batches):
                np.testing.assert_array_equal(ours, theirs)
            # the smaller last batch comes in the epoch's last call only
            assert [len(e[CALL_LAST]) for e in elements] == ([0] * (calls - 1) + [104]) * 2
    with pytest.raises(ValueError, match="steps_per_call 3 does not divide the 8 batches"):
        make_call_dataset(images, 128, 5, 3)


def test_the_loop_over_a_calls_batches_gives_keras_own_numbers_to_the_last_bit():
    images = np.random.default_rng(0).integers(0, 256, (1000, 784), dtype=np.uint8)
    config = TrainConfig(limit=1000, epochs=2, beta_schedule="linear", warmup_epochs=2.0)  # its tracker is logged too
    histories = {}
    for name in ("keras", "calls"):
        tf.keras.utils.set_random_seed(config.seed)
        vae = build_vae(config, len(images))
        inputs = fit_inputs(images, config)
        if name == "keras":
            inputs["x"] = make_dataset(images, config.batch_size, config.seed, epochs=2)
        histories[name] = vae.fit(**inputs, epochs=2, verbose=0).history
        assert bool(vae.train_function.compiled) == (name == "calls")  # which loop ran
    assert histories["calls"] == histories["keras"]
    assert set(histories["keras"]) >= {"loss", "reconstruction_loss", "kl_loss", "beta"}


def test_fast_and_report_paths_feed_the_same_model_differently():
    images = np.zeros((1000, 784), np.uint8)
    fast = TrainConfig(limit=1000)
    report = TrainConfig(limit=1000, fast=False)
    assert compile_options(fast, 1000) == {"jit_compile": True, "steps_per_execution": 8}
    assert compile_options(report, 1000) == {"jit_compile": False, "steps_per_execution": 1}
    assert compile_options(TrainConfig(deterministic=True), 60000)["jit_compile"] is False
    assert compile_options(TrainConfig(strategy="mirrored"), 60000, distributed=True) == {
        "jit_compile": False, "steps_per_execution": 1}
    inputs = fit_inputs(images, report)
    assert inputs["x"].dtype == np.float64 and inputs["shuffle"] is True
    inputs = fit_inputs(images, fast)
    assert isinstance(inputs["x"], tf.data.Dataset) and inputs["steps_per_epoch"] == 8
    with pytest.raises(ValueError, match="expects uint8 or float32 images, got float64"):
        make_dataset(images / 255.0, 128, 0)


def test_no_op_of_the_train_step_is_pinned_to_a_device():
    vae = build_vae(TrainConfig(), 60000)
    step = tf.function(vae.train_step)
    graph = step.get_concrete_function(tf.TensorSpec((None, 784), tf.uint8)).graph
    pinned = {op.name: op.device for op in graph.get_operations() if op.device}
    assert pinned == {}
    ops = {op.type for op in graph.get_operations()}
    assert {"MatMul", "Relu"} <= ops  # the encoder and decoder are in it...
    assert any("StatelessRandomNormal" in t for t in ops)  # ...and the sampling


TWO_REPLICAS = textwrap.dedent("""
    import json, sys
    import keras, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from vae_tf.config import TrainConfig
    from vae_tf.training.engine import build_vae

    rng = np.random.default_rng(0)
    size = int(sys.argv[1])
    x = rng.integers(0, 256, size=(size, 784), dtype=np.uint8)
    eps = rng.normal(size=(size, 2)).astype("float32")
    out = {}
    for reduction in ("report", "elbo"):
        for name, strategy in (("one", tf.distribute.get_strategy()),
                               ("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
            keras.utils.set_random_seed(1)
            config = TrainConfig(reduction=reduction, learning_rate=1e-3, batch_size=64)
            vae = build_vae(config, size, strategy)
            batches = tf.data.Dataset.from_tensor_slices((x, eps)).batch(64)
            logs = vae.fit(batches, epochs=1, verbose=0, shuffle=False).history
            out[reduction + "/" + name] = {
                "replicas": strategy.num_replicas_in_sync,
                "logs": {k: v[-1] for k, v in logs.items()},
                "weights": [w.tolist() for w in vae.get_weights()],
            }
    print(json.dumps(out))
""")


@pytest.mark.parametrize("images", [64, 127])  # 127: a second step of 63, split 32 + 31
def test_one_step_on_two_replicas_equals_one_step_on_one_device(images):
    import json

    result = subprocess.run([sys.executable, "-c", TWO_REPLICAS, str(images)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    for reduction in ("report", "elbo"):
        one, two = out[reduction + "/one"], out[reduction + "/two"]
        assert (one["replicas"], two["replicas"]) == (1, 2)
        for name in ("loss", "reconstruction_loss", "kl_loss"):
            assert two["logs"][name] == pytest.approx(one["logs"][name], rel=1e-5), (reduction, name)
        assert len(one["weights"]) == len(two["weights"]) == 10  # kernel and bias of 5 dense layers
        for w_one, w_two in zip(one["weights"], two["weights"]):
            np.testing.assert_allclose(w_two, w_one, rtol=1e-4, atol=2e-6)
