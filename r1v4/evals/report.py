"""Accuracy and efficiency of one or more runs, side by side: the figures behind
`python -m r1v4 report` (tables are `r1v4.evals.render`, the command `r1v4.cli.report`).

One row per result file: cases, answered, failures, accuracy with a 95% Wilson interval,
mean rounds, mean latency, output tokens and tokens per second; below it, accuracy per
category and rounds/tool mix for correct versus wrong answers. `--compare A B` pairs the
cases of two runs by id and tests the accuracy difference with McNemar's test.

Definitions (so a figure can be checked by hand):
- cases: distinct ids in the file (a later line for the same id replaces an earlier one).
- failures: records whose `response` carries `error`.
- answered: not failed and a non-empty final answer could be extracted.
- scored: records with a score whose value is a number. Records without one (no `score`,
  or a null value after a judge error) are scored here from their own `answer`/`options`
  fields when present (`--rescore missing`, the default); `--rescore all` re-scores every
  record that has them; `--rescore never` only reads stored scores. Failed cases that are
  scored count as wrong.
- accuracy: correct / scored, with its 95% Wilson interval.
- latency: mean of meta.latency_s; output tokens: mean of meta.usage.completion_tokens;
  tokens/s: sum of completion tokens / sum of latency over records that have both.
- tool mix: mean calls per case of each tool (meta.tool_calls), for correct and wrong cases.
- tool calls / tool errors: calls answered by an observation, and those that failed, as
  `r1v4.parsing.tooluse` defines a tool error, counted from each record's trajectory (old
  files included); per tool in `tool_errors_by_tool`.
- all tools failed: cases that made tool calls and saw every one fail; `…_answered`: those
  that gave an answer all the same.
- quality flags (`r1v4.evals.flags`): the record's stored `flags`; a record without them is
  flagged here by the same rules (no judge), and counted in `flags_computed`. Per run and
  per category: cases checked, cases flagged, and each flag's count (`r1v4.evals.flag_report`,
  which also counts, for `--compare`, the flags that appeared or vanished per paired case).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1v4._util.stats import mcnemar, wilson_interval
from r1v4.evals.flag_report import compare_flags, flag_counts
from r1v4.evals.flagging import FlagRun, flag_record
from r1v4.evals.flags import FlagSettings, flag_names
from r1v4.evals.judge import Judge, JudgeSettings
from r1v4.evals.scoring import extract_answer, score_answer
from r1v4.parsing import record_tool_use
from r1v4.protocol.records import is_failed, iter_records, record_id

__all__ = ["CaseRow", "RunSummary", "compare_runs", "load_run", "summarize"]

NO_CATEGORY = "(none)"


@dataclass
class CaseRow:
    """What the report needs from one result record."""

    id: str
    failed: bool
    answered: bool
    correct: bool | None  # None: not scored
    category: str | None
    rounds: float | None
    tool_calls: dict[str, int]
    latency_s: float | None
    completion_tokens: int | None
    rescored: bool = False
    calls_answered: int = 0  # tool calls answered by an observation, invalid ones included
    tool_errors: dict[str, int] = field(default_factory=dict)
    all_tools_failed: bool = False
    flags: list[str] = field(default_factory=list)  # quality flags (names)
    flags_computed: bool = False  # the record had none stored: flagged by the report


@dataclass
class RunSummary:
    """The figures of one run; every field is in the JSON output."""

    run: str
    cases: int
    answered: int
    failures: int
    scored: int
    correct: int
    accuracy: float | None
    ci95: tuple[float, float] | None
    mean_rounds: float | None
    mean_latency_s: float | None
    output_tokens: int
    mean_output_tokens: float | None
    tokens_per_s: float | None
    rescored: int
    tool_calls: int = 0
    tool_errors: int = 0
    tool_errors_by_tool: dict[str, int] = field(default_factory=dict)
    all_tools_failed: int = 0
    all_tools_failed_answered: int = 0
    by_category: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_outcome: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped_lines: list[int] = field(default_factory=list)
    flagged: int = 0  # cases with at least one quality flag
    flags: dict[str, int] = field(default_factory=dict)  # cases per flag, in FLAGS order
    flags_computed: int = 0  # records without stored flags, flagged by the report


# --------------------------------------------------------------------------- loading


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _full_response(record: dict[str, Any]) -> str:
    response = record.get("response")
    if isinstance(response, dict):
        return str(response.get("full_response") or "")
    return ""


def _stop_reason(record: dict[str, Any]) -> str | None:
    meta = record.get("meta")
    reason = meta.get("stop_reason") if isinstance(meta, dict) else None
    return reason if isinstance(reason, str) else None


async def _rescore(record: dict[str, Any], scorer: str, judge: Judge | None) -> dict | None:
    return await score_answer(
        _full_response(record),
        record.get("answer"),
        record.get("options"),
        scorer=scorer,
        judge=judge,
        question=str(record.get("question") or ""),
        stop_reason=_stop_reason(record),
    )


# Records scored together: bounds memory on huge files and the judge requests in flight.
_CHUNK = 16


async def _row(
    rid: str, record: dict[str, Any], rescore: str, scorer: str, judge: Judge | None, run: FlagRun
) -> CaseRow:
    """One record's row, scoring it first when `rescore` asks for it."""
    score = record.get("score") if isinstance(record.get("score"), dict) else None
    rescored = False
    has_truth = record.get("answer") not in (None, "", [])
    # A score without a value (judge or scorer error) counts as missing: try again.
    missing = score is None or _number(score.get("value")) is None
    if has_truth and (rescore == "all" or (rescore == "missing" and missing)):
        score = await _rescore(record, scorer, judge)
        rescored = True
    failed = is_failed(record)
    extracted = (score or {}).get("extracted")
    if extracted is None:
        extracted = extract_answer(_full_response(record), _stop_reason(record))
    value = _number((score or {}).get("value"))
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    usage = meta.get("usage") if isinstance(meta.get("usage"), dict) else {}
    tools = meta.get("tool_calls") if isinstance(meta.get("tool_calls"), dict) else {}
    used = record_tool_use(record)
    tokens = _number(usage.get("completion_tokens"))
    category = record.get("category")
    flags = flag_names(record)
    computed = flags is None
    if flags is None:
        flags = [f["flag"] for f in await flag_record(record, run)]
    return CaseRow(
        id=rid,
        failed=failed,
        answered=not failed and bool(str(extracted).strip()),
        correct=None if value is None else value >= 1.0,
        category=str(category) if category not in (None, "") else None,
        rounds=_number(meta.get("rounds")),
        tool_calls={str(k): int(v) for k, v in tools.items() if _number(v) is not None},
        latency_s=_number(meta.get("latency_s")),
        completion_tokens=int(tokens) if tokens is not None else None,
        rescored=rescored,
        calls_answered=used.n_calls,
        tool_errors=dict(used.errors),
        all_tools_failed=used.all_failed,
        flags=flags,
        flags_computed=computed,
    )


