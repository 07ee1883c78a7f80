"""A local benchmark file becomes test cases (`python -m r1v4 import`, in `r1v4.cli.import_`).

Public benchmarks ship as Parquet (Hugging Face datasets), TSV, JSON or JSONL, with images
as raw bytes, `{"bytes": …, "path": …}` structs, base64 strings or file paths. This module
reads any of these row by row (the format readers are `r1v4.evals.tables`; the layouts of
named benchmarks are `r1v4.evals.benchmarks`), writes each image once into an image folder
under a name derived from the case id (its type sniffed by Pillow, not guessed), and writes
one test case per row with `id`, `question`, `image`/`images`, `answer`, `options` and
`category`. A bad row is reported as `file:row:field: reason` and skipped; the other rows
still import. The case file and its images are written by `r1v4.evals.case_writer`, the
part every reader shares.

Parquet needs pyarrow, an optional dependency (`pip install 'r1v4[parquet]'`).
"""

from __future__ import annotations

import ast
import base64
import binascii
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1v4._util.images import ImageError, decode_data_url
from r1v4.evals.case_writer import CaseWriter, ImportResult
from r1v4.evals.tables import RowError, TableImportError, iter_rows
from r1v4.protocol.sidecars import safe_component

__all__ = [
    "Columns",
    "ImportResult",
    "TableImportError",
    "import_table",
    "iter_rows",
]

# Column names tried, in order, when a flag does not name one (common benchmark spellings).
IMAGE_COLS = ("image", "images", "image_path", "image_paths", "img", "decoded_image")
QUESTION_COLS = ("question", "prompt", "query", "problem", "instruction")
ANSWER_COLS = ("answer", "answers", "label", "gt_answer", "ground_truth", "gt")
OPTIONS_COLS = ("options", "choices", "candidates")
ID_COLS = ("id", "question_id", "qid", "index", "idx", "sample_id")
CATEGORY_COLS = ("category", "l2-category", "subcategory", "task", "type", "subset")
LETTER_COLS = tuple("ABCDEFGHIJ")  # MMBench / HR-Bench style: one column per option

_B64_RE = re.compile(r"^[A-Za-z0-9+/=\s]+$")


@dataclass
class Columns:
    """Which column holds what; None means detect from the common names."""

    image: list[str] | None = None
    question: str | None = None
    answer: str | None = None
    options: list[str] | None = None  # one column holding a list/dict, or letter columns
    id: str | None = None
    category: str | None = None


def _pick(
    names: list[str], given: str | None, candidates: tuple[str, ...], what: str
) -> str | None:
    if given:
        if names and given not in names:
            raise TableImportError(
                f"no column {given!r} for the {what}; columns are: {', '.join(names)}"
            )
        return given
    lower = {n.lower(): n for n in names}
    return next((lower[c] for c in candidates if c in lower), None)


def resolve_columns(names: list[str], cols: Columns) -> Columns:
    """Fill in the columns the flags left out from the common names; the question is required."""
    question = _pick(names, cols.question, QUESTION_COLS, "question")
    if question is None:
        raise TableImportError(
            f"cannot tell which column is the question; pass --question-col "
            f"(columns are: {', '.join(names) or 'none'})"
        )
    if cols.image:
        image = [_pick(names, c, (), "image") for c in cols.image]
    else:
        found = _pick(names, None, IMAGE_COLS, "image")
        image = [found] if found else []
    options: list[str] = []
    if cols.options:
        options = [str(_pick(names, c, (), "options")) for c in cols.options]
    else:
        found = _pick(names, None, OPTIONS_COLS, "options")
        if found:
            options = [found]
        else:
            letters = [c for c in LETTER_COLS if c in names]
            options = letters if len(letters) >= 2 else []
    return Columns(
        image=[c for c in image if c],
        question=question,
        answer=_pick(names, cols.answer, ANSWER_COLS, "answer"),
        options=options,
        id=_pick(names, cols.id, ID_COLS, "id"),
        category=_pick(names, cols.category, CATEGORY_COLS, "category"),
    )


# --------------------------------------------------------------------------- values


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _answer(value: Any, column: str) -> str | list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple):
        items = [_text(v) for v in value if v is not None and _text(v)]
        return items or None
    if isinstance(value, str | int | float | bool):
        return _text(value)
    raise RowError(column, f"answer must be text, a number or a list, got {type(value).__name__}")


