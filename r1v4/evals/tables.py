"""Benchmark tables read row by row: Parquet (Hugging Face datasets), a JSON array or
JSONL, each row a dict with its own label for error messages ("row 12", "line 7").

Parquet needs pyarrow, an optional dependency (`pip install 'r1v4[parquet]'`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from r1v4.protocol.errors import R1V4Error

__all__ = ["RowError", "TableImportError", "iter_rows"]


class TableImportError(R1V4Error):
    """The table as a whole cannot be imported (missing file, unknown format, no question)."""


class RowError(R1V4Error):
    """One row cannot be imported; `column` names the culprit."""

    def __init__(self, column: str | None, message: str):
        super().__init__(message)
        self.column = column


def _parquet_rows(path: Path) -> tuple[list[str], Iterator[tuple[str, dict[str, Any]]]]:
    try:
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        raise TableImportError(
            "reading Parquet needs pyarrow: pip install 'r1v4[parquet]' (or pip install pyarrow)"
        ) from None
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise TableImportError(f"{path}: not a readable Parquet file: {exc}") from exc
    names = list(pf.schema_arrow.names)

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        n = 0
        for batch in pf.iter_batches(batch_size=64):  # images can be large: small batches
            for row in batch.to_pylist():
                n += 1
                yield f"row {n}", row

    return names, rows()


def _json_rows(path: Path) -> tuple[list[str], Iterator[tuple[str, dict[str, Any]]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # a ".json" file that is really JSONL
            return _jsonl_rows(path)
        raise TableImportError(f"{path}: invalid JSON: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise TableImportError(f"{path}: not UTF-8 text: {exc}") from exc
    if isinstance(data, dict):
        lists = [v for k, v in data.items() if k in ("data", "rows", "examples", "items")]
        data = lists[0] if lists and isinstance(lists[0], list) else data
    if not isinstance(data, list):
        raise TableImportError(f"{path}: expected a JSON list of objects (or JSONL)")
    names = _names([r for r in data[:50] if isinstance(r, dict)])
    return names, ((f"row {i}", r) for i, r in enumerate(data, start=1))


def _jsonl_rows(path: Path) -> tuple[list[str], Iterator[tuple[str, dict[str, Any]]]]:
    head: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if len(head) >= 50:
                break
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                head.append(obj)

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    yield f"line {number}", json.loads(line)
                except json.JSONDecodeError as exc:
                    yield f"line {number}", RowError(None, f"invalid JSON: {exc}")  # type: ignore[misc]

    return _names(head), rows()


def _names(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r))


def iter_rows(path: str | Path) -> tuple[list[str], Iterator[tuple[str, Any]]]:
    """(column names, iterator of (where, row)) for a Parquet, JSON or JSONL file."""
    path = Path(path)
    if not path.is_file():
        raise TableImportError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return _parquet_rows(path)
    if suffix == ".jsonl" or suffix == ".ndjson":
        return _jsonl_rows(path)
    if suffix == ".json":
        return _json_rows(path)
    raise TableImportError(
        f"{path}: unknown table format {suffix!r}; use .parquet, .json or .jsonl"
    )


# --------------------------------------------------------------------------- columns
