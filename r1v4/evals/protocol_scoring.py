"""Scorers that reproduce the published protocols of the R1V4 table's benchmarks, by name.

`score_protocol(name, …)` gives a record's `score` dict; `r1v4.evals.scoring.score_answer`
hands these names here. Each scorer's source (repository@commit:path) is `SOURCES[name]`,
shown in `--help` and in the benchmark report. What every scorer reads as the model's
answer comes from the parser's one answer reader (`r1v4.parsing.read_final_answer`: the
first `<answer>` unit, never one inside a tool call or an observation, else the free text
ending the response); where a protocol reads "the whole prediction" when there is no tag,
that free text stands for it (a regex over the raw trajectory would also read the model's
reasoning, observations and any `<answer>` its code printed).

Names ending in `@head` use the current VLMEvalKit behaviour (fixed prefix list, the later
"answer is X" rule) instead of the paper era's, which produced the published numbers.
"""

from __future__ import annotations

from typing import Any

from r1v4.evals.judge import Judge
from r1v4.evals.published_judges import (
    MINI_O3_ATTEMPTS,
    mini_o3_messages,
    mini_o3_score,
    r1v4_correct,
    r1v4_fields,
    r1v4_messages,
)
from r1v4.evals.qa_match import em_check, max_f1, subem_check
from r1v4.evals.treebench_iou import box_iou_score
from r1v4.evals.vlmevalkit_scoring import (
    Version,
    can_infer,
    choice_extractor_prompt,
    choice_fallback,
    extract_characters_regex,
)
from r1v4.parsing import read_final_answer

__all__ = ["JUDGED", "PROTOCOL_SCORERS", "SOURCES", "answer_text", "score_protocol"]

_VLMEK = "open-compass/VLMEvalKit@19c0e38"
#: Where each protocol scorer comes from (shown in --help and in the report).
SOURCES: dict[str, str] = {
    "vlmevalkit-mcq": f"{_VLMEK}:vlmeval/utils/matching_util.py can_infer + "
    "dataset/utils/multiple_choice.py LLM choice extractor (HR-Bench, V*)",
    "vlmevalkit-regex": f"{_VLMEK}:vlmeval/dataset/utils/multiple_choice.py "
    "extract_characters_regex, paper-era prefix list (MME-RealWorld)",
    "treebench": f"{_VLMEK}:vlmeval/dataset/image_mcq.py TreeBench.evaluate "
    "(extract_characters_regex + first-think <box> mIoU)",
    "mmsearch-f1": "CaraJ7/MMSearch@d340f3f:score/f1_score.py, max over gt_answer and "
    "alternative_gt_answers",
    "fvqa-em": "EvolvingLMMs-Lab/multimodal-search-r1@583c6b4:mmsearch_r1/utils/"
    "reward_score_mm/mmsearch_r1_score.py em_check/subem_check",
    "r1v4-judge": "SkyworkAI/Skywork-R1V@fdfbb84:r1v4/benchmark/o3-mini-judge.py "
    "(judge o3-mini; <answer> content only)",
    "mini-o3-judge": "Mini-o3/Mini-o3@8654dbf:verl/utils/reward_score/general_qa_tool.py "
    "(judge gpt-4o-2024-11-20, 'Score: 0 or 1')",
}
for _base in ("vlmevalkit-mcq", "vlmevalkit-regex", "treebench"):
    SOURCES[f"{_base}@head"] = (
        SOURCES[_base].replace("@19c0e38", "@e8e78f0").replace("paper-era", "fixed")
    )
PROTOCOL_SCORERS: tuple[str, ...] = tuple(SOURCES)
#: Protocol scorers that need an LLM judge (`vlmevalkit-mcq` uses one only as a fallback).
JUDGED = ("r1v4-judge", "mini-o3-judge")


def answer_text(full_response: str, stop_reason: str | None = None) -> tuple[str, bool, str]:
    """(the answer, whether it is an `<answer>` unit's body, why there is none) from the one
    reader: the first `<answer>` unit, else the free text that ends the response (the
    "whole prediction" of a model that writes no tags), else none (a trajectory stopped by
    `--max-rounds`, a timeout or an error, or one that ends in a tool call)."""
    found = read_final_answer(full_response or "", stop_reason)
    return found.text, found.source == "answer", found.reason


def _base(name: str) -> tuple[str, Version]:
    base, _, head = name.partition("@")
    return base, "head" if head == "head" else "paper"


def _result(name: str, correct: bool, extracted: str, **extra: Any) -> dict[str, Any]:
    return {"value": 1.0 if correct else 0.0, "correct": correct, "scorer": name,
            "extracted": extracted, **extra}  # fmt: skip


