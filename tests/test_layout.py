"""The package's layout holds: imports flow down the layers, nothing is too big, the top is commands.

The layer order and the reader of the import graph are `vae_tf.core.layers` (one place; the figure
of docs/development.md is drawn from the same reader by docs/make_layers.py). The checker is first
shown to find what it should, on a small fake package with planted faults, then run on vae_tf.
"""

import ast
import json
import textwrap
from pathlib import Path

from vae_tf.core import layers

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "vae_tf"


def listing(found) -> str:
    return "\n  " + "\n  ".join(found)


def write_package(root: Path, files: dict[str, str]) -> Path:
    """A package folder `root` holding `files` ({relative path: source}); folders get an `__init__.py`."""
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    for folder in [root, *[path for path in root.rglob("*") if path.is_dir()]]:
        (folder / "__init__.py").touch()
    return root


def test_the_checker_finds_planted_cycles_and_imports_against_the_layers(tmp_path):
    """Each kind of fault, written the ways imports are written (relative, inside a function, `from
    a import module`, `import a.b`), is found, and nothing else is: a checker that cannot fail is no test."""
    root = write_package(tmp_path / "fake", {
        "core/util.py": """
            def helper():
                from ..models.a import thing   # inside a function, relative: core imports models (upward)
                return thing
            """,
        "kl/__init__.py": """
            import importlib
            _DEFINED_IN = {"kl_of": "maths"}   # a lazy __init__ (PEP 562): its modules are imported by name

            def __getattr__(name):
                return getattr(importlib.import_module(f"fake.kl.{_DEFINED_IN[name]}"), name)
            """,
        "kl/maths.py": "import fake.data.io   # kl and data share a rank\n",
        "data/io.py": "from fake.core import util\n",
        "models/__init__.py": "from fake.models.a import thing\n",
        "models/a.py": "from . import b   # a module, relatively\nthing = 1\n",
        "models/b.py": """
            def later():
                from fake.models import a   # a -> b -> a, the second import inside a function
                return a
            """,
        "models/c.py": "from fake.models import thing   # its own package's __init__\n",
        "models/old.py": "import fake.engine   # no such module\n",
        "config/settings.py": "import importlib\nSPEC = importlib.import_module('fake.models.c')\n",
        "extra/thing.py": "from fake.core.util import helper\n",
        "train.py": "from fake.config import settings\nfrom fake import evaluate\n\ndef main():\n    return 0\n",
        "evaluate.py": "from fake.models.a import thing\n\ndef main():\n    return 0\n",
    })
    graph = layers.read_graph(root)
    assert {edge.imported for edge in graph.imports if edge.importer == "fake.config.settings"} == {"fake.models.c"}
    assert {edge.imported for edge in graph.imports if edge.importer == "fake.kl"} == {"fake.kl.maths"}
    assert layers.problems(root) == [
        "import cycle: fake.models.a -> fake.models.b -> fake.models.a",
        "fake.models.old (line 1) imports fake.engine, which is no module of fake "
        "(an old name? see MOVED_MODULES in fake/__init__.py)",
        "fake/extra/ is in no layer: add it to LAYERS in vae_tf/core/layers.py",
        "fake.core.util (line 3) imports fake.models.a: layer core (rank 0) imports models (rank 2), a higher layer",
        "fake.kl.maths (line 1) imports fake.data.io: layer kl (rank 1) imports data (rank 1), the same rank",
        "fake.models.c (line 1) imports fake.models, its own package's __init__: import the sibling module itself",
        "fake.train (line 2) imports fake.evaluate: a command imports another command "
        "(move what they share into a layer below)",
    ]
    assert graph.package_edges() == {
        ("core", "models"), ("kl", "data"), ("data", "core"), ("config", "models"), ("extra", "core"),
        (layers.COMMANDS, "config"), (layers.COMMANDS, "models"),
    }


def test_the_checker_names_the_cycle_of_three(tmp_path):
    root = write_package(tmp_path / "fake", {
        "models/a.py": "from fake.models import b\n",
        "models/b.py": "import fake.models.c\n",
        "models/c.py": "from .a import anything\n",
    })
    assert layers.find_cycles(layers.read_graph(root)) == [["fake.models.a", "fake.models.b", "fake.models.c",
                                                            "fake.models.a"]]


