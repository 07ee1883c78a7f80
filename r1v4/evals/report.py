"""`python -m r1v4 report`: accuracy and efficiency of one or more runs, side by side.

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
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from r1v4._util.stats import mcnemar, wilson_interval
from r1v4.evals.judge import Judge, JudgeSettings
from r1v4.evals.scoring import SCORERS, extract_answer, score_answer
from r1v4.protocol.cases import record_id
from r1v4.protocol.records import is_failed, iter_records

__all__ = ["CaseRow", "RunSummary", "compare_runs", "load_run", "main", "summarize"]

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
    by_category: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_outcome: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped_lines: list[int] = field(default_factory=list)


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


async def _rescore(record: dict[str, Any], scorer: str, judge: Judge | None) -> dict | None:
    return await score_answer(
        _full_response(record),
        record.get("answer"),
        record.get("options"),
        scorer=scorer,
        judge=judge,
        question=str(record.get("question") or ""),
    )


# Records scored together: bounds memory on huge files and the judge requests in flight.
_CHUNK = 16


async def _row(
    rid: str, record: dict[str, Any], rescore: str, scorer: str, judge: Judge | None
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
        extracted = extract_answer(_full_response(record))
    value = _number((score or {}).get("value"))
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    usage = meta.get("usage") if isinstance(meta.get("usage"), dict) else {}
    tools = meta.get("tool_calls") if isinstance(meta.get("tool_calls"), dict) else {}
    tokens = _number(usage.get("completion_tokens"))
    category = record.get("category")
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
    )


async def _load_run_async(
    path: Path, rescore: str, scorer: str, judge: Judge | None
) -> tuple[list[CaseRow], list[int]]:
    rows: dict[str, CaseRow] = {}
    skipped: list[int] = []
    chunk: list[tuple[str, dict[str, Any]]] = []

    async def flush() -> None:
        built = await asyncio.gather(*(_row(rid, r, rescore, scorer, judge) for rid, r in chunk))
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
) -> tuple[list[CaseRow], list[int]]:
    """Rows of one result file and the line numbers that could not be decoded."""

    async def run() -> tuple[list[CaseRow], list[int]]:
        if judge is None:
            return await _load_run_async(Path(path), rescore, scorer, None)
        async with Judge(judge) as j:
            return await _load_run_async(Path(path), rescore, scorer, j)

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
                "scored": len(group),
                "correct": k,
                "accuracy": k / len(group) if group else None,
                "ci95": wilson_interval(k, len(group)),
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
        by_category=by_cat,
        by_outcome={
            "correct": _outcome([r for r in scored if r.correct]),
            "wrong": _outcome([r for r in scored if not r.correct]),
        },
        skipped_lines=list(skipped or []),
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
    }


# --------------------------------------------------------------------------- rendering


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _ci(ci: tuple[float, float] | None) -> str:
    return "—" if ci is None else f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f}"


def _num(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _tools(mix: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in mix.items()) or "—"


MAIN_HEADER = [
    "run", "cases", "answered", "failures", "scored", "accuracy", "95% CI",
    "rounds", "latency s", "out tokens", "tok/s",
]  # fmt: skip


def main_rows(summaries: list[RunSummary]) -> list[list[str]]:
    return [
        [
            s.run,
            str(s.cases),
            str(s.answered),
            str(s.failures),
            str(s.scored),
            _pct(s.accuracy),
            _ci(s.ci95),
            _num(s.mean_rounds),
            _num(s.mean_latency_s),
            _num(s.mean_output_tokens, 1),
            _num(s.tokens_per_s, 1),
        ]
        for s in summaries
    ]


def category_table(summaries: list[RunSummary]) -> tuple[list[str], list[list[str]]]:
    cats = sorted({c for s in summaries for c in s.by_category})
    rows = []
    for cat in cats:
        row = [cat]
        for s in summaries:
            c = s.by_category.get(cat)
            ok = c and c["scored"]
            row.append(f"{_pct(c['accuracy'])} ({c['correct']}/{c['scored']})" if ok else "—")
        rows.append(row)
    return ["category"] + [s.run for s in summaries], rows


OUTCOME_HEADER = ["run", "outcome", "cases", "rounds", "tool calls per case"]


def outcome_rows(summaries: list[RunSummary]) -> list[list[str]]:
    rows = []
    for s in summaries:
        for name in ("correct", "wrong"):
            o = s.by_outcome[name]
            rows.append(
                [s.run, name, str(o["n"]), _num(o["mean_rounds"]), _tools(o["tools_per_case"])]
            )
    return rows


COMPARE_HEADER = ["", "value"]


def compare_rows(cmp: dict[str, Any], a: str, b: str) -> list[list[str]]:
    def ids(items: list[str]) -> str:
        return ", ".join(items) if items else "—"

    diff = "—" if cmp["difference"] is None else f"{100 * cmp['difference']:+.1f} pts"

    return [
        ["A", a],
        ["B", b],
        ["paired cases", str(cmp["paired"])],
        ["accuracy A", _pct(cmp["accuracy_a"])],
        ["accuracy B", _pct(cmp["accuracy_b"])],
        ["difference B − A", diff],
        ["A right, B wrong", str(cmp["a_right_b_wrong"])],
        ["A wrong, B right", str(cmp["a_wrong_b_right"])],
        [cmp["test"] + " p", f"{cmp['p_value']:.4g}"],
        ["only in A / only in B", f"{cmp['only_in_a']} / {cmp['only_in_b']}"],
        ["flipped to correct", ids(cmp["flipped_to_correct"])],
        ["flipped to wrong", ids(cmp["flipped_to_wrong"])],
    ]  # fmt: skip


def _numeric(cell: str) -> bool:
    return bool(cell) and (cell[0].isdigit() or cell == "—" or cell[:1] in "+-")


def text_table(header: list[str], rows: list[list[str]], numbers_right: bool = True) -> str:
    """Aligned plain-text table: numbers right-aligned (unless told not), text left-aligned."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    lines = []
    for i, row in enumerate([header, *rows]):
        cells = [
            c.rjust(w) if numbers_right and i and j and _numeric(c) else c.ljust(w)
            for j, (c, w) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(c: str) -> str:
        return c.replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(esc(h) for h in header) + " |"]
    out.append("|" + "|".join("---" for _ in header) + "|")
    out.extend("| " + " | ".join(esc(c) for c in row) + " |" for row in rows)
    return "\n".join(out)


