"""Draw docs/figures/layers.png, the map of vae_tf's layers, from the imports of the code.

    python docs/make_layers.py            # writes docs/figures/layers.png and docs/figures/layers.json

One box per package of `vae_tf/`, in rows by the layer order of `vae_tf.core.layers.LAYERS` (the
lowest at the bottom), and one arrow per pair of packages where a module of one imports a module of
the other, read by `vae_tf.core.layers.read_graph` (the reader tests/test_layout.py checks the layout
with). An arrow against the layer order is red. layers.json lists the same arrows as text:
tests/test_layout.py compares it with the live graph, so the committed figure cannot drift from
the code; run this script again after moving an import between packages. Imports no TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIGURES = REPO / "docs" / "figures"

BOX_WIDTH, BOX_HEIGHT, ROW_HEIGHT, COLUMN_WIDTH = 1.5, 0.5, 1.0, 2.7
ALLOWED, AGAINST = "#4a6a8a", "#c0392b"


def layers_module():
    """vae_tf.core.layers of this checkout (standard library only: no TensorFlow is imported)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from vae_tf.core import layers

    return layers


def describe(layers, graph) -> dict:
    """What layers.json holds: the layer order and the package-level arrows, [importer, imported], sorted."""
    return {
        "layers": [list(packages) for packages in layers.LAYERS],
        "edges": [list(edge) for edge in sorted(graph.package_edges())],
    }


def positions(layers) -> dict[str, tuple[float, float]]:
    """The centre of each package's box: rank -> row (y), the packages of a row spread around x = 0."""
    centres = {}
    for rank, packages in enumerate(layers.LAYERS):
        for index, package in enumerate(packages):
            x = (index - (len(packages) - 1) / 2) * COLUMN_WIDTH
            centres[package] = (0.0 if package == layers.COMMANDS else x, rank * ROW_HEIGHT)
    return centres


def spread(count: int, centre: float, half_width: float) -> list[float]:
    """`count` x positions spread evenly over [centre - half_width, centre + half_width]."""
    if count == 1:
        return [centre]
    return [centre - half_width + 2 * half_width * index / (count - 1) for index in range(count)]


def waypoints(start, end, rows, offset: float) -> list[tuple[float, float]]:
    """Where an arrow from `start` to `end` crosses each row of boxes it passes: in the gap between
    boxes nearest to the straight line, moved by `offset` (so that arrows in one gap do not overlap).

    Args:
      start, end: (x, y) of the arrow's ends.
      rows: (y, [(x0, x1), ...]) per row of boxes: the row's centre and its boxes' spans.
      offset: how far from the straight line the arrow would like to cross, in x units.
    """
    (x0, y0), (x1, y1) = start, end
    points = []
    for y, spans in rows:
        if not min(y0, y1) < y < max(y0, y1):
            continue
        along = x0 + (x1 - x0) * (y - y0) / (y1 - y0) + offset
        edges = sorted(spans)
        gaps = [(-float("inf"), edges[0][0])]
        gaps += [(left[1], right[0]) for left, right in zip(edges, edges[1:])]
        gaps.append((edges[-1][1], float("inf")))
        inset = 0.2
        best = min(gaps, key=lambda gap: 0 if gap[0] < along < gap[1] else min(abs(along - gap[0]),
                                                                             abs(along - gap[1])))
        if not best[0] < along < best[1]:  # blocked: down the middle of the nearest gap instead
            middle = (best[0] + best[1]) / 2 if math.isfinite(best[0] + best[1]) else (
                best[0] + 0.5 if math.isfinite(best[0]) else best[1] - 0.5)
            along = middle + offset
        x = min(max(along, best[0] + inset), best[1] - inset)
        # Two points, above and below the row's boxes, so that the curve runs straight down the gap.
        points += [(x, y + BOX_HEIGHT / 2 + 0.06), (x, y - BOX_HEIGHT / 2 - 0.06)]
    return sorted(points, key=lambda point: abs(point[1] - y0))  # in the order the arrow passes them


