"""A linear Gaussian VAE against probabilistic PCA: the closed-form optimum, and the run's exact numbers.

Probabilistic PCA (Tipping and Bishop 1999) is the model x = W z + b + noise, z ~ N(0, I_D),
noise ~ N(0, sigma^2 I_P). Its marginal is p(x) = N(b, C), C = W W^T + sigma^2 I, and its maximum-likelihood
solution is closed-form from the eigenvalues lambda_1 >= ... >= lambda_P of the data's covariance S
(1/N, about the mean): b = the mean, W = U_D (Lambda_D - sigma^2 I)^(1/2) R (a column only where
lambda_i > sigma^2; the others are 0), and, if sigma^2 is learned too, sigma^2 = the mean of the
P - D discarded eigenvalues. The log-likelihood per image at the optimum is

    -1/2 [P log(2 pi) + sum_i log c_i + sum_i lambda_i / c_i],  c_i = max(lambda_i, sigma^2) for i <= D, else sigma^2.

A VAE with `architecture="linear"` and `likelihood="gaussian"` has exactly this decoder, so its
marginal is Gaussian too and its log-likelihood is exact (`exact_log_likelihood`, no bound); with
the linear encoder's Gaussian posterior its ELBO is exact as well (`exact_elbo`: the expected squared
error and the KL in closed form, no sampling). Lucas, Tucker, Grosse and Norouzi (NeurIPS 2019)
show that the ELBO's optimum is pPCA's: the ELBO equals the log-likelihood there, and a latent
dimension collapses (its KL 0) exactly when its eigenvalue is at most sigma^2; an active one's
KL is 1/2 log(lambda_i / sigma^2) per image. `compare_run` puts the two side by side;
`vae_tf.ppca` is its command. All numbers are nats per image, on the images scaled to [0, 1].
"""

from __future__ import annotations

import math

import numpy as np

from vae_tf.kl.diagnostics import ACTIVE_THRESHOLD

LOG_2PI = math.log(2 * math.pi)


def spectrum(x) -> tuple[np.ndarray, np.ndarray]:
    """The mean (P,) and the eigenvalues (P,), largest first, of the covariance (1/N) of images x.

    Args:
      x: images (N, ...) as uint8 (scaled by 1/255) or floats in [0, 1]; flattened to (N, P).
    """
    x = _flat(x)
    mean = x.mean(axis=0)
    centred = x - mean
    covariance = centred.T @ centred / len(x)
    return mean, np.linalg.eigvalsh(covariance)[::-1].clip(min=0.0)


def ml_variance(eigenvalues, latent_dim: int) -> float:
    """pPCA's maximum-likelihood sigma^2: the mean of the P - D discarded eigenvalues."""
    return float(np.mean(np.asarray(eigenvalues)[latent_dim:]))


def ppca_log_likelihood(eigenvalues, latent_dim: int, variance: float | None = None) -> dict:
    """The pPCA optimum at latent size D and sigma^2 (None: its maximum-likelihood value).

    Returns:
      `log_likelihood` (mean over the images, nats), `variance` (sigma^2), `above` (how many of the
      top D eigenvalues exceed sigma^2: the dimensions that stay active).
    """
    eigenvalues = np.asarray(eigenvalues, np.float64)
    variance = ml_variance(eigenvalues, latent_dim) if variance is None else float(variance)
    kept = np.zeros(len(eigenvalues), bool)
    kept[:latent_dim] = eigenvalues[:latent_dim] > variance
    c = np.where(kept, eigenvalues, variance)
    value = -0.5 * (len(eigenvalues) * LOG_2PI + np.sum(np.log(c)) + np.sum(eigenvalues / c))
    return {"log_likelihood": float(value), "variance": variance, "above": int(kept.sum())}


def linear_gaussian_parts(vae) -> dict:
    """The trained linear Gaussian VAE's parameters in float64: decoder W (P, D), b (P,), sigma^2; encoder
    A (P, D), c (D,) (z_mean = x A + c) and the posterior's log-variance (D,).

    Raises:
      ValueError: the model is not `architecture="linear"` with `likelihood="gaussian"`.
    """
    if getattr(vae, "architecture", None) != "linear" or getattr(vae, "likelihood_name", None) != "gaussian":
        raise ValueError("the pPCA comparison needs a linear Gaussian VAE (--architecture linear --likelihood "
                         f"gaussian); this one is {getattr(vae, 'architecture', '?')} with likelihood "
                         f"{getattr(vae, 'likelihood_name', '?')}.")
    if getattr(vae, "posterior_name", "diagonal") != "diagonal" or getattr(vae, "prior_name", "") != "standard_normal":
        raise ValueError("the pPCA comparison needs the diagonal posterior and the N(0, I) prior.")
    decoder = vae.decoder.get_layer("decoder_logits")
    encoder = vae.encoder.get_layer("z_mean")
    as64 = lambda weight: np.asarray(weight, np.float64)  # noqa: E731
    return {"W": as64(decoder.kernel).T, "b": as64(decoder.bias), "variance": float(vae.pixel_variance.value()),
            "A": as64(encoder.kernel), "c": as64(encoder.bias),
            "log_var": as64(vae.encoder.get_layer("z_log_var").log_variance)}