def render(
    summaries: list[RunSummary],
    fmt: str,
    comparison: tuple[str, str, dict[str, Any]] | None = None,
    notes: list[str] | None = None,
) -> str:
    """The report as text (aligned), md, csv or json."""
    if fmt == "json":
        doc: dict[str, Any] = {"runs": [asdict(s) for s in summaries]}
        if comparison:
            doc["compare"] = {"a": comparison[0], "b": comparison[1], **comparison[2]}
        if notes:
            doc["notes"] = notes
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return _csv(summaries)
    table = md_table if fmt == "md" else text_table
    parts = []
    if fmt == "md":
        parts.append("# r1v4 report")
    parts.append(table(MAIN_HEADER, main_rows(summaries)))
    cat_header, cat_rows = category_table(summaries)
    if cat_rows:
        parts.append(("## " if fmt == "md" else "") + "Accuracy per category")
        parts.append(table(cat_header, cat_rows))
    if any(s.scored for s in summaries):
        parts.append(("## " if fmt == "md" else "") + "Correct vs wrong answers")
        parts.append(table(OUTCOME_HEADER, outcome_rows(summaries)))
    if comparison:
        parts.append(("## " if fmt == "md" else "") + "Comparison (paired by case id)")
        rows = compare_rows(comparison[2], *comparison[:2])
        parts.append(
            md_table(COMPARE_HEADER, rows)
            if fmt == "md"
            else text_table(COMPARE_HEADER, rows, numbers_right=False)
        )
    if notes:
        parts.append("\n".join(("- " if fmt == "md" else "note: ") + n for n in notes))
    return "\n\n".join(parts) + "\n"


def _csv(summaries: list[RunSummary]) -> str:
    """One row per run: the main figures, then accuracy per category."""
    cats = sorted({c for s in summaries for c in s.by_category})
    header = [
        "run", "cases", "answered", "failures", "scored", "correct", "accuracy", "ci95_low",
        "ci95_high", "mean_rounds", "mean_latency_s", "output_tokens", "mean_output_tokens",
        "tokens_per_s", "rounds_correct", "rounds_wrong",
    ] + [f"accuracy[{c}]" for c in cats]  # fmt: skip
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for s in summaries:
        writer.writerow(
            [
                s.run, s.cases, s.answered, s.failures, s.scored, s.correct, s.accuracy,
                s.ci95[0] if s.ci95 else None, s.ci95[1] if s.ci95 else None, s.mean_rounds,
                s.mean_latency_s, s.output_tokens, s.mean_output_tokens, s.tokens_per_s,
                s.by_outcome["correct"]["mean_rounds"], s.by_outcome["wrong"]["mean_rounds"],
            ]
            + [s.by_category.get(c, {}).get("accuracy") for c in cats]
        )  # fmt: skip
    return buf.getvalue()


