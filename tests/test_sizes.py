"""Small modules with one job: every module under 400 lines and every function under 60, or a
"Size note:" in the module's docstring saying why not."""

from __future__ import annotations

import ast

from tests.helpers import ROOT

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def oversized(path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    found = []
    lines = len(source.splitlines())
    if lines > MAX_MODULE_LINES:
        found.append(f"{lines} lines")
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{node.name} ({length} lines, line {node.lineno})")
    return found


def test_modules_and_functions_are_small_or_say_why_not() -> None:
    unexplained = []
    for path in sorted((ROOT / "r1v4").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        problems = oversized(path)
        if not problems:
            continue
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if "Size note:" not in doc:
            unexplained.append(f"{name}: {', '.join(problems)}")
    assert not unexplained, "too big, with no 'Size note:' in the docstring:\n" + "\n".join(
        unexplained
    )
