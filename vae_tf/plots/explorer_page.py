"""The explorer's page (`python -m vae_tf.explore`): what its data.js holds, and its files.

`page_data_of` gathers the page's data: each run's decoder (`vae_tf.plots.explorer_export`) and
the codes of its test images (`member`, `member_of`), and the test images themselves, shared by
the runs trained on the same data (`load_test_images`, `dataset_of`). `page_files` gives the page's
files as text: index.html, explorer.js and explorer.css, copied from the package's page
(`explorer/`), and data.js. Runs are read through their own methods (`run.model()`,
`run.snapshots()`); opening run and sweep directories is the command's (`vae_tf.explore.open_panel`).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np

from vae_tf.core.errors import UsageError
from vae_tf.plots.explorer_export import b64, export_vae

ASSETS = ("index.html", "explorer.js", "explorer.css")
DATA = "data.js"
OUTPUTS = (*ASSETS, DATA)
# About 200 test images per class: enough to see the classes' shapes, small enough for a light page
# (about 0.8 KB per greyscale 28x28 image, shared by the runs, plus 8 bytes per code and run).
DEFAULT_TEST_IMAGES = 2000
PAGE_FORMAT = 1


def load_test_images(run, limit: int, data_dir=None) -> dict:
    """The first `limit` test images of the data `run` was trained on (`vae_tf.data.opening.load_run_test_data`).

    Returns:
      {"key": what identifies the data (runs with the same key share the images), "x": uint8
      (N, H*W*C) (what the page shows), "images": the images as loaded (N, H, W, C) (what the model
      encodes), "y": int (N,) or None, "class_names": list or None, "image_shape": [H, W, C]}.
    """
    from vae_tf.data.opening import load_run_test_data

    data = load_run_test_data(run, data_dir=data_dir, test_limit=limit)  # a streamed run's: only these images
    images, y = data.split("test")
    x = np.asarray(images).reshape(len(images), -1)
    if x.dtype != np.uint8:  # float32 images in [0, 1]: the page stores bytes
        x = np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)
    spec = data.spec
    return {"key": f"{spec.source} {spec.fingerprint}", "x": x, "images": images,
            "y": None if y is None else np.asarray(y),
            "class_names": None if spec.class_names is None else list(spec.class_names),
            "image_shape": [int(size) for size in spec.image_shape]}


def member(run, x) -> dict:
    """One trained run as the page shows it (see `member_of`), with the codes of its test images x.

    Args:
      run: a `vae_tf.rundir.Run`.
      x: its test images, as `vae.encode` takes them (N, H, W, C).

    Returns:
      `member_of`'s dict: the run's title, path, beta, decoder (`export_vae`), codes z_mean (N, D)
      and its snapshots (of the first n <= N test images) or None.
    """
    vae = run.model()
    snapshots = run.snapshots()
    if snapshots is not None:
        count = min(len(snapshots["y"]), len(x))  # the snapshots hold the first 2,000 test images
        snapshots = {"epoch": snapshots["epoch"], "z_mean": np.asarray(snapshots["z_mean"])[:, :count]}
    return member_of(export_vae(vae), vae.encode(x)[0], title=run.title, path=str(run.path),
                     beta=float(run.settings.get("beta", 1.0)), snapshots=snapshots)


def member_of(decoder: dict, z_mean, title: str, path: str = "", beta: float = 1.0, snapshots=None) -> dict:
    """A decoder and its codes as the page's data holds them (one run of a panel).

    Args:
      decoder: `export_vae` (or `export_decoder` with an `image_shape`).
      z_mean: the codes of the panel's test images, (N, D).
      title, path, beta: how the page names the run.
      snapshots: None, or {"epoch": (E,), "z_mean": (E, n, D)} of the first n <= N test images.

    Returns:
      {"title", "path", "beta", "latent_dim", "decoder", "codes" (base64 float32 (N, D)), "count" N,
      "snapshots": None or {"epochs", "count" n, "z_mean" (base64 float32 (E, n, D))}}.
    """
    z_mean = np.asarray(z_mean, np.float32)
    if z_mean.ndim != 2 or z_mean.shape[1] != decoder["latent_dim"]:
        raise ValueError(f"z_mean must be (N, {decoder['latent_dim']}); got {z_mean.shape}.")
    shown = None
    if snapshots is not None:
        frames = np.asarray(snapshots["z_mean"], np.float32)
        shown = {"epochs": [int(epoch) for epoch in snapshots["epoch"]], "count": int(frames.shape[1]),
                 "z_mean": b64(frames, "float32")}
    return {"title": title, "path": path, "beta": float(beta), "latent_dim": decoder["latent_dim"],
            "decoder": decoder, "codes": b64(z_mean, "float32"), "count": len(z_mean), "snapshots": shown}


def dataset_of(x, y=None, class_names=None, image_shape=(28, 28, 1)) -> dict:
    """Test images as the page's data holds them (shown when a point is clicked).

    Args:
      x: uint8 images (N, H*W*C) or (N, H, W[, C]).
      y: their labels (N,) (colours the codes by class), or None (coloured by density).
      class_names: the labels' names, or None.
      image_shape: [H, W, C].

    Returns:
      {"image_shape", "class_names", "count" N, "images" (base64 uint8 (N, H*W*C)), "labels"
      (base64 uint8 (N,) or None)}.
    """
    x = np.asarray(x, np.uint8)
    return {"image_shape": [int(size) for size in image_shape], "class_names": class_names, "count": len(x),
            "images": b64(x.reshape(len(x), -1), "uint8"), "labels": None if y is None else b64(y, "uint8")}


def page_data_of(opened, limit: int = DEFAULT_TEST_IMAGES, data_dir=None, progress=print) -> dict:
    """Everything the page shows of opened panels, as JSON-ready values (what data.js holds).

    Args:
      opened: (path, kind, runs) per panel, in the order shown: kind "run" with one
        `vae_tf.rundir.Run`, or "sweep" with a sweep's runs by beta (`vae_tf.explore.open_panel`).
      limit: test images per run.
      data_dir: where the test images are (None: where each run found its data).

    Returns:
      {"format", "datasets": [`dataset_of`...], "panels": [{"kind", "title", "path", "dataset",
      "initial", "members": [`member`...]}]}.

    Raises:
      UsageError: the runs of one sweep were trained on different data.
    """
    datasets, images_of, panels = [], {}, []
    for path, kind, runs in opened:
        members, dataset = [], None
        for run in runs:
            images = load_test_images(run, limit, data_dir)
            if images["key"] not in images_of:
                images_of[images["key"]] = (len(datasets), images["images"])
                datasets.append(dataset_of(images["x"], images["y"], images["class_names"], images["image_shape"]))
            index, x = images_of[images["key"]]
            if dataset is not None and index != dataset:
                raise UsageError(f"the runs of the sweep {path} were trained on different data; explore them "
                                 "one by one.")
            dataset = index
            progress(f"explore: exporting {run.path} ({run.title})")
            members.append(member(run, x))
        title = runs[0].title if kind == "run" else f"sweep {Path(path).name}"
        panels.append({"kind": kind, "title": title, "path": str(path), "dataset": dataset, "members": members,
                       "initial": 0 if kind == "run" else _nearest_beta(members, 1.0)})
    return {"format": PAGE_FORMAT, "datasets": datasets, "panels": panels}


def _nearest_beta(members, beta: float) -> int:
    return int(np.argmin([abs(np.log1p(entry["beta"]) - np.log1p(beta)) for entry in members]))


def page_files(data: dict) -> dict[str, str]:
    """The page's files as text: index.html, explorer.js, explorer.css (the package's page) and data.js (`data`).

    Returns:
      {name: text}, the names of `OUTPUTS`.
    """
    page = resources.files("vae_tf.plots") / "explorer"
    files = {name: (page / name).read_text(encoding="utf-8") for name in ASSETS}
    files[DATA] = "window.VAE_EXPLORER_DATA = " + json.dumps(data, separators=(",", ":")) + ";\n"
    return files
