"""V* Bench, original release (HF `craigwu/vstar_bench`) → cases.

The release is folders of `<name>.jpg` + `<name>.json`, the JSON holding `question`,
`options` (the correct one listed first), `target_object` and `bbox` ([x, y, w, h])
(`penghao-wu/vstar@4ede664:README.md:59-70`). The evaluated 191 questions are the folders
`direct_attributes` (category "attribute") and `relative_position` ("spatial"); the
reader takes those two under the folder it is given, or just the folder given when it is
one of them (any other folder's name becomes the category).

Because the correct option comes first, the options are shuffled — with a generator
seeded by `--seed` and the case's own path, so a case always gets the same order whatever
else is in the folder — and the answer is the letter where the first option landed. The
original order is kept in `labels.options_original`.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from r1v4.evals.benchmarks.common import ReadOptions, case_skeleton, set_images
from r1v4.evals.case_writer import CaseWriter
from r1v4.evals.tables import RowError, TableImportError

__all__ = ["CATEGORIES", "read_folders", "shuffled"]

#: The evaluated folders and the category (README "Attribute" / "Spatial") of each.
CATEGORIES = {"direct_attributes": "attribute", "relative_position": "spatial"}
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def shuffled(options: list[str], seed: int, key: str) -> tuple[dict[str, str], str]:
    """(options as {"A": …}, the letter of the first — the correct — option) after a shuffle
    seeded by `seed` and `key`."""
    order = list(range(len(options)))
    random.Random(f"{seed}:{key}").shuffle(order)
    letters = {chr(ord("A") + i): options[j] for i, j in enumerate(order)}
    return letters, chr(ord("A") + order.index(0))


def read_folders(source: Path, writer: CaseWriter, options: ReadOptions) -> None:
    """Write a case per image + JSON pair in the V* folders under `source`."""
    if not source.is_dir():
        raise TableImportError(f"{source}: V* is read from its folders; give the folder")
    folders = [source / n for n in CATEGORIES if (source / n).is_dir()] or [source]
    for folder in folders:
        category = CATEGORIES.get(folder.name, folder.name)
        for meta in sorted(folder.glob("*.json")):
            where = meta.name
            try:
                writer.add(_case(meta, folder, category, writer, options), where)
            except RowError as exc:
                writer.error(folder, where, exc.column, str(exc))


def _case(meta: Path, folder: Path, category: str, writer: CaseWriter,
          options: ReadOptions) -> dict[str, Any]:  # fmt: skip
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RowError(None, f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RowError(None, "expected a JSON object")
    question = str(data.get("question") or "").strip()
    if not question:
        raise RowError("question", "question is missing or empty")
    opts = data.get("options")
    if not isinstance(opts, list) or len(opts) < 2 or not all(isinstance(o, str) for o in opts):
        raise RowError("options", "must be a list of at least two strings")
    image = next((p for s in _IMAGE_SUFFIXES if (p := meta.with_suffix(s)).is_file()), None)
    if image is None:
        raise RowError("image", f"no image beside it ({meta.stem}.jpg)")
    case_id = f"{folder.name}/{meta.stem}"
    letters, answer = shuffled(opts, options.seed, case_id)
    case = case_skeleton(case_id, question, options, "test")
    set_images(case, [writer.path_ref(image.resolve())])
    case["options"] = letters
    case["answer"] = answer
    case["category"] = category
    labels: dict[str, Any] = {"options_original": opts}
    for key in ("target_object", "bbox"):
        if data.get(key):
            labels[key] = data[key]
    case["labels"] = labels
    return case
