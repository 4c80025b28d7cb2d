"""Imports go one way: the layers of docs/architecture.md, checked on the real import graph.

The graph is built with :mod:`ast` from every module of ``graphtools/`` and ``cli/`` (installed as
``graphtools.cli``), counting imports inside functions too.  The layers are read from the table
in docs/architecture.md, the only place they are written down.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
#: Source folder -> the package name it is installed as.
PACKAGES = {"graphtools": "graphtools", "cli": "graphtools.cli"}


# --------------------------------------------------------------------------- reading the tree

def modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, whether it is a package's ``__init__``)."""
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            found[".".join([package, *parts])] = (path, is_package)
    return found


class Import:
    """One imported thing: the module it comes from, the name taken (None for the module
    itself), and where the import statement is."""

    def __init__(self, source: str, target: str, name: str | None, line: int):
        self.source, self.target, self.name, self.line = source, target, name, line

    def __repr__(self) -> str:
        what = self.target + (f".{self.name}" if self.name else "")
        return f"{self.source}:{self.line} imports {what}"


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, is_package: bool, known: dict) -> tuple[list[Import], list[str]]:
    """Every graphtools import of ``module`` (module level and inside functions), and the
    private attributes it reads from modules it imported (``alias._name``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []
    aliases: dict[str, str] = {}  # local name -> graphtools module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "graphtools":
                    found.append(Import(module, alias.name, None, node.lineno))
                    if alias.asname:
                        aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(module, is_package, node)
            if target.split(".")[0] != "graphtools":
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if submodule in known:
                    found.append(Import(module, submodule, None, node.lineno))
                    aliases[alias.asname or alias.name] = submodule
                else:
                    found.append(Import(module, target, alias.name, node.lineno))
    private_reads = [
        f"{module}:{node.lineno} reads {aliases[node.value.id]}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
        and _private(node.attr)
    ]
    return found, private_reads


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def read_layers() -> list[tuple[str, list[str]]]:
    """(layer name, module patterns) from the table between the ``layers`` markers, lowest first."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- layers -->(.*?)<!-- /layers -->", text, re.S)
    assert match, f"{DOC}: no table between <!-- layers --> and <!-- /layers -->"
    layers = []
    for row in match.group(1).splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].isdigit():
            continue
        assert int(cells[0]) == len(layers), f"layers must be numbered 0, 1, 2, ... in order: {row}"
        layers.append((cells[1], re.findall(r"`([\w.*]+)`", cells[2])))
    return layers


def layer_map(names, layers) -> tuple[dict[str, int], list[str]]:
    """Module -> layer number; ``pkg.*`` covers ``pkg`` (its ``__init__``) and every module below it.
    An exact name beats a pattern, a longer pattern a shorter one.  Also the patterns that name
    no module."""
    best: dict[str, tuple[int, int]] = {}  # module -> (specificity, layer)
    unused = []
    for number, (_, patterns) in enumerate(layers):
        for pattern in patterns:
            if pattern.endswith(".*"):
                prefix = pattern[:-1]
                hits = [m for m in names if m.startswith(prefix) or m == prefix[:-1]]
                specificity = len(prefix)
            else:
                hits = [pattern] if pattern in names else []
                specificity = 10_000
            if not hits:
                unused.append(pattern)
            for m in hits:
                if m not in best or best[m][0] < specificity:
                    best[m] = (specificity, number)
    return {m: layer for m, (_, layer) in best.items()}, unused


def _private_module(name: str) -> str | None:
    """The package a private module (a ``_name`` part) belongs to, or None for a public one."""
    parts = name.split(".")
    for i, part in enumerate(parts):
        if _private(part):
            return ".".join(parts[:i])
    return None


# --------------------------------------------------------------------------- the graph, once

KNOWN = modules()
LAYERS = read_layers()
LAYER_OF, UNUSED = layer_map(KNOWN, LAYERS)
EDGES: list[Import] = []
PRIVATE_READS: list[str] = []
for _name, (_path, _is_package) in KNOWN.items():
    _found, _reads = imports_of(_name, _path, _is_package, KNOWN)
    EDGES += _found
    PRIVATE_READS += _reads


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module, or a module importing itself
    (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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
                if len(component) > 1 or node in edges.get(node, ()):
                    found.append(sorted(component))
    return found


# --------------------------------------------------------------------------- the rules

def test_every_module_has_exactly_one_layer_and_every_named_module_exists():
    assert len(LAYERS) >= 5, "docs/architecture.md names too few layers to be the table"
    assert not UNUSED, f"docs/architecture.md names modules that do not exist: {UNUSED}"
    missing = sorted(set(KNOWN) - set(LAYER_OF))
    assert not missing, f"modules without a layer in docs/architecture.md: {missing}"


def test_the_graph_sees_module_level_and_function_level_imports():
    # guards the test itself: the CLI imports its commands' libraries inside functions or modules
    targets = {(e.source, e.target) for e in EDGES}
    assert ("graphtools.cli.prune", "graphtools.prune") in targets
    assert ("graphtools.experiments.sweep", "graphtools.plots") in targets  # inside a function
    assert len(EDGES) > 200


def test_no_import_cycle():
    graph: dict[str, set[str]] = {}
    for e in EDGES:
        if e.target in KNOWN:
            graph.setdefault(e.source, set()).add(e.target)
    assert _cycles(graph) == []


def test_no_import_from_a_lower_layer_to_a_higher_one():
    upward = [f"{e!r} (layer {LAYER_OF[e.source]} {LAYERS[LAYER_OF[e.source]][0]} -> layer "
              f"{LAYER_OF[e.target]} {LAYERS[LAYER_OF[e.target]][0]})"
              for e in EDGES if e.target in LAYER_OF and LAYER_OF[e.target] > LAYER_OF[e.source]]
    assert upward == []


def test_no_private_name_imported_across_modules():
    private = [repr(e) for e in EDGES if e.name is not None and _private(e.name)]
    assert private == [] and PRIVATE_READS == []


def test_private_modules_are_imported_only_inside_their_package():
    outside = [repr(e) for e in EDGES
               if (owner := _private_module(e.target)) is not None
               and not (e.source == owner or e.source.startswith(owner + "."))]
    assert outside == []


def test_only_the_cli_imports_by_name_at_run_time():
    # an import_module call would hide an edge from the graph above; the CLI loads its own commands
    dynamic = []
    for name, (path, _) in KNOWN.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if called in ("import_module", "__import__"):
                    dynamic.append(f"{name}:{node.lineno}")
    assert [d.split(":")[0] for d in dynamic] == ["graphtools.cli"]


@pytest.mark.parametrize("source, expected", [
    ("import graphtools.spectral as s\nfrom graphtools.prune.common import _Unfit\ns._cache\n",
     ["prune.common._Unfit", "spectral._cache"]),
])
def test_the_checks_catch_what_they_should(tmp_path, source, expected):
    # the rules above would pass vacuously on a graph that missed private names
    path = tmp_path / "probe.py"
    path.write_text(source)
    found, reads = imports_of("graphtools.probe", path, False, KNOWN)
    names = [f"{e.target[len('graphtools.'):]}.{e.name}" for e in found if e.name] + \
            [r.split(" reads graphtools.")[1] for r in reads]
    assert names == expected
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
