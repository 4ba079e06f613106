"""Build, execute and save the three KL notebooks, and the README figures of the KL section.

    python notebooks/build_kl_notebooks.py              # write + execute the notebooks (full runs)
    python notebooks/build_kl_notebooks.py --figures    # also redraw docs/figures/*.png|gif
    python notebooks/build_kl_notebooks.py --no-execute # write them without outputs

The notebooks read VAE_TF_QUICK=1 to shrink every experiment (10,000 Adam steps -> 300,
coarser grids) so that tests/test_kl_notebooks.py can execute them in seconds. Committed
notebooks are executed in full. They only call vae_tf; no KL formula is written in them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIGURES = REPO / "docs" / "figures"
NOTEBOOKS = ("kl_divergence_basics", "forward_vs_reverse_kl", "fit_gaussian_to_mixture")

SETUP = """\
%matplotlib inline
import os
import sys
from pathlib import Path

# VAE_TF_QUICK=1 (set by the tests) shrinks every experiment so the notebook runs in seconds.
QUICK = os.environ.get("VAE_TF_QUICK") == "1"
try:
    import vae_tf
except ImportError:  # a checkout without `pip install -e .`: the package is one folder up
    sys.path.insert(0, str(Path.cwd().parent))
    import vae_tf

import matplotlib.pyplot as plt
import numpy as np
import tensorflow_probability as tfp

from vae_tf import fit, kl, primers

tfd = tfp.distributions
print("quick mode" if QUICK else "full mode")"""


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str):
    return new_code_cell(text.strip("\n"))


def kl_divergence_basics():
    return [
        md("""
# KL divergence basics

The Kullback-Leibler divergence $D(P\\,\\|\\,Q) = \\sum_x P(x)\\log\\frac{P(x)}{Q(x)}$ measures how
much information is lost when $Q$ is used in place of $P$. This notebook reproduces the worked
examples of the report *An Expose on Kullback-Leibler Divergence* with `vae_tf.kl`, the package's
one home of every KL formula, and checks the Gaussian closed forms four ways.
"""),
        code(SETUP),
        md("""
## 1. The report's discrete example

$p = [0.1, 0.4, 0.5]$, $q = [0.8, 0.15, 0.05]$, $r = [0.85, 0.1, 0.05]$, in nats (natural log)
and bits (log base 2).
"""),
        code("""
p, q, r = primers.REPORT_P, primers.REPORT_Q, primers.REPORT_R
pairs = {"D(p||q)": (p, q), "D(q||r)": (q, r), "D(p||p)": (p, p), "D(q||p)": (q, p)}
print(f"{'':8} {'nats':>10} {'bits':>10}")
for name, (a, b) in pairs.items():
    print(f"{name:8} {kl.kl_discrete(a, b):10.6f} {kl.kl_discrete(a, b, units='bits'):10.6f}")
"""),
        md("""
$q$ and $r$ are nearly the same distribution, so $D(q\\|r)$ is small; $p$ is far from $q$.
$D(p\\|q) \\ne D(q\\|p)$: the divergence is not symmetric, so it is not a distance.
It is also cross-entropy minus entropy, $D(P\\|Q) = H(P, Q) - H(P)$:
"""),
        code("""
print(f"H(p, q) = {kl.cross_entropy(p, q):.6f}, H(p) = {kl.entropy(p):.6f}, "
      f"difference = {kl.cross_entropy(p, q) - kl.entropy(p):.6f}, D(p||q) = {kl.kl_discrete(p, q):.6f}")
"""),
        md("""
Conventions: a term with $P(x) = 0$ contributes 0; $P(x) > 0$ where $Q(x) = 0$ makes the
divergence infinite. The functions are batched along the last axis, and inputs that are not
probability vectors are refused with a message that names the problem; counts can be
normalised explicitly.
"""),
        code("""