def _literal(text: str) -> Any:
    """A list or dict written as JSON or as a Python literal (both occur in benchmark files)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


_OPTION_LINE = re.compile(r"^\s*\(?([A-Za-z])[.):：、]\s*(.+?)\s*$")


def _options(row: dict[str, Any], columns: list[str]) -> list[str] | dict[str, str] | None:
    if not columns:
        return None
    if len(columns) > 1:  # letter columns: {"A": row["A"], ...}, empty ones dropped
        out = {c.upper(): _text(row[c]) for c in columns if row.get(c) not in (None, "")}
        out = {k: v for k, v in out.items() if v and v.lower() != "nan"}
        return out or None
    column = columns[0]
    value = row.get(column)
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        parsed = _literal(value)
        if isinstance(parsed, list | dict):
            value = parsed
        else:
            lines = [_OPTION_LINE.match(x) for x in value.splitlines() if x.strip()]
            if lines and all(lines):
                return {m.group(1).upper(): m.group(2) for m in lines if m}
            raise RowError(column, "options must be a list, an object, or lines like 'A. text'")
    if isinstance(value, dict):
        return {str(k).strip().upper(): _text(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_text(v) for v in value if v is not None]
    raise RowError(column, f"options must be a list or an object, got {type(value).__name__}")


@dataclass
class _Image:
    column: str
    data: bytes | None = None
    path: Path | None = None


def _image_items(value: Any, column: str, roots: list[Path]) -> list[_Image]:
    """Every image a cell holds: bytes, {"bytes", "path"} structs, data URLs, base64, paths."""
    if value is None or value == "":
        return []
    if isinstance(value, bytes | bytearray | memoryview):
        return [_Image(column, data=bytes(value))]
    if isinstance(value, dict):
        if value.get("bytes"):
            return _image_items(value["bytes"], column, roots)
        if value.get("path"):
            return _image_items(str(value["path"]), column, roots)
        raise RowError(column, "image object has neither 'bytes' nor 'path'")
    if isinstance(value, list | tuple):
        return [item for v in value for item in _image_items(v, column, roots)]
    if not isinstance(value, str):
        raise RowError(
            column, f"image must be bytes, base64 text or a path, not {type(value).__name__}"
        )
    text = value.strip()
    if text.startswith("data:"):
        try:
            return [_Image(column, data=decode_data_url(text))]
        except ImageError as exc:
            raise RowError(column, f"bad data URL: {exc}") from exc
    if len(text) < 1024:  # paths are short; base64 images are not
        path = Path(text).expanduser()
        for candidate in [path] if path.is_absolute() else [r / path for r in roots]:
            if candidate.is_file():
                return [_Image(column, path=candidate.resolve())]
    if len(text) >= 64 and _B64_RE.match(text):
        try:
            return [_Image(column, data=base64.b64decode("".join(text.split()), validate=True))]
        except (binascii.Error, ValueError):
            pass
    where = ", ".join(str(r) for r in roots)
    raise RowError(column, f"image {text[:80]!r} is neither base64 nor a file (looked in {where})")


# --------------------------------------------------------------------------- import


def _case(index: int, row: Any, cols: Columns, prefix: str, roots: list[Path],
          writer: CaseWriter) -> dict[str, Any]:  # fmt: skip
    if isinstance(row, RowError):
        raise row
    if not isinstance(row, dict):
        raise RowError(None, f"expected an object, got {type(row).__name__}")
    assert cols.question is not None
    question = row.get(cols.question)
    if question is None or not _text(question):
        raise RowError(cols.question, "question is missing or empty")
    raw_id = row.get(cols.id) if cols.id else None
    case_id = _text(raw_id) if raw_id not in (None, "") else f"{prefix}-{index}"
    writer.check_id(case_id, cols.id)
    items: list[_Image] = []
    for column in cols.image or []:
        items.extend(_image_items(row.get(column), column, roots))
    refs: list[str] = []
    base = writer.stem(case_id)
    for k, item in enumerate(items, start=1):
        name = base if len(items) == 1 else f"{base}_{k}"
        if item.data is not None:
            refs.append(writer.image(item.data, name, item.column))
        else:
            assert item.path is not None
            refs.append(writer.path_ref(item.path))
    case: dict[str, Any] = {"id": case_id, "question": _text(question)}
    case["image"] = refs[0] if refs else ""
    if len(refs) > 1:
        case["images"] = refs
    if cols.answer:
        answer = _answer(row.get(cols.answer), cols.answer)
        if answer is not None:
            case["answer"] = answer
    options = _options(row, cols.options or [])
    if options:
        case["options"] = options
    if cols.category and row.get(cols.category) not in (None, ""):
        case["category"] = _text(row[cols.category])
    return case


def import_table(
    table: str | Path,
    out: str | Path,
    columns: Columns | None = None,
    *,
    images_dir: str | Path | None = None,
    image_root: str | Path | None = None,
    fmt: str | None = None,
) -> ImportResult:
    """Write test cases for every good row of `table` into `out`; bad rows go to `errors`.

    Images given as bytes or base64 are written to `images_dir` (default: `<out stem>_images`
    beside `out`); images given as paths are referenced where they are, resolved against
    `image_root` (default: the table's folder) and then the working folder. `fmt` overrides
    the table format the suffix says.
    """
    table = Path(table)
    names, rows = iter_rows(table, fmt)
    cols = resolve_columns(names, columns or Columns())
    roots = [Path(image_root) if image_root else table.resolve().parent, Path.cwd()]
    prefix = safe_component(table.stem)
    with CaseWriter(out, images_dir) as writer:
        writer.result.columns = {k: v for k, v in vars(cols).items() if v}
        for index, (where, row) in enumerate(rows):
            try:
                writer.add(_case(index, row, cols, prefix, roots, writer), where)
            except RowError as exc:
                writer.error(table, where, exc.column, str(exc))
    return writer.result
