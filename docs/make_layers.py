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
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIGURES = REPO / "docs" / "figures"

BOX_WIDTH, BOX_HEIGHT, ROW_HEIGHT = 1.6, 0.56, 0.8
AGAINST = "#c0392b"


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


def order(layers) -> list[str]:
    """The packages top to bottom: the commands first, core last (the layer order, reversed)."""
    return [package for packages in reversed(layers.LAYERS) for package in packages]


def caption(graph, package: str, layers) -> str:
    """What a package holds, in its own words: the first sentence of its `__init__` docstring."""
    import ast
    import textwrap

    if package == layers.COMMANDS:
        commands = sorted(module.rpartition(".")[2] for module in graph.modules
                          if graph.layer_of(module) == layers.COMMANDS and module != graph.name)
        return textwrap.fill("python -m vae_tf.X: " + ", ".join(commands), 58)
    path = graph.root / package / "__init__.py"
    text = (ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "").split("\n\n")[0]
    text = " ".join(text.split()).split(". ")[0].rstrip(".")
    return textwrap.fill(text, 58, max_lines=2, placeholder=" ...")


def draw(layers, graph):
    """The figure: one box per package, top to bottom in the layer order, each with its docstring's
    first sentence; an arc on the right per import (importer -> imported, always downward); an arc
    against the order would go up, in red, on the left."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    packages = order(layers)
    y = {package: -index * ROW_HEIGHT for index, package in enumerate(packages)}
    edges = sorted(graph.package_edges(), key=lambda edge: (abs(y[edge[0]] - y[edge[1]]), edge))
    figure = Figure(figsize=(9.0, 0.62 * len(packages) + 0.9), dpi=120)
    axes = figure.subplots()
    right = BOX_WIDTH / 2
    # An arc takes its importer's colour, so that the arcs leaving one box can be followed down.
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf", "#393b79"]
    colours = {package: palette[index % len(palette)] for index, package in enumerate(packages)}
    for package in packages:
        label = "commands" if package == layers.COMMANDS else f"{package}/"
        axes.add_patch(FancyBboxPatch((-right, y[package] - BOX_HEIGHT / 2), BOX_WIDTH, BOX_HEIGHT,
                                      boxstyle="round,pad=0.02,rounding_size=0.08", facecolor="#eef3f8",
                                      edgecolor=colours[package], linewidth=2.0, zorder=3))
        axes.text(0, y[package], label, ha="center", va="center", fontsize=10.5, family="monospace", zorder=4)
        axes.text(-right - 0.25, y[package], caption(graph, package, layers), ha="right", va="center",
                  fontsize=7.6, color="#34495e")
        axes.text(-right - 0.1, y[package] + BOX_HEIGHT / 2 - 0.02, str(layers.RANK[package]), ha="right",
                  va="top", fontsize=7, color="#95a5a6")
    # Where each arc leaves and enters a box's right side: spread over the side, the longer arcs
    # (which bulge further out) nearer the top of the importer and the bottom of the imported box.
    slots = {}
    for package in packages:
        leaving = sorted((edge for edge in edges if edge[0] == package), key=lambda edge: -y[edge[1]])
        entering = sorted((edge for edge in edges if edge[1] == package), key=lambda edge: y[edge[0]])
        for group, side in ((leaving, 0), (entering, 1)):
            for index, edge in enumerate(group):
                step = (BOX_HEIGHT * 0.8) / max(len(group), 1)
                offset = (index + 0.5) * step - BOX_HEIGHT * 0.4
                slots[edge, side] = y[package] + (offset if side == 0 else -offset)
    for importer, imported in edges:
        against = layers.RANK.get(importer, -1) <= layers.RANK.get(imported, -1)
        start, end = slots[(importer, imported), 0], slots[(importer, imported), 1]
        distance = abs(start - end)
        bend = 0.55 + 0.35 * distance / ROW_HEIGHT
        side = -1 if against else 1
        axes.add_patch(FancyArrowPatch((side * right, start), (side * right, end), arrowstyle="-|>",
                                       mutation_scale=9, connectionstyle=f"arc,angleA={side * 0:g},"
                                       f"angleB={side * 0:g},armA={bend * 36:g},armB={bend * 36:g},rad=12",
                                       linewidth=1.8 if against else 1.0,
                                       color=AGAINST if against else colours[importer],
                                       alpha=0.95 if against else 0.85, zorder=2))
    axes.set_xlim(-right - 5.2, right + 2.2)  # the arcs bend out by points, not data units: bbox_inches="tight" crops
    axes.set_ylim(y[packages[-1]] - 0.5, 0.55)
    axes.set_aspect("equal")
    axes.axis("off")
    violations = sum(layers.RANK.get(a, -1) <= layers.RANK.get(b, -1) for a, b in edges)
    title = ("vae_tf's layers, top to bottom: each arc is an import between packages, in the importer's colour,\n"
             "and every arc goes down (the number by a box is its rank in vae_tf.core.layers.LAYERS;\n"
             "packages of one rank do not import each other)")
    if violations:
        title += f"\n{violations} {'arc' if violations == 1 else 'arcs'} in red go against the layer order"
    axes.set_title(title, fontsize=8.5)
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
    figure.savefig(args.out / "layers.png", dpi=120, bbox_inches="tight", pad_inches=0.15)
    print(f"wrote {args.out / 'layers.png'} and {args.out / 'layers.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