print("D([0.5, 0.5, 0] || [0.5, 0.25, 0.25]) =", kl.kl_discrete([0.5, 0.5, 0.0], [0.5, 0.25, 0.25]))
print("D([0.5, 0.25, 0.25] || [0.5, 0.5, 0]) =", kl.kl_discrete([0.5, 0.25, 0.25], [0.5, 0.5, 0.0]))
print("batched, D(each of p, q, r || q):", kl.kl_discrete(np.array([p, q, r]), q))
print("counts [1, 2, 7] vs [5, 3, 2], normalised:", kl.kl_discrete([1, 2, 7], [5, 3, 2], normalize=True))
for bad in ([0.2, 0.3], [-0.5, 1.5]):
    try:
        kl.kl_discrete(bad, [0.5, 0.5])
    except ValueError as error:
        print("ValueError:", error)
"""),
        md("""
## 2. The report's histogram example

The report's "video compression" story: with `np.random.seed(42)`, draw the *original data*
A (300 draws of N(3, 0.5²) then 700 of N(5, 0.5²)), a *conventional compression* B (1000 draws
of N(4, 1)) and a *deep-learning compression* C (400 of N(3, 0.5²) then 600 of N(5, 0.5²));
histogram each on `linspace(1, 7, 20)` with `density=True`, and compare A with B and with C.
"""),
        code("""
results = primers.histogram_example()
width = np.diff(primers.HISTOGRAM_BINS)[0]
print(f"bin width = 6/19 = {width:.6f}")
print(f"{'':8} {'report figure':>14} {'x bin width':>12} {'= true KL':>10}")
for name, result in results.items():
    print(f"A vs {name}   {result.report_value:14.6f} {result.report_value * width:12.6f} {result.kl:10.6f}")
print("draws outside [1, 7] (dropped by np.histogram):", {n: r.outside_q for n, r in results.items()},
      "and", results["B"].outside_p, "of A")
primers.plot_histograms()
"""),
        md("""
