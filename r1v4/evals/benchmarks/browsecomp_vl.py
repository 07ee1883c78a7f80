"""BrowseComp-VL and WebWatcher-style JSONL → cases.

Two layouts, one reader:
- the published files (`Alibaba-NLP/DeepResearch@393a63c:WebAgent/WebWatcher/
  browsecomp-vl/bc_vl_level{1,2}.jsonl`): `question`, `image_path` (relative, e.g.
  `browsecomp-vl/images/level1/level1_1.jpg`; images in `images/level{1,2}.tar`),
  `answers` (a list), `domain`;
- WebWatcher's inference files (`hle.jsonl`, `mmsearch.jsonl`, …): `prompt`, `file_path`
  (a path or an image URL), `answers` (nested lists `[["…"]]` or a list), `question_id`,
  `task`, `source`.

Answers are flattened into the accepted answers. A relative image path is looked up under
`--image-root`, the file's folder and its parents (the published paths start at the
WebWatcher folder). An image URL is downloaded once — through the web fetcher's URL guard,
which the command line passes in as `ReadOptions.download` — into the image folder, or
kept as the URL with `--keep-image-urls` (the toolkit then sends the URL to the endpoint).
The split is `level1`/`level2` from the file name unless `--split` says otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from r1v4.evals.benchmarks.common import (
    ReadOptions,
    case_skeleton,
    resolve_path,
    run_rows,
    set_images,
    text,
)
from r1v4.evals.case_writer import CaseWriter
from r1v4.evals.tables import RowError, iter_rows

__all__ = ["flatten_answers", "read_jsonl"]

_LEVEL = re.compile(r"level[_-]?(\d)", re.I)


def flatten_answers(value: Any) -> list[str]:
    """Nested answer lists → the texts in order, repeats dropped."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, list | tuple):
            for x in v:
                walk(x)
        elif isinstance(v, str | int | float) and not isinstance(v, bool) and text(v):
            out.append(text(v))

    walk(value)
    if not out:
        raise RowError("answers", "no answer")
    return list(dict.fromkeys(out))


def read_jsonl(source: Path, writer: CaseWriter, options: ReadOptions) -> None:
    """Write a case per line of a BrowseComp-VL / WebWatcher JSONL file."""
    _, rows = iter_rows(source, options.fmt or "jsonl")
    here = source.resolve().parent
    roots = [r for r in (options.image_root, here, *here.parents[:3], Path.cwd()) if r]
    m = _LEVEL.search(source.stem)
    split = f"level{m.group(1)}" if m else None
    downloaded: dict[str, str] = {}

    def image_ref(ref: str, column: str, stem: str) -> str:
        if not ref.startswith(("http://", "https://")):
            return writer.path_ref(resolve_path(ref, roots, column))
        if options.keep_image_urls:
            return ref
        if ref not in downloaded:
            if options.download is None:
                raise RowError(column, "an image URL: pass --keep-image-urls or allow downloads")
            try:
                data = options.download(ref)
            except Exception as exc:  # the fetcher's refusal or failure, as the reason
                raise RowError(column, f"cannot download {ref}: {exc}") from None
            downloaded[ref] = writer.image(data, stem, column)
        return downloaded[ref]

    def build(where: str, row: Any) -> dict[str, Any]:
        if not isinstance(row, dict):
            raise RowError(None, f"expected an object, got {type(row).__name__}")
        qcol = "question" if "question" in row else "prompt"
        question = text(row.get(qcol))
        if not question:
            raise RowError(qcol, f"{qcol} is missing or empty")
        number = where.split()[-1]
        case_id = text(row.get("question_id")) or text(row.get("id"))
        case_id = case_id or (f"{split}-{number}" if split else number)
        writer.check_id(case_id, "question_id")
        case = case_skeleton(case_id, question, options, split or "test")
        icol = "image_path" if "image_path" in row else "file_path"
        ref = text(row.get(icol))
        if ref:
            set_images(case, [image_ref(ref, icol, writer.stem(case_id))])
        answers = flatten_answers(row.get("answers", row.get("answer")))
        case["answer"] = answers if len(answers) > 1 else answers[0]
        category = text(row.get("domain")) or text(row.get("task"))
        if category:
            case["category"] = category
        labels = {k: text(row[k]) for k in ("source", "tags", "lang") if text(row.get(k))}
        if labels:
            case["labels"] = labels
        return case

    run_rows(source, rows, writer, build)
