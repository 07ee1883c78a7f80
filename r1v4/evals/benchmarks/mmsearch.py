"""MMSearch end2end (HF `CaraJ/MMSearch`, config/split `end2end`) → cases.

Columns (`CaraJ7/MMSearch@d340f3f:eval_end2end.py`): `sample_id`, `query`, `query_image`
(an image struct `{bytes, path}`, or null for a text-only query), `image_search_result`
(a screenshot, not used here), `gt_requery`, `gt_answer`, `alternative_gt_answers` (a
list), `area` (news / knowledge) and `subfield`. The accepted answers are `gt_answer`
followed by the alternatives, the same set MMSearch's F1 takes its maximum over.

The R1V4 figures are most likely over the 171 queries that have an image (every published
figure is a k/171 fraction and some are not k/300; WebWatcher ships a 171-row image subset):
`--images-only` keeps only those. WebWatcher's own `mmsearch.jsonl` is read by the
BrowseComp-VL reader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from r1v4.evals.benchmarks.common import (
    ReadOptions,
    case_skeleton,
    require_text,
    run_rows,
    set_images,
    text,
)
from r1v4.evals.case_writer import CaseWriter
from r1v4.evals.tables import RowError, iter_rows

__all__ = ["accepted_answers", "image_bytes", "read_parquet"]


def image_bytes(value: Any, column: str) -> bytes | None:
    """An Arrow image cell's bytes: `{bytes, path}` struct, raw bytes, or None (no image)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dict):
        data = value.get("bytes")
        if data:
            return bytes(data)
        if value.get("path") is None:
            return None
        raise RowError(column, "image struct has a path but no bytes")
    raise RowError(column, f"expected an image struct, got {type(value).__name__}")


def accepted_answers(first: Any, more: Any, column: str) -> list[str]:
    """[first, *more], texts only, blanks and repeats dropped, order kept."""
    items = [first]
    if more is not None:
        if not isinstance(more, list | tuple):
            raise RowError(column, f"must be a list, got {type(more).__name__}")
        items += list(more)
    out = [text(x) for x in items if isinstance(x, str | int | float) and text(x)]
    return list(dict.fromkeys(out))


def read_parquet(source: Path, writer: CaseWriter, options: ReadOptions) -> None:
    """Write a case per end2end row (only rows with a query image with `images_only`)."""
    _, rows = iter_rows(source, options.fmt or "parquet")

    def build(where: str, row: Any) -> dict[str, Any] | None:
        data = image_bytes(row.get("query_image"), "query_image")
        if options.images_only and data is None:
            return None
        sample_id = require_text(row, "sample_id")
        writer.check_id(sample_id, "sample_id")
        case = case_skeleton(sample_id, require_text(row, "query"), options, "end2end")
        if data is not None:
            set_images(case, [writer.image(data, writer.stem(sample_id), "query_image")])
        answers = accepted_answers(
            require_text(row, "gt_answer"), row.get("alternative_gt_answers"),
            "alternative_gt_answers",
        )  # fmt: skip
        case["answer"] = answers if len(answers) > 1 else answers[0]
        if text(row.get("area")):
            case["category"] = text(row["area"])
        labels = {k: text(row[k]) for k in ("subfield", "gt_requery") if text(row.get(k))}
        if labels:
            case["labels"] = labels
        return case

    run_rows(source, rows, writer, build)