def draw(layers, graph):
    """The figure: boxes per package in layer rows, arrows importer -> imported."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path as CurvePath

    commands = sorted(module.rpartition(".")[2] for module in graph.modules
                      if graph.layer_of(module) == layers.COMMANDS and module != graph.name)
    width = 2 * COLUMN_WIDTH + BOX_WIDTH
    centres = positions(layers)
    edges = sorted(graph.package_edges())
    figure = Figure(figsize=(8.4, 8.8))
    axes = figure.subplots()

    def box_width(package):
        return width if package == layers.COMMANDS else BOX_WIDTH

    for package, (x, y) in centres.items():
        wide = box_width(package)
        axes.add_patch(FancyBboxPatch((x - wide / 2, y - BOX_HEIGHT / 2), wide, BOX_HEIGHT,
                                      boxstyle="round,pad=0.02,rounding_size=0.08", facecolor="#eef3f8",
                                      edgecolor="#34495e", linewidth=1.2, zorder=3))
        if package == layers.COMMANDS:
            label = "commands (python -m vae_tf.X)\n" + ", ".join(commands)
            axes.text(x, y, label, ha="center", va="center", fontsize=8.5, zorder=4)
        else:
            axes.text(x, y, f"{package}/", ha="center", va="center", fontsize=11, family="monospace", zorder=4)
    for rank in range(len(layers.LAYERS)):
        axes.text(-width / 2 - 0.35, rank * ROW_HEIGHT, str(rank), ha="center", va="center",
                  fontsize=9, color="#7f8c8d")
    axes.text(-width / 2 - 0.35, (len(layers.LAYERS) - 0.45) * ROW_HEIGHT, "rank", ha="center",
              fontsize=8, color="#7f8c8d")

    # Each arrow leaves its importer's bottom (top, if it goes up) and enters the imported box's top
    # (bottom), at its own point along the edge, ordered by where the other end lies.
    ends = {}
    for side, this, other in ((0, 0, 1), (1, 1, 0)):
        for package in centres:
            mine = [edge for edge in edges if edge[this] == package]
            for down in (True, False):
                group = [edge for edge in mine if (centres[edge[0]][1] > centres[edge[1]][1]) == down]
                group.sort(key=lambda edge: centres[edge[other]][0])
                x, y = centres[package]
                if package == layers.COMMANDS:
                    xs = [min(width / 2 - 0.2, max(-width / 2 + 0.2, centres[edge[other]][0])) for edge in group]
                else:
                    xs = spread(len(group), x, BOX_WIDTH * 0.4)
                leaves_below = down if side == 0 else not down
                for edge, at in zip(group, xs):
                    ends[edge, side] = (at, y - BOX_HEIGHT / 2 if leaves_below else y + BOX_HEIGHT / 2)

    rows = {}
    for package, (x, y) in centres.items():
        if package != layers.COMMANDS:
            half = box_width(package) / 2 + 0.05
            rows.setdefault(y, []).append((x - half, x + half))
    rows = sorted(rows.items())
    for index, (importer, imported) in enumerate(edges):
        start, end = ends[(importer, imported), 0], ends[(importer, imported), 1]
        against = layers.RANK.get(importer, -1) <= layers.RANK.get(imported, -1)
        # A smooth curve (a quadratic B-spline) that passes the rows in between through their gaps.
        passes = waypoints(start, end, rows, 0.09 * (index % 5 - 2))
        if importer == layers.COMMANDS and passes:  # the wide box: leave it right above the first gap
            start = (passes[0][0], start[1])
        points = [start, *passes, end]
        vertices, codes = [start], [CurvePath.MOVETO]
        for here, after in zip(points[1:-1], points[2:]):
            midway = after if after is end else ((here[0] + after[0]) / 2, (here[1] + after[1]) / 2)
            vertices += [here, midway]
            codes += [CurvePath.CURVE3, CurvePath.CURVE3]
        if len(points) == 2:
            vertices.append(end)
            codes.append(CurvePath.LINETO)
        axes.add_patch(FancyArrowPatch(path=CurvePath(vertices, codes), arrowstyle="-|>", mutation_scale=10,
                                       linewidth=1.6 if against else 0.9, color=AGAINST if against else ALLOWED,
                                       alpha=0.95 if against else 0.8, zorder=2))

    axes.set_xlim(-width / 2 - 0.6, width / 2 + 0.2)
    axes.set_ylim(-0.5, (len(layers.LAYERS) - 0.4) * ROW_HEIGHT)
    axes.set_aspect("equal")
    axes.axis("off")
    violations = sum(layers.RANK.get(a, -1) <= layers.RANK.get(b, -1) for a, b in edges)
    title = "vae_tf's layers: an arrow is an import; lower layers never import higher ones"
    if violations:
        title += f"\n({violations} {'arrow' if violations == 1 else 'arrows'} in red against the layer order)"
    axes.set_title(title, fontsize=9.5)
    figure.tight_layout()
    return figure


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=FIGURES, help="folder for layers.png and layers.json")
    args = parser.parse_args(argv)
    layers = layers_module()
    graph = layers.read_graph(REPO / "vae_tf")
    unplaced = sorted({graph.layer_of(module) for module in graph.modules} - set(layers.RANK))
    if unplaced:
        parser.error(f"no layer for {', '.join(f'vae_tf/{name}/' for name in unplaced)}: "
                     "add it to LAYERS in vae_tf/core/layers.py")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "layers.json").write_text(json.dumps(describe(layers, graph), indent=1) + "\n", encoding="utf-8")
    figure = draw(layers, graph)
    figure.savefig(args.out / "layers.png", dpi=100)
    print(f"wrote {args.out / 'layers.png'} and {args.out / 'layers.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
