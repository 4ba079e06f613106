"""The latent explorer in a real browser: Debian's headless Chromium opens the page from file:// and
its decoder, computed in JavaScript, must give what Keras gives (within 1/255 per pixel)."""

import json

import keras
import numpy as np
import pytest

from vae_tf import explore
from vae_tf.config import TrainConfig
from vae_tf.plots.browser import chromium, open_explorer
from vae_tf.rundir import Run
from vae_tf.training.run import train

CODES = np.array([[0, 0], [1.5, -0.5], [-2, 2], [3, 3], [-0.3, -4]], np.float32)  # five given codes


@pytest.fixture(scope="module")
def runs(tiny_run, tmp_path_factory):
    """Three tiny runs: the shared one (2-d), a 3-d one with snapshots, and one at beta 0.1 for a sweep."""
    home = tmp_path_factory.mktemp("explore")
    three = train(TrainConfig(limit=1000, epochs=2, latent_dim=3, beta=4.0, snapshots=True), home / "three", verbose=0)
    low = train(TrainConfig(limit=1000, epochs=1, beta=0.1), home / "low", verbose=0)
    digits = train(TrainConfig(dataset="digits", epochs=1), home / "digits", verbose=0)  # 8x8 images, other data
    return {"tiny": tiny_run, "three": three, "low": low, "digits": digits, "home": home}


@pytest.fixture(scope="module")
def browser():
    with chromium() as page:
        yield page


def severe(log):
    return [entry for entry in log if entry["level"] in ("SEVERE", "ERROR")]


def codes_of_size(size):
    return np.concatenate([CODES, np.resize(CODES[:, ::-1], (5, max(size - 2, 0)))], axis=1)[:, :size]


def check_decodes(browser, run_index, vae, member=None):
    """vaeExplorer.decode equals vae.decode at the five codes, within 1/255 per pixel (H*W*C values, row-major)."""
    codes = codes_of_size(vae.latent_dim)
    expected = np.asarray(vae.decode(codes)).reshape(len(codes), -1)
    for z, want in zip(codes, expected):
        got = browser.execute_script("return window.vaeExplorer.decode(arguments[0], arguments[1], arguments[2])",
                                     run_index, z.tolist(), member)
        assert len(got) == want.size
        assert np.max(np.abs(np.asarray(got) - want)) <= 1 / 255, (run_index, z)
        assert 0 <= min(got) and max(got) <= 1


