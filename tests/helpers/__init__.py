"""Helpers the tests import (fixtures stay in conftest.py files): the repository root, JSONL
files, and a batch run in-process."""

from __future__ import annotations

from pathlib import Path

import orjson

__all__ = ["ARTIFACTS", "ROOT", "read_jsonl", "run_cli", "write_jsonl"]

#: The repository: the batch scripts, demo images and corpus, bench/.
ROOT = Path(__file__).resolve().parents[2]
#: Where browser tests leave screenshots for a human to look at (ignored by git).
ARTIFACTS = ROOT / "tests" / "artifacts"


def write_jsonl(path: Path, rows: list[dict | str]) -> Path:
    """Write rows (dicts, or raw strings for deliberately bad lines) as JSONL."""
    with open(path, "wb") as fh:
        for row in rows:
            fh.write((row.encode() if isinstance(row, str) else orjson.dumps(row)) + b"\n")
    return path


def read_jsonl(path: Path) -> list[dict]:
    """Every JSON line of a file (blank lines skipped)."""
    return [orjson.loads(line) for line in Path(path).read_bytes().splitlines() if line.strip()]


def run_cli(argv: list[str], mode: str = "nonstream") -> int:
    """Run a batch command line in-process, as `python3 batch_<mode>.py argv` would."""
    from r1v4.cli.run import main

    return main([*argv, "--no-progress"], mode=mode)
