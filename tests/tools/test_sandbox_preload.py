"""A child of the sandbox cannot import the sandbox's own modules: its /tmp is the call's
folder, so a checkout or an install under /tmp is out of its sight. Every module of the
package a child may need is therefore imported by the worker before it forks: either at
module level from `boot`, or listed in `boot.LAZY_MODULES`. (Found by running the suite from
a clone under /tmp: Thyme's rewrite and the crop provenance failed to import in the jail.)"""

from __future__ import annotations

import ast
from pathlib import Path

from r1v4.tools.sandbox import boot

PACKAGE = Path(boot.__file__).parent


def _relative_imports(tree: ast.Module, *, top_level: bool) -> set[str]:
    """Sibling modules named by `from . import x` / `from .x import y`, at module level or
    inside functions."""
    nodes = tree.body if top_level else [n for n in ast.walk(tree) if n not in tree.body]
    found: set[str] = set()
    for node in nodes:
        if not isinstance(node, ast.ImportFrom) or node.level != 1:
            continue
        if node.module:
            found.add(node.module.split(".")[0])
        else:
            found.update(alias.name for alias in node.names)
    return {name for name in found if (PACKAGE / f"{name}.py").exists()}


def _trees() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(encoding="utf-8")) for p in PACKAGE.glob("*.py")}


def test_every_module_a_child_imports_later_is_loaded_before_the_fork() -> None:
    trees = _trees()
    loaded, todo = set(), ["boot", *boot.LAZY_MODULES]
    while todo:
        name = todo.pop()
        if name in loaded:
            continue
        loaded.add(name)
        todo += _relative_imports(trees[name], top_level=True)
    late = set().union(*(_relative_imports(t, top_level=False) for t in trees.values()))
    assert late - loaded == set(), "import these in the worker (boot.LAZY_MODULES)"
