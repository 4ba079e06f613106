"""KL divergence, entropy and cross-entropy of discrete distributions (NumPy: no TensorFlow).

`kl_discrete`, `entropy`, `cross_entropy` for probability vectors along the last axis, in nats or
bits; `histogram_kl` for two samples binned on shared bins (the report's figure and the true KL of
the histogram densities).

Conventions: 0 log(0/q) = 0, and p log(p/0) = +inf for p > 0.
"""

from __future__ import annotations

import dataclasses

import numpy as np

UNITS = ("nats", "bits")


def _log_scale(units: str) -> float:
    """Factor that turns nats into `units`."""
    if units == "nats":
        return 1.0
    if units == "bits":
        return 1.0 / np.log(2.0)
    raise ValueError(f"units must be 'nats' or 'bits', got {units!r}")


def _where(batch_index: tuple) -> str:
    return f" (at batch index {batch_index})" if batch_index else ""


def _as_probabilities(p, name: str, *, normalize: bool, atol: float) -> np.ndarray:
    """Check that `p` holds probability vectors along its last axis; return it as float64.

    With `normalize=True`, `p` may hold non-negative counts (or weights) that are divided by
    their total along the last axis instead of being required to sum to 1.
    """
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim == 0:
        raise ValueError(f"{name} is a scalar ({float(arr)!r}); pass a probability vector, shape (..., K)")
    if arr.shape[-1] == 0:
        raise ValueError(f"{name} has shape {arr.shape}: the last axis (outcomes) is empty")
    if not np.all(np.isfinite(arr)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name} has a non-finite entry ({float(arr[bad])!r} at index {bad})")
    if np.any(arr < 0):
        bad = tuple(int(i) for i in np.argwhere(arr < 0)[0])
        raise ValueError(
            f"{name} has a negative entry ({float(arr[bad])!r} at index {bad}); probabilities and counts must be >= 0"
        )
    totals = arr.sum(axis=-1, keepdims=True)
    if normalize:
        if np.any(totals == 0):
            bad = tuple(int(i) for i in np.argwhere(totals[..., 0] == 0)[0])
            raise ValueError(f"{name} sums to 0 along the last axis{_where(bad)}; cannot normalise an all-zero vector")
        return arr / totals
    off = np.abs(totals - 1.0) > atol
    if np.any(off):
        bad = tuple(int(i) for i in np.argwhere(off[..., 0])[0])
        raise ValueError(
            f"{name} sums to {float(totals[..., 0][bad])!r} along the last axis{_where(bad)}, "
            f"not 1 within atol={atol}; "
            "pass normalize=True to divide counts by their total"
        )
    return arr


def _pair(p, q, *, normalize: bool, atol: float) -> tuple[np.ndarray, np.ndarray]:
    p = _as_probabilities(p, "p", normalize=normalize, atol=atol)
    q = _as_probabilities(q, "q", normalize=normalize, atol=atol)
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"p has shape {p.shape} and q has shape {q.shape}: the last axes (outcomes) must have the same length"
        )
    try:
        np.broadcast_shapes(p.shape, q.shape)
    except ValueError:
        raise ValueError(f"p has shape {p.shape} and q has shape {q.shape}: the batch axes do not broadcast") from None
    return p, q


def entropy(p, *, units: str = "nats", normalize: bool = False, atol: float = 1e-6):
    """Shannon entropy H(P) = -sum_x P(x) log P(x), with 0 log 0 = 0.

    Args:
      p: probability vectors, shape (..., K), non-negative, each summing to 1 (within `atol`).
      units: "nats" (natural log) or "bits" (log base 2).
      normalize: if True, `p` may hold non-negative counts; they are divided by their total.
      atol: tolerance on the sum to 1.

    Returns:
      float64 array of shape (...) (a NumPy scalar for a single vector), in `units`.

    Raises:
      ValueError: negative or non-finite entries, vectors not summing to 1, bad `units`.
    """
    scale = _log_scale(units)
    p = _as_probabilities(p, "p", normalize=normalize, atol=atol)
    terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(axis=-1) * scale


def cross_entropy(p, q, *, units: str = "nats", normalize: bool = False, atol: float = 1e-6):
    """Cross-entropy H(P, Q) = -sum_x P(x) log Q(x); +inf if Q(x) = 0 where P(x) > 0.

    Args:
      p, q: probability vectors, shape (..., K) each (batch axes broadcast; K must match).
      units: "nats" or "bits".
      normalize: if True, `p` and `q` may hold counts; each is divided by its total.
      atol: tolerance on the sums to 1.

    Returns:
      float64 array of shape broadcast(p, q)[:-1], in `units`.

    Raises:
      ValueError: as `entropy`, plus mismatched shapes.
    """
    scale = _log_scale(units)
    p, q = _pair(p, q, normalize=normalize, atol=atol)
    with np.errstate(divide="ignore"):
        log_q = np.log(q)
    terms = np.where(p > 0, -p * np.where(p > 0, log_q, 0.0), 0.0)
    return terms.sum(axis=-1) * scale


