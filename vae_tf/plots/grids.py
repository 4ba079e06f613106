"""Where the report's generated grid goes: its codes, a regular grid over the first two latent
coordinates (`grid_codes`), and its ends, from the codes of a run (`grid_bounds`). NumPy only.

    lo, hi, fill, where = grid_bounds(z)                   # each coordinate's min..max of the codes
    codes = grid_codes(lo, hi, 10, fill)                   # (10, 10, D), decoded by `generated_grid`
"""

from __future__ import annotations

import numpy as np


def grid_codes(lo, hi, n: int = 10, fill=None) -> np.ndarray:
    """A regular n x n grid of codes over the first two latent coordinates, laid out as an image.

    Row r, column c holds first coordinate linspace(lo[0], hi[0], n)[c] and second coordinate
    linspace(hi[1], lo[1], n)[r] (largest at the top, as on a plot's y axis). Any further
    coordinates take the values `fill`.

    Args:
      lo, hi: per-coordinate ends of the grid, each of length D (D >= 1); both ends included.
      n: points per coordinate.
      fill: values (D,) for coordinates 3..D (default 0).

    Returns:
      float32 array (n, n, D); with D == 1, (1, n, 1).
    """
    lo = np.atleast_1d(np.asarray(lo, dtype=np.float64))
    hi = np.atleast_1d(np.asarray(hi, dtype=np.float64))
    dims = len(lo)
    fill = np.zeros(dims) if fill is None else np.asarray(fill, dtype=np.float64)
    first = np.linspace(lo[0], hi[0], n)
    if dims == 1:
        return first.reshape(1, n, 1).astype(np.float32)
    second = np.linspace(hi[1], lo[1], n)
    codes = np.broadcast_to(fill, (n, n, dims)).copy()
    codes[:, :, 0] = first[None, :]
    codes[:, :, 1] = second[:, None]
    return codes.astype(np.float32)


def grid_bounds(z, grid_range=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Where the generated grid goes: (lo, hi, fill, description).

    The report's grid spans each coordinate's min..max of the codes; `grid_range` (lo, hi)
    spans both shown coordinates over a fixed range instead. Coordinates beyond the second
    are held at their median over the codes.
    """
    z = np.asarray(z)
    fill = np.median(z, axis=0)
    if grid_range is None:
        lo, hi = z.min(axis=0), z.max(axis=0)
        where = "grid over each coordinate's min..max of z"
    else:
        lo = np.full(z.shape[1], float(grid_range[0]))
        hi = np.full(z.shape[1], float(grid_range[1]))
        where = f"grid over [{grid_range[0]:g}, {grid_range[1]:g}]"
    if z.shape[1] > 2:
        where += "; z[2:] held at their medians"
    return lo, hi, fill, where
