"""MME-RealWorld / -CN JSON files (HF `yifanzhang114/MME-RealWorld-Base64`) → cases.

Each file is a JSON array (streamed: one element at a time) of objects with `index`,
`image` (base64), `question`, `multi-choice options` (five strings "(A) text" … "(E)
text"), `answer` (a letter), `category` ("Perception/Monitoring", …) and `l2-category`
(VLMEvalKit `image_mcq.py:MMERealWorld.load_data`, `generate_tsv`). VLMEvalKit takes each
option's text as the string without its first four characters ("(A) "); so does this
reader when the string has that form. The benchmark's own non-base64 release
(`MME_RealWorld.json`: `Question_id`, `Image` path, `Text`, `Answer choices`, `Ground
truth`, `Task`, `Subtask`, `Category`) is read too, its category built as
"Task/Subtask" so the Perception/Reasoning split works the same. The -Lite TSV is a
VLMEvalKit TSV (`r1v4.evals.benchmarks.vlmevalkit`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from r1v4.evals.benchmarks.common import (
    ReadOptions,
    b64_image,
    case_skeleton,
    require_text,
    resolve_path,
    run_rows,
    set_images,
    text,
)
from r1v4.evals.case_writer import CaseWriter
from r1v4.evals.tables import RowError, iter_rows

__all__ = ["option_texts", "read_json"]

_PREFIX = re.compile(r"^\(([A-Z])\)\s?")


def option_texts(items: Any, column: str) -> dict[str, str]:
    """["(A) x", "(B) y", …] → {"A": "x", "B": "y", …}; letters in order A, B, C…"""
    if not isinstance(items, list) or not items:
        raise RowError(column, "must be a non-empty list of '(A) …' strings")
    out: dict[str, str] = {}
    for i, item in enumerate(items):
        letter = chr(ord("A") + i)
        value = str(item)
        m = _PREFIX.match(value)
        if m and m.group(1) != letter:
            raise RowError(column, f"option {i + 1} is labelled ({m.group(1)}), not ({letter})")
        out[letter] = value[m.end() :] if m else value
    return out


def read_json(source: Path, writer: CaseWriter, options: ReadOptions) -> None:
    """Write a case per object of an MME-RealWorld JSON file (either release)."""
    _, rows = iter_rows(source, options.fmt or "json")
    roots = [r for r in (options.image_root, source.resolve().parent, Path.cwd()) if r]

    def build(where: str, row: Any) -> dict[str, Any]:
        if not isinstance(row, dict):
            raise RowError(None, f"expected an object, got {type(row).__name__}")
        if "Question_id" in row:
            return _original(row, roots, writer, options)
        index = text(row.get("index"))
        if not index:
            raise RowError("index", "index is missing")
        writer.check_id(index, "index")
        case = case_skeleton(index, require_text(row, "question"), options, "test")
        case["options"] = option_texts(row.get("multi-choice options"), "multi-choice options")
        case["answer"] = require_text(row, "answer")
        case["category"] = require_text(row, "category")
        if text(row.get("l2-category")):
            case["labels"] = {"l2-category": text(row["l2-category"])}
        image = text(row.get("image"))
        if not image:
            raise RowError("image", "no image")
        set_images(case, [writer.image(b64_image(image, "image"), writer.stem(index), "image")])
        return case

    run_rows(source, rows, writer, build)


def _original(row: dict[str, Any], roots: list[Path], writer: CaseWriter,
              options: ReadOptions) -> dict[str, Any]:  # fmt: skip
    qid = require_text(row, "Question_id")
    writer.check_id(qid, "Question_id")
    case = case_skeleton(qid, require_text(row, "Text"), options, "test")
    case["options"] = option_texts(row.get("Answer choices"), "Answer choices")
    case["answer"] = require_text(row, "Ground truth")
    case["category"] = f"{require_text(row, 'Task')}/{require_text(row, 'Subtask')}"
    if text(row.get("Category")):
        case["labels"] = {"l2-category": text(row["Category"])}
    set_images(case, [writer.path_ref(resolve_path(require_text(row, "Image"), roots, "Image"))])
    return case
