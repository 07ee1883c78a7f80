"""The benchmark report as Markdown, CSV, JSON or aligned text: the README's layout
(benchmark × split × metric), one column per run, the published R1V4 value beside them
with `--published`, and under the table each benchmark's scorer with its source and what
was left out."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from typing import Any

from r1v4.evals.benchmarks.figures import Figure
from r1v4.evals.benchmarks.published import MODELS, SOURCE
from r1v4.evals.benchmarks.report import BenchRun, Row, scorer_source, table_rows

__all__ = ["FORMATS", "notes", "render_report"]

FORMATS = ("text", "md", "csv", "json")


def _cell(fig: Figure | None) -> str:
    if fig is None or fig.value is None:
        return "—"
    text = f"{fig.value:.1f}"
    if fig.wald is not None:
        text += f" ±{fig.wald[1]:.2f}"
    return text


def notes(runs: list[BenchRun], published: bool) -> list[str]:
    """What a reader of the table must know: scorers and sources, what was left out."""
    out: list[str] = []
    for i, run in enumerate(runs, start=1):
        for name, figs in run.benchmarks.items():
            line = f"run {i} {name}: {figs.cases} case(s), scorer {figs.scorer or '?'} — "
            line += scorer_source(figs.scorer)
            out.append(line)
            out += [f"run {i} {name}: {n}" for n in figs.notes]
            if figs.failed:
                out.append(f"run {i} {name}: {figs.failed} failed case(s) counted as wrong")
        if run.other:
            out.append(f"run {i}: {run.other} record(s) name no known benchmark (not shown)")
        if run.rescored:
            out.append(f"run {i}: {run.rescored} record(s) scored by this report")
        if run.skipped_lines:
            out.append(f"run {i}: undecodable line(s) {run.skipped_lines[:10]}")
    if any(f.wald for r in runs for b in r.benchmarks.values() for f in b.figures):
        out.append("± is the published Wald 95% half-width (on the rounded percentage)")
    if published:
        out.append(f"published: {MODELS[0]}, {SOURCE}")
    return out


def _header(runs: list[BenchRun], published: bool) -> list[str]:
    head = ["benchmark", "split", "metric"] + [f"run {i}" for i in range(1, len(runs) + 1)]
    return head + (["published"] if published else [])


def _row_cells(row: Row, published: bool) -> list[str]:
    cells = [row.title, row.split, row.metric] + [_cell(v) for v in row.values]
    if published:
        cells.append("—" if row.published is None else f"{row.published:.1f}")
    return cells


def _json(runs: list[BenchRun], rows: list[Row], published: bool) -> str:
    def fig(f: Figure | None) -> Any:
        return None if f is None else dataclasses.asdict(f)

    data = {
        "runs": [r.run for r in runs],
        "rows": [
            {"benchmark": r.benchmark, "title": r.title, "split": r.split, "metric": r.metric,
             "values": [fig(v) for v in r.values],
             **({"published": r.published} if published else {})}
            for r in rows
        ],
        "benchmarks": [
            {"run": run.run, "benchmark": name, "scorer": b.scorer,
             "source": scorer_source(b.scorer), "cases": b.cases, "failed": b.failed,
             "unscored": b.unscored, "judge_errors": b.judge_errors, "notes": b.notes,
             "by_category": {k: fig(v) for k, v in b.by_category.items()}}
            for run in runs for name, b in run.benchmarks.items()
        ],
        "published_source": SOURCE if published else None,
    }  # fmt: skip
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def render_report(runs: list[BenchRun], fmt: str, published: bool = False) -> str:
    """The report in `fmt` (text, md, csv, json)."""
    rows = table_rows(runs)
    if fmt == "json":
        return _json(runs, rows, published)
    head = _header(runs, published)
    body = [_row_cells(r, published) for r in rows]
    legend = [f"run {i}: {r.run}" for i, r in enumerate(runs, start=1)]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(head)
        writer.writerows(body)
        return buf.getvalue()
    if fmt == "md":
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in body]
        extra = legend + notes(runs, published)
        return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in extra) + "\n"
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [head, *body]]  # fmt: skip
    return "\n".join(lines + [""] + legend + notes(runs, published)) + "\n"