async def _load_run_async(
    path: Path, rescore: str, scorer: str, judge: Judge | None, flags: FlagSettings
) -> tuple[list[CaseRow], list[int]]:
    rows: dict[str, CaseRow] = {}
    skipped: list[int] = []
    chunk: list[tuple[str, dict[str, Any]]] = []

    async def flush() -> None:
        run = FlagRun(settings=flags, base_dir=path.resolve().parent)
        built = await asyncio.gather(
            *(_row(rid, r, rescore, scorer, judge, run) for rid, r in chunk)
        )
        for row in built:  # in file order: a later line for an id replaces an earlier one
            rows[row.id] = row
        chunk.clear()

    for line, record in iter_records(path):
        if record is None:
            skipped.append(line)
            continue
        chunk.append((record_id(record), record))
        if len(chunk) >= _CHUNK:
            await flush()
    await flush()
    return list(rows.values()), skipped


def load_run(
    path: str | Path,
    *,
    rescore: str = "missing",
    scorer: str = "auto",
    judge: JudgeSettings | None = None,
    flags: FlagSettings | None = None,
) -> tuple[list[CaseRow], list[int]]:
    """Rows of one result file and the line numbers that could not be decoded. `flags`
    are the rules for records without stored flags."""
    rules = flags or FlagSettings()

    async def run() -> tuple[list[CaseRow], list[int]]:
        if judge is None:
            return await _load_run_async(Path(path), rescore, scorer, None, rules)
        async with Judge(judge) as j:
            return await _load_run_async(Path(path), rescore, scorer, j, rules)

    return asyncio.run(run())


# --------------------------------------------------------------------------- figures


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _outcome(rows: list[CaseRow]) -> dict[str, Any]:
    """Count, mean rounds and mean calls per case of each tool, for a group of cases."""
    tools: dict[str, int] = {}
    for r in rows:
        for name, count in r.tool_calls.items():
            tools[name] = tools.get(name, 0) + count
    n = len(rows)
    return {
        "n": n,
        "mean_rounds": _mean([r.rounds for r in rows if r.rounds is not None]),
        "tools_per_case": {k: v / n for k, v in sorted(tools.items())} if n else {},
    }


