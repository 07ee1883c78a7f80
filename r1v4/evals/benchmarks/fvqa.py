"""FVQA test (HF `lmms-lab/FVQA`, `fvqa_test.parquet`, verl format) → cases.

Columns (`EvolvingLMMs-Lab/multimodal-search-r1@583c6b4:mmsearch_r1/utils/dataset/
mm_rl_dataset.py`, `workers/multimodal/reward/mmsearch_r1.py:76-88`): `prompt`, a chat
list `[{"role": "user", "content": "…"}]` holding the question (the `<image>` placeholder,
if any, removed); `images`, a list of `{bytes}`; `reward_model` with `ground_truth` and
`candidate_answers` (a JSON-encoded list in the released file, or a list); `data_id`,
`data_source`, `category`. Accepted answers, as MMSearch-R1 builds them: the ground truth
followed by the candidates, strings only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from r1v4.evals.benchmarks.common import ReadOptions, case_skeleton, run_rows, set_images, text
from r1v4.evals.benchmarks.mmsearch import image_bytes
from r1v4.evals.case_writer import CaseWriter
from r1v4.evals.tables import RowError, iter_rows

__all__ = ["gold_answers", "prompt_question", "read_parquet"]


def prompt_question(prompt: Any) -> str:
    """The text of the last user message of a verl chat list (content as text or parts)."""
    if isinstance(prompt, str):
        parsed = None
        try:
            parsed = json.loads(prompt)
        except json.JSONDecodeError:
            pass
        prompt = parsed if isinstance(parsed, list) else [{"role": "user", "content": prompt}]
    if not isinstance(prompt, list):
        raise RowError("prompt", f"expected a list of chat messages, got {type(prompt).__name__}")
    users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        raise RowError("prompt", "no user message")
    content = users[-1].get("content")
    if isinstance(content, list):
        content = "\n".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("text")
        )
    question = str(content or "").replace("<image>", "").strip()
    if not question:
        raise RowError("prompt", "the user message is empty")
    return question


def gold_answers(reward_model: Any) -> list[str]:
    """[ground_truth, *candidate_answers] as MMSearch-R1 assembles them."""
    if not isinstance(reward_model, dict):
        raise RowError("reward_model", "expected an object with ground_truth")
    truth = reward_model.get("ground_truth")
    gold = list(truth) if isinstance(truth, list) else [truth]
    cands = reward_model.get("candidate_answers")
    if isinstance(cands, str) and cands.strip():
        try:
            cands = json.loads(cands)
        except json.JSONDecodeError:
            raise RowError("reward_model", "candidate_answers is not a JSON list") from None
    if isinstance(cands, list):
        gold += cands
    elif cands not in (None, ""):
        raise RowError("reward_model", "candidate_answers must be a list or a JSON string")
    out = [g.strip() for g in gold if isinstance(g, str) and g.strip()]
    if not out:
        raise RowError("reward_model", "no ground_truth")
    return list(dict.fromkeys(out))


def read_parquet(source: Path, writer: CaseWriter, options: ReadOptions) -> None:
    """Write a case per FVQA row."""
    _, rows = iter_rows(source, options.fmt or "parquet")

    def build(where: str, row: Any) -> dict[str, Any]:
        data_id = text(row.get("data_id")) or where.split()[-1]
        writer.check_id(data_id, "data_id")
        case = case_skeleton(data_id, prompt_question(row.get("prompt")), options, "test")
        images = row.get("images") or []
        if not isinstance(images, list):
            raise RowError("images", "expected a list of image structs")
        stem = writer.stem(data_id)
        refs = []
        for k, item in enumerate(images, start=1):
            data = image_bytes(item, "images")
            if data is not None:
                refs.append(writer.image(data, stem if len(images) == 1 else f"{stem}_{k}",
                                         "images"))  # fmt: skip
        set_images(case, refs)
        answers = gold_answers(row.get("reward_model"))
        case["answer"] = answers if len(answers) > 1 else answers[0]
        if text(row.get("category")):
            case["category"] = text(row["category"])
        if text(row.get("data_source")):
            case["labels"] = {"data_source": text(row["data_source"])}
        return case

    run_rows(source, rows, writer, build)
