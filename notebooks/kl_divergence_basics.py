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
# # KL divergence basics
#
# The Kullback-Leibler divergence $D(P\,\|\,Q) = \sum_x P(x)\log\frac{P(x)}{Q(x)}$ measures how
# much information is lost when $Q$ is used in place of $P$. This notebook reproduces the worked
# examples of the report *An Expose on Kullback-Leibler Divergence* with `vae_tf.kl`, the package's
# one home of every KL formula, and checks the Gaussian closed forms four ways.

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

import matplotlib.pyplot as plt
import numpy as np
import tensorflow_probability as tfp

from vae_tf import kl, plots
from vae_tf.kl import primers

tfd = tfp.distributions
print("quick mode" if QUICK else "full mode")

# %% [markdown]
# ## 1. The report's discrete example
#
# $p = [0.1, 0.4, 0.5]$, $q = [0.8, 0.15, 0.05]$, $r = [0.85, 0.1, 0.05]$, in nats (natural log)
# and bits (log base 2).

# %%
p, q, r = primers.REPORT_P, primers.REPORT_Q, primers.REPORT_R
pairs = {"D(p||q)": (p, q), "D(q||r)": (q, r), "D(p||p)": (p, p), "D(q||p)": (q, p)}
print(f"{'':8} {'nats':>10} {'bits':>10}")
for name, (a, b) in pairs.items():
    print(f"{name:8} {kl.kl_discrete(a, b):10.6f} {kl.kl_discrete(a, b, units='bits'):10.6f}")

# %% [markdown]
# $q$ and $r$ are nearly the same distribution, so $D(q\|r)$ is small; $p$ is far from $q$.
# $D(p\|q) \ne D(q\|p)$: the divergence is not symmetric, so it is not a distance.
# It is also cross-entropy minus entropy, $D(P\|Q) = H(P, Q) - H(P)$:

# %%
print(
    f"H(p, q) = {kl.cross_entropy(p, q):.6f}, H(p) = {kl.entropy(p):.6f}, "
    f"difference = {kl.cross_entropy(p, q) - kl.entropy(p):.6f}, D(p||q) = {kl.kl_discrete(p, q):.6f}"
)

# %% [markdown]
# Conventions: a term with $P(x) = 0$ contributes 0; $P(x) > 0$ where $Q(x) = 0$ makes the
# divergence infinite. The functions are batched along the last axis, and inputs that are not
# probability vectors are refused with a message that names the problem; counts can be
# normalised explicitly.

# %%
print("D([0.5, 0.5, 0] || [0.5, 0.25, 0.25]) =", kl.kl_discrete([0.5, 0.5, 0.0], [0.5, 0.25, 0.25]))
print("D([0.5, 0.25, 0.25] || [0.5, 0.5, 0]) =", kl.kl_discrete([0.5, 0.25, 0.25], [0.5, 0.5, 0.0]))
print("batched, D(each of p, q, r || q):", kl.kl_discrete(np.array([p, q, r]), q))
print("counts [1, 2, 7] vs [5, 3, 2], normalised:", kl.kl_discrete([1, 2, 7], [5, 3, 2], normalize=True))
for bad in ([0.2, 0.3], [-0.5, 1.5]):
    try:
        kl.kl_discrete(bad, [0.5, 0.5])
    except ValueError as error:
        print("ValueError:", error)

# %% [markdown]
# ## 2. The report's histogram example
#
# The report's "video compression" story: with `np.random.seed(42)`, draw the *original data*
# A (300 draws of N(3, 0.5²) then 700 of N(5, 0.5²)), a *conventional compression* B (1000 draws
# of N(4, 1)) and a *deep-learning compression* C (400 of N(3, 0.5²) then 600 of N(5, 0.5²));
# histogram each on `linspace(1, 7, 20)` with `density=True`, and compare A with B and with C.

# %%
results = primers.histogram_example()
width = np.diff(primers.HISTOGRAM_BINS)[0]
print(f"bin width = 6/19 = {width:.6f}")
print(f"{'':8} {'report figure':>14} {'x bin width':>12} {'= true KL':>10}")
for name, result in results.items():
    print(f"A vs {name}   {result.report_value:14.6f} {result.report_value * width:12.6f} {result.kl:10.6f}")
print(
    "draws outside [1, 7] (dropped by np.histogram):",
    {n: r.outside_q for n, r in results.items()},
    "and",
    results["B"].outside_p,
    "of A",
)
plots.histograms(results)

# %% [markdown]
# **Why the report's figure is not a KL.** The report sums `rel_entr(A_hist, B_hist)` over the
# bins on *density* values $p_i, q_i$ (each bin's probability divided by its width $w$). The
# KL between the two histogram densities is the integral $\int p \log(p/q)\,dx =
# \sum_i w\, p_i \log(p_i/q_i)$, i.e. the discrete KL of the bin probabilities $w p_i$ and
# $w q_i$. The report's sum omits the factor $w = 6/19$, so it is the true value divided by
# $w$, here 19/6 = 3.17 times too large. Worse, it depends on the bins alone: halve the
# width and the figure roughly doubles, while the true KL stays put near the KL of the densities
# the samples were drawn from. Both comparisons are scaled by the same factor, so the report's
# ranking (C is much closer to A than B is) survives; its numbers do not.

# %%
A, B, C = primers.histogram_samples()


