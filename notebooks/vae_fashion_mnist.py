# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The report's VAE on Fashion-MNIST: what the KL term does
#
# The course report *"An Expose on Kullback-Leibler Divergence"* trains a small variational
# autoencoder (784 -> 100 -> 2 -> 100 -> 784) on the 60,000 Fashion-MNIST training images three
# times: **with** the KL term, **without** it, and with an **MSE** penalty **instead of** it. It then
# compares where the 2-d latent codes land, decodes a grid of codes, and compares storage sizes.
#
# This notebook tells that story with `vae_tf`'s API. The same results come from the command line:
#
#     python -m vae_tf.compare --out runs/compare     # train the three variants, compare the codes
#     python -m vae_tf.plot runs/compare/kl           # one run's scatter, grid, reconstructions, losses
#     python -m vae_tf.compress runs/compare/kl       # the storage comparison
#
# The outputs saved with this notebook come from a full run (all 60,000 images, 10 epochs per
# variant, about 30 s each on a CPU). Set `VAE_TF_QUICK=1` to run it on 2,000 images for one epoch.

# %%
# %matplotlib inline
import os
from pathlib import Path

from IPython.display import Markdown, display

import vae_tf
from vae_tf import plots
from vae_tf.analysis.comparison import train_variants
from vae_tf.analysis.compression import compression_report, format_table
from vae_tf.analysis.spread import latent_spread, spread_markdown, spread_report
from vae_tf.config import VARIANT_TITLES
from vae_tf.data import load_run_data
from vae_tf.plots import grid_bounds
from vae_tf.rundir import Run

QUICK = os.environ.get("VAE_TF_QUICK") == "1"
RUNS = Path(os.environ.get("VAE_TF_NOTEBOOK_RUNS", "../runs/notebook"))
# The report's settings are TrainConfig's defaults; quick mode only shrinks the data and the epochs.
config = vae_tf.TrainConfig(limit=2000, epochs=1) if QUICK else vae_tf.TrainConfig()
print("quick mode" if QUICK else "full run", config)

# %% [markdown]
# ## Train the three variants
#
# `train_variants` trains each variant from scratch with the same seed and settings, only the
# regulariser differs, and writes one run directory per variant (what `python -m vae_tf.train`
# writes). The log shows Keras' running means of each loss term per epoch; `kl_loss` is tracked in
# every variant, but only the `kl` variant minimises it.

# %%
paths = train_variants(config, RUNS, overwrite=True, verbose=0 if QUICK else 2)
runs = {variant: Run.open(path) for variant, path in paths.items()}

# %%
rows = [
    "| variant | " + " | ".join(name for name in runs["mse"].history()[-1] if name != "epoch") + " |",
    "|---|" + "---:|" * (len(runs["mse"].history()[-1]) - 1),
]
for variant, run in runs.items():
    last = run.history()[-1]
    cells = [f"{last[name]:.3f}" if name in last else "" for name in runs["mse"].history()[-1] if name != "epoch"]
    rows.append(f"| {VARIANT_TITLES[variant]} | " + " | ".join(cells) + " |")
display(Markdown("Last epoch of each run (seconds: the epoch's wall time):\n\n" + "\n".join(rows)))

# %% [markdown]
# ## Where the codes land
#
# The report plots the sampled codes `z` of all training images, coloured by class. The top row
# gives each variant its own axes; the bottom row puts all three on the same axes, so that the
# difference in spread shows at a glance.

# %%
latents = {variant: run.latents() for variant, run in runs.items()}
plots.comparison({variant: (arrays["z"], arrays.get("y")) for variant, arrays in latents.items()})

# %%
stats = {variant: latent_spread(arrays["z"]) for variant, arrays in latents.items()}
display(Markdown(spread_markdown(stats)))

# %% [markdown]
# The report's claim is that with the KL term the codes stay within a few units of zero, and that
# without it they spread an order of magnitude wider. The ratios of the standard deviations and of
# the ranges, without KL over with KL, per latent dimension:

# %%
ratios = spread_report(stats)["ratio_none_to_kl"]
for dim, (std, span) in enumerate(zip(ratios["std"], ratios["range"]), start=1):
    print(f"latent dimension {dim}: std {std:.1f}x wider, range {span:.1f}x wider")
print(
    "share of codes inside [-3, 3]^2: "
    + ", ".join(f"{VARIANT_TITLES[v]} {100 * s['share_inside_box']:.1f}%" for v, s in stats.items())
)

# %% [markdown]
# Without the KL term nothing ties the codes to a scale: the decoder only needs them apart, and
# they drift out to tens of units. The KL term pulls each image's posterior towards N(0, I), so the
# codes fill a disc of a few units around zero, classes side by side. The MSE penalty pulls
# `z_mean` to 0 and `z_log_var` to 1, i.e. a posterior *variance* of e = 2.7 rather than 1: the
# sampling noise then swamps the means, and the classes mix.
#
# ## Decoding a grid of codes
#
# As in the report, a 10 x 10 grid of codes spanning each coordinate's min..max over the sampled
# codes, decoded into images. Where the codes are dense (with KL), every grid point decodes to a
# garment; without KL, much of the rectangle lies where no training code is.

# %%
models = {variant: run.model() for variant, run in runs.items()}


def grid_figure(variant, grid_range=None):
    lo, hi, fill, where = grid_bounds(latents[variant]["z"], grid_range)
    return plots.generated_grid(
        models[variant].decode,
        lo,
        hi,
        10,
        fill,
        title=f"{VARIANT_TITLES[variant]}: decoded {where}",
    )


grid_figure("kl")

# %%
grid_figure("none")

# %%
grid_figure("mse")

# %% [markdown]
# ## Reconstructions
#
# Test images (top) and what the decoder makes of their mean code `z_mean` (bottom). Two numbers
# per image keep the kind of garment and its rough shape, not its details.

# %%
examples = load_run_data(runs["kl"], test_limit=10).x_test  # the run's own data (config.json), uint8
plots.reconstructions(
    examples,
    models["kl"].decode(models["kl"].encode(examples)[0]),
    title="with KL: test images (top), decoded from z_mean (bottom)",
)

# %% [markdown]
# ## "Compression"
#
# The report compares the training images as the float64 array `x / 255.` with the float32 codes:
# a ratio of 784. The table below reproduces that, then adds what the ratio leaves out: the images
# are 8-bit (uint8, and a gzip'd file smaller still), the decoder's weights are part of any
# "compressed" file, and the codes are lossy. Their reconstruction quality on the 10,000 test images
# is set against PCA with the same number of components, the obvious baseline at the same size,
# and against storing nothing but the mean image.

# %%
compression = compression_report(runs["kl"], progress=lambda _: None)
print(format_table(compression))

# %% [markdown]
# Read with the quality rows: at two numbers per image, the VAE's reconstructions beat PCA's, and
# both beat the mean image; neither is close to the images themselves. The 784x of the report is a
# statement about array dtypes and shapes, not about what a file of codes preserves.
