"""What the benchmark readers share: their options, the case skeleton, text cleaning and the
loop that turns rows into cases with every bad row reported as `file:row:field`.

A reader is a function `read(source, writer, options)`; it writes each good case with
`CaseWriter.add` and each bad row with `CaseWriter.error`, and never stops at a bad row.
"""

from __future__ import annotations

import ast
import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1v4.evals.case_writer import CaseWriter
from r1v4.evals.tables import RowError

__all__ = [
    "Downloader",
    "ReadOptions",
    "b64_image",
    "case_skeleton",
    "literal",
    "run_rows",
    "text",
]

#: Fetches an image URL and returns its bytes, raising an error that says why not. The
#: command line gives readers one built on the web fetcher's URL guard
#: (`r1v4.tools.search.web`); evals may not import the tools layer itself.
Downloader = Callable[[str], bytes]


@dataclass
class ReadOptions:
    """How a reader labels and places what it reads."""

    benchmark: str | None = None  # written on every case
    split: str | None = None  # overrides the split a reader finds in the file
    prompt_style: str | None = None  # the options template cases are asked with
    image_root: Path | None = None  # relative image paths resolve here first
    keep_image_urls: bool = False  # image URLs stay URLs instead of being downloaded
    download: Downloader | None = None  # how image URLs are fetched
    seed: int = 0  # V*: the option shuffle
    images_only: bool = False  # MMSearch: only queries with an image (the 171 subset)
    fmt: str | None = None  # table format override (`--format`)


def text(value: Any) -> str:
    """A cell as clean text: numbers without a spurious ".0", surrounding space removed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def literal(value: str) -> Any:
    """A list or dict written as JSON or as a Python literal (VLMEvalKit cells are Python
    literals: `['(A) x', '(B) y']`, `[[1, 2, 3, 4]]`); None when it is neither."""
    try:
        return json.loads(value)
    except (json.JSONDecodeError, TypeError):
        pass
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return None


_B64 = re.compile(r"^[A-Za-z0-9+/=\s]+$")


def b64_image(value: str, column: str) -> bytes:
    """Base64 text → bytes, or a RowError naming the column."""
    body = value.strip()
    if body.startswith("data:") and "," in body:
        body = body.split(",", 1)[1]
    if not _B64.match(body):
        raise RowError(column, "not base64 image data")
    try:
        return base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RowError(column, f"bad base64: {exc}") from None


def case_skeleton(case_id: str, question: str, options: ReadOptions, split: str | None) -> dict:
    """The fields every benchmark case starts with."""
    case: dict[str, Any] = {"id": case_id, "question": question, "image": ""}
    if options.benchmark:
        case["benchmark"] = options.benchmark
    chosen = options.split or split
    if chosen:
        case["split"] = chosen
    if options.prompt_style:
        case["prompt_style"] = options.prompt_style
    return case


def set_images(case: dict[str, Any], refs: list[str]) -> None:
    """`image` is the first (the seed's field), `images` all of them when several."""
    case["image"] = refs[0] if refs else ""
    if len(refs) > 1:
        case["images"] = refs


def run_rows(
    source: str | Path,
    rows: Iterator[tuple[str, Any]],
    writer: CaseWriter,
    build: Callable[[str, Any], dict[str, Any] | None],
) -> None:
    """Build and write a case per row; a RowError (or a row the table reader could not read)
    becomes `file:row:field: reason` and the next row goes on. `build` returning None
    means the row is not a case (filtered out)."""
    for where, row in rows:
        try:
            if isinstance(row, RowError):
                raise row
            case = build(where, row)
            if case is not None:
                writer.add(case, where)
        except RowError as exc:
            writer.error(source, where, exc.column, str(exc))


def require_text(row: dict[str, Any], column: str) -> str:
    """A required text cell, or a RowError saying it is missing."""
    value = text(row.get(column))
    if not value:
        raise RowError(column, f"{column} is missing or empty")
    return value


def resolve_path(ref: str, roots: list[Path], column: str) -> Path:
    """A relative image path found under the first root that has it; RowError otherwise."""
    path = Path(ref).expanduser()
    candidates = [path] if path.is_absolute() else [r / path for r in roots]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    where = ", ".join(str(r) for r in roots) if not path.is_absolute() else str(path.parent)
    raise RowError(column, f"image file {ref!r} not found (looked in {where})")
