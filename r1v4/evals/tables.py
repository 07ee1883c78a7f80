"""Benchmark tables read row by row: Parquet (Hugging Face datasets), TSV (VLMEvalKit), a
JSON array or JSONL, each row a dict with its own place for error messages ("row 12",
"line 7").

Every format streams, so a multi-gigabyte file never sits in memory: Parquet in small
record batches, TSV through the csv module over the open file (with the field-size limit
raised, since a VLMEvalKit cell holds a whole base64 image), JSONL line by line, and a
JSON array one element at a time (`iter_json_array`). Memory is bounded by the largest
row, not by the file.

Parquet needs pyarrow, an optional dependency (`pip install 'r1v4[parquet]'`).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from r1v4.protocol.errors import R1V4Error

__all__ = [
    "FORMATS",
    "RowError",
    "TableImportError",
    "detect_format",
    "iter_json_array",
    "iter_rows",
]

#: Table formats by name (the `--format` flag's choices), detected from the suffix.
FORMATS: dict[str, tuple[str, ...]] = {
    "parquet": (".parquet", ".pq"),
    "tsv": (".tsv",),
    "json": (".json",),
    "jsonl": (".jsonl", ".ndjson"),
}

# Rows read to learn the column names of a JSON file (its first rows may each be large).
_NAME_ROWS = 5


class TableImportError(R1V4Error):
    """The table as a whole cannot be imported (missing file, unknown format, no question)."""


class RowError(R1V4Error):
    """One row cannot be imported; `column` names the culprit."""

    def __init__(self, column: str | None, message: str):
        super().__init__(message)
        self.column = column


Rows = Iterator[tuple[str, Any]]


def _parquet_rows(path: Path) -> tuple[list[str], Rows]:
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

    def rows() -> Rows:
        n = 0
        for batch in pf.iter_batches(batch_size=16):  # images can be large: small batches
            for row in batch.to_pylist():
                n += 1
                yield f"row {n}", row

    return names, rows()


def _raise_csv_limit() -> None:
    """A VLMEvalKit cell is a whole base64 image (tens of MB): lift csv's 128 KiB limit."""
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:  # a C long smaller than sys.maxsize (Windows)
            limit //= 2


def _tsv_rows(path: Path) -> tuple[list[str], Rows]:
    """VLMEvalKit TSVs are written by pandas `to_csv(sep="\\t")`: a header line, fields
    quoted with '"' when they hold a tab, a newline or a quote. An empty cell is None
    (pandas reads it as NaN)."""
    _raise_csv_limit()
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh, dialect="excel-tab"), None)
    except UnicodeDecodeError as exc:
        raise TableImportError(f"{path}: not UTF-8 text: {exc}") from exc
    if not header:
        raise TableImportError(f"{path}: empty TSV (no header line)")
    names = [h.strip() for h in header]

    def rows() -> Rows:
        with path.open(encoding="utf-8", newline="", errors="replace") as fh:
            reader = csv.reader(fh, dialect="excel-tab")
            next(reader, None)
            start = reader.line_num + 1
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield f"line {start}", RowError(None, f"bad TSV row: {exc}")
                    start = reader.line_num + 1
                    continue
                where = f"line {start}"
                start = reader.line_num + 1
                if not cells or cells == [""]:
                    continue
                if len(cells) != len(names):
                    yield (
                        where,
                        RowError(None, f"{len(cells)} fields where the header has {len(names)}"),
                    )
                    continue
                pairs = zip(names, cells, strict=True)
                yield where, {n: (c if c != "" else None) for n, c in pairs}

    return names, rows()


_NUMBER_CHARS = frozenset("0123456789.eE+-")


class _ArrayReader:
    """A JSON array read from a text stream one element at a time (see `iter_json_array`)."""

    def __init__(self, fh: IO[str], chunk_chars: int) -> None:
        self.fh = fh
        self.chunk = chunk_chars
        self.buf = ""
        self.offset = 0  # characters consumed before buf
        self.eof = False
        self.decoder = json.JSONDecoder()

    def fill(self, size: int) -> bool:
        if self.eof:
            return False
        more = self.fh.read(size)
        if not more:
            self.eof = True
            return False
        self.buf += more
        return True

    def take(self, n: int) -> None:
        self.buf, self.offset = self.buf[n:], self.offset + n

    def skip_space(self) -> str:
        """Drop leading whitespace (reading on as needed); the next character or ""."""
        while True:
            stripped = self.buf.lstrip()
            self.take(len(self.buf) - len(stripped))
            if self.buf or not self.fill(self.chunk):
                return self.buf[:1]

    def value(self) -> Any:
        """Decode the element at the start of the buffer, growing it (doubling the read
        size) while the element is incomplete."""
        size = self.chunk
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf)
            except json.JSONDecodeError as exc:
                if not self.fill(size):
                    where = self.offset + exc.pos
                    raise ValueError(f"invalid JSON at character {where}: {exc.msg}") from None
                size *= 2
                continue
            # A number at the end of what was read may go on in the next chunk ("12" of
            # "123", "0" of "0.5"): read on until a character that cannot continue it.
            if (
                isinstance(value, int | float)
                and (end == len(self.buf) or self.buf[end] in _NUMBER_CHARS)
                and self.fill(size)
            ):
                continue
            self.take(end)
            return value


