"""The small summary of one case the viewer's run list, filters and search work from.

Read once per line when a result file is indexed (`r1v4.viewer.index`). A record written
by this toolkit since `meta.answer_source` exists carries the reading the list needs in its
meta (the final answer, where it came from, the observation images, the tool errors), put
there by the agent from the same parser, so its trajectory is not parsed again; an older
record, or another tool's, is parsed.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "TEXT_KEEP",
    "run_fields",
    "answers_match",
    "case_id_of",
    "invalid_summary",
    "normalize_answer",
    "summarize",
    "too_large_summary",
]

#: Longest question / answer text kept in the index (for the list and for search).
TEXT_KEEP = 1000
_ID_IN_HEAD = re.compile(rb'"(?:id|custom_id)"\s*:\s*"((?:[^"\\]|\\.){1,200})"')


def _text(value: Any) -> str:
    """Any JSON value as display text (lists joined, None empty)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " | ".join(_text(v) for v in value)
    return str(value)


_NORM = re.compile(r"[\s\W_]+", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Answer text folded for comparison: case, spaces and punctuation ignored."""
    return _NORM.sub(" ", text.casefold()).strip()


def answers_match(answer: str, truth: Any) -> bool:
    """True when the answer equals the ground truth (or one of a list), normalized."""
    got = normalize_answer(answer)
    if not got:
        return False
    options = truth if isinstance(truth, list) else [truth]
    return any(got == normalize_answer(_text(t)) for t in options if _text(t))


def case_id_of(record: dict, line: int) -> str:
    """The record's id as the runner wrote it, or a stable stand-in from its line number."""
    for key in ("id", "custom_id"):
        value = record.get(key)
        if isinstance(value, str | int) and str(value):
            return str(value)
    return f"line-{line}"


def invalid_summary(line: int, error: str) -> dict[str, Any]:
    """The summary of a line that is not a usable record, with every key the list reads."""
    return {
        "id": f"line-{line}",
        "status": "invalid",
        "error": error,
        "parse_error": None,
        "question": "",
        "rounds": 0,
        "tools": {},
        "answer": "",
        "answer_source": "none",
        "tool_errors": 0,
        "all_tools_failed": False,
        "truth": None,
        "score": None,
        "correct": None,
        "scorer": None,
        "latency_s": None,
        "inputs": 0,
        "images": 0,
        "mode": None,
        "model": None,
        "category": None,
        "benchmark": None,
        "split": None,
        "planned": False,
        **run_fields({}, {}),
    }


def run_fields(record: dict, meta: dict) -> dict[str, Any]:
    """What the run header, the flag and stop-reason columns and the charts read: the
    record's quality flags (`[name, reason]` pairs; None when never flagged), how it
    stopped, where it ran and when it finished."""
    flags = record.get("flags")
    kept = None
    if isinstance(flags, list):
        kept = [
            [f["flag"][:40], _text(f.get("reason"))[:300]]
            for f in flags[:20]
            if isinstance(f, dict) and isinstance(f.get("flag"), str)
        ]
    return {
        "flags": kept,
        "stop_reason": _text(meta.get("stop_reason"))[:40] or None,
        "endpoint": _text(meta.get("endpoint"))[:200] or None,
        "dialect": _text(meta.get("dialect"))[:40] or None,
        "finished_at": _text(meta.get("finished_at"))[:40] or None,
    }


def too_large_summary(line: int, length: int, head: bytes, limit: int) -> dict[str, Any]:
    """The summary of a line over the size limit: its id if its first bytes show one."""
    entry = invalid_summary(
        line,
        f"line {line} is {length / 2**20:.1f} MiB, over the viewer's limit of "
        f"{limit / 2**20:.1f} MiB for one case: download it raw",
    )
    entry["status"] = "too_large"
    found = _ID_IN_HEAD.search(head)
    if found:
        try:
            entry["id"] = str(orjson.loads(b'"' + found.group(1) + b'"'))
        except orjson.JSONDecodeError:
            pass
    return entry


def summarize(record: Any, line: int) -> dict[str, Any]:
    """The small per-case summary the list view, filters and search work from."""
    from r1v4.protocol.records import is_failed

    if not isinstance(record, dict):
        return invalid_summary(
            line, f"line {line}: a record must be a JSON object, got {type(record).__name__}"
        )
    response = record.get("response")
    response = response if isinstance(response, dict) else {}
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    failed = is_failed(record)
    read = _read_meta(meta) or _read_trajectory(record, response, meta, failed)
    tools, rounds = read.tools, read.rounds
    if isinstance(meta.get("rounds"), int):
        rounds = meta["rounds"]
    if isinstance(meta.get("tool_calls"), dict) and meta["tool_calls"]:
        tools = Counter({str(k): int(v) for k, v in meta["tool_calls"].items() if v})
    answer = read.answer
    truth = record.get("answer")
    score = record.get("score") if isinstance(record.get("score"), dict) else None
    correct, score_value = _graded(score, answer, truth)
    images = record.get("images") if isinstance(record.get("images"), list) else []
    if not images and isinstance(record.get("image"), str) and record["image"]:
        images = [record["image"]]
    latency = meta.get("latency_s")
    error = response.get("error")
    return {
        "id": case_id_of(record, line),
        "status": "error" if failed else "ok",
        "error": (_text(error) or "failed (no message)")[:TEXT_KEEP] if failed else None,
        "parse_error": read.parse_error,
        "question": _text(record.get("question"))[:TEXT_KEEP],
        "rounds": int(rounds),
        "tools": dict(tools),
        "answer": answer[:TEXT_KEEP],
        "answer_source": read.answer_source,
        "tool_errors": read.tool_errors,
        "all_tools_failed": read.all_tools_failed,
        "truth": _text(truth)[:TEXT_KEEP] if truth not in (None, "", []) else None,
        "score": score_value,
        "correct": correct,
        "scorer": score.get("scorer") if score else ("exact" if correct is not None else None),
        "latency_s": float(latency) if isinstance(latency, int | float) else None,
        "inputs": len(images),
        "images": read.images,
        "mode": _text(meta.get("mode")) or None,
        "model": _text(meta.get("model")) or None,
        "category": _text(record.get("category")) or None,
        "benchmark": _text(record.get("benchmark")) or None,
        "split": _text(record.get("split")) or None,
        "planned": bool(record.get("plan")),
        **run_fields(record, meta),
    }


def _graded(score: dict | None, answer: str, truth: Any) -> tuple[bool | None, float | None]:
    """(correct, score value): the record's score when it has one, else the answer matched
    against the ground truth (None when there is nothing to match)."""
    if score is not None:
        correct = score.get("correct") if isinstance(score.get("correct"), bool) else None
        value = score.get("value")
        return correct, float(value) if isinstance(value, int | float) else None
    if truth not in (None, "", []) and answer:
        return answers_match(answer, truth), None
    return None, None


@dataclass
class _Read:
    """What the summary takes from a trajectory: from the record's meta when it carries
    the reading (records written since `meta.answer_source` exists), else by parsing."""

    answer: str = ""
    answer_source: str = "none"
    rounds: int = 0
    tools: Counter[str] = field(default_factory=Counter)
    images: int = 0
    tool_errors: int = 0
    all_tools_failed: bool = False
    parse_error: str | None = None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _read_meta(meta: dict[str, Any]) -> _Read | None:
    """The reading the agent stored when it built the record (DESIGN.md, "Result record":
    `final_answer`, `answer_source`, `observation_images`, `written_calls`, `tool_errors`,
    `all_tools_failed`, all from the trajectory by the parser's one definition); None for
    an older record, or one whose fields are not of their types."""
    source = meta.get("answer_source")
    answer = meta.get("final_answer")
    errors, written = meta.get("tool_errors"), meta.get("written_calls")
    if source not in ("answer", "free_text", "none") or not isinstance(answer, str):
        return None
    if not isinstance(errors, dict) or not isinstance(written, dict):
        return None
    if not isinstance(meta.get("all_tools_failed"), bool):
        return None
    if not isinstance(meta.get("rounds"), int):
        return None
    return _Read(
        answer=answer,
        answer_source=source,
        rounds=meta["rounds"],
        tools=Counter({str(k): _count(v) for k, v in written.items() if _count(v)}),
        images=_count(meta.get("observation_images")),
        tool_errors=sum(_count(v) for v in errors.values()),
        all_tools_failed=meta["all_tools_failed"],
    )


def _read_trajectory(
    record: dict[str, Any], response: dict[str, Any], meta: dict[str, Any], failed: bool
) -> _Read:
    """The reading of an older record: parse its trajectory."""
    from r1v4.parsing import (  # the one parser of the project
        FinalAnswer,
        iter_events,
        read_final_answer,
        record_tool_use,
    )
    from r1v4.parsing.rounds import assemble_rounds

    full = response.get("full_response")
    read = _Read()
    found = FinalAnswer("", "none", "no answer: empty response")
    parsed: dict[str, Any] = {"rounds": [], "final_round": {}}
    stop_reason = "error" if failed else meta.get("stop_reason")
    if isinstance(full, str) and full:
        try:
            events = iter_events(full)
            parsed = assemble_rounds(events)
            stop = stop_reason if isinstance(stop_reason, str) else None
            found = read_final_answer(full, stop, events=events)
        except Exception as exc:  # a parser bug must not hide the case from the list
            parsed = {"rounds": [], "final_round": {}}
            read.parse_error = f"parser failed: {exc}"
        for rnd in parsed.get("rounds", []):
            call = rnd.get("tool_call")
            if isinstance(call, dict) and isinstance(call.get("name"), str):
                read.tools[call["name"]] += 1
            read.images += len(rnd.get("images") or [])
        read.rounds = len(parsed.get("rounds", []))
    read.answer, read.answer_source = found.text, found.source
    used = record_tool_use(record, parsed)
    read.tool_errors, read.all_tools_failed = used.n_errors, used.all_failed
    return read