def exact_log_likelihood(x, W, b, variance: float, batch: int = 4096) -> np.ndarray:
    """log p(x) per image (N,), nats, under N(b, W W^T + sigma^2 I): exact, by Woodbury's identity.

    log |C| = P log sigma^2 + log |M / sigma^2| and r^T C^-1 r = (|r|^2 - r^T W M^-1 W^T r) / sigma^2,
    M = W^T W + sigma^2 I (D x D), r = x - b.
    """
    x = _flat(x)
    P, D = W.shape
    M = W.T @ W + variance * np.eye(D)
    log_det = P * math.log(variance) + np.linalg.slogdet(M / variance)[1]
    chol = np.linalg.cholesky(M)
    out = np.empty(len(x))
    for start in range(0, len(x), batch):
        r = x[start:start + batch] - b
        projected = np.linalg.solve(chol, (r @ W).T)  # L^-1 W^T r, so |.|^2 = r^T W M^-1 W^T r
        quadratic = (np.sum(r * r, axis=1) - np.sum(projected * projected, axis=0)) / variance
        out[start:start + batch] = -0.5 * (P * LOG_2PI + log_det + quadratic)
    return out


def exact_elbo(x, parts: dict) -> dict:
    """The ELBO per image (N,) of the linear Gaussian VAE, in closed form (no sampling), and its KL per dimension.

    With q(z|x) = N(m, diag(s^2)), m = x A + c:  E_q log p(x|z) = log N(x; W m + b, sigma^2 I)
    - sum_d s_d^2 |W_d|^2 / (2 sigma^2), and KL_d = (m_d^2 + s_d^2 - 1 - log s_d^2) / 2.

    Returns:
      `elbo` (N,), `kl` (N,), `kl_per_dimension` (D,) (mean over the images), `z_mean` (N, D).
    """
    x = _flat(x)
    W, b, variance = parts["W"], parts["b"], parts["variance"]
    s2 = np.exp(parts["log_var"])
    z_mean = x @ parts["A"] + parts["c"]
    residual = x - (z_mean @ W.T + b)
    P = W.shape[0]
    log_px = -0.5 * (P * LOG_2PI + P * math.log(variance) + np.sum(residual ** 2, axis=1) / variance)
    log_px -= 0.5 * np.sum(s2 * np.sum(W ** 2, axis=0)) / variance
    kl_d = 0.5 * (z_mean ** 2 + s2 - 1.0 - np.log(s2))  # (N, D)
    return {"elbo": log_px - kl_d.sum(axis=1), "kl": kl_d.sum(axis=1), "kl_per_dimension": kl_d.mean(axis=0),
            "z_mean": z_mean}


def compare(vae, x) -> dict:
    """The linear Gaussian VAE `vae` on images x against the closed-form pPCA of the same images.

    The pPCA is at the VAE's latent size and its sigma^2 (a fixed one, or for a learned or optimal one
    the value the run ended with), and beside it the pPCA with its maximum-likelihood sigma^2.

    Returns:
      A JSON-ready dict: `images`, `latent_dim`, `variance` (the run's sigma^2), `eigenvalues` (the top
      max(2 D, 32)), `ppca` (the optimum at the run's sigma^2), `ppca_ml` (at the ML sigma^2),
      `log_likelihood` and `elbo` (the run's exact means, nats per image), `gap` (log-likelihood - ELBO),
      `below_optimum` (pPCA - run), `kl_per_dimension`, `variance_of_means` (Var_x of each z_mean),
      `active` (their indices, Var > 0.01), `active_units`, `predicted_kl` (1/2 log(lambda_i / sigma^2)
      for the eigenvalues above sigma^2, largest first).
    """
    parts = linear_gaussian_parts(vae)
    D = parts["W"].shape[1]
    _, eigenvalues = spectrum(x)
    ppca = ppca_log_likelihood(eigenvalues, D, parts["variance"])
    ppca_ml = ppca_log_likelihood(eigenvalues, D)
    log_likelihood = exact_log_likelihood(x, parts["W"], parts["b"], parts["variance"])
    elbo = exact_elbo(x, parts)
    spread = elbo["z_mean"].var(axis=0)
    active = [int(d) for d in np.flatnonzero(spread > ACTIVE_THRESHOLD)]
    above = eigenvalues[:D][eigenvalues[:D] > parts["variance"]]
    return {
        "images": int(len(x)), "latent_dim": int(D), "variance": parts["variance"],
        "eigenvalues": [float(value) for value in eigenvalues[:max(2 * D, 32)]],
        "ppca": ppca, "ppca_ml": ppca_ml,
        "log_likelihood": float(log_likelihood.mean()), "elbo": float(elbo["elbo"].mean()),
        "gap": float(log_likelihood.mean() - elbo["elbo"].mean()),
        "below_optimum": float(ppca["log_likelihood"] - log_likelihood.mean()),
        "kl_per_dimension": [float(value) for value in elbo["kl_per_dimension"]],
        "variance_of_means": [float(value) for value in spread],
        "active": active, "active_units": len(active),
        "predicted_kl": [float(0.5 * math.log(value / parts["variance"])) for value in above],
    }


