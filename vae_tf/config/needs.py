"""What each setting needs in order to act: one rule for every setting, one table.

A setting given a value other than its default must be able to act; when what it needs is not
there it is refused in one line naming what it needs (`--filters 64 cannot act: it needs
--architecture conv ...`), never accepted silently. `NEEDS` maps a `TrainConfig` field to
(a test of the whole config, what it needs in words). To add a setting that acts only with
another, add its row here: `TrainConfig.__post_init__` applies the table to every field.

Rules that need the data itself (a `folder:DIR` with train/ and test/ has no use for
--test-fraction) are applied where the data is read (`vae_tf.data.sources`), in the same words.
"""

from __future__ import annotations

import dataclasses

FOLDER = "--dataset folder:DIR"


def _folder(config) -> bool:
    return config.dataset.startswith("folder:")


# field -> (can it act in this config?, what it needs to act, in words after "it needs")
NEEDS = {
    "filters": (lambda c: c.architecture == "conv", "--architecture conv (the MLP has no convolutions)"),
    "image_size": (_folder, f"{FOLDER} (the other sources have one fixed image size)"),
    "color": (_folder, f"{FOLDER} (the other sources have one fixed colour)"),
    "test_fraction": (_folder, f"{FOLDER} without train/ and test/ (the other sources have a fixed split)"),
    "data_dir": (lambda c: c.dataset in ("fashion_mnist", "mnist") or c.dataset.startswith("tfds:"),
                 "--dataset fashion_mnist, mnist or tfds:NAME (the IDX collections and TFDS' prepared data sets; "
                 "npz:, folder: and shards: name their own path, digits ships with scikit-learn)"),
    "flow_steps": (lambda c: c.posterior == "iaf", "--posterior iaf"),
    "prior_components": (lambda c: c.prior in ("mixture", "vamp"), "--prior mixture or vamp"),
    "xla": (lambda c: c.fast, "the fast path (drop --no-fast: the report's path compiles nothing)"),
    "warmup_epochs": (lambda c: c.beta_schedule == "linear", "--beta-schedule linear"),
    "cycles": (lambda c: c.beta_schedule == "cyclical", "--beta-schedule cyclical"),
    "ramp_fraction": (lambda c: c.beta_schedule == "cyclical", "--beta-schedule cyclical"),
    "capacity_epochs": (lambda c: c.capacity > 0, "--capacity C > 0"),
    "free_bits": (lambda c: c.regularizer == "kl", "--regularizer kl (it acts on the KL term)"),
    "capacity": (lambda c: c.regularizer == "kl", "--regularizer kl (it acts on the KL term)"),
    "gaussian_variance": (lambda c: c.likelihood == "gaussian", "--likelihood gaussian"),
}


def inert_setting(config) -> str | None:
    """The first setting of `config` (a `TrainConfig`) given a value that cannot act, as one sentence, or None."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name in NEEDS and value != field.default and not NEEDS[field.name][0](config):
            shown = " ".join(map(str, value)) if isinstance(value, list) else value
            name = "--" + field.name.replace("_", "-")
            return (f"{name} {shown} cannot act: it needs {NEEDS[field.name][1]}; drop {name}, or give what it "
                    "needs.")
    return None