def mixture(w):
    return tfd.MixtureSameFamily(tfd.Categorical(probs=[w, 1 - w]), tfd.Normal([3.0, 5.0], [0.5, 0.5]))


x = np.linspace(-3.0, 11.0, 20001).astype("float32")
print(
    "KL of the generating densities (numerical):",
    f"A vs B {float(kl.kl_numerical(mixture(0.3), tfd.Normal(4.0, 1.0), x)):.4f},",
    f"A vs C {float(kl.kl_numerical(mixture(0.3), mixture(0.4), x)):.4f}",
)
columns = " | ".join(f"{'report A-' + n:>10} {'true A-' + n:>9} {'smoothed':>9}" for n in "BC")
print(f"{'bins':>5} {'width':>7} | {columns}")
for n_bins in (10, 19, 38, 76):
    edges = np.linspace(1, 7, n_bins + 1)
    row = []
    for other in (B, C):
        raw = kl.histogram_kl(A, other, edges)
        smoothed = kl.histogram_kl(A, other, edges, smoothing=0.5)
        row.append(f"{raw.report_value:10.4f} {raw.kl:9.4f} {smoothed.kl:9.4f}")
    print(f"{n_bins:5d} {6 / n_bins:7.4f} | " + " | ".join(row))

# %% [markdown]
# With finer bins some bins of B or C are empty where A is not and the raw KL is infinite;
# `smoothing=0.5` (half a count added to every bin) keeps it finite, at the price of a bias
# that grows as the bins get sparser.
#
# ## 3. Gaussians, four ways
#
# `kl.kl_gaussian` is the closed form
# $\log\frac{s_2}{s_1} + \frac{s_1^2 + (m_1 - m_2)^2}{2 s_2^2} - \frac12$. It must agree with
# TFP's analytic KL (`kl.kl_analytic`), numerical integration on a fine grid (`kl.kl_numerical`)
# and a Monte-Carlo estimate with its standard error (`kl.kl_monte_carlo`).

# %%
num_samples = 20_000 if QUICK else 200_000
pairs = [(0.0, 1.0, 1.0, 1.0), (0.0, 1.0, 0.0, 2.0), (1.5, 0.5, -1.0, 2.5), (-3.0, 3.0, 2.0, 0.7)]
print(f"{'P':>12} {'Q':>12} | {'closed':>9} {'TFP':>9} {'numerical':>9} {'Monte Carlo':>18} {'|MC-closed|/SE':>14}")
for m1, s1, m2, s2 in pairs:
    P, Q = tfd.Normal(np.float64(m1), np.float64(s1)), tfd.Normal(np.float64(m2), np.float64(s2))
    closed = float(kl.kl_gaussian(np.float64(m1), s1, m2, s2))
    mc = kl.kl_monte_carlo(P, Q, num_samples=num_samples, seed=0)
    print(
        f"N({m1:g}, {s1:g}²)".rjust(12),
        f"N({m2:g}, {s2:g}²)".rjust(12),
        "|",
        f"{closed:9.6f} {float(kl.kl_analytic(P, Q)):9.6f} {float(kl.kl_numerical(P, Q)):9.6f}",
        f"{float(mc.estimate):9.5f} ± {float(mc.standard_error):.5f}",
        f"{abs(float(mc.estimate) - closed) / float(mc.standard_error):14.2f}",
    )

# %% [markdown]
# The VAE's regulariser is the KL of the encoder's diagonal Gaussian
# $N(\mu, \mathrm{diag}(e^{\log\sigma^2}))$ against $N(0, I)$, summed over the latent
# dimensions: `kl.kl_standard_normal(z_mean, z_log_var)`. The model trains with the TFP version,
# `kl.kl_standard_normal_tfp`; both agree with the diagonal closed form and with Monte Carlo.

# %%
rng = np.random.default_rng(0)
z_mean, z_log_var = rng.normal(size=(4, 2)), rng.normal(scale=0.8, size=(4, 2))
posterior, prior = kl.diag_gaussian(z_mean, z_log_var), kl.standard_normal_prior(2, dtype="float64")
mc = kl.kl_monte_carlo(posterior, prior, num_samples=num_samples, seed=1)
print("closed form :", kl.kl_standard_normal(z_mean, z_log_var).numpy())
print("TFP analytic:", kl.kl_standard_normal_tfp(z_mean, z_log_var).numpy())
print("diagonal    :", kl.kl_diag_gaussian(z_mean, np.exp(0.5 * z_log_var), 0.0, 1.0).numpy())
print("Monte Carlo :", mc.estimate.numpy(), "+-", mc.standard_error.numpy())

# %% [markdown]
# ## 4. Asymmetry
#
# $D(P\|Q)$ and $D(Q\|P)$ differ. For $P = N(0, 1)$ and $Q = N(0, s^2)$: a too-narrow $Q$ is
# punished much harder in $D(P\|Q)$ (Q misses mass P has) than a too-wide one.

# %%
s = np.linspace(0.25, 4.0, 200)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(s, kl.kl_gaussian(0.0, 1.0, 0.0, s).numpy(), label="D(N(0,1) || N(0,s²))")
ax.plot(s, kl.kl_gaussian(0.0, s, 0.0, 1.0).numpy(), label="D(N(0,s²) || N(0,1))")
ax.set(xlabel="s", ylabel="nats", ylim=(0, 4), title="KL is not symmetric")
ax.legend()
plt.show()