# --------------------------------------------------------------------------- command


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m r1v4 report",
        description="Accuracy and efficiency of result files, one row per run.",
    )
    p.add_argument("files", nargs="*", metavar="RESULTS.jsonl", help="result files")
    p.add_argument(
        "--format",
        choices=("md", "csv", "json"),
        help="format of --out (default: from its suffix, else md); "
        "without --out, printed instead of the aligned table",
    )
    p.add_argument("--out", metavar="FILE", help="also write the report to FILE")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="pair two runs by case id")
    p.add_argument(
        "--rescore",
        choices=("missing", "all", "never"),
        default="missing",
        help="score records from their answer/options fields: those without a score "
        "(default), all of them, or none",
    )
    p.add_argument("--scorer", choices=SCORERS, default="auto", help="scorer for rescoring")
    p.add_argument("--judge-base-url", help="OpenAI-compatible judge endpoint (…/v1)")
    p.add_argument("--judge-model", help="judge model name")
    p.add_argument(
        "--judge-api-key",
        default=os.environ.get("R1V4_JUDGE_API_KEY"),
        help="judge API key (env R1V4_JUDGE_API_KEY)",
    )
    p.add_argument("--judge-cache", help="SQLite file caching the judge's verdicts")
    return p


def _format_for(out: str | None, fmt: str | None) -> str:
    if fmt:
        return fmt
    suffix = Path(out or "").suffix.lower().lstrip(".")
    return {"md": "md", "markdown": "md", "csv": "csv", "json": "json"}.get(suffix, "md")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m r1v4 report`; 0 on success, 2 on bad arguments or files."""
    parser = build_parser()
    args = parser.parse_args(argv)
    files: list[str] = list(dict.fromkeys(args.files + (args.compare or [])))
    if not files:
        parser.print_usage(sys.stderr)
        print("error: give at least one result file", file=sys.stderr)
        return 2
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        print(f"error: no such result file: {', '.join(missing)}", file=sys.stderr)
        return 2
    judge = None
    if args.judge_base_url or args.judge_model:
        if not (args.judge_base_url and args.judge_model):
            print("error: --judge-base-url and --judge-model go together", file=sys.stderr)
            return 2
        judge = JudgeSettings(
            args.judge_base_url, args.judge_model, args.judge_api_key, args.judge_cache
        )
    elif args.scorer == "judge" and args.rescore != "never":
        print("error: --scorer judge needs --judge-base-url and --judge-model", file=sys.stderr)
        return 2

    rows: dict[str, list[CaseRow]] = {}
    summaries: list[RunSummary] = []
    notes: list[str] = []
    for f in files:
        try:
            rows[f], skipped = load_run(f, rescore=args.rescore, scorer=args.scorer, judge=judge)
        except OSError as exc:
            print(f"error: cannot read {f}: {exc}", file=sys.stderr)
            return 2
        summary = summarize(f, rows[f], skipped)
        summaries.append(summary)
        if summary.rescored:
            notes.append(
                f"{f}: {summary.rescored} record(s) scored here with scorer '{args.scorer}' "
                "from their answer/options fields"
            )
        if skipped:
            lines = ", ".join(map(str, skipped[:10])) + (" …" if len(skipped) > 10 else "")
            notes.append(f"{f}: skipped undecodable line(s) {lines}")
        unscored = summary.cases - summary.scored
        if unscored:
            notes.append(f"{f}: {unscored} case(s) unscored (no ground truth or no verdict)")
    comparison = None
    if args.compare:
        a, b = args.compare
        comparison = (a, b, compare_runs(rows[a], rows[b]))

    fmt = _format_for(args.out, args.format)
    if args.format and not args.out:
        sys.stdout.write(render(summaries, fmt, comparison, notes))
    else:
        sys.stdout.write(render(summaries, "text", comparison, notes))
    if args.out:
        Path(args.out).write_text(render(summaries, fmt, comparison, notes), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