**Why the report's figure is not a KL.** The report sums `rel_entr(A_hist, B_hist)` over the
bins on *density* values $p_i, q_i$ (each bin's probability divided by its width $w$). The
KL between the two histogram densities is the integral $\\int p \\log(p/q)\\,dx =
\\sum_i w\\, p_i \\log(p_i/q_i)$, i.e. the discrete KL of the bin probabilities $w p_i$ and
$w q_i$. The report's sum omits the factor $w = 6/19$, so it is the true value divided by
$w$, here 19/6 = 3.17 times too large. Worse, it depends on the bins alone: halve the
width and the figure roughly doubles, while the true KL stays put near the KL of the densities
the samples were drawn from. Both comparisons are scaled by the same factor, so the report's
ranking (C is much closer to A than B is) survives; its numbers do not.
"""),
        code("""
A, B, C = primers.histogram_samples()
mixture = lambda w: tfd.MixtureSameFamily(tfd.Categorical(probs=[w, 1 - w]), tfd.Normal([3.0, 5.0], [0.5, 0.5]))
x = np.linspace(-3.0, 11.0, 20001).astype("float32")
print("KL of the generating densities (numerical):",
      f"A vs B {float(kl.kl_numerical(mixture(0.3), tfd.Normal(4.0, 1.0), x)):.4f},",
      f"A vs C {float(kl.kl_numerical(mixture(0.3), mixture(0.4), x)):.4f}")
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
"""),
        md("""
With finer bins some bins of B or C are empty where A is not and the raw KL is infinite;
`smoothing=0.5` (half a count added to every bin) keeps it finite, at the price of a bias
that grows as the bins get sparser.

## 3. Gaussians, four ways

`kl.kl_gaussian` is the closed form
$\\log\\frac{s_2}{s_1} + \\frac{s_1^2 + (m_1 - m_2)^2}{2 s_2^2} - \\frac12$. It must agree with
TFP's analytic KL (`kl.kl_analytic`), numerical integration on a fine grid (`kl.kl_numerical`)
and a Monte-Carlo estimate with its standard error (`kl.kl_monte_carlo`).
"""),
        code("""
num_samples = 20_000 if QUICK else 200_000
pairs = [(0.0, 1.0, 1.0, 1.0), (0.0, 1.0, 0.0, 2.0), (1.5, 0.5, -1.0, 2.5), (-3.0, 3.0, 2.0, 0.7)]
print(f"{'P':>12} {'Q':>12} | {'closed':>9} {'TFP':>9} {'numerical':>9} {'Monte Carlo':>18} {'|MC-closed|/SE':>14}")
for m1, s1, m2, s2 in pairs:
    P, Q = tfd.Normal(np.float64(m1), np.float64(s1)), tfd.Normal(np.float64(m2), np.float64(s2))
    closed = float(kl.kl_gaussian(np.float64(m1), s1, m2, s2))
    mc = kl.kl_monte_carlo(P, Q, num_samples=num_samples, seed=0)
    print(f"N({m1:g}, {s1:g}²)".rjust(12), f"N({m2:g}, {s2:g}²)".rjust(12), "|",
          f"{closed:9.6f} {float(kl.kl_analytic(P, Q)):9.6f} {float(kl.kl_numerical(P, Q)):9.6f}",
          f"{float(mc.estimate):9.5f} ± {float(mc.standard_error):.5f}",
          f"{abs(float(mc.estimate) - closed) / float(mc.standard_error):14.2f}")
"""),
        md("""
The VAE's regulariser is the KL of the encoder's diagonal Gaussian
$N(\\mu, \\mathrm{diag}(e^{\\log\\sigma^2}))$ against $N(0, I)$, summed over the latent
dimensions: `kl.kl_standard_normal(z_mean, z_log_var)`. The model trains with the TFP version,
`kl.kl_standard_normal_tfp`; both agree with the diagonal closed form and with Monte Carlo.
"""),
        code("""
rng = np.random.default_rng(0)
z_mean, z_log_var = rng.normal(size=(4, 2)), rng.normal(scale=0.8, size=(4, 2))
posterior, prior = kl.diag_gaussian(z_mean, z_log_var), kl.standard_normal_prior(2, dtype="float64")
mc = kl.kl_monte_carlo(posterior, prior, num_samples=num_samples, seed=1)
print("closed form :", kl.kl_standard_normal(z_mean, z_log_var).numpy())
print("TFP analytic:", kl.kl_standard_normal_tfp(z_mean, z_log_var).numpy())
print("diagonal    :", kl.kl_diag_gaussian(z_mean, np.exp(0.5 * z_log_var), 0.0, 1.0).numpy())
print("Monte Carlo :", mc.estimate.numpy(), "+-", mc.standard_error.numpy())
"""),
        md("""
## 4. Asymmetry

$D(P\\|Q)$ and $D(Q\\|P)$ differ. For $P = N(0, 1)$ and $Q = N(0, s^2)$: a too-narrow $Q$ is
punished much harder in $D(P\\|Q)$ (Q misses mass P has) than a too-wide one.
"""),
        code("""
s = np.linspace(0.25, 4.0, 200)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(s, kl.kl_gaussian(0.0, 1.0, 0.0, s).numpy(), label="D(N(0,1) || N(0,s²))")
ax.plot(s, kl.kl_gaussian(0.0, s, 0.0, 1.0).numpy(), label="D(N(0,s²) || N(0,1))")
ax.set(xlabel="s", ylabel="nats", ylim=(0, 4), title="KL is not symmetric")
ax.legend()
plt.show()
"""),
    ]


def forward_vs_reverse_kl():
    return [
        md("""
# Forward vs reverse KL

Fit one Gaussian $Q$ to a two-peaked $P$ (here $P = \\frac12 N(-5, 1) + \\frac12 N(10, 1)$,
the fitting experiment's target normalised).

* **Forward** $D(P\\|Q) = E_P[\\log P/Q]$ is large wherever $P$ has mass and $Q$ has almost none,
  so its minimiser spreads $Q$ over both peaks: *zero-avoiding*, **mode covering**.
* **Reverse** $D(Q\\|P) = E_Q[\\log Q/P]$ is large wherever $Q$ puts mass and $P$ has almost none
  (the valley between the peaks), so its minimisers sit on one peak: *zero-forcing*,
  **mode seeking**.

Both KLs come from `vae_tf.kl.kl_grid_integral` (trapezoid rule), for every $Q = N(\\mu, \\sigma)$
on a grid of parameters.
"""),
        code(SETUP),
        code("""
if QUICK:
    landscape = primers.forward_reverse_landscape(
        mus=np.arange(-10.0, 15.01, 0.5), sigmas=np.arange(0.5, 12.01, 0.5), x=np.linspace(-60, 65, 1001))
else:
    landscape = primers.forward_reverse_landscape()
target = primers.two_peaked_target()
print(f"P's mean {float(target.mean()):.4f}, P's standard deviation {float(target.stddev()):.4f}")
print("forward KL(P||Q) minimum on the grid: mu={:.2f}, sigma={:.2f}, KL={:.4f} nats".format(*landscape.forward_best))
for mu, sigma, value in landscape.reverse_local:
    print(f"reverse KL(Q||P) local minimum:       mu={mu:.2f}, sigma={sigma:.2f}, KL={value:.4f} nats")
primers.plot_forward_reverse(landscape)
"""),
        md("""
The forward minimiser matches P's mean and standard deviation (moment matching): $\\mu = 2.5$,
$\\sigma = \\sqrt{1 + 7.5^2} \\approx 7.57$, a broad Gaussian that covers both peaks and puts
most of its mass in the valley where P has none. The reverse KL has two minima, one on each
peak, each with $\\sigma = 1$ and $D(Q\\|P) = \\log 2 \\approx 0.6931$: Q copies one component exactly and
ignores the other half of P's mass. Which one a fit finds depends on where it starts.

## The same with gradient descent

`vae_tf.fit` trains $\\mu$ and $\\sigma$ with Adam (learning rate 1e-3) on the spec's grid
losses against the un-normalised target $N(-5, 1) + N(10, 1)$: `kl_div` is the forward KL,
`reverse_kl` the reverse one.
"""),
        code("""
steps = 300 if QUICK else 10_000
runs = [fit.fit_gaussian(loss, mu0, 1.0, steps) for mu0 in (0.0, 5.0) for loss in ("kl_div", "reverse_kl")]
print(fit.format_table(runs))
fit.plot_final_fits(runs)
"""),
        md("""
From either start the forward fit moves to the midpoint $\\mu \\approx 2.5$ and keeps widening
(after 10,000 steps $\\sigma \\approx 5.2$, still short of 7.57: Adam moves $\\sigma$ by about
the learning rate per step). The reverse fit drops into the nearer peak: $-5$ from $\\mu_0 = 0$,
$10$ from $\\mu_0 = 5$, with $\\sigma = 1$.
"""),
    ]


def fit_gaussian_to_mixture():
    return [
        md("""
# Fitting a Gaussian to a two-peaked target

The primer's experiment: the target is the plain sum $P(x) = N(x; -5, 1) + N(x; 10, 1)$
(it integrates to 2) on $x$ = `linspace(-15, 15, 1000)`; $Q = N(\\mu, \\sigma)$ with $\\mu$ and
$\\sigma$ themselves trained by Adam, learning rate 1e-3, 10,000 steps, from $(\\mu_0, \\sigma_0)$
= (0, 1) and (5, 1). The losses (mean over the grid points):

| loss | what it is |
|---|---|
| `kl_div` | $P(\\log P - \\log Q)$: forward KL (with $\\log Q$ from the log-density, never `log(exp(.))`) |
| `reverse_kl` | $Q(\\log Q - \\log P)$: reverse KL |
| `mse` | $(Q - P)^2$ |
| `l1` | $\\lvert Q - P\\rvert$ |
| `cosine` | minus the cosine similarity of the vectors $Q(x)$ and $P(x)$ |

The same runs from the shell: `python -m vae_tf.fit --table`, or one at a time with
`python -m vae_tf.fit --loss kl_div --mu0 0 --sigma0 1` (writes a PNG and a GIF).
"""),
        code(SETUP),
        code("""
steps = 300 if QUICK else fit.DEFAULT_STEPS
results = fit.fit_table(steps=steps)  # every loss from (0, 1), then from (5, 1)
print(fit.format_table(results))
"""),
        code("""
fit.plot_final_fits(results)
"""),
        md("""
**What happens.** The KL fit (`kl_div`) ends between the peaks at $\\mu \\approx 2.5$ from both
starts and widens ($\\sigma$ from 1 to about 5.2, still growing toward the moment-matching 7.57).
MSE, L1, cosine and the reverse KL lock onto the nearest single peak with $\\sigma = 1$:
$-5$ from $\\mu_0 = 0$ and $10$ from $\\mu_0 = 5$. The start decides which peak.
"""),
        code("""
fit.plot_fit(results[0])  # kl_div from (0, 1)
"""),
        code("""
mse_from_5 = next(r for r in results if r.loss_name == "mse" and r.mu0 == 5.0)
fit.plot_fit(mse_from_5)
"""),
        md("""
## The animation

Q moving toward P under the forward KL, from $\\mu_0 = 0$ (the GIF is written with matplotlib's
`PillowWriter`; `python -m vae_tf.fit` writes one for every run). The committed full-run version:

![kl_div from mu0 = 0](../docs/figures/fit_kl_div_mu0.gif)
"""),
        code("""
import tempfile

from IPython.display import Image, display

gif = fit.save_animation(results[0], Path(tempfile.mkdtemp()) / "kl_div_mu0.gif", frames=5 if QUICK else 30)
print(f"{gif.name}: {gif.stat().st_size / 1024:.0f} KiB")
display(Image(filename=str(gif)))
"""),
    ]


BUILDERS = {
    "kl_divergence_basics": kl_divergence_basics,
    "forward_vs_reverse_kl": forward_vs_reverse_kl,
    "fit_gaussian_to_mixture": fit_gaussian_to_mixture,
}


def build(name: str) -> nbformat.NotebookNode:
    notebook = new_notebook(cells=BUILDERS[name]())
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


# TensorFlow's C++ start-up lines on a machine without CUDA ("Could not find cuda drivers" ...).
# No environment variable silences them, and they say nothing about the notebook.
STARTUP_NOISE = ("absl::InitializeLog", "cudart_stub.cc", "cuda_platform.cc", "cuda_executor.cc")


def execute(notebook: nbformat.NotebookNode, timeout: int = 600) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
    ).execute()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            if output.output_type == "stream" and output.name == "stderr":
                lines = [
                    line for line in output.text.splitlines(keepends=True) if not any(n in line for n in STARTUP_NOISE)
                ]
                if not lines:
                    continue
                output.text = "".join(lines)
            kept.append(output)
        cell.outputs = kept
    return notebook


def draw_figures() -> None:
    """The README figures of the KL section, from full runs."""
    sys.path.insert(0, str(REPO))
    from vae_tf import fit, primers

    FIGURES.mkdir(parents=True, exist_ok=True)
    primers.plot_histograms().savefig(FIGURES / "kl_histograms.png", dpi=80)
    primers.plot_forward_reverse(primers.forward_reverse_landscape()).savefig(
        FIGURES / "kl_forward_reverse.png", dpi=80
    )
    results = fit.fit_table()
    fit.plot_final_fits(results).savefig(FIGURES / "fit_final_fits.png", dpi=80)
    fit.plot_fit(results[0]).savefig(FIGURES / "fit_kl_div_mu0.png", dpi=80)
    fit.save_animation(results[0], FIGURES / "fit_kl_div_mu0.gif", frames=50)
    mse_from_5 = next(r for r in results if r.loss_name == "mse" and r.mu0 == 5.0)
    fit.save_animation(mse_from_5, FIGURES / "fit_mse_mu5.gif", frames=50)
    for path in sorted(FIGURES.glob("kl_*")) + sorted(FIGURES.glob("fit_*")):
        print(f"wrote {path.relative_to(REPO)} ({path.stat().st_size / 1024:.0f} KiB)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-execute", action="store_true", help="write the notebooks without running them")
    parser.add_argument("--figures", action="store_true", help="also redraw the README figures in docs/figures")
    parser.add_argument("names", nargs="*", help=f"which notebooks (default: all of {', '.join(NOTEBOOKS)})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(NOTEBOOKS))
    if unknown:
        parser.error(f"unknown notebook {', '.join(unknown)}; choose from {', '.join(NOTEBOOKS)}")
    for name in args.names or NOTEBOOKS:
        notebook = build(name)
        if not args.no_execute:
            execute(notebook)
        path = HERE / f"{name}.ipynb"
        nbformat.write(notebook, path)
        print(f"wrote {path.relative_to(REPO)}" + ("" if args.no_execute else " (executed)"))
    if args.figures:
        draw_figures()
    return 0


if __name__ == "__main__":
    sys.exit(main())
