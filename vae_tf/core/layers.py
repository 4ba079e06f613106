"""The layer order of vae_tf and the reader of its import graph, in one place.

`LAYERS` ranks the packages of `vae_tf/`, lowest first. A module may import modules of its own
package and of packages of strictly lower rank; packages of the same rank do not import each other,
and the commands (the modules at the top of `vae_tf/`, and `vae_tf/__init__.py`) do not import one
another. `tests/test_layout.py` holds the code to that with `problems()`, and `docs/make_layers.py`
draws the figure of docs/development.md from `read_graph()`, so the figure and the test read the
same graph.

The graph is read from the source with `ast`, nothing is imported: every `import` statement counts,
at the top of a module or inside a function (a lazy import is still a dependency), and
`importlib.import_module("...")` with a literal name. Standard library only: core imports nothing
of vae_tf.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

COMMANDS = "<commands>"

# Lowest first; the packages of one tuple share a rank. COMMANDS stands for the top of vae_tf/.
LAYERS = (
    ("core",),
    ("kl", "data"),
    ("models",),
    ("config",),
    ("rundir", "plots"),
    ("training",),
    ("analysis", "benchmarks"),
    (COMMANDS,),
)

RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}

MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 200


@dataclass(frozen=True)
class Import:
    """One import of a module of the package: `importer` imports `imported` at `line` of its file.

    Both are dotted module names; a package's `__init__.py` is the package's name (`vae_tf.kl`).
    """

    importer: str
    imported: str
    line: int


@dataclass
class Graph:
    """The modules of a package and their imports of one another.

    Attributes:
      root: the package's folder (the one holding its `__init__.py`).
      modules: dotted name -> source file, for every `.py` file under `root`.
      imports: every import of a module of the package by one of its modules, in file and line order.
      unresolved: imports naming a module of the package that has no file (`vae_tf.engine`), as
        `Import`s whose `imported` is the name as written.
    """

    root: Path
    modules: dict[str, Path]
    imports: list[Import]
    unresolved: list[Import]

    @property
    def name(self) -> str:
        """The package's own name (`vae_tf`)."""
        return self.root.name

    def edges(self) -> dict[str, set[str]]:
        """importer -> the modules it imports (each once, itself left out)."""
        edges = {module: set() for module in self.modules}
        for edge in self.imports:
            if edge.importer != edge.imported:
                edges[edge.importer].add(edge.imported)
        return edges

    def layer_of(self, module: str) -> str:
        """The layer package of a module: `kl` for `vae_tf.kl.primers` and `vae_tf.kl`, `COMMANDS` for
        `vae_tf.train`, a package's `__main__` (`vae_tf.data.__main__`) and `vae_tf` itself."""
        parts = module.split(".")
        if len(parts) == 1 or (len(parts) == 2 and self.modules[module].name != "__init__.py"):
            return COMMANDS
        if parts[-1] == "__main__":  # a package's `python -m vae_tf.data`: a command living in its package
            return COMMANDS
        return parts[1]

    def package_edges(self) -> set[tuple[str, str]]:
        """(importer's layer package, imported's layer package) for every import between two packages."""
        return {(self.layer_of(edge.importer), self.layer_of(edge.imported)) for edge in self.imports
                if self.layer_of(edge.importer) != self.layer_of(edge.imported)}


