"""Dependencies point down, and no import circle joins two concerns.

Every module of `mardonar/` is read with `ast` (nothing is imported, so a module that
would fail to import is still checked). A module's *concern* is its first folder under
`mardonar/` (`engine`, `channels`, ...) or, at the package root, its own name (`config`,
`runtime`, ...; `__init__` for the package itself).

**Layers** (`LAYERS`, top to bottom, the order docs/architecture.md shows): a module may
import its own concern and any concern of a layer *below* its own, never one above it, and
never a different concern of its own layer: concerns side by side (channels and harness,
llm and memory, ...) do not know each other. Every import counts: module level, inside a
function (it runs later, but it runs) and under `TYPE_CHECKING` too, because a type-only
import still ties the lower layer to the names of the upper one (renaming a class up there
breaks mypy down here, and the lower layer can no longer be read without it).

**Circles**: the graph of module-level imports, without the ones under `TYPE_CHECKING`
(they never run) and without imports inside functions (they run after every module has
loaded, so they cannot close a circle at import time), has no strongly connected component
whose modules sit in two folders. None remains inside one folder either (there are none
today, even counting imports inside functions).

`importlib.import_module` with a string (the lazy backends of `store/__init__.py` and
`memory/__init__.py`) is not an import statement and is not seen; those modules import
their own folder only.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mardonar"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("__main__",),
    ("cli",),
    ("channels", "harness"),
    ("runtime",),
    ("ops", "transcript"),
    ("engine",),
    ("llm", "memory", "vtt"),
    ("content", "store"),
    ("config", "files", "netreason"),
    ("errors", "safetext", "wording", "urls", "dicenotation", "lazy", "__init__"),
)
"""Top to bottom. One line a layer; the concerns of a line sit side by side."""

KNOWN: dict[tuple[str, str], str] = {}
"""Imports that break a rule today, each with its reason. The test fails when one of them
no longer happens, so the list cannot outlive its reason."""


@dataclass(frozen=True)
class Import:
    file: str
    """The importing file, relative to the repository (`mardonar/engine/loop.py`)."""
    line: int
    source: str
    """The importing module (`mardonar.engine.loop`)."""
    target: str
    """The module imported (`mardonar.engine.events`); for `from a import b` it is `a.b`
    when that is a module, else `a`."""
    top_level: bool
    """At module level and not under `TYPE_CHECKING`: it runs when the module loads."""


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def concern(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, runs: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement in `node`, with whether it runs when the module loads."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node, runs
        return
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        for statement in node.body:
            yield from _walk(statement, False)
        for statement in node.orelse:
            yield from _walk(statement, runs)
        return
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        runs = False
    for child in ast.iter_child_nodes(node):
        yield from _walk(child, runs)


def _targets(source: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = source.split(".") if path.name == "__init__.py" else source.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([node.module] if node.module else [])])
    else:
        base = node.module or ""
    return [
        f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
        for alias in node.names
    ]


def _imports() -> list[Import]:
    found: list[Import] = []
    for source, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, top_level in _walk(tree, True):
            for target in _targets(source, path, node):
                if target == "mardonar" or target.startswith("mardonar."):
                    file = str(path.relative_to(PACKAGE.parent))
                    found.append(Import(file, node.lineno, source, target, top_level))
    return found


IMPORTS = _imports()


def layer_of(name: str) -> int:
    """The index of `name`'s layer in LAYERS (0 is the top)."""
    for index, layer in enumerate(LAYERS):
        if name in layer:
            return index
    raise LookupError(name)


def broken_rule(item: Import) -> str | None:
    """Why `item` may not be, or None when it may."""
    mine, theirs = concern(item.source), concern(item.target)
    if mine == theirs:
        return None
    if layer_of(theirs) < layer_of(mine):
        return f"{mine} may not import {theirs}, a layer above its own"
    if layer_of(theirs) == layer_of(mine):
        return f"{mine} may not import {theirs}: they sit side by side in one layer"
    return None


