"""The published aggregation rules: per-case scores of one run → the figures of the R1V4
table's rows (benchmark × split × metric), plus per-category accuracy for the charts.

Definitions, each from its source (percentages, one row per README label):
- `hrbench` (`VLMEvalKit@19c0e38:vlmeval/dataset/utils/hrbench.py:report_acc_hrbench`):
  cases grouped by `labels.cycle_category`; in each group the mean hit of all its cases
  and of each `category`; each figure is the sum over groups divided by the number of
  groups — an unweighted mean of per-cycle accuracies, where a cycle lacking a category
  adds nothing to that category's sum but still counts in the divisor. FSP = `single`,
  FCP = `cross`, Overall = all.
- `mme` (`multiple_choice.py:get_dimension_rating`): Perception / Reasoning = the share
  correct of the cases whose `category` starts with that word (micro), Overall = over all.
- `vstar` (`report_acc`): Attribute / Spatial = per category, Overall = micro.
- `treebench` (`utils/treebench.py:get_dimension_rating`): Overall = micro accuracy; mIoU =
  the mean of the cases' `iou` (0 for a case without boxes).
- `visualprobe`: accuracy per split (Hard, Medium, Easy) and over all.
- `judged` (R1V4 `o3-mini-judge.py:dump_metrics`): Overall = share of "yes", with the
  published Wald interval (on the rounded percentage) and the Wilson interval beside it;
  a judge call that failed counts as wrong, as published. Scored with `mmsearch-f1` the
  figure is the mean F1; with `fvqa-em`, EM and SubEM.

A failed case (no response) counts as wrong in every rule (the published pipelines score an
error output as a wrong answer). A case with no score at all is left out and counted in
`unscored`, so a missing judge never passes for a wrong answer or a right one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from r1v4._util.stats import wilson_interval
from r1v4.evals.published_judges import wald_interval

__all__ = ["BenchmarkFigures", "CaseScore", "Figure", "compute"]


@dataclass
class CaseScore:
    """What the figures need from one result record."""

    id: str
    benchmark: str
    split: str | None
    category: str | None
    labels: dict[str, Any]
    failed: bool
    score: dict[str, Any] | None
    latency_s: float | None = None
    rounds: float | None = None
    tool_calls: int | None = None

    @property
    def scorer(self) -> str | None:
        return (self.score or {}).get("scorer")

    def hit(self) -> float | None:
        """1/0 (a fraction for F1), or None when the case has no score to count."""
        if self.failed:
            return 0.0
        if not self.score:
            return None
        value = self.score.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if str(self.scorer or "").startswith("r1v4-judge") and self.score.get("error"):
            return 0.0  # the published judge counts a failed call as wrong
        return None


@dataclass
class Figure:
    """One cell of the table: a benchmark's split and metric, as a percentage."""

    benchmark: str
    split: str
    metric: str
    value: float | None
    n: int
    correct: float | None = None  # summed hits (None for averages of averages)
    ci95: tuple[float, float] | None = None  # Wilson, in %
    wald: tuple[float, float] | None = None  # published (accuracy %, half-width %)


@dataclass
class BenchmarkFigures:
    """A benchmark's figures in one run, with what was left out and why."""

    benchmark: str
    scorer: str | None
    figures: list[Figure] = field(default_factory=list)
    by_category: dict[str, Figure] = field(default_factory=dict)
    cases: int = 0
    unscored: int = 0
    failed: int = 0
    judge_errors: int = 0
    notes: list[str] = field(default_factory=list)


def _pct(k: float, n: int) -> float | None:
    return 100.0 * k / n if n else None


def _wilson(k: float, n: int) -> tuple[float, float] | None:
    ci = wilson_interval(round(k), n) if n and float(k).is_integer() else None
    return (100 * ci[0], 100 * ci[1]) if ci else None


def _share(bench: str, split: str, hits: list[float], metric: str = "accuracy") -> Figure:
    k, n = sum(hits), len(hits)
    return Figure(bench, split, metric, _pct(k, n), n, k, _wilson(k, n))


