"""VisualProbe Easy / Medium / Hard (HF `Mini-o3/VisualProbe_{Easy,Medium,Hard}`) → cases.

`val.json` is an array of `{"images": [path], "doc_id", "problem", "solution",
"data_source"}`; `problem` starts with the literal `<image>\\n` placeholder Mini-o3's
template replaces with the image (`Mini-o3/Mini-o3@8654dbf:docs/mini_o3_demo.md:3-18`),
removed here because the toolkit sends the image as its own message part. Image paths are
relative to the image folder (`--image-root`, else the JSON's folder). The split comes
from `data_source` (`visual_probe_hard` → "hard"), else the folder name
(`VisualProbe_Hard`), else `--split`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from r1v4.evals.benchmarks.common import (
    ReadOptions,
    case_skeleton,
    require_text,
    resolve_path,
    run_rows,
    set_images,
    text,
)
from r1v4.evals.case_writer import CaseWriter
from r1v4.evals.tables import RowError, iter_rows

__all__ = ["read_val_json", "strip_placeholder"]

_LEVEL = re.compile(r"(easy|medium|hard)", re.I)


def strip_placeholder(problem: str) -> str:
    """The question without Mini-o3's `<image>` placeholder(s)."""
    return problem.replace("<image>\n", "").replace("<image>", "").strip()


def _level(*names: str) -> str | None:
    for name in names:
        m = _LEVEL.search(name or "")
        if m:
            return m.group(1).lower()
    return None


def read_val_json(source: Path, writer: CaseWriter, options: ReadOptions) -> None:
    """Write a case per element of a VisualProbe `val.json`."""
    _, rows = iter_rows(source, options.fmt or "json")
    roots = [r for r in (options.image_root, source.resolve().parent, Path.cwd()) if r]
    folder_level = _level(source.resolve().parent.name)

    def build(where: str, row: Any) -> dict[str, Any]:
        if not isinstance(row, dict):
            raise RowError(None, f"expected an object, got {type(row).__name__}")
        doc_id = text(row.get("doc_id")) or where.split()[-1]
        writer.check_id(doc_id, "doc_id")
        question = strip_placeholder(require_text(row, "problem"))
        if not question:
            raise RowError("problem", "nothing but the <image> placeholder")
        source_name = text(row.get("data_source"))
        level = _level(source_name) or folder_level
        case = case_skeleton(doc_id, question, options, level or "test")
        images = row.get("images")
        if isinstance(images, str):
            images = [images]
        if not isinstance(images, list) or not images:
            raise RowError("images", "must be a non-empty list of image paths")
        set_images(case, [writer.path_ref(resolve_path(str(p), roots, "images")) for p in images])
        case["answer"] = require_text(row, "solution")
        if source_name:
            case["labels"] = {"data_source": source_name}
        return case

    run_rows(source, rows, writer, build)