def test_the_page_of_runs_and_a_sweep_decodes_as_keras_does(runs, browser, tmp_path):
    from vae_tf import sweep

    sweep_dir = tmp_path / "sweep"
    assert sweep.main(["--runs", str(runs["low"]), str(runs["tiny"]), "--out", str(sweep_dir),
                       "--test-limit", "50", "--k", "2"]) == 0
    out = tmp_path / "page"
    assert explore.main([str(runs["tiny"]), str(runs["three"]), str(sweep_dir), str(runs["digits"]), "--out", str(out),
                         "--test-images", "300"]) == 0
    assert sorted(path.name for path in out.iterdir()) == sorted(explore.OUTPUTS)
    assert "https://" not in (out / "index.html").read_text() + (out / "explorer.js").read_text()  # no network

    log = open_explorer(browser, out / "index.html")
    assert severe(log) == []
    described = browser.execute_script("return window.vaeExplorer.runs")
    assert [entry["kind"] for entry in described] == ["run", "run", "sweep", "run"]
    assert [entry["latentDim"] for entry in described] == [2, 3, 2, 2]
    assert described[3]["imageShape"] == [8, 8, 1]
    assert [member["beta"] for member in described[2]["members"]] == [0.1, 1.0]
    assert described[1]["members"][0]["epochs"] == [1, 2]
    assert described[0]["imageShape"] == [28, 28, 1]

    check_decodes(browser, 0, Run.open(runs["tiny"]).model())
    check_decodes(browser, 1, Run.open(runs["three"]).model())
    check_decodes(browser, 2, Run.open(runs["low"]).model(), member=0)
    check_decodes(browser, 2, Run.open(runs["tiny"]).model(), member=1)
    check_decodes(browser, 3, Run.open(runs["digits"]).model())
    # Two data sets: a legend under each panel's title, Fashion-MNIST's classes and the digits.
    legends = [element.text for element in browser.find_elements("css selector", ".panel .legend")]
    assert "Ankle boot" in legends[0] and "Ankle boot" not in legends[3] and "9" in legends[3]

    # Latent size 3 (and 2): the page says which two dimensions it shows and that the others stay at 0.
    note = browser.find_element("id", "dims-note").text
    assert "z[0]" in note and "z[1]" in note and "at 0" in note
    # Drive it: cursor, shared axes, an epoch, the sweep's other beta, a clicked image; no error on the way.
    browser.execute_script("""const e = window.vaeExplorer; e.setCursor([1, -1, 0]); e.setSharedAxes(true);
                              e.setEpoch(1, 0); e.setMember(2, 0); e.select(7);""")
    browser.execute_script("return new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    assert browser.execute_script("return window.vaeExplorer.cursor()") == [1, -1, 0]
    assert "#7" in browser.find_element("id", "selection-label").text
    # The mouse over the first plane moves the shared cursor (z[2] stays at 0).
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(browser).move_to_element_with_offset(browser.find_element("css selector", "canvas.plane"), 40, -60) \
        .perform()
    browser.execute_script("return new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    moved = browser.execute_script("return window.vaeExplorer.cursor()")
    assert moved[:2] != [1, -1] and moved[2] == 0
    assert severe(browser.get_log("browser")) == []


def conv_decoder(latent_dim, image_shape, seed=0):
    """A conv decoder like Keras' VAE example (and issue 16's), with a crop for sizes not divisible by 4,
    and a few more layers the export knows (Conv2D, ZeroPadding2D, Flatten, a standalone Activation)."""
    height, width, channels = image_shape
    rows, columns = -(-height // 4), -(-width // 4)
    keras.utils.set_random_seed(seed)
    z = keras.Input((latent_dim,))
    h = keras.layers.Dense(rows * columns * 16, activation="relu")(z)
    h = keras.layers.Reshape((rows, columns, 16))(h)
    h = keras.layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")(h)  # 2 rows x 2 columns
    h = keras.layers.ZeroPadding2D(((1, 0), (0, 1)))(h)
    h = keras.layers.Conv2D(12, 2, padding="valid", activation="elu")(h)  # 2 rows x 2 columns again
    h = keras.layers.Conv2D(12, 3, strides=2, padding="same", activation="tanh")(h)  # rows x columns
    h = keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(h)  # 4 rows x 4 columns
    h = keras.layers.Conv2DTranspose(channels, 3, padding="same")(h)
    h = keras.layers.Cropping2D(((0, 4 * rows - height), (4 * columns - width, 0)))(h)
    h = keras.layers.Flatten()(h)
    images = keras.layers.Activation("sigmoid")(h)
    model = keras.Model(z, images)
    for weight in model.weights:  # non-zero biases too, so that a bias in the wrong place shows
        weight.assign(np.random.default_rng(len(weight.path)).normal(0, 0.3, weight.shape).astype("float32"))
    return model


def test_the_page_computes_conv_decoders_as_keras_does(browser, tmp_path):
    # Greyscale 28x28 (divisible by 4) and RGB 30x26 (cropped), latent sizes 2 and 5.
    cases = [((28, 28, 1), 2), ((30, 26, 3), 5)]
    datasets, panels, decoders = [], [], []
    for index, (shape, latent_dim) in enumerate(cases):
        decoder = conv_decoder(latent_dim, shape, seed=index)
        decoders.append(decoder)
        spec = {**explore.export_decoder(decoder), "image_shape": list(shape)}
        x = np.random.default_rng(index).integers(0, 256, (40, *shape), dtype=np.uint8)
        codes = np.random.default_rng(index).normal(size=(40, latent_dim))
        datasets.append(explore.dataset_of(x, None, None, shape))  # no labels: coloured by density
        panels.append({"kind": "run", "title": f"conv {shape}", "path": "", "dataset": index, "initial": 0,
                       "members": [explore.member_of(spec, codes, f"conv {shape}")]})
    index_html = explore.write_page(tmp_path / "conv", {"format": explore.PAGE_FORMAT, "datasets": datasets,
                                                         "panels": panels})
    assert severe(open_explorer(browser, index_html)) == []
    assert browser.execute_script("return window.vaeExplorer.engine") == "webassembly-simd"
    for engine in (True, False):  # the convolutions in WebAssembly SIMD, then in the plain JavaScript fallback
        assert browser.execute_script("return window.vaeExplorer.useWebAssembly(arguments[0])", engine) == engine
        for run, ((shape, latent_dim), decoder) in enumerate(zip(cases, decoders)):
            codes = codes_of_size(latent_dim)
            expected = np.asarray(decoder(codes)).reshape(len(codes), -1)
            got = np.array([browser.execute_script("return window.vaeExplorer.decode(arguments[0], arguments[1])",
                                                   run, z.tolist()) for z in codes])
            assert got.shape == (5, int(np.prod(shape)))
            assert np.max(np.abs(got - expected)) <= 1 / 255, (engine, shape)
            assert expected.std() > 0.05  # the decoder's outputs vary: the comparison means something
    browser.execute_script("window.vaeExplorer.useWebAssembly(true); window.vaeExplorer.select(3)")
    assert "different data" in browser.find_element("id", "legend").text  # each panel has its own legend
    assert "density" in browser.find_element("css selector", ".panel .legend").text  # no labels: by density
    assert severe(browser.get_log("browser")) == []


class ContinuousBernoulliVAE:
    """A stand-in for a VAE with the continuous Bernoulli likelihood: `decode` is that distribution's mean."""

    likelihood_name = "continuous_bernoulli"
    image_shape = (28, 28, 1)

    def __init__(self, decoder):
        self.decoder = decoder
        self.logits = keras.Model(decoder.inputs, decoder.layers[-2].output)

    def decode(self, z, logits=False):
        import tensorflow_probability as tfp

        values = self.logits(np.asarray(z, np.float32))
        return np.asarray(values if logits else tfp.distributions.ContinuousBernoulli(logits=values).mean())


def test_the_page_computes_the_continuous_bernoulli_mean_as_tfp_does(browser, tmp_path):
    import tensorflow_probability as tfp

    logits = np.concatenate([np.linspace(-60, 60, 2001), [-1e-4, 0.0, 3e-4, 0.02]]).astype(np.float32)
    tfp_mean = tfp.distributions.ContinuousBernoulli(logits=logits).mean().numpy()
    assert np.max(np.abs(explore.continuous_bernoulli_mean(logits) - tfp_mean)) < 1e-5

    vae = ContinuousBernoulliVAE(conv_decoder(2, (28, 28, 1), seed=3))
    spec = explore.export_vae(vae)
    assert spec["likelihood"] == "continuous_bernoulli"
    assert spec["layers"][-1] == {"kind": "activation", "in": [784], "out": [784],
                                  "activation": "continuous_bernoulli_mean"}
    data = {"format": explore.PAGE_FORMAT, "datasets": [explore.dataset_of(np.zeros((4, 28, 28, 1)), np.arange(4))],
            "panels": [{"kind": "run", "title": "cb", "path": "", "dataset": 0, "initial": 0,
                        "members": [explore.member_of(spec, np.zeros((4, 2)), "cb")]}]}
    index_html = explore.write_page(tmp_path / "cb", data)
    assert severe(open_explorer(browser, index_html)) == []
    codes = codes_of_size(2)
    expected = vae.decode(codes).reshape(5, -1)
    got = np.array([browser.execute_script("return window.vaeExplorer.decode(0, arguments[0])", z.tolist())
                    for z in codes])
    assert np.max(np.abs(got - expected)) <= 1 / 255
    sigmoid = 1 / (1 + np.exp(-vae.decode(codes, logits=True).reshape(5, -1)))
    assert np.max(np.abs(got - sigmoid)) > 0.01  # the mean, not the sigmoid


def test_a_layer_the_page_cannot_compute_is_refused_in_one_line():
    z = keras.Input((2,))
    h = keras.layers.Dense(8)(z)
    h = keras.layers.BatchNormalization(name="norm")(h)
    with pytest.raises(explore.ExportError, match="'norm' is a BatchNormalization, which the explorer cannot"):
        explore.export_decoder(keras.Model(z, h))
    with pytest.raises(explore.ExportError, match="activation 'gelu'"):
        explore.export_decoder(keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="gelu")]))
    a = keras.Input((2,))
    branch = keras.layers.Add()([keras.layers.Dense(4)(a), keras.layers.Dense(4)(a)])
    with pytest.raises(explore.ExportError):
        explore.export_decoder(keras.Model(a, branch))


def test_the_export_is_json_with_shapes(tiny_run):
    spec = explore.export_vae(Run.open(tiny_run).model())
    json.dumps(spec)
    assert spec["latent_dim"] == 2 and spec["output_size"] == 784 and spec["image_shape"] == [28, 28, 1]
    assert [(layer["kind"], layer["activation"]) for layer in spec["layers"]] == \
        [("dense", "relu"), ("dense", "linear"), ("activation", "sigmoid")]


def test_bad_input_is_refused_in_one_line(tiny_run, tmp_path, refused):
    refused(explore.main, [str(tmp_path / "missing"), "--out", str(tmp_path / "page")], "is not a")
    assert not (tmp_path / "page").exists()  # nothing made for a wrong RUNDIR
    refused(explore.main, [str(tiny_run), "--out", str(tmp_path / "page"), "--test-images", "0"], "must be at least 1")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "index.html").write_text("mine")
    refused(explore.main, [str(tiny_run), "--out", str(tmp_path / "taken")], "--overwrite")
    assert (tmp_path / "taken" / "index.html").read_text() == "mine"
