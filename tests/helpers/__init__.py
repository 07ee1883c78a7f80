"""Helpers the tests import (fixtures stay in conftest.py files): the repository root, JSONL
files, a batch run in-process, and a script run in a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

__all__ = ["ARTIFACTS", "ROOT", "read_jsonl", "run_cli", "run_script", "write_jsonl"]

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


def run_script(code: str, cwd: Path, *args: str, timeout: float = 60) -> Any:
    """Run `python -c code ROOT *args` in `cwd`, in a process of its own (for code that
    patches modules for its process, as the sandbox's wrappers do); returns what it printed,
    as JSON (None when it printed nothing). A failure shows the script's stderr."""
    proc = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout) if proc.stdout.strip() else None