def _hrbench(bench: str, rows: list[tuple[CaseScore, float]]) -> list[Figure]:
    groups: dict[str, list[tuple[CaseScore, float]]] = defaultdict(list)
    for case, hit in rows:
        groups[str(case.labels.get("cycle_category", "(none)"))].append((case, hit))
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, list[float]] = defaultdict(list)
    for members in groups.values():
        hits = [h for _, h in members]
        sums["all"] += sum(hits) / len(hits)
        counts["all"] += hits
        for cat in {c.category or "(none)" for c, _ in members}:
            cat_hits = [h for c, h in members if (c.category or "(none)") == cat]
            sums[cat] += sum(cat_hits) / len(cat_hits)
            counts[cat] += cat_hits
    names = {"single": "FSP", "cross": "FCP"}
    order = [c for c in ("single", "cross") if c in counts]
    order += sorted(c for c in counts if c not in ("single", "cross", "all")) + ["all"]
    out = []
    for cat in order:
        hits = counts[cat]
        value = 100.0 * sums[cat] / len(groups)
        label = names.get(cat, "Overall" if cat == "all" else cat)
        out.append(Figure(bench, label, "accuracy", value, len(hits), None,
                          _wilson(sum(hits), len(hits))))  # fmt: skip
    return out


def _by(rows: list[tuple[CaseScore, float]], key: Any) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for case, hit in rows:
        out[key(case)].append(hit)
    return out


def _vstar_label(category: str | None) -> str:
    low = (category or "").lower()
    if "attr" in low:
        return "Attribute"
    if "spatial" in low or "relative" in low or "position" in low:
        return "Spatial"
    return category or "(none)"


Rows = list[tuple[CaseScore, float]]


def _grouped(bench: str, rows: Rows, key: Any, first: tuple[str, ...]) -> list[Figure]:
    """A share per group (the README's groups first, in its order), then Overall."""
    groups = _by(rows, key)
    order = [g for g in first if g in groups] + sorted(g for g in groups if g not in first)
    return [_share(bench, g, groups[g]) for g in order] + [
        _share(bench, "Overall", [h for _, h in rows])
    ]


def _mean_of(rows: Rows, field_name: str) -> list[float]:
    """A per-case score field (0 for a failed case or one without it)."""
    return [0.0 if c.failed else float((c.score or {}).get(field_name) or 0.0) for c, _ in rows]


def _rule_figures(bench: str, rule: str, scorer: str, rows: Rows) -> list[Figure]:
    hits = [h for _, h in rows]
    if rule == "hrbench":
        return _hrbench(bench, rows)
    if rule == "mme":
        task = lambda c: (c.category or "").split("/")[0] or "(none)"  # noqa: E731
        return _grouped(bench, rows, task, ("Perception", "Reasoning"))
    if rule == "vstar":
        return _grouped(bench, rows, lambda c: _vstar_label(c.category), ("Attribute", "Spatial"))
    if rule == "treebench":
        ious = _mean_of(rows, "iou")
        miou = Figure(bench, "Overall", "mIoU", _pct(sum(ious), len(ious)), len(ious))
        return [_share(bench, "Overall", hits), miou]
    if rule == "visualprobe":
        level = lambda c: (c.split or "(none)").title()  # noqa: E731
        return _grouped(bench, rows, level, ("Hard", "Medium", "Easy"))
    if scorer.startswith("mmsearch-f1"):
        return [Figure(bench, "Overall", "F1", _pct(sum(hits), len(hits)), len(hits))]
    if scorer.startswith("fvqa-em"):
        return [_share(bench, "Overall", hits, "EM"),
                _share(bench, "Overall", _mean_of(rows, "subem"), "SubEM")]  # fmt: skip
    fig = _share(bench, "Overall", hits)  # judged
    if fig.n:
        fig.wald = wald_interval(int(sum(hits)), fig.n)
    return [fig]


def compute(bench: str, rule: str, cases: list[CaseScore]) -> BenchmarkFigures:
    """The figures of `bench` by the aggregation rule `rule` (see the module docstring)."""
    scorers = sorted({c.scorer for c in cases if c.scorer})
    result = BenchmarkFigures(bench, scorers[0] if len(scorers) == 1 else None)
    if len(scorers) > 1:
        result.notes.append(f"scored with several scorers: {', '.join(scorers)}")
    rows: Rows = []
    for c in cases:
        result.cases += 1
        result.failed += int(c.failed)
        if c.score and c.score.get("error") and not c.failed:
            result.judge_errors += 1
        hit = c.hit()
        if hit is None:
            result.unscored += 1
        else:
            rows.append((c, hit))
    if result.unscored:
        result.notes.append(f"{result.unscored} case(s) without a score are left out")
    result.figures = _rule_figures(bench, rule, result.scorer or "", rows)
    if result.judge_errors and any(f.wald for f in result.figures):
        result.notes.append(
            f"{result.judge_errors} failed judge call(s) counted as wrong, as published"
        )
    cats = _by(rows, lambda c: c.category or "(none)")
    if len(cats) > 1 or "(none)" not in cats:
        result.by_category = {k: _share(bench, k, v) for k, v in sorted(cats.items())}
    return result
