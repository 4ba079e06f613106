"""Watching training: validation, TensorBoard, latent snapshots, and the collapse diagnostics."""

import io
import json
import math
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from scipy.stats import multivariate_normal
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from vae_tf import compare, kl, plot, plots
from vae_tf.config import TrainConfig
from vae_tf.kl import diagnostics
from vae_tf.models.vae import VAE
from vae_tf.rundir import Run
from vae_tf.training import monitor
from vae_tf.training.callbacks import EpochCheckpoint
from vae_tf.training.run import resume, train

# 2,000 images, batch 100: 20 steps per epoch; validation on all 10,000 test images (100 batches).
SMALL = {"limit": 2000, "epochs": 2, "batch_size": 100, "seed": 3}
WATCHED = TrainConfig(**SMALL, validation=True, tensorboard=True, snapshots=True)
TERMS = ("loss", "reconstruction_loss", "kl_loss")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same small run with and without the watchers, and the watched one interrupted and resumed."""
    root = tmp_path_factory.mktemp("watch")
    paths = {"watched": train(WATCHED, root / "watched", verbose=0),
             "plain": train(TrainConfig(**SMALL), root / "plain", verbose=0)}

    original = EpochCheckpoint.on_epoch_end

    def stop_after_the_first_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        raise KeyboardInterrupt  # Ctrl-C, once epoch 1 is checkpointed

    EpochCheckpoint.on_epoch_end = stop_after_the_first_epoch
    try:
        with pytest.raises(KeyboardInterrupt):
            train(WATCHED, root / "resumed", verbose=0)
    finally:
        EpochCheckpoint.on_epoch_end = original
    paths["resumed"] = resume(root / "resumed", verbose=0)
    return {name: Run.open(path) for name, path in paths.items()}


def without_seconds(history):
    return [{key: value for key, value in row.items() if not key.endswith("seconds")} for row in history]


def test_validation_leaves_the_training_run_unchanged(runs):
    watched, plain = runs["watched"].history(), runs["plain"].history()
    assert list(watched[0]) == ["epoch", *TERMS, *(f"val_{name}" for name in TERMS), "val_seconds", "seconds"]
    assert [{key: row[key] for key in ("epoch", *TERMS)} for row in watched] == without_seconds(plain)  # exactly
    assert runs["watched"].summary["final"] == {**runs["plain"].summary["final"],
                                                **{f"val_{name}": watched[-1][f"val_{name}"] for name in TERMS}}


def test_validation_columns_are_the_loss_of_the_test_images_with_the_fixed_noise(runs, fashion_mnist):
    run = runs["watched"]
    vae = run.model()
    x_test = fashion_mnist[1][0].reshape(-1, 784)
    eps = monitor.validation_noise(len(x_test), 2, WATCHED.seed)
    batch = WATCHED.batch_size
    losses = tf.function(vae.compute_losses)

    def mean_over_batches(noise):  # Keras' running mean of the per-batch losses, as for training
        parts = [losses(tf.constant(x_test[start:start + batch]), eps=tf.constant(noise[start:start + batch]))
                 for start in range(0, len(x_test), batch)]
        return {name: np.mean([float(part[name]) for part in parts]) for name in TERMS}

    last = run.history()[-1]
    recomputed = mean_over_batches(eps)
    for name in TERMS:
        assert last[f"val_{name}"] == pytest.approx(recomputed[name], rel=2e-5), name
    # The fixed noise matters: z_mean alone (eps = 0) gives another reconstruction loss.
    assert abs(mean_over_batches(0 * eps)["reconstruction_loss"] - last["val_reconstruction_loss"]) > 1e-3


def scalars(directory):
    events = EventAccumulator(str(directory), size_guidance={"tensors": 0})
    events.Reload()
    return {tag: {event.step: float(tf.make_ndarray(event.tensor_proto)) for event in events.Tensors(tag)}
            for tag in events.Tags()["tensors"]}


@pytest.mark.parametrize("name", ["watched", "resumed"])
def test_tensorboard_scalars_are_history_csv(runs, name):
    run = runs[name]
    history = run.history()
    train_scalars = scalars(run.path / "tensorboard" / "train")
    validation_scalars = scalars(run.path / "tensorboard" / "validation")
    for term in TERMS:
        assert train_scalars[f"epoch_{term}"] == pytest.approx({row["epoch"] - 1: row[term] for row in history})
        assert validation_scalars[f"epoch_{term}"] == pytest.approx(
            {row["epoch"] - 1: row[f"val_{term}"] for row in history})
    assert train_scalars["epoch_learning_rate"] == pytest.approx({0: 1e-4, 1: 1e-4})


def test_tensorboard_images_are_pngs_one_per_epoch(runs):
    log_dir = runs["watched"].path / "tensorboard"
    events = EventAccumulator(str(log_dir / "images"), size_guidance={"tensors": 0})
    events.Reload()
    assert sorted(events.Tags()["tensors"]) == ["generated_grid", "latent_scatter", "reconstructions"]
    for tag in events.Tags()["tensors"]:
        shown = events.Tensors(tag)
        assert [event.step for event in shown] == [0, 1]
        width, height, png = shown[-1].tensor_proto.string_val
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG" and image.size == (int(width), int(height))
    images = monitor.read_tensorboard_images(log_dir)  # what docs/make_figures.py saves as PNG files
    assert [step for step, _ in images["latent_scatter"]] == [0, 1]
    assert all(png.startswith(b"\x89PNG") for shown in images.values() for _, png in shown)


def test_snapshots_hold_one_frame_per_epoch_and_survive_resume(runs, fashion_mnist):
    whole, resumed = runs["watched"].snapshots(), runs["resumed"].snapshots()
    assert runs["plain"].snapshots() is None
    assert whole["epoch"].tolist() == resumed["epoch"].tolist() == [1, 2]
    assert whole["z_mean"].shape == (2, monitor.SNAPSHOT_IMAGES, 2) and whole["y"].shape == (monitor.SNAPSHOT_IMAGES,)
    np.testing.assert_allclose(resumed["z_mean"], whole["z_mean"], atol=1e-5)
    resumed_rows, watched_rows = without_seconds(runs["resumed"].history()), without_seconds(runs["watched"].history())
    assert len(resumed_rows) == len(watched_rows) == 2
    for resumed_row, watched_row in zip(resumed_rows, watched_rows):  # pytest 9 approximates no list of dicts
        assert resumed_row == pytest.approx(watched_row)
    assert runs["resumed"].summary["resumed_after_epoch"] == 1
    # The last frame is the finished model's z_mean of the first test images.
    first = fashion_mnist[1][0][:monitor.SNAPSHOT_IMAGES]
    np.testing.assert_allclose(whole["z_mean"][-1], runs["watched"].model().encode(first)[0], atol=1e-6)
    assert (whole["y"] == fashion_mnist[1][1][:monitor.SNAPSHOT_IMAGES]).all()


def test_plot_and_compare_animate_the_snapshots(runs, tmp_path):
    written = plot.write_figures(runs["watched"], tmp_path, progress=lambda _: None)
    assert tmp_path / "latent_evolution.gif" in written
    with Image.open(tmp_path / "latent_evolution.gif") as gif:
        assert gif.n_frames == 2
    # Three runs that differ in their regularizer only in name are enough to draw the side-by-side GIF.
    variants = {}
    for variant in ("kl", "none", "mse"):
        shutil.copytree(runs["watched"].path, tmp_path / variant)
        config = json.loads((tmp_path / variant / "config.json").read_text())
        config["config"]["regularizer"] = variant
        (tmp_path / variant / "config.json").write_text(json.dumps(config))
        variants[variant] = Run.open(tmp_path / variant)
    assert compare.all_snapshotted(variants)
    compare.write_evolution(variants, tmp_path, progress=lambda _: None)
    with Image.open(tmp_path / "evolution.gif") as gif:
        assert gif.n_frames == 2
    assert not compare.all_snapshotted({**variants, "none": runs["plain"]})


def test_summary_holds_the_diagnostics_of_the_test_images(runs):
    found = runs["plain"].summary["diagnostics"]
    assert found["images"] == 10_000 and len(found["kl_per_dimension"]) == 2
    assert found["kl"] == pytest.approx(sum(found["kl_per_dimension"]))
    assert 0 <= found["mutual_information"] <= found["log_images"] == pytest.approx(math.log(10_000))


# --- the diagnostics on hand-built inputs ------------------------------------------------------


def test_a_dimension_that_ignores_x_is_inactive_and_costs_its_constant_kl(fashion_mnist):
    vae = VAE(latent_dim=3, seed=0)
    z_mean_layer, z_log_var_layer = vae.encoder.get_layer("z_mean"), vae.encoder.get_layer("z_log_var")
    kernel, bias = z_mean_layer.get_weights()
    kernel[:, 1], bias[1] = 0.0, 0.5  # dimension 2's mean ignores x: always 0.5
    z_mean_layer.set_weights([kernel, bias])
    z_log_var_layer.set_weights([np.zeros_like(w) for w in z_log_var_layer.get_weights()])  # variance 1
    z_mean, z_log_var = vae.encode(fashion_mnist[1][0][:1000])
    assert diagnostics.active_units(z_mean).tolist() == [True, False, True]
    per_dimension = diagnostics.kl_per_dimension(z_mean, z_log_var)
    assert per_dimension[1] == pytest.approx(0.125)  # KL(N(0.5, 1) || N(0, 1)) = 0.5^2 / 2
    np.testing.assert_allclose(per_dimension.sum(), np.mean(kl.kl_standard_normal(z_mean, z_log_var)), rtol=1e-5)


def test_active_units_uses_burdas_threshold():
    rng = np.random.default_rng(0)
    z_mean = np.stack([rng.normal(0, 1, 5000), rng.normal(0, 0.05, 5000), rng.normal(0, 0.2, 5000)], axis=1)
    assert diagnostics.active_units(z_mean).tolist() == [True, False, True]  # variances 1, 0.0025, 0.04


def test_mutual_information_of_an_encoder_that_ignores_x_is_zero():
    z_mean = np.tile([[0.3, -1.0]], (500, 1))
    z_log_var = np.tile([[-0.5, 0.2]], (500, 1))
    assert diagnostics.mutual_information(z_mean, z_log_var, samples=3) == pytest.approx(0.0, abs=1e-9)


def test_mutual_information_is_at_most_log_n_and_reaches_it_for_separate_codes():
    rng = np.random.default_rng(1)
    count = 300
    separate = diagnostics.mutual_information(100.0 * rng.normal(size=(count, 2)), np.full((count, 2), -6.0))
    assert separate == pytest.approx(math.log(count), abs=1e-3) and separate <= math.log(count) + 1e-9
    z_mean, z_log_var = rng.normal(size=(count, 4)), rng.normal(-1, 0.5, size=(count, 4))
    some = diagnostics.mutual_information(z_mean, z_log_var, samples=4, chunk=7)  # chunking changes nothing
    assert some == pytest.approx(diagnostics.mutual_information(z_mean, z_log_var, samples=4))
    assert 0 < some < math.log(count)
    # I(x; z) <= E_x KL(q(z|x) || p(z)) (the rest is KL(q(z) || p(z))), up to Monte-Carlo error
    assert some < float(np.mean(kl.kl_standard_normal(z_mean, z_log_var)))


def test_log_posterior_matrix_is_the_gaussian_density():
    rng = np.random.default_rng(2)
    z, z_mean, z_log_var = rng.normal(size=(5, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    expected = [[multivariate_normal(z_mean[j], np.diag(np.exp(z_log_var[j]))).logpdf(z[i]) for j in range(4)]
                for i in range(5)]
    np.testing.assert_allclose(diagnostics.log_posterior_matrix(z, z_mean, z_log_var), expected, rtol=1e-10)


def test_the_evolution_frames_share_their_axes():
    rng = np.random.default_rng(3)
    y = np.arange(50) % 10
    frames = [rng.normal(scale=scale, size=(50, 2)) for scale in (1.0, 5.0)]
    figures = plots.latent_evolution([1, 2], np.stack(frames), y)
    assert [fig.axes[0].get_xlim() for fig in figures][0] == figures[1].axes[0].get_xlim()
    side_by_side = plots.evolution({"kl": ([1, 2], np.stack(frames), y), "none": ([1], np.stack(frames[:1]) * 9, y)})
    assert len(side_by_side) == 2  # the shorter run holds its last frame
    assert side_by_side[0].axes[1].get_xlim() == side_by_side[0].axes[3].get_xlim()  # bottom row: shared
