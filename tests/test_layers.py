"""The package's layering (docs/DESIGN.md, "Layout"), checked on the source with `ast`.

Every import is counted: at module level, inside functions and under `TYPE_CHECKING`,
because those last two are where import cycles hide (they run later, so nothing fails until
the wrong call order happens in production). Three rules:

- no import cycle between modules;
- an import goes down the layers or stays in its own package, never up or sideways to a peer;
- no `_private` name is imported from another module.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "r1v4"

BOTTOM = {"protocol", "_util", "parsing"}
#: Layer -> the other layers it may import. A layer may always import itself.
ALLOWED: dict[str, set[str]] = {
    "protocol": set(),
    "_util": {"protocol"},
    "parsing": {"protocol", "_util"},
    "endpoint": {"protocol", "_util", "parsing"},
    "tools": {"protocol", "_util", "parsing"},
    "agent": {"protocol", "_util", "parsing", "endpoint", "tools"},
    "evals": {"protocol", "_util", "parsing", "endpoint"},
    "batch": {"protocol", "_util", "parsing", "endpoint", "tools", "agent", "evals"},
    "sim": BOTTOM,
    "viewer": BOTTOM,
    "demo": {"protocol", "_util", "parsing", "endpoint", "tools", "agent", "evals", "batch", "sim"},
    "cli": {
        "protocol",
        "_util",
        "parsing",
        "endpoint",
        "tools",
        "agent",
        "evals",
        "batch",
        "sim",
        "viewer",
        "demo",
    },
    # `r1v4/__init__.py` names its exports as strings and imports them lazily.
    "r1v4": set(),
}


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module
    names: tuple[str, ...]  # names taken from it (`from target import names`)
    where: str  # file:line


def module_names() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def layer_of(module: str) -> str:
    """The top-level package under r1v4; a `__main__` module is an entry point (cli)."""
    parts = module.split(".")
    if parts[-1] == "__main__":
        return "cli"
    return parts[1] if len(parts) > 1 else "r1v4"


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    shown = path.relative_to(PACKAGE.parent) if path.is_relative_to(PACKAGE.parent) else path
    found = []
    for node in ast.walk(tree):
        where = f"{shown}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                found += [Import(module, alias.name, (), where)]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                if not is_package:
                    parts.pop()
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            names = [a.name for a in node.names]
            submodules = [n for n in names if f"{base}.{n}" in modules]
            others = tuple(n for n in names if n not in submodules)
            found += [Import(module, f"{base}.{n}", (), where) for n in submodules]
            if others:
                found.append(Import(module, base, others, where))
    # Keep imports of this package only, resolved to the module that holds them.
    out = []
    for imp in found:
        target = imp.target
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target.startswith("r1v4") and target != module:
            out.append(Import(imp.source, target, imp.names, imp.where))
    return out


@pytest.fixture(scope="module")
def graph() -> list[Import]:
    modules = module_names()
    assert "r1v4.protocol.cases" in modules, "the package layout moved: update this test"
    return [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]


def test_imports_go_down_the_layers(graph: list[Import]) -> None:
    wrong = []
    for imp in graph:
        src, dst = layer_of(imp.source), layer_of(imp.target)
        if src == dst:
            continue
        if dst == "r1v4" and set(imp.names) <= {"__version__"}:
            continue  # the version string is not a layer
        if dst not in ALLOWED[src]:
            wrong.append(f"{imp.where}: {imp.source} imports {imp.target} ({src} -> {dst})")
    assert not wrong, "imports that run up or across the layers:\n" + "\n".join(wrong)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles(graph: list[Import]) -> None:
    edges: dict[str, set[str]] = {}
    for imp in graph:
        edges.setdefault(imp.source, set()).add(imp.target)
    cycles = _cycles(edges)
    shown = []
    for component in cycles:
        members = set(component)
        lines = [f"  {i.where}: {i.source} -> {i.target}" for i in graph]
        lines = [
            line
            for line, i in zip(lines, graph, strict=True)
            if i.source in members and i.target in members
        ]
        shown.append(" <-> ".join(component) + "\n" + "\n".join(lines))
    assert not cycles, "import cycles:\n" + "\n".join(shown)


def test_no_private_names_imported_across_modules(graph: list[Import]) -> None:
    private = [
        f"{imp.where}: {name} from {imp.target}"
        for imp in graph
        for name in imp.names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not private, "private names imported from another module:\n" + "\n".join(private)


def test_the_checker_sees_hidden_imports(tmp_path: Path) -> None:
    """Function-level and TYPE_CHECKING imports count: the cycles this test exists for."""
    src = tmp_path / "mod.py"
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from r1v4.cli import COMMANDS\n"
        "def f():\n"
        "    from r1v4.batch import runner\n"
        "    from r1v4.parsing.scanner import _Hidden\n"
    )
    modules = module_names()
    found = imports_of("r1v4.protocol.fake", src, modules)
    targets = {(i.target, i.names) for i in found}
    assert ("r1v4.cli", ("COMMANDS",)) in targets
    assert ("r1v4.batch.runner", ()) in targets
    assert ("r1v4.parsing.scanner", ("_Hidden",)) in targets
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
