"""The documentation cannot drift from the code: its examples run, its links resolve, the site builds.

Every ```python block of README.md and docs/*.md is executed, the blocks of one page in order in
one namespace, with a temporary directory as the working directory (so `runs/...` lands there)
and the real Fashion-MNIST. A fragment that cannot run on its own is marked ```py instead and is
only shown. `mkdocs build --strict` builds the site (no broken link, no missing page, no
unresolved API reference); the command reference it generates holds every command's --help and the
API page every TrainConfig field.
"""

import ast
import dataclasses
import importlib
import inspect
import os
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<lang>[^\s`]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ ]*$",
                   re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def fenced_blocks(text: str, lang: str) -> list[str]:
    """The bodies of the fenced blocks of one language, dedented, in page order."""
    return [textwrap.dedent(match["body"]) for match in FENCE.finditer(text) if match["lang"] == lang]


def relative_links(text: str) -> list[str]:
    """Every link and image target of a Markdown page that points into the repository."""
    prose = re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))  # links inside code are not links
    return [target for target in LINK.findall(prose)
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target) and not target.startswith("#")]


def github_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a Markdown page's headings: lower case, punctuation dropped, spaces to hyphens."""
    anchors, seen = set(), {}
    for heading in re.findall(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", FENCE.sub("", text), re.MULTILINE):
        plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", plain.lower()).replace(" ", "-")
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def command_modules() -> list[str]:
    """Every module that runs as `python -m vae_tf.X`, found by its `__main__` block."""
    return sorted([path.stem for path in (REPO / "vae_tf").glob("*.py")
                   if 'if __name__ == "__main__":' in path.read_text(encoding="utf-8")]
                  + [path.parent.name for path in (REPO / "vae_tf").glob("*/__main__.py")])  # python -m vae_tf.data


PAGES_WITH_CODE = [page for page in PAGES if fenced_blocks(page.read_text(encoding="utf-8"), "python")]
DOCSTRING_FENCE = re.compile(r"^```python[ ]*\n(?P<body>.*?)^```[ ]*$", re.MULTILINE | re.DOTALL)


def api_docstrings() -> dict[str, str]:
    """Every docstring the Python API page shows: each `::: name` object's and its public members'.

    Returns:
      {qualified name: the docstring, dedented}; members are the public functions, classes, methods
      and properties defined in the named module or class itself (what mkdocstrings renders).
    """
    def resolve(name):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            module, _, attribute = name.rpartition(".")
            return getattr(importlib.import_module(module), attribute)

    def members(obj):
        if inspect.ismodule(obj):
            return [(name, value) for name, value in vars(obj).items()
                    if (inspect.isclass(value) or inspect.isfunction(value)) and value.__module__ == obj.__name__]
        if inspect.isclass(obj):
            return [(name, getattr(value, "__func__", getattr(value, "fget", value)))
                    for name, value in vars(obj).items()
                    if isinstance(value, (staticmethod, classmethod, property)) or inspect.isfunction(value)]
        return []

    docs = {}
    for name in re.findall(r"^::: (\S+)", (REPO / "docs" / "api.md").read_text(encoding="utf-8"), re.MULTILINE):
        stack = [(name, resolve(name))]
        while stack:
            qualified, obj = stack.pop()
            if obj.__doc__:
                docs[qualified] = inspect.cleandoc(obj.__doc__)
            stack += [(f"{qualified}.{member}", value) for member, value in members(obj) if not member.startswith("_")]
    return docs


def unfenced_code(docstring: str) -> list[str]:
    """The indented blocks of a docstring that are Python statements doing something (a call or an
    assignment), shown as code but not marked ```python, so that no test would run them."""
    prose = DOCSTRING_FENCE.sub("", docstring)
    found = []
    for block in re.findall(r"(?:^\n)((?:^[ ]{4,}\S.*\n?)+)", prose, re.MULTILINE):
        try:
            tree = ast.parse(textwrap.dedent(block))
        except SyntaxError:
            continue  # a table, a diagram, a shell line: not Python
        if any(isinstance(node, (ast.Call, ast.Assign)) for node in ast.walk(tree)):
            found.append(block)
    return found


def test_the_extractors_find_what_the_pages_hold():
    text = "a\n\n```python\nx = 1\n```\n\n- item\n\n    ```python\n    y = x\n    ```\n\n```py\nz\n```\n" \
           "[a page](docs/a.md), ![a figure](docs/figures/b.png \"title\"), [web](https://x.org), [here](#top)" \
           ", `[not a link](c.md)`\n"
    assert fenced_blocks(text, "python") == ["x = 1\n", "y = x\n"]
    assert relative_links(text) == ["docs/a.md", "docs/figures/b.png"]
    assert github_anchors("# Set up\n## The main job: `train`\n```bash\n# a comment\n```\n## Set up\n") == {
        "set-up", "the-main-job-train", "set-up-1"}
    names = [page.relative_to(REPO).as_posix() for page in PAGES_WITH_CODE]
    assert "docs/getting-started.md" in names and "docs/kl-toolkit.md" in names
    assert "train" in command_modules() and "cli" not in command_modules()


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda page: page.relative_to(REPO).as_posix())
def test_every_python_example_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    page_module = types.ModuleType("vae_tf_docs_page")  # a real module, so an example may define a dataclass
    monkeypatch.setitem(sys.modules, page_module.__name__, page_module)
    namespace = page_module.__dict__
    for number, code in enumerate(fenced_blocks(page.read_text(encoding="utf-8"), "python"), start=1):
        where = f"{page.relative_to(REPO)}, python block {number}"
        exec(compile(code, where, "exec"), namespace)  # noqa: S102 - the docs' own examples


def test_every_python_example_in_the_api_reference_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    docs = api_docstrings()
    assert {"vae_tf.models.vae.VAE", "vae_tf.data.sources", "vae_tf.kl.diagnostics.latent_diagnostics"} <= set(docs)
    ran = []
    for name, docstring in docs.items():
        for number, match in enumerate(DOCSTRING_FENCE.finditer(docstring), start=1):
            exec(compile(match["body"], f"{name}'s docstring, python block {number}", "exec"), {})  # noqa: S102
            ran.append(name)
    assert {"vae_tf.data.sources", "vae_tf.kl.diagnostics", "vae_tf.models.posteriors",
            "vae_tf.training.phases"} <= set(ran)
    # Code shown on the page without the ```python mark would never run: there is none.
    shown = {name: blocks for name, docstring in docs.items() if (blocks := unfenced_code(docstring))}
    assert not shown, f"docstrings on the API page show Python that no test runs; fence it as ```python: {shown}"


def test_the_unfenced_code_finder_tells_code_from_tables():
    docstring = ("Text.\n\n    stats = f(x)   # a call\n\nA table:\n\n    --prior vamp   the VampPrior\n\n"
                 "```python\nz = g(1)\n```\n\n    encoder: P -> Dense(100, relu)\n")
    assert unfenced_code(docstring) == ["    stats = f(x)   # a call\n"]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(REPO).as_posix())
def test_every_relative_link_resolves(page):
    missing = []
    for target in relative_links(page.read_text(encoding="utf-8")):
        path = target.split("#", 1)[0]
        if path and not (page.parent / path).exists():
            missing.append(target)
    assert not missing, f"{page.relative_to(REPO)} links to files that do not exist: {missing}"


def test_the_readme_is_a_front_door():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move the detail to a page in docs/"
    for page in ("docs/getting-started.md", "docs/reproducing.md", "docs/commands.md", "docs/api.md"):
        assert f"]({page}" in text, f"README.md does not link to {page}"
    # Every link of the README resolves on GitHub, anchors included (the site's own links are checked by
    # `mkdocs build --strict`, whose anchors follow the site's rule, not GitHub's).
    targets = [target for target in LINK.findall(re.sub(r"`[^`\n]*`", "", FENCE.sub("", text)))
               if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]
    broken = []
    for target in targets:
        path, _, anchor = target.partition("#")
        page = REPO / path if path else REPO / "README.md"
        if not page.exists() or anchor and anchor not in github_anchors(page.read_text(encoding="utf-8")):
            broken.append(target)
    assert not broken, f"README.md links to anchors or files that do not exist: {broken}"
    assert any("#" in target for target in targets)


def test_the_site_builds_strictly_with_every_command_and_the_api(tmp_path):
    site = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                            cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    commands = (site / "commands" / "index.html").read_text(encoding="utf-8")
    for name in command_modules():
        assert f"usage: python -m vae_tf.{name}" in commands, f"the command reference lacks vae_tf.{name}"
    # In the repository the page names every command instead; on the site those words are gone.
    source = (REPO / "docs" / "commands.md").read_text(encoding="utf-8")
    for name in command_modules():
        assert f"`{name}`" in source, f"docs/commands.md does not name vae_tf.{name} for readers of the repository"
    assert "Reading this file in the repository" not in commands
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert "Reading this file in the repository" not in api
    for name in ("vae_tf.models.vae.VAE", "vae_tf.config.TrainConfig", "vae_tf.rundir.load_model",
                 "vae_tf.data.idx.load_fashion_mnist", "vae_tf.kl.discrete.kl_discrete",
                 "vae_tf.kl.diagnostics.active_units", "vae_tf.analysis.bounds.importance_sampled",
                 "vae_tf.analysis.sweeps.measure"):
        assert f'id="{name}"' in api, f"the API reference lacks {name}"
    from vae_tf.config import TrainConfig

    for field in dataclasses.fields(TrainConfig):
        assert f"<code>{field.name}</code>" in api, f"the API page's settings table lacks TrainConfig.{field.name}"
    for page in (REPO / "docs").glob("*.md"):
        built = site / ("index.html" if page.stem == "index" else f"{page.stem}/index.html")
        assert built.is_file(), f"docs/{page.name} was not built"
        # The site reads offline: no page asks another server for its fonts, styles or scripts.
        external = re.findall(r'<(?:link|script)[^>]*(?:href|src)="(https?://[^"]+)"',
                              built.read_text(encoding="utf-8"))
        assert not external, f"docs/{page.name} loads {external} from the network"