def _sum_counts(counts: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for one in counts:
        for name, n in one.items():
            total[name] = total.get(name, 0) + n
    return dict(sorted(total.items()))


def summarize(run: str, rows: list[CaseRow], skipped: list[int] | None = None) -> RunSummary:
    """All figures of one run (see the module docstring for each definition)."""
    scored = [r for r in rows if r.correct is not None]
    correct = sum(1 for r in scored if r.correct)
    latencies = [r.latency_s for r in rows if r.latency_s is not None]
    tokens = [r.completion_tokens for r in rows if r.completion_tokens is not None]
    timed = [r for r in rows if r.completion_tokens is not None and r.latency_s]
    timed_latency = sum(r.latency_s or 0.0 for r in timed)
    by_cat: dict[str, dict[str, Any]] = {}
    if any(r.category for r in rows):
        for cat in sorted({r.category or NO_CATEGORY for r in rows}):
            group = [r for r in scored if (r.category or NO_CATEGORY) == cat]
            k = sum(1 for r in group if r.correct)
            by_cat[cat] = {
                "cases": sum(1 for r in rows if (r.category or NO_CATEGORY) == cat),
                "scored": len(group),
                "correct": k,
                "accuracy": k / len(group) if group else None,
                "ci95": wilson_interval(k, len(group)),
                **flag_counts([r for r in rows if (r.category or NO_CATEGORY) == cat]),
            }
    return RunSummary(
        run=run,
        cases=len(rows),
        answered=sum(1 for r in rows if r.answered),
        failures=sum(1 for r in rows if r.failed),
        scored=len(scored),
        correct=correct,
        accuracy=correct / len(scored) if scored else None,
        ci95=wilson_interval(correct, len(scored)),
        mean_rounds=_mean([r.rounds for r in rows if r.rounds is not None]),
        mean_latency_s=_mean(latencies),
        output_tokens=sum(tokens),
        mean_output_tokens=_mean([float(t) for t in tokens]),
        tokens_per_s=(
            sum(r.completion_tokens or 0 for r in timed) / timed_latency if timed_latency else None
        ),
        rescored=sum(1 for r in rows if r.rescored),
        tool_calls=sum(r.calls_answered for r in rows),
        tool_errors=sum(sum(r.tool_errors.values()) for r in rows),
        tool_errors_by_tool=_sum_counts(r.tool_errors for r in rows),
        all_tools_failed=sum(1 for r in rows if r.all_tools_failed),
        all_tools_failed_answered=sum(1 for r in rows if r.all_tools_failed and r.answered),
        by_category=by_cat,
        by_outcome={
            "correct": _outcome([r for r in scored if r.correct]),
            "wrong": _outcome([r for r in scored if not r.correct]),
        },
        skipped_lines=list(skipped or []),
        **flag_counts(rows),
        flags_computed=sum(1 for r in rows if r.flags_computed),
    )


def compare_runs(a: list[CaseRow], b: list[CaseRow]) -> dict[str, Any]:
    """Pair cases scored in both runs by id; McNemar's test on the discordant pairs."""
    score_a = {r.id: r.correct for r in a if r.correct is not None}
    score_b = {r.id: r.correct for r in b if r.correct is not None}
    paired = [i for i in score_a if i in score_b]
    to_wrong = [i for i in paired if score_a[i] and not score_b[i]]  # A right, B wrong
    to_correct = [i for i in paired if not score_a[i] and score_b[i]]  # A wrong, B right
    n = len(paired)
    acc_a = sum(1 for i in paired if score_a[i]) / n if n else None
    acc_b = sum(1 for i in paired if score_b[i]) / n if n else None
    test = mcnemar(len(to_wrong), len(to_correct))
    return {
        "paired": n,
        "only_in_a": len([i for i in score_a if i not in score_b]),
        "only_in_b": len([i for i in score_b if i not in score_a]),
        "accuracy_a": acc_a,
        "accuracy_b": acc_b,
        "difference": acc_b - acc_a if n else None,  # type: ignore[operator]
        "a_right_b_wrong": len(to_wrong),
        "a_wrong_b_right": len(to_correct),
        "p_value": test.p_value,
        "test": f"McNemar ({test.method})",
        "flipped_to_correct": sorted(to_correct),
        "flipped_to_wrong": sorted(to_wrong),
        "flags": compare_flags(a, b),
    }