def test_a_packages_main_is_a_command_of_the_top_rank(tmp_path):
    """`python -m fake.data` runs fake/data/__main__.py: a command, so it may import any layer (its own
    package's modules, training), and no layer may import it."""
    root = write_package(tmp_path / "fake", {
        "data/__main__.py": "from fake.data import shards\nfrom fake.training import run\n",
        "data/shards.py": "x = 1\n",
        "data/reader.py": "from fake.data import __main__\n",
        "training/run.py": "x = 1\n",
    })
    graph = layers.read_graph(root)
    assert graph.layer_of("fake.data.__main__") == layers.COMMANDS
    assert layers.layer_problems(graph) == [
        "fake.data.reader (line 1) imports fake.data.__main__: layer data (rank 1) imports <commands> (rank 7), "
        "a higher layer"]


def test_imports_follow_the_layer_order_without_cycles():
    """vae_tf's own graph: no cycle, no import against `layers.LAYERS`, no module importing its own
    package's __init__, no import of a module that does not exist."""
    found = layers.problems(PACKAGE)
    assert not found, f"{len(found)} problems of the layout:" + listing(found)


def test_core_imports_nothing_of_vae_tf():
    graph = layers.read_graph(PACKAGE)
    upward = [f"{edge.importer} (line {edge.line}) imports {edge.imported}" for edge in graph.imports
              if graph.layer_of(edge.importer) == "core" and graph.layer_of(edge.imported) != "core"]
    assert not upward, listing(upward)


def test_no_module_over_500_lines_and_no_class_over_200():
    found = layers.size_problems(layers.read_graph(PACKAGE))
    assert not found, "too big:" + listing(found)


def test_the_size_check_can_fail(tmp_path):
    root = write_package(tmp_path / "fake", {"core/big.py": "class Big:\n" + "    x = 1\n" * 5})
    assert layers.size_problems(layers.read_graph(root), max_module=5, max_class=4) == [
        "fake/core/big.py: 6 lines (at most 5)", "fake/core/big.py: class Big (line 1) 6 lines (at most 4)"]


def command_shape(path: Path) -> list[str]:
    """What a command module lacks: a top-level `main` and an `if __name__ == "__main__":` block."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    has_main = any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body)
    runs = any(isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
               and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"
               and isinstance(node.test.comparators[0], ast.Constant) and node.test.comparators[0].value == "__main__"
               for node in tree.body)
    return [what for what, ok in (("def main", has_main), ('if __name__ == "__main__":', runs)) if not ok]


def test_the_top_of_the_package_holds_only_commands():
    """vae_tf/ holds __init__.py, the `python -m vae_tf.X` modules and the layer folders, nothing else."""
    packages = {package for rank in layers.LAYERS for package in rank}
    found = []
    for path in sorted(PACKAGE.iterdir()):
        if path.name == "__pycache__":
            continue
        if path.is_dir():
            if path.name not in packages or not (path / "__init__.py").is_file():
                found.append(f"vae_tf/{path.name}/ is no layer package of vae_tf.core.layers.LAYERS")
        elif path.suffix != ".py":
            found.append(f"vae_tf/{path.name} is not a module")
        elif path.name != "__init__.py" and command_shape(path):
            found.append(f"vae_tf/{path.name} is no command: it lacks {' and '.join(command_shape(path))} "
                         f"(a module that is not run as python -m vae_tf.X belongs in a layer)")
    for path in sorted(PACKAGE.glob("*/__main__.py")):  # `python -m vae_tf.data`: a command inside a package
        if command_shape(path):
            found.append(f"vae_tf/{path.parent.name}/__main__.py is no command: it lacks "
                         f"{' and '.join(command_shape(path))}")
    assert not found, listing(found)


def test_the_layers_figure_shows_the_imports_of_the_code():
    """docs/figures/layers.json, written with layers.png by docs/make_layers.py, lists the arrows the
    code has now; if this fails, run `python docs/make_layers.py` and commit both files."""
    written = json.loads((REPO / "docs" / "figures" / "layers.json").read_text(encoding="utf-8"))
    assert written["layers"] == [list(rank) for rank in layers.LAYERS]
    live = sorted(layers.read_graph(PACKAGE).package_edges())
    drawn = sorted(tuple(edge) for edge in written["edges"])
    assert drawn == live, (f"arrows in the code, not the figure: {sorted(set(live) - set(drawn))}; "
                           f"in the figure, not the code: {sorted(set(drawn) - set(live))}")
    assert (REPO / "docs" / "figures" / "layers.png").stat().st_size > 10_000
