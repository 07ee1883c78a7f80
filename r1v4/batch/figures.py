"""One record's share of the closing summary: its `Figures`.

Failed and its error, whether it scored right, tool calls and tool errors per tool, whether
every tool call failed (and the case answered anyway), its plan's figures and its quality
flags. `batch.summary` adds them up; the plain ones (every record has them) are a tuple, so a
record with no tool call is looked up by them before a `Figures` is built (a resume reduces
every record of the file this way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from r1v4.parsing import ResponseParse, record_tool_use, tool_use_possible
from r1v4.protocol.records import is_failed

__all__ = [
    "Figures",
    "Plain",
    "figures_from_plain",
    "plain_figures",
    "record_figures",
    "tool_figures",
]

_Counts = tuple[tuple[str, int], ...]
#: (failed, error, correct, flags, plan): the figures every record has (`plain_figures`).
Plain = tuple[bool, str, bool | None, tuple[str, ...] | None, Any]


@dataclass(frozen=True, slots=True)
class Figures:
    """One record's share of the whole-file summary."""

    failed: bool
    error: str = ""  # a failed record's error, its first 160 characters
    correct: bool | None = None  # None: not scored
    tool_calls: _Counts = ()
    tool_errors: _Counts = ()
    all_tools_failed: str = ""  # "answered" or "unanswered" when every tool call failed
    plan: tuple[int, int, int, _Counts] | None = None  # valid, invalid, steps, tools
    flags: tuple[str, ...] | None = None  # its quality flags; None: never checked


def record_figures(record: dict[str, Any], parse: ResponseParse | None = None) -> Figures:
    """What the summary needs of one record: failed and its error, score, tool calls and tool
    errors per tool (from its trajectory), whether every tool call failed (and the case
    answered anyway), and its plan's figures. Full trajectories stay on disk. `parse`: the
    caller's scan of the record's response, reused."""
    plain = plain_figures(record)
    if not tool_use_possible(record):  # the usual record: no call to count, nothing to parse
        return figures_from_plain(plain)
    return tool_figures(record, plain, parse)


def tool_figures(record: dict[str, Any], plain: Plain, parse: ResponseParse | None) -> Figures:
    """The figures of a record that may hold tool calls: its plain ones, and its calls and
    errors per tool read from its trajectory."""
    failed, error, correct, flags, plan = plain
    response = record.get("response")
    parse = parse or ResponseParse()
    text = response.get("full_response") if isinstance(response, dict) else None
    used = record_tool_use(record, parse.rounds(text) if isinstance(text, str) and text else None)
    all_failed = ""
    if used.all_failed:
        meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
        answered = not failed and parse.final_answer(text, meta.get("stop_reason"))
        all_failed = "answered" if answered and answered.answered else "unanswered"
    return Figures(
        failed=failed,
        error=error,
        correct=correct,
        tool_calls=tuple(sorted(used.calls.items())) if used.calls else (),
        tool_errors=tuple(sorted(used.errors.items())) if used.calls else (),
        all_tools_failed=all_failed,
        plan=plan,
        flags=flags,
    )


def plain_figures(record: dict[str, Any]) -> Plain:
    """The figures every record has: (failed, error, correct, flags, plan). They are all
    the figures of a record with no tool call, and what `Summary.figures` looks up the
    shared `Figures` of such a record by."""
    failed = is_failed(record)
    error = ""
    if failed:
        response = record.get("response")
        error = str(response.get("error", "") if isinstance(response, dict) else "no response")
    score = record.get("score")
    correct = score.get("correct") if isinstance(score, dict) else None
    correct = correct if isinstance(correct, bool) else None
    return failed, error[:160], correct, _flag_names(record), _plan_figures(record)


def figures_from_plain(plain: Plain) -> Figures:
    """The figures of a record with no tool call, from its plain ones."""
    failed, error, correct, flags, plan = plain
    return Figures(failed, error, correct, plan=plan, flags=flags)


def _flag_names(record: dict[str, Any]) -> tuple[str, ...] | None:
    """The distinct quality flags of a record (DESIGN.md, "Quality flags"); None when the
    record was never checked."""
    flags = record.get("flags")
    if not isinstance(flags, list):
        return None
    if not flags:  # most records: read 100,000 times on a resume
        return ()
    return tuple(sorted({str(f.get("flag")) for f in flags if isinstance(f, dict)}))


def _plan_figures(record: dict[str, Any]) -> tuple[int, int, int, _Counts] | None:
    if "plan" not in record and "plan_errors" not in record and "plan_valid" not in record:
        return None  # spelled out, no generator: a resume asks this of every record
    from r1v4.evals.plans import summarize_plans

    one = summarize_plans(
        [{k: record[k] for k in ("plan", "plan_errors", "plan_valid") if k in record}]
    )
    steps = round((one["mean_steps"] or 0) * one["valid_plans"])
    return one["valid_plans"], one["invalid_plans"], steps, tuple(sorted(one["tool_mix"].items()))
