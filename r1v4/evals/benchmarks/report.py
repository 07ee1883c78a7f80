"""Result files of benchmark runs → the R1V4 table's figures, one column per run
(`python -m r1v4 bench report`; tables in `r1v4.evals.benchmarks.render`, the HTML page in
`r1v4.evals.benchmarks.html`).

Each record names its benchmark (`benchmark`, written by `bench prepare` and echoed by the
runner). Its stored `score` is used as it is; a record without one (a run scored by no
scorer, or a judge that failed) is scored here with the benchmark's published scorer when
`rescore` says so and the scorer can run (a judge scorer needs a judge). The figures follow
`r1v4.evals.benchmarks.figures`. Per run, the latency, rounds and tool calls of every case
are kept for the distributions.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1v4.evals.benchmarks.figures import BenchmarkFigures, CaseScore, compute
from r1v4.evals.benchmarks.published import published
from r1v4.evals.benchmarks.registry import BENCHMARKS
from r1v4.evals.judge import Judge, JudgeSettings
from r1v4.evals.protocol_scoring import JUDGED, SOURCES
from r1v4.evals.scoring import score_answer
from r1v4.protocol.records import is_failed, iter_records, record_id

__all__ = ["BenchRun", "Row", "load_bench_run", "table_rows"]


@dataclass
class BenchRun:
    """One result file's benchmarks."""

    run: str
    benchmarks: dict[str, BenchmarkFigures] = field(default_factory=dict)
    cases: dict[str, list[CaseScore]] = field(default_factory=dict)
    other: int = 0  # records that name no known benchmark
    skipped_lines: list[int] = field(default_factory=list)
    rescored: int = 0


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _case(record: dict[str, Any], score: dict[str, Any] | None) -> CaseScore:
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    tools = meta.get("tool_calls") if isinstance(meta.get("tool_calls"), dict) else {}
    labels = record.get("labels") if isinstance(record.get("labels"), dict) else {}
    category = record.get("category")
    return CaseScore(
        id=record_id(record),
        benchmark=str(record.get("benchmark")),
        split=str(record["split"]) if record.get("split") else None,
        category=str(category) if category not in (None, "") else None,
        labels=labels,
        failed=is_failed(record),
        score=score,
        latency_s=_number(meta.get("latency_s")),
        rounds=_number(meta.get("rounds")),
        tool_calls=int(sum(v for v in tools.values() if _number(v) is not None)),
    )


async def _score(record: dict[str, Any], rescore: str, scorer: str | None,
                 judge: Judge | None) -> tuple[dict[str, Any] | None, bool]:  # fmt: skip
    score = record.get("score") if isinstance(record.get("score"), dict) else None
    recipe = BENCHMARKS[str(record["benchmark"])]
    name = scorer or recipe.scorer
    missing = score is None or _number(score.get("value")) is None
    wanted = rescore == "all" or (rescore == "missing" and missing)
    if not wanted or is_failed(record) or record.get("answer") in (None, "", []):
        return score, False
    if name in JUDGED and judge is None:
        return score, False
    response = record.get("response") if isinstance(record.get("response"), dict) else {}
    new = await score_answer(
        str(response.get("full_response") or ""),
        record.get("answer"),
        record.get("options"),
        scorer=name,
        judge=judge,
        question=str(record.get("question") or ""),
        labels=record.get("labels") if isinstance(record.get("labels"), dict) else None,
    )
    return new, True


async def _load(path: Path, rescore: str, scorer: str | None, judge: Judge | None) -> BenchRun:
    run = BenchRun(str(path))
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for line, record in iter_records(path):
        if record is None:
            run.skipped_lines.append(line)
        elif record.get("benchmark") in BENCHMARKS:
            # a later line for a case replaces an earlier one; ids are per benchmark
            latest[(str(record["benchmark"]), record_id(record))] = record
        else:
            run.other += 1
    records = list(latest.values())
    for start in range(0, len(records), 16):
        chunk = records[start : start + 16]
        scored = await asyncio.gather(*(_score(r, rescore, scorer, judge) for r in chunk))
        for record, (score, rescored) in zip(chunk, scored, strict=True):
            run.rescored += int(rescored)
            run.cases.setdefault(str(record["benchmark"]), []).append(_case(record, score))
    for name in BENCHMARKS:  # registry order: the README's
        if name in run.cases:
            run.benchmarks[name] = compute(name, BENCHMARKS[name].figures, run.cases[name])
    return run


def load_bench_run(
    path: str | Path,
    *,
    rescore: str = "missing",
    scorer: str | None = None,
    judge: JudgeSettings | None = None,
) -> BenchRun:
    """The figures of every benchmark in one result file."""

    async def go() -> BenchRun:
        if judge is None:
            return await _load(Path(path), rescore, scorer, None)
        async with Judge(judge) as j:
            return await _load(Path(path), rescore, scorer, j)

    return asyncio.run(go())


@dataclass
class Row:
    """One line of the README-shaped table: its figure in each run, the published value."""

    benchmark: str
    title: str
    split: str
    metric: str
    values: list[Any]  # a Figure per run, or None
    published: float | None


def table_rows(runs: list[BenchRun]) -> list[Row]:
    """benchmark × split × metric rows, in the registry's order, one value per run."""
    rows: list[Row] = []
    for name, recipe in BENCHMARKS.items():
        keys: list[tuple[str, str]] = []
        for run in runs:
            figs = run.benchmarks.get(name)
            for fig in figs.figures if figs else []:
                if (fig.split, fig.metric) not in keys:
                    keys.append((fig.split, fig.metric))
        for split, metric in keys:
            values = []
            for run in runs:
                figs = run.benchmarks.get(name)
                match = [f for f in (figs.figures if figs else [])
                         if (f.split, f.metric) == (split, metric)]  # fmt: skip
                values.append(match[0] if match else None)
            pub = published(name, split) if metric == "accuracy" else None
            rows.append(Row(name, recipe.title, split, metric, values, pub))
    return rows


def scorer_source(name: str | None) -> str:
    """Where a scorer comes from, for the report's notes."""
    if not name:
        return "several or no scorers"
    return SOURCES.get(name, f"the toolkit's own '{name}' scorer (not a published protocol)")