async def score_protocol(
    name: str,
    full_response: str,
    accepted: list[str],
    choices: dict[str, str],
    *,
    labels: dict[str, Any] | None = None,
    question: str = "",
    judge: Judge | None = None,
    stop_reason: str | None = None,
) -> dict[str, Any]:
    """The `score` dict of one response under the protocol `name` (see `SOURCES`).
    `accepted` are the accepted answers (first = the reference), `choices` the options as
    letters. A judge protocol without a judge raises ValueError."""
    base, version = _base(name)
    text, tagged, missing = answer_text(full_response, stop_reason)
    if missing and base != "r1v4-judge":
        # No answer at all is wrong under every rule. (Fed to VLMEvalKit's extractor, an
        # empty string would read as "A": never let a missing answer score by chance.)
        return _result(name, False, "", note=missing)
    if base == "vlmevalkit-mcq":
        return await _mcq(name, text, accepted, choices, question, judge, version)
    if base in ("vlmevalkit-regex", "treebench"):
        pred = text.strip().upper() if tagged else text
        letter = extract_characters_regex(pred, version)
        gold = accepted[0].strip() if accepted else ""
        out = _result(name, bool(letter) and letter == gold, letter)
        if not letter:
            out["note"] = "rejected: no letter A-E (scored 0, as published)"
        if base == "treebench":
            targets = (labels or {}).get("target_instances")
            if isinstance(targets, list):
                out.update(box_iou_score(full_response or "", targets))
            else:
                out["iou"] = None
                out["note"] = (out.get("note", "") + "; no target_instances").strip("; ")
        return out
    if base == "mmsearch-f1":
        f1 = max_f1(text, accepted)
        return {"value": f1, "correct": f1 >= 1.0, "scorer": name, "extracted": text}
    if base == "fvqa-em":
        if not tagged:
            return _result(name, False, "", subem=0.0, note="no <answer>: 0, as published")
        return _result(name, em_check(text, accepted), text,
                       subem=1.0 if subem_check(text, accepted) else 0.0)  # fmt: skip
    if base == "r1v4-judge":  # the judge sees the <answer> content only, "" without one
        return await _r1v4(name, text if tagged else "", accepted, question, judge)
    if base == "mini-o3-judge":
        return await _mini_o3(name, text, tagged, accepted, question, judge)
    raise ValueError(f"unknown protocol scorer {name!r}; choose from {', '.join(SOURCES)}")


async def _mcq(name: str, pred: str, accepted: list[str], choices: dict[str, str],
               question: str, judge: Judge | None, version: Version) -> dict[str, Any]:  # fmt: skip
    gold = accepted[0].strip() if accepted else ""
    letter = can_infer(pred, dict(choices), version)
    how = "rule"
    if not letter and judge is not None:
        prompt = choice_extractor_prompt(question, choices, pred)
        how = "random after 3 failed extractions (as VLMEvalKit)"
        for _ in range(3):
            reply = await judge.ask(
                "vlmevalkit-choice",
                [{"role": "user", "content": prompt}],
                temperature=0,
                accept=lambda t: can_infer(t, dict(choices), version) is not None,
            )
            found = None if reply.error else can_infer(reply.text, dict(choices), version)
            if found:
                letter, how = found, f"llm ({reply.model})"
                break
        else:
            letter = choice_fallback(choices, f"{question}\x00{pred}")
    out = _result(name, bool(letter) and letter == gold, letter or "", extractor=how)
    if not letter:
        out["note"] = "no option letter (exact matching, no judge): scored as Z, wrong"
    return out


async def _r1v4(name: str, response: str, accepted: list[str], question: str,
                judge: Judge | None) -> dict[str, Any]:  # fmt: skip
    if judge is None:
        raise ValueError(f"scorer {name!r} needs a judge (--judge-base-url, --judge-model)")
    reference = accepted[0] if accepted else ""
    reply = await judge.ask("r1v4-judge", r1v4_messages(question, reference, response))
    if reply.error:
        return {"value": None, "correct": None, "scorer": name, "extracted": response,
                "error": reply.error, "published_rule": "a failed judge call counts as wrong",
                "judge_model": reply.model}  # fmt: skip
    fields = r1v4_fields(reply.text)
    return _result(
        name, r1v4_correct(fields["correct"]), response,
        judge_reasoning=fields["reasoning"], judge_correct=fields["correct"],
        judge_model=reply.model, judge_cached=reply.cached,
    )  # fmt: skip


async def _mini_o3(name: str, prediction: str, tagged: bool, accepted: list[str],
                   question: str, judge: Judge | None) -> dict[str, Any]:  # fmt: skip
    if judge is None:
        raise ValueError(f"scorer {name!r} needs a judge (--judge-base-url, --judge-model)")
    if not tagged:
        return _result(name, False, "", note="no <answer>: 0 without asking, as published")
    reference = accepted[0] if accepted else ""
    messages = mini_o3_messages(question, reference, prediction)
    last = ""
    for attempt in range(MINI_O3_ATTEMPTS):
        reply = await judge.ask(
            "mini-o3-judge", messages, max_tokens=16384,
            temperature=min(0.2 * attempt, 1.0), accept=lambda t: mini_o3_score(t) is not None,
        )  # fmt: skip
        last = reply.error or reply.text
        word = None if reply.error else mini_o3_score(reply.text)
        if word is not None:
            return _result(name, "1" in word, prediction, judge_score=word,
                           judge_model=reply.model, judge_cached=reply.cached)  # fmt: skip
    return {"value": None, "correct": None, "scorer": name, "extracted": prediction,
            "error": f"no usable 'Score: 0 or 1' after {MINI_O3_ATTEMPTS} attempts "
            f"(Mini-o3 filters such a sample): {last[:200]}"}  # fmt: skip
