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
# # Fitting a Gaussian to a two-peaked target
#
# The primer's experiment: the target is the plain sum $P(x) = N(x; -5, 1) + N(x; 10, 1)$
# (it integrates to 2) on $x$ = `linspace(-15, 15, 1000)`; $Q = N(\mu, \sigma)$ with $\mu$ and
# $\sigma$ themselves trained by Adam, learning rate 1e-3, 10,000 steps, from $(\mu_0, \sigma_0)$
# = (0, 1) and (5, 1). The losses (mean over the grid points):
#
# | loss | what it is |
# |---|---|
# | `kl_div` | $P(\log P - \log Q)$: forward KL (with $\log Q$ from the log-density, never `log(exp(.))`) |
# | `reverse_kl` | $Q(\log Q - \log P)$: reverse KL |
# | `mse` | $(Q - P)^2$ |
# | `l1` | $\lvert Q - P\rvert$ |
# | `cosine` | minus the cosine similarity of the vectors $Q(x)$ and $P(x)$ |
#
# The same runs from the shell: `python -m vae_tf.fit --table`, or one at a time with
# `python -m vae_tf.fit --loss kl_div --mu0 0 --sigma0 1` (writes a PNG and a GIF).

# %%
# %matplotlib inline
import importlib.util
import os
import sys
from pathlib import Path

# VAE_TF_QUICK=1 (set by the tests) shrinks every experiment so the notebook runs in seconds.
QUICK = os.environ.get("VAE_TF_QUICK") == "1"
if importlib.util.find_spec("vae_tf") is None:  # a checkout without `pip install -e .`: the package is one folder up
    sys.path.insert(0, str(Path.cwd().parent))

import numpy as np

from vae_tf import plots
from vae_tf.kl import fitting

print("quick mode" if QUICK else "full mode")

# %%
steps = 300 if QUICK else fitting.DEFAULT_STEPS
results = fitting.fit_table(steps=steps)  # every loss from (0, 1), then from (5, 1)
print(fitting.format_table(results))
target = np.exp(fitting.target_log_density(fitting.GRID).numpy())  # P on the grid, for the figures

# %%
plots.final_fits(results, fitting.GRID, target)

# %% [markdown]
# **What happens.** The KL fit (`kl_div`) ends between the peaks at $\mu \approx 2.5$ from both
# starts and widens ($\sigma$ from 1 to about 5.2, still growing toward the moment-matching 7.57).
# MSE, L1, cosine and the reverse KL lock onto the nearest single peak with $\sigma = 1$:
# $-5$ from $\mu_0 = 0$ and $10$ from $\mu_0 = 5$. The start decides which peak.

# %%
plots.fit_summary(results[0], fitting.GRID, target, fitting.PEAKS)  # kl_div from (0, 1)

# %%
mse_from_5 = next(r for r in results if r.loss_name == "mse" and r.mu0 == 5.0)
plots.fit_summary(mse_from_5, fitting.GRID, target, fitting.PEAKS)

# %% [markdown]
# ## The animation
#
# Q moving toward P under the forward KL, from $\mu_0 = 0$ (the GIF is written with matplotlib's
# `PillowWriter`; `python -m vae_tf.fit` writes one for every run). The committed full-run version:
#
# ![kl_div from mu0 = 0](../docs/figures/fit_kl_div_mu0.gif)

# %%
import tempfile

from IPython.display import Image, display

gif = Path(tempfile.mkdtemp()) / "kl_div_mu0.gif"
plots.save_fit_animation(results[0], gif, fitting.GRID, target, frames=5 if QUICK else 30)
print(f"{gif.name}: {gif.stat().st_size / 1024:.0f} KiB")
display(Image(filename=str(gif)))
