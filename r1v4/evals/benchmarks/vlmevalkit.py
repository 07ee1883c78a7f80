"""VLMEvalKit TSVs (HR-Bench, MME-RealWorld-Lite, V* `VStarBench.tsv`, TreeBench) → cases.

The layout, as VLMEvalKit's loader reads it (`open-compass/VLMEvalKit@19c0e38:
vlmeval/dataset/image_base.py:40-77`, `image_mcq.py`):

- `index` names the row; `question` is the question;
- `image` is a base64 image, or — to store an image once — a value of at most 64
  characters naming the `index` of the row that holds it (one level: that row must hold
  the image itself), or a Python-literal list of such values (multi-image rows). The
  toolkit resolves a reference whichever way it points: a row referring to a later row
  waits (its text only) until that row is read. Each image is written once and every row
  that refers to it shares the file. Without an `image` column, `image_path` names files.
- options are the single-capital-letter columns present and non-empty, in alphabetical
  order (`A`…`J`, as VLMEvalKit collects A…Z), or, without them, the `multi-choice
  options` cell: a Python-literal list `['(A) …', …]` (MME-RealWorld-Lite) or lines
  `(A) …` / `A. …` under an optional header line (the MME-RealWorld TSV VLMEvalKit writes);
- `answer` is the option letter; `category` the category; `split` the split (else
  "test"); `l2-category`,
  `cycle_category` (HR-Bench option rotations) and `target_instances` (TreeBench boxes,
  a Python-literal list of `[x1, y1, x2, y2]`) go to the case's `labels`.

Differences from VLMEvalKit, each on purpose: a row without an image is reported and
skipped (VLMEvalKit drops it silently); an index reference may point forward; a list may
mix references and base64; only an empty cell is missing (pandas would also read the
texts "None", "NA", "nan" … as missing, and drop such an option).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1v4.evals.benchmarks.common import (
    ReadOptions,
    b64_image,
    case_skeleton,
    literal,
    require_text,
    resolve_path,
    set_images,
    text,
)
from r1v4.evals.case_writer import CaseWriter
from r1v4.evals.tables import RowError, iter_rows

__all__ = ["LABEL_COLUMNS", "REFERENCE_MAX", "parse_option_cell", "read_tsv"]

#: A cell this short (or shorter) is a reference to another row's index, not an image.
REFERENCE_MAX = 64
#: Columns kept on the case as `labels` when present.
LABEL_COLUMNS = ("l2-category", "cycle_category", "target_instances", "hint")

_OPTION_ITEM = re.compile(r"^\s*\(?([A-Z])[).:]\s?(.*)$", re.S)


def parse_option_cell(value: str, column: str = "multi-choice options") -> dict[str, str]:
    """The `multi-choice options` cell → {"A": text, …}: a Python-literal list of "(A) …"
    strings, or lines "(A) …" / "A. …" with an optional header line first."""
    parsed = literal(value) if value.lstrip().startswith("[") else None
    items = [str(x) for x in parsed] if isinstance(parsed, list) else value.splitlines()
    out: dict[str, str] = {}
    for i, item in enumerate(x for x in items if x.strip()):
        m = _OPTION_ITEM.match(item)
        if m is None:
            if i == 0 and not isinstance(parsed, list):
                continue  # "The choices are listed below:"
            raise RowError(column, f"option {item[:40]!r} does not start with a letter")
        out[m.group(1)] = m.group(2).strip()
    if not out:
        raise RowError(column, "no options found")
    return out


def _boxes(value: str) -> list[list[float]]:
    parsed = literal(value)
    if not isinstance(parsed, list) or not all(
        isinstance(b, list | tuple)
        and len(b) == 4
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in b)
        for b in parsed
    ):
        raise RowError("target_instances", "must be a list of [x1, y1, x2, y2] boxes")
    return [list(b) for b in parsed]


@dataclass
class _Pending:
    """A row waiting for the row(s) whose image it refers to: its slots are image
    references, or `(index,)` where it still waits for that index."""

    where: str
    case: dict[str, Any]
    slots: list[str | tuple[str]]


@dataclass
class _State:
    images: dict[str, list[str]] = field(default_factory=dict)  # index -> refs of its own image
    pending: dict[str, list[_Pending]] = field(default_factory=dict)


def read_tsv(source: Path, writer: CaseWriter, options: ReadOptions) -> None:
    """Write a case for every good row of a VLMEvalKit TSV (see the module docstring)."""
    names, rows = iter_rows(source, options.fmt or "tsv")
    if "question" not in names:
        from r1v4.evals.tables import TableImportError

        raise TableImportError(f"{source}: no 'question' column (columns: {', '.join(names)})")
    letters = [c for c in string.ascii_uppercase if c in names]
    roots = [r for r in (options.image_root, source.resolve().parent, Path.cwd()) if r]
    state = _State()
    for where, row in rows:
        try:
            if isinstance(row, RowError):
                raise row
            _row(where, row, names, letters, roots, writer, options, state)
        except RowError as exc:
            writer.error(source, where, exc.column, str(exc))
    for target, waiting in state.pending.items():
        for p in waiting:
            writer.error(
                source, p.where, "image",
                f"refers to index {target!r}, which holds no image of its own",
            )  # fmt: skip


def _fields(row: dict[str, Any], letters: list[str], index: str, options: ReadOptions) -> dict:
    """The case of a row, without its images: question, options, answer, category, labels."""
    question = require_text(row, "question")
    case = case_skeleton(index, question, options, text(row.get("split")) or "test")
    opts = {c: text(row[c]) for c in letters if text(row.get(c))}
    if not opts and text(row.get("multi-choice options")):
        opts = parse_option_cell(str(row["multi-choice options"]))
    if opts:
        case["options"] = opts
    if text(row.get("answer")):
        case["answer"] = text(row["answer"])
    if text(row.get("category")):
        case["category"] = text(row["category"])
    labels: dict[str, Any] = {}
    for column in LABEL_COLUMNS:
        value = text(row.get(column))
        if value:
            labels[column] = _boxes(value) if column == "target_instances" else value
    if labels:
        case["labels"] = labels
    return case


def _row(
    where: str,
    row: dict[str, Any],
    names: list[str],
    letters: list[str],
    roots: list[Path],
    writer: CaseWriter,
    options: ReadOptions,
    state: _State,
) -> None:
    index = text(row.get("index")) or where.split()[-1]
    case = _fields(row, letters, index, options)
    writer.check_id(index, "index")
    if "image" not in names:
        paths = text(row.get("image_path"))
        if paths:
            listed = literal(paths) if paths.startswith("[") else None
            refs = [str(x) for x in listed] if isinstance(listed, list) else [paths]
            set_images(case, [writer.path_ref(resolve_path(r, roots, "image_path")) for r in refs])
        writer.add(case, where)
        return
    cell = text(row.get("image"))
    if not cell:
        raise RowError("image", "no image (VLMEvalKit skips such rows)")
    slots = _image_slots(_cell_items(cell), index, writer, state)
    waits = [s[0] for s in slots if isinstance(s, tuple)]
    if waits:
        writer.reserve(index, where)
        waiting = _Pending(where, case, slots)
        for target in dict.fromkeys(waits):
            state.pending.setdefault(target, []).append(waiting)
    else:
        set_images(case, [s for s in slots if isinstance(s, str)])
        writer.add(case, where)
    _release(index, writer, state)


def _image_slots(
    items: list[str], index: str, writer: CaseWriter, state: _State
) -> list[str | tuple[str]]:
    """Each item's image reference: base64 written now (and remembered as this index's
    image), a reference resolved when its row was read, else `(index,)` to wait for."""
    stem = writer.stem(index)
    slots: list[str | tuple[str]] = []
    own: list[str] = []
    for k, item in enumerate(items, start=1):
        if len(item) <= REFERENCE_MAX:
            if item == index:
                raise RowError("image", "refers to its own index")
            slots.extend(state.images.get(item) or [(item,)])
        else:
            name = stem if len(items) == 1 else f"{stem}_{k}"
            ref = writer.image(b64_image(item, "image"), name, "image")
            own.append(ref)
            slots.append(ref)
    if own and len(own) == len(items):
        state.images[index] = own
    return slots


def _release(index: str, writer: CaseWriter, state: _State) -> None:
    """Rows that were waiting for `index`'s image get it; those now complete are written."""
    refs = state.images.get(index)
    if refs is None:
        return
    for p in state.pending.pop(index, []):
        slots: list[str | tuple[str]] = []
        for slot in p.slots:
            slots.extend(refs if slot == (index,) else [slot])
        p.slots = slots
        if not any(isinstance(s, tuple) for s in slots):
            set_images(p.case, [s for s in slots if isinstance(s, str)])
            writer.add(p.case, p.where, reserved=True)


def _cell_items(cell: str) -> list[str]:
    """The images (base64 or index references) a cell holds: one, or a literal list."""
    if cell.startswith("[") and cell.endswith("]"):
        listed = literal(cell)
        if not isinstance(listed, list) or not listed:
            raise RowError("image", "a list cell must be a non-empty Python list of strings")
        return [text(x) for x in listed]
    return [cell]