def iter_json_array(fh: IO[str], chunk_chars: int = 1 << 20) -> Iterator[Any]:
    """The elements of the JSON array in `fh`, decoded one at a time.

    Only the element being decoded (plus one chunk) is held: the buffer grows only while an
    element is incomplete, so a large element costs linear time. Raises ValueError (with the
    character offset) on malformed JSON.
    """
    r = _ArrayReader(fh, chunk_chars)
    if r.skip_space() != "[":
        raise ValueError("expected a JSON array ('[') at the start")
    r.take(1)
    if r.skip_space() == "]":
        return
    while True:
        yield r.value()
        nxt = r.skip_space()
        if nxt == "]":
            return
        if nxt != ",":
            raise ValueError(f"invalid JSON at character {r.offset}: expected ',' or ']'")
        r.take(1)
        r.skip_space()


def _json_rows(path: Path) -> tuple[list[str], Rows]:
    """A JSON array, streamed; a top-level object holding the list under "data", "rows",
    "examples" or "items" is read whole (such files are small); a ".json" that is really
    JSONL is read as JSONL."""
    try:
        with path.open(encoding="utf-8") as fh:
            head = fh.read(4096).lstrip()
    except UnicodeDecodeError as exc:
        raise TableImportError(f"{path}: not UTF-8 text: {exc}") from exc
    if head.startswith("{"):
        return _json_object_rows(path)
    if not head.startswith("["):
        raise TableImportError(f"{path}: expected a JSON list of objects (or JSONL)")
    names: list[str] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for i, row in enumerate(iter_json_array(fh)):
                if isinstance(row, dict):
                    names += [k for k in row if k not in names]
                if i + 1 >= _NAME_ROWS:
                    break
    except ValueError as exc:
        if not names:
            raise TableImportError(f"{path}: invalid JSON: {exc}") from exc

    def rows() -> Rows:
        n = 0
        with path.open(encoding="utf-8") as fh:
            try:
                for n, row in enumerate(iter_json_array(fh), start=1):  # noqa: B007
                    yield f"row {n}", row
            except ValueError as exc:
                # An array cannot be resynchronised after a syntax error: the rows before it
                # are kept, and the table stops here.
                raise TableImportError(f"{path}: after row {n}: {exc}") from exc

    return names, rows()


def _json_object_rows(path: Path) -> tuple[list[str], Rows]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # a ".json" file that is really JSONL
            return _jsonl_rows(path)
        raise TableImportError(f"{path}: invalid JSON: {exc}") from exc
    lists = [v for k, v in data.items() if k in ("data", "rows", "examples", "items")]
    if not (lists and isinstance(lists[0], list)):
        raise TableImportError(f"{path}: expected a JSON list of objects (or JSONL)")
    items = lists[0]
    names = _names([r for r in items[:50] if isinstance(r, dict)])
    return names, ((f"row {i}", r) for i, r in enumerate(items, start=1))


def _jsonl_rows(path: Path) -> tuple[list[str], Rows]:
    head: list[dict[str, Any]] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if len(head) >= 50:
                break
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                head.append(obj)

    def rows() -> Rows:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    yield f"line {number}", json.loads(line)
                except json.JSONDecodeError as exc:
                    yield f"line {number}", RowError(None, f"invalid JSON: {exc}")

    return _names(head), rows()


def _names(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r))


def detect_format(path: str | Path) -> str:
    """The format name of a table from its suffix; TableImportError when unknown."""
    suffix = Path(path).suffix.lower()
    for name, suffixes in FORMATS.items():
        if suffix in suffixes:
            return name
    known = ", ".join(s for ss in FORMATS.values() for s in ss)
    raise TableImportError(
        f"{path}: unknown table format {suffix!r}; use one of {known} (or --format)"
    )


def iter_rows(path: str | Path, fmt: str | None = None) -> tuple[list[str], Rows]:
    """(column names, iterator of (where, row)) for a Parquet, TSV, JSON or JSONL file;
    `fmt` overrides the format the suffix says. A row that cannot be read is yielded as a
    `RowError` in its place."""
    path = Path(path)
    if not path.is_file():
        raise TableImportError(f"{path}: no such file")
    fmt = fmt or detect_format(path)
    readers = {"parquet": _parquet_rows, "tsv": _tsv_rows, "json": _json_rows,
               "jsonl": _jsonl_rows}  # fmt: skip
    if fmt not in readers:
        raise TableImportError(f"unknown table format {fmt!r}; choose from {', '.join(readers)}")
    return readers[fmt](path)