def kl_discrete(p, q, *, units: str = "nats", normalize: bool = False, atol: float = 1e-6):
    """D(P || Q) = sum_x P(x) log(P(x) / Q(x)) for discrete distributions.

    Equals `cross_entropy(p, q) - entropy(p)`; it is >= 0, zero iff P = Q, and not symmetric.
    Term by term it is `scipy.special.rel_entr`: 0 where P(x) = 0, +inf where P(x) > 0 and
    Q(x) = 0.

    Args:
      p, q: probability vectors, shape (..., K) each (batch axes broadcast; K must match).
      units: "nats" (natural log) or "bits" (log base 2).
      normalize: if True, `p` and `q` may hold non-negative counts; each is divided by its
        total along the last axis.
      atol: tolerance on the sums to 1 when `normalize` is False.

    Returns:
      float64 array of shape broadcast(p, q)[:-1] (a NumPy scalar for two vectors), in `units`.

    Raises:
      ValueError: negative or non-finite entries, vectors not summing to 1 (without
        `normalize`), all-zero counts (with it), mismatched shapes, bad `units`.
    """
    scale = _log_scale(units)
    p, q = _pair(p, q, normalize=normalize, atol=atol)
    p, q = np.broadcast_arrays(p, q)
    positive = p > 0
    with np.errstate(divide="ignore"):  # log(0) = -inf is wanted: it gives the +inf terms
        log_ratio = np.log(np.where(positive, p, 1.0)) - np.log(np.where(positive, q, 1.0))
    terms = np.where(positive, p * log_ratio, 0.0)
    return terms.sum(axis=-1) * scale


@dataclasses.dataclass(frozen=True)
class HistogramKL:
    """KL between two samples binned on shared bins; see `histogram_kl`.

    Attributes:
      report_value: sum over bins of p_i log(p_i / q_i) on the *density* values p_i, q_i,
        without the bin width: the figure the report prints. Not a KL of anything: for equal
        bins it is `kl / bin_width`, so it changes when only the bins change.
      kl: sum over bins of w_i p_i log(p_i / q_i): the true KL between the two histogram
        densities (piecewise constant), equal to the discrete KL of the bin probabilities.
      p_density, q_density: the histogram densities, shape (n_bins,), each integrating to 1.
      bin_edges: shape (n_bins + 1,).
      outside_p, outside_q: how many samples fell outside the bins (NumPy drops them).
      units: "nats" or "bits".
    """

    report_value: float
    kl: float
    p_density: np.ndarray
    q_density: np.ndarray
    bin_edges: np.ndarray
    outside_p: int
    outside_q: int
    units: str


def histogram_kl(samples_p, samples_q, bins, *, smoothing: float = 0.0, units: str = "nats") -> HistogramKL:
    """KL between the histograms of two samples over shared bins.

    With `smoothing=0` the densities are exactly `np.histogram(..., bins, density=True)`, and
    `report_value` is the report's `sum(rel_entr(p_hist, q_hist))`.

    Args:
      samples_p, samples_q: 1-D samples (any lengths).
      bins: bin edges, shape (n_bins + 1,), increasing; or an int, the number of equal bins
        spanning both samples. Samples outside the edges are dropped, as NumPy does.
      smoothing: pseudo-count added to every bin of both histograms before normalising
        (additive / Laplace smoothing). An empty bin of Q under a non-empty bin of P makes
        the KL +inf; any smoothing > 0 keeps it finite.
      units: "nats" or "bits".

    Returns:
      `HistogramKL` with both the report's figure and the true KL.

    Raises:
      ValueError: empty samples, bad bins, negative smoothing, a histogram with no samples
        inside the bins (and no smoothing), bad `units`.
    """
    scale = _log_scale(units)
    if smoothing < 0 or not np.isfinite(smoothing):
        raise ValueError(f"smoothing must be a finite number >= 0, got {smoothing!r}")
    a = np.asarray(samples_p, dtype=np.float64).ravel()
    b = np.asarray(samples_q, dtype=np.float64).ravel()
    for name, s in (("samples_p", a), ("samples_q", b)):
        if s.size == 0:
            raise ValueError(f"{name} is empty; pass at least one sample")
    if np.ndim(bins) == 0:
        edges = np.histogram_bin_edges(np.concatenate([a, b]), bins=int(bins))
    else:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError(
                f"bins must be an int or increasing edges of shape (n_bins + 1,), got {np.asarray(bins)!r}"
            )
    widths = np.diff(edges)
    densities = []
    for name, s in (("samples_p", a), ("samples_q", b)):
        counts = np.histogram(s, bins=edges)[0].astype(np.float64) + smoothing
        if counts.sum() == 0:
            raise ValueError(
                f"none of {name} falls inside the bins [{edges[0]}, {edges[-1]}]; widen the bins or pass smoothing > 0"
            )
        densities.append(counts / (counts.sum() * widths))
    p_density, q_density = densities
    positive = p_density > 0
    with np.errstate(divide="ignore"):
        log_ratio = np.log(np.where(positive, p_density, 1.0)) - np.log(np.where(positive, q_density, 1.0))
    density_terms = np.where(positive, p_density * log_ratio, 0.0)
    inside = lambda s: (s >= edges[0]) & (s <= edges[-1])  # noqa: E731
    return HistogramKL(
        report_value=float(density_terms.sum() * scale),
        kl=float((widths * density_terms).sum() * scale),
        p_density=p_density,
        q_density=q_density,
        bin_edges=edges,
        outside_p=int((~inside(a)).sum()),
        outside_q=int((~inside(b)).sum()),
        units=units,
    )
