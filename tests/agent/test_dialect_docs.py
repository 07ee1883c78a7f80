"""README's dialect table is where a user picks `--dialect NAME` and the `vllm serve` flags to
go with it: every dialect the toolkit speaks must have its row there."""

from __future__ import annotations

import re
from pathlib import Path

from r1v4.agent.dialects.registry import DIALECT_NAMES

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_dialect_is_named_in_readme_table() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| `--dialect` |") :].split("\n\n", 1)[0]
    named = set(re.findall(r"`([a-z0-9-]+)`", table))
    missing = [name for name in DIALECT_NAMES if name not in named]
    assert not missing, f"dialects without a README row: {missing}"