def format_comparison(result: dict) -> str:
    """The comparison as a few lines of text (nats per image)."""
    D, variance = result["latent_dim"], result["variance"]
    ml = result["ppca_ml"]
    top = ", ".join(f"{value:.4g}" for value in result["eigenvalues"][:D])
    kls = ", ".join(f"{value:.3f}" for value in sorted(result["kl_per_dimension"], reverse=True))
    predicted = ", ".join(f"{value:.3f}" for value in result["predicted_kl"])
    return "\n".join([
        f"linear Gaussian VAE against pPCA (Tipping and Bishop 1999), {result['images']:,} training images, "
        f"latent size {D}, nats per image",
        f"sigma^2 of the run: {variance:.6g}; pPCA's maximum-likelihood sigma^2 (mean of the discarded "
        f"eigenvalues): {ml['variance']:.6g} (run/ML = {variance / ml['variance']:.4f})",
        f"log p(x), exact, of the run:        {result['log_likelihood']:.3f}",
        f"ELBO, exact, of the run:            {result['elbo']:.3f}   (log p(x) - ELBO = {result['gap']:.3f})",
        f"pPCA optimum at the run's sigma^2:  {result['ppca']['log_likelihood']:.3f}   "
        f"(optimum - run = {result['below_optimum']:.3f})",
        f"pPCA optimum at its ML sigma^2:     {ml['log_likelihood']:.3f}",
        f"top {D} eigenvalues: {top}",
        f"eigenvalues above sigma^2: {result['ppca']['above']} of {D}; active units of the run (Var z_mean > "
        f"{ACTIVE_THRESHOLD}): {result['active_units']} of {D}",
        f"KL per dimension, largest first: {kls}",
        f"1/2 log(lambda_i / sigma^2) of the eigenvalues above sigma^2: {predicted}",
    ])


def figure(result: dict):
    """The eigenvalue spectrum with sigma^2 as a line, and the run's KL per dimension above it: a Figure."""
    from matplotlib.figure import Figure

    D, variance = result["latent_dim"], result["variance"]
    eigenvalues = np.asarray(result["eigenvalues"])
    fig = Figure(figsize=(7.5, 6.0))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.3]})
    ranks = np.arange(1, D + 1)
    kl = np.sort(result["kl_per_dimension"])[::-1]
    top.bar(ranks, kl, color="tab:blue", label="run's KL per dimension (sorted)")
    predicted = np.asarray(result["predicted_kl"])
    top.plot(np.arange(1, len(predicted) + 1), predicted, "k_", markersize=14, mew=2,
             label="pPCA: 1/2 log(lambda_i / sigma^2)")
    top.set_ylabel("KL (nats per image)")
    top.legend(fontsize=8)
    top.set_title(f"{result['active_units']} of {D} units active; {result['ppca']['above']} eigenvalues above sigma^2")
    shown = np.arange(1, len(eigenvalues) + 1)
    colours = np.where((shown <= D) & (eigenvalues > variance), "tab:blue", "tab:grey")
    bottom.bar(shown, eigenvalues, color=colours)
    bottom.axhline(variance, color="tab:red", label=f"sigma^2 = {variance:.4g}")
    bottom.axvline(D + 0.5, color="k", linestyle=":", label=f"latent size {D}")
    bottom.set_yscale("log")
    bottom.set_xlabel("eigenvalue rank i")
    bottom.set_ylabel("eigenvalue lambda_i of the data's covariance")
    bottom.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _flat(x) -> np.ndarray:
    x = np.asarray(x)
    values = x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)
    return values.reshape(len(values), -1)


PPCA_FILES = ("ppca.json", "ppca.png")


def compare_run(run, data_dir=None) -> dict:
    """`compare` for a run directory (a `vae_tf.rundir.Run`) on the training images it was trained on
    (its --limit included).

    Raises:
      UsageError: the run is not a linear Gaussian VAE with the report's posterior and prior (one line).
    """
    from vae_tf.core.errors import UsageError
    from vae_tf.data.opening import check_whole_fits
    from vae_tf.data.sources import load_run_data

    settings = run.settings
    wanted = {"architecture": "linear", "likelihood": "gaussian", "posterior": "diagonal", "prior": "standard_normal"}
    wrong = {key: settings.get(key) for key, value in wanted.items() if settings.get(key, value) != value}
    if wrong:
        said = ", ".join(f"{key} {value}" for key, value in wrong.items())
        raise UsageError(f"{run.path} has {said}: the pPCA comparison needs a run trained with --architecture linear "
                         "--likelihood gaussian (diagonal posterior, standard_normal prior).")
    check_whole_fits(run, "ppca")
    data = load_run_data(run, data_dir=data_dir, limit=settings.get("limit"))
    return {"run": str(run.path), **compare(run.model(), data.x_train)}