def test_every_concern_has_a_layer() -> None:
    concerns = {concern(module) for module in MODULES}
    placed = {name for layer in LAYERS for name in layer}
    assert not concerns - placed, f"add these to a layer of LAYERS: {sorted(concerns - placed)}"
    assert not placed - concerns, f"LAYERS names what is not there: {sorted(placed - concerns)}"


def test_the_architecture_doc_shows_these_layers() -> None:
    """docs/architecture.md draws LAYERS, line for line, in its "Layers" section."""
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = doc.split("### Layers", 1)[1].split("```", 2)[1]
    names = {name for layer in LAYERS for name in layer}
    drawn = [tuple(w for w in line.split() if w in names) for line in block.splitlines()]
    assert [layer for layer in drawn if layer] == list(LAYERS)


def test_no_module_imports_a_layer_above_its_own() -> None:
    broken = []
    seen_known = set()
    for item in IMPORTS:
        rule = broken_rule(item)
        if rule is None:
            continue
        if (item.source, item.target) in KNOWN:
            seen_known.add((item.source, item.target))
            continue
        broken.append(f"{item.file}:{item.line} imports {item.target}: {rule}")
    assert not broken, "\n".join(broken)
    assert seen_known == set(KNOWN), f"no longer broken, drop from KNOWN: {set(KNOWN) - seen_known}"


@pytest.mark.parametrize(
    ("importer", "imported", "allowed"),
    [
        ("mardonar.engine.loop", "mardonar.channels.terminal.plain", False),
        ("mardonar.engine.loop", "mardonar.cli.play", False),
        ("mardonar.engine.loop", "mardonar.harness.headless", False),
        ("mardonar.engine.loop", "mardonar.ops.ingest", False),
        ("mardonar.ops.ingest", "mardonar.engine.loop", True),
        ("mardonar.llm.base", "mardonar.engine.events", False),
        ("mardonar.store.redis", "mardonar.engine.session", False),
        ("mardonar.memory.sqlite", "mardonar.engine.loop", False),
        ("mardonar.vtt.foundry", "mardonar.engine.grants", False),
        ("mardonar.content.models", "mardonar.engine.dice", False),
        ("mardonar.content.lint.rules", "mardonar.dicenotation", True),
        ("mardonar.netreason", "mardonar.wording", True),
        ("mardonar.wording", "mardonar.netreason", False),
        ("mardonar.harness.testplans", "mardonar.channels.terminal.commands", False),
        ("mardonar.config", "mardonar.content.models", False),
        ("mardonar.errors", "mardonar.config", False),
        ("mardonar.safetext", "mardonar.runtime", False),
        ("mardonar.channels.terminal.plain", "mardonar.content.commands", True),
    ],
)
def test_the_rules_the_issue_names(importer: str, imported: str, allowed: bool) -> None:
    """The layers say what issue #13 asks: engine never imports channels, cli, harness or
    ops; llm, store, memory, vtt and content never import the engine; the bottom modules
    import nothing above them; harness and channels do not know each other."""
    item = Import("x.py", 1, importer, imported, True)
    assert (broken_rule(item) is None) is allowed


def _components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, without recursion."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def test_the_component_finder_sees_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert sorted(map(tuple, _components(graph))) == [("a", "b", "c"), ("d",)]


def test_no_import_circle_joins_two_folders() -> None:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    where: dict[tuple[str, str], str] = {}
    for item in IMPORTS:
        if item.top_level and item.target in MODULES and item.target != item.source:
            graph[item.source].add(item.target)
            where.setdefault((item.source, item.target), f"{item.file}:{item.line}")
    circles = []
    for component in _components(graph):
        folders = {str(MODULES[module].parent.relative_to(PACKAGE.parent)) for module in component}
        if len(folders) > 1:
            members = set(component)
            edges = [
                f"  {where[(a, b)]} imports {b}"
                for a in component
                for b in sorted(graph[a] & members)
            ]
            circles.append(f"a circle across {sorted(folders)}:\n" + "\n".join(edges))
    assert not circles, "\n".join(circles)
