"""How far the latent codes spread: the numbers behind the report's with-vs-without-KL claim.

The report claims that with the KL term the codes z stay within a few units of 0, and that
without it they spread an order of magnitude wider. These pure functions turn latent arrays
into the numbers that check it:

    stats = {variant: latent_spread(Run.open(path).latents()["z"]) for variant, path in runs.items()}
    print(spread_markdown(stats))

They take arrays and return dicts and strings; they know nothing of Keras, files or the CLI.
"""

from __future__ import annotations

import numpy as np

from vae_tf.config import VARIANT_TITLES

BOX_HALF_WIDTH = 3.0


def share_inside_box(z, half_width: float = BOX_HALF_WIDTH) -> float:
    """Share of codes whose every coordinate lies in [-half_width, half_width].

    Args:
      z: codes, shape (N, D).
      half_width: the box is [-half_width, half_width]^D (boundary included).

    Returns:
      A float in [0, 1].
    """
    z = np.asarray(z, dtype=np.float64)
    return float(np.mean(np.all(np.abs(z) <= half_width, axis=1)))


def latent_spread(z, half_width: float = BOX_HALF_WIDTH) -> dict:
    """Per-dimension min, max, mean and standard deviation of codes, and the share inside the box.

    Args:
      z: codes, shape (N, D) (the sampled z of a run's training images).
      half_width: half the side of the box [-half_width, half_width]^D.

    Returns:
      dict with `codes` (N), `latent_dim` (D), `min`, `max`, `mean`, `std` (lists of D floats;
      std is the population standard deviation, NumPy's default), `box` ([-h, h]) and
      `share_inside_box` (a float in [0, 1]).
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or len(z) == 0:
        raise ValueError(f"z must have shape (N, D) with N > 0; got shape {z.shape}.")
    return {
        "codes": int(z.shape[0]),
        "latent_dim": int(z.shape[1]),
        "min": z.min(axis=0).tolist(),
        "max": z.max(axis=0).tolist(),
        "mean": z.mean(axis=0).tolist(),
        "std": z.std(axis=0).tolist(),
        "box": [-half_width, half_width],
        "share_inside_box": share_inside_box(z, half_width),
    }


def spread_ratios(stats: dict, wide: str = "none", narrow: str = "kl") -> dict:
    """How many times wider the `wide` variant's codes spread than the `narrow` one's.

    Args:
      stats: {variant: latent_spread(...)}, holding both variants.

    Returns:
      dict with per-dimension ratios of standard deviations (`std`) and of ranges max - min
      (`range`), lists of D floats.
    """
    a, b = stats[wide], stats[narrow]
    return {
        "std": [float(w / n) for w, n in zip(a["std"], b["std"])],
        "range": [float((wmax - wmin) / (nmax - nmin))
                  for wmin, wmax, nmin, nmax in zip(a["min"], a["max"], b["min"], b["max"])],
    }


def spread_report(stats: dict) -> dict:
    """What `spread.json` holds: each variant's statistics and, when both exist, none-vs-kl ratios."""
    report = {"variants": stats}
    if "none" in stats and "kl" in stats:
        report["ratio_none_to_kl"] = spread_ratios(stats, "none", "kl")
    return report


def spread_markdown(stats: dict, digits: int = 2) -> str:
    """`spread.md`: one row per variant and latent dimension, then the none-vs-kl ratios.

    Args:
      stats: {variant: latent_spread(...)}, in the order the rows should appear.
      digits: decimals shown.

    Returns:
      A Markdown table (str, ending in a newline).
    """
    dims = {entry["latent_dim"] for entry in stats.values()}
    box = "[{:g}, {:g}]^{}".format(*next(iter(stats.values()))["box"], dims.pop() if len(dims) == 1 else "D")
    lines = [
        f"| variant | latent dim | min | max | std | share of codes inside {box} |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for variant, entry in stats.items():
        name = VARIANT_TITLES.get(variant, variant)
        for dim in range(entry["latent_dim"]):
            share = f"{100 * entry['share_inside_box']:.{max(digits - 1, 0)}f}%" if dim == 0 else ""
            lines.append(
                f"| {name if dim == 0 else ''} | {dim + 1} | {entry['min'][dim]:.{digits}f} | "
                f"{entry['max'][dim]:.{digits}f} | {entry['std'][dim]:.{digits}f} | {share} |"
            )
    if "none" in stats and "kl" in stats:
        ratios = spread_ratios(stats, "none", "kl")
        per_dim = ", ".join(
            f"dim {dim + 1}: std {std:.1f}x, range {span:.1f}x"
            for dim, (std, span) in enumerate(zip(ratios["std"], ratios["range"]))
        )
        lines += ["", f"Without KL vs with KL: {per_dim}."]
    n = {entry["codes"] for entry in stats.values()}
    lines += ["", f"Sampled codes z of {'/'.join(f'{count:,}' for count in sorted(n))} training images per variant."]
    return "\n".join(lines) + "\n"