def module_name(root: Path, path: Path) -> str:
    """`root/kl/primers.py` -> `vae_tf.kl.primers`; `root/kl/__init__.py` -> `vae_tf.kl` (root named vae_tf)."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _calls(node: ast.Call, name: str) -> bool:
    """Whether `node` calls a function called `name` (`name(...)` or `something.name(...)`)."""
    return getattr(node.func, "attr", getattr(node.func, "id", None)) == name


def _imported_names(tree: ast.AST, module: str, is_package: bool):
    """(line, dotted name, names imported from it or None, only modules) for every import of a module.

    `from X import a, b` gives (line, X, ["a", "b"], False); `import X.Y` gives (line, "X.Y", None,
    False); relative imports are made absolute (`from . import a` in `vae_tf.kl.primers` names
    `vae_tf.kl`). `import_module(f"X.{...}")` gives (line, X, every string of the file, True): of
    those, only the ones naming a module X.s count. `lazy_names(__name__, table)` gives (line, M, None,
    True) for every string M of the file that names a module (relative `.m` or absolute).
    """
    package = module if is_package else module.rpartition(".")[0]
    strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None, False
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base, [alias.name for alias in node.names], False
        elif isinstance(node, ast.Call) and _calls(node, "lazy_names"):
            # lazy_names(__name__, {name: ".module" or "vae_tf.x.module"}) (`vae_tf.core.lazy`): the
            # package imports, on first use, every module its table names.
            for value in sorted(strings):
                if value.startswith("."):
                    yield node.lineno, package + value, None, True
                elif value.startswith(package.partition(".")[0] + "."):
                    yield node.lineno, value, None, True
        elif isinstance(node, ast.Call) and node.args and _calls(node, "import_module"):
            name = node.args[0]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                yield node.lineno, name.value, None, False
            elif (isinstance(name, ast.JoinedStr) and name.values and isinstance(name.values[0], ast.Constant)
                  and name.values[0].value.endswith(".")):
                # import_module(f"vae_tf.kl.{_DEFINED_IN[name]}"): a lazy package `__init__` (PEP 562)
                # importing the modules its table names; every string of the file is a candidate.
                yield node.lineno, name.values[0].value[:-1], sorted(strings), True


def read_graph(root) -> Graph:
    """Read every module under `root` (a package folder, e.g. `vae_tf/`) and the imports between them.

    `import a.b.c` is an import of `a.b.c`. `from a.b import c` is an import of the module `a.b.c` if
    there is one, else of `a.b` (c is a name that `a/b.py` or `a/b/__init__.py` defines). Importing a
    module runs its parent packages' `__init__` too; that is not counted as an import of them.
    """
    root = Path(root).resolve()
    modules = {module_name(root, path): path for path in sorted(root.rglob("*.py"))
               if "__pycache__" not in path.parts}
    graph = Graph(root, modules, [], [])
    prefix = root.name
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, name, names, only_modules in _imported_names(tree, module, _is_package(path)):
            if name != prefix and not name.startswith(prefix + "."):
                continue
            targets = []
            if only_modules and names is None:
                targets = [name] if name in modules else []
                if not targets:
                    continue
            elif only_modules:
                targets = [f"{name}.{item}" for item in names if f"{name}.{item}" in modules]
                if not targets:
                    continue
            elif names is not None and name in modules:
                targets = [f"{name}.{item}" if f"{name}.{item}" in modules else name for item in names]
            elif name in modules:
                targets = [name]
            if not targets:
                graph.unresolved.append(Import(module, name, line))
            for target in dict.fromkeys(targets):
                graph.imports.append(Import(module, target, line))
    return graph


def find_cycles(graph: Graph) -> list[list[str]]:
    """One cycle through each group of modules that import one another, as [a, b, c, a].

    The groups are the strongly connected components of the import graph (Tarjan's algorithm); each
    cycle is a shortest one through the group's first module in alphabetical order.
    """
    edges = graph.edges()
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def connect(start):
        # Iterative Tarjan, so that a deep chain of imports cannot exhaust Python's recursion limit.
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            connect(module)

    cycles = []
    for group in sorted(groups):
        members, first = set(group), group[0]
        came_from, frontier = {first: None}, [first]
        found = None
        while frontier and found is None:  # breadth first: the shortest way back to `first`
            following = []
            for node in frontier:
                for child in sorted(edges[node] & members):
                    if child == first:
                        found = node
                        break
                    if child not in came_from:
                        came_from[child] = node
                        following.append(child)
                if found is not None:
                    break
            frontier = following
        path = [first]
        node = found
        while node is not None and node != first:
            path.append(node)
            node = came_from[node]
        cycles.append([first, *reversed(path[1:]), first])
    return cycles


def layer_problems(graph: Graph) -> list[str]:
    """Every import against the layer order, a package in no layer, and every import of the
    importer's own package `__init__` (a cycle: that `__init__` imports the importer's siblings)."""
    found = []
    for package in sorted({graph.layer_of(module) for module in graph.modules} - set(RANK)):
        found.append(f"{graph.name}/{package}/ is in no layer: add it to LAYERS in vae_tf/core/layers.py")
    for edge in graph.imports:
        mine, theirs = graph.layer_of(edge.importer), graph.layer_of(edge.imported)
        where = f"{edge.importer} (line {edge.line})"
        if mine == theirs:
            ancestors = {edge.importer.rsplit(".", depth)[0] for depth in range(1, edge.importer.count(".") + 1)}
            if edge.imported in ancestors and edge.importer != edge.imported:
                found.append(f"{where} imports {edge.imported}, its own package's __init__: "
                             f"import the sibling module itself")
            elif mine == COMMANDS and edge.importer != graph.name and edge.imported != edge.importer:
                found.append(f"{where} imports {edge.imported}: a command imports another command "
                             f"(move what they share into a layer below)")
            continue
        if mine not in RANK or theirs not in RANK:
            continue  # reported once above
        if RANK[mine] <= RANK[theirs]:
            how = "the same rank" if RANK[mine] == RANK[theirs] else "a higher layer"
            found.append(f"{where} imports {edge.imported}: layer {mine} (rank {RANK[mine]}) imports "
                         f"{theirs} (rank {RANK[theirs]}), {how}")
    return found


def size_problems(graph: Graph, max_module: int = MAX_MODULE_LINES, max_class: int = MAX_CLASS_LINES) -> list[str]:
    """Every module over `max_module` lines and every class over `max_class` lines, with its size."""
    found = []
    for path in graph.modules.values():
        source = path.read_text(encoding="utf-8")
        lines = len(source.splitlines())
        if lines > max_module:
            found.append(f"{path.relative_to(graph.root.parent)}: {lines} lines (at most {max_module})")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                size = node.end_lineno - node.lineno + 1
                if size > max_class:
                    found.append(f"{path.relative_to(graph.root.parent)}: class {node.name} (line {node.lineno}) "
                                 f"{size} lines (at most {max_class})")
    return found


def problems(root) -> list[str]:
    """Everything wrong with the imports of the package at `root`: cycles, imports of modules that do
    not exist, imports against the layer order. Empty when the layout holds."""
    graph = read_graph(root)
    found = [f"import cycle: {' -> '.join(cycle)}" for cycle in find_cycles(graph)]
    found += [f"{edge.importer} (line {edge.line}) imports {edge.imported}, which is no module of "
              f"{graph.name} (an old name? see MOVED_MODULES in {graph.name}/__init__.py)"
              for edge in graph.unresolved]
    return found + layer_problems(graph)
