"""The report's tables: aligned text, Markdown, CSV and JSON from the figures of
`r1v4.evals.report`. Rendering only; nothing here reads files or scores answers."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any

from r1v4.evals.flags import FLAGS
from r1v4.evals.report import RunSummary

__all__ = ["category_table", "main_rows", "md_table", "outcome_rows", "render", "text_table"]


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
    "rounds", "tool calls", "tool errors", "all tools failed", "latency s", "out tokens",
    "tok/s",
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
            str(s.tool_calls),
            str(s.tool_errors),
            str(s.all_tools_failed),
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


def flag_table(summaries: list[RunSummary]) -> tuple[list[str], list[list[str]]]:
    """Cases flagged and each flag's count, per run and per category of each run."""
    names = [n for n in FLAGS if any(n in s.flags for s in summaries)]
    rows = []
    for s in summaries:
        groups = [("all", s.cases, s.flagged, s.flags)]
        for cat, c in s.by_category.items():
            n = c.get("cases", 0)
            groups.append((cat, n, c.get("flagged", 0), c.get("flags", {})))
        for label, n, flagged, counts in groups:
            rows.append(
                [s.run, label, str(n), str(flagged)] + [str(counts.get(k, 0)) for k in names]
            )
    return ["run", "category", "cases", "flagged", *names], rows


def flag_compare_rows(cmp: dict[str, Any]) -> list[list[str]]:
    """Per flag: paired cases where it appeared in B, and where it vanished."""
    return [
        [name, str(c["appeared"]), str(c["vanished"]), ", ".join(c["appeared_ids"][:8]) or "—"]
        for name, c in (cmp.get("flags") or {}).items()
    ]


FLAG_COMPARE_HEADER = ["flag", "appeared (A→B)", "vanished (A→B)", "appeared in"]
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
    flag_header, flag_rows = flag_table(summaries)
    if any(s.cases for s in summaries):
        parts.append(("## " if fmt == "md" else "") + "Quality flags (cases)")
        parts.append(table(flag_header, flag_rows))
    if comparison:
        parts.append(("## " if fmt == "md" else "") + "Comparison (paired by case id)")
        rows = compare_rows(comparison[2], *comparison[:2])
        parts.append(
            md_table(COMPARE_HEADER, rows)
            if fmt == "md"
            else text_table(COMPARE_HEADER, rows, numbers_right=False)
        )
        flag_rows = flag_compare_rows(comparison[2])
        parts.append(("## " if fmt == "md" else "") + "Quality flags that changed (paired cases)")
        parts.append(table(FLAG_COMPARE_HEADER, flag_rows) if flag_rows else "no flag changed")
    if notes:
        parts.append("\n".join(("- " if fmt == "md" else "note: ") + n for n in notes))
    return "\n\n".join(parts) + "\n"


def _csv(summaries: list[RunSummary]) -> str:
    """One row per run: the main figures, then accuracy per category."""
    cats = sorted({c for s in summaries for c in s.by_category})
    header = [
        "run", "cases", "answered", "failures", "scored", "correct", "accuracy", "ci95_low",
        "ci95_high", "mean_rounds", "mean_latency_s", "output_tokens", "mean_output_tokens",
        "tokens_per_s", "rounds_correct", "rounds_wrong", "tool_calls", "tool_errors",
        "all_tools_failed", "all_tools_failed_answered", "flagged",
    ] + [f"accuracy[{c}]" for c in cats] + [f"flag[{n}]" for n in FLAGS]  # fmt: skip
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
                s.tool_calls, s.tool_errors, s.all_tools_failed, s.all_tools_failed_answered,
                s.flagged,
            ]
            + [s.by_category.get(c, {}).get("accuracy") for c in cats]
            + [s.flags.get(n, 0) for n in FLAGS]
        )  # fmt: skip
    return buf.getvalue()
