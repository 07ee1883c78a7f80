"""The run page's header and charts: which model, endpoint and dialect made the run, when,
with which options (the runs log beside the file, `r1v4.protocol.runlog`); and accuracy per
category with its 95% interval, rounds and tool calls per case, and latency, drawn as
inline SVG (`r1v4._util.svg`: no script, no CDN, every label escaped).

The charts' SVG is the one piece of HTML built here besides Pygments output; it comes only
from `r1v4._util.svg`, which escapes every text it writes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from markupsafe import Markup

from r1v4._util.stats import wilson_interval
from r1v4._util.svg import bar_chart, histogram
from r1v4.protocol.runlog import read_runs_log

__all__ = ["run_charts", "run_header"]


def _counted(values: list[Any], limit: int = 4) -> str:
    """ "a (12), b (3)", the commonest first; "" when there is none."""
    counts = Counter(v for v in values if v)
    shown = [f"{v} ({n})" if len(counts) > 1 else str(v) for v, n in counts.most_common(limit)]
    more = f", +{len(counts) - limit} more" if len(counts) > limit else ""
    return ", ".join(shown) + more


def run_header(path: Path, entries: list[dict]) -> dict[str, Any]:
    """Model, endpoint, dialect, mode, the dates of the first and last finished case, and
    from the runs log the commands (options) each batch ran with and its flag thresholds."""
    finished = sorted(e["finished_at"] for e in entries if e.get("finished_at"))
    runs = read_runs_log(path)
    last = runs[-1] if runs else {}
    rows = [
        ("Model", _counted([e.get("model") for e in entries]) or last.get("model")),
        ("Endpoint", _counted([e.get("endpoint") for e in entries])
         or ", ".join(last.get("endpoints") or [])),
        ("Dialect", _counted([e.get("dialect") for e in entries]) or last.get("dialect")),
        ("Mode", _counted([e.get("mode") for e in entries])),
        ("Date", f"{finished[0]} – {finished[-1]}" if len(finished) > 1
         else (finished[0] if finished else None)),
    ]  # fmt: skip
    if last.get("judge_model") or last.get("consistency_judge_model"):
        judges = [
            f"answers: {last['judge_model']}" if last.get("judge_model") else "",
            f"consistency: {last['consistency_judge_model']}"
            if last.get("consistency_judge_model")
            else "",
        ]
        rows.append(("Judges", "; ".join(j for j in judges if j)))
    thresholds = last.get("flag_settings") or {}
    if thresholds:
        rows.append(("Flag thresholds", ", ".join(f"{k} {v:g}" for k, v in thresholds.items())))
    return {
        "rows": [{"label": k, "value": str(v)} for k, v in rows if v],
        "commands": [
            {
                "when": r.get("started_at", ""),
                "command": r.get("command", ""),
                "shard": r.get("shard", ""),
            }
            for r in runs[-5:]
            if r.get("command")
        ],
        "runs": len(runs),
    }


def _accuracy_chart(entries: list[dict]) -> str | None:
    """Accuracy per category (and over all, when there are several), each with its 95%
    Wilson interval; None when nothing is scored."""
    scored = [e for e in entries if e.get("correct") is not None]
    if not scored:
        return None
    groups: dict[str, list[bool]] = {}
    for e in scored:
        groups.setdefault(str(e.get("category") or "(no category)"), []).append(e["correct"])
    if len(groups) > 1:
        groups = {"all": [bool(e["correct"]) for e in scored], **groups}
    items: list[tuple[str, float | None, tuple[float, float] | None]] = []
    for name, marks in groups.items():
        k, n = sum(marks), len(marks)
        ci = wilson_interval(k, n)
        items.append((f"{name} (n={n})", 100 * k / n, (100 * ci[0], 100 * ci[1]) if ci else None))
    return bar_chart(items, "Accuracy % per category (95% Wilson interval)")


def run_charts(entries: list[dict]) -> list[dict[str, Any]]:
    """The run page's charts, over the cases given (the list's filters apply): each a
    title and its SVG, ready to be put in the page as is."""
    done = [e for e in entries if e.get("status") in ("ok", "error")]
    charts = []
    accuracy = _accuracy_chart(done)
    if accuracy:
        charts.append({"key": "accuracy", "svg": Markup(accuracy)})  # noqa: S704 - escaped SVG
    rounds = [float(e.get("rounds") or 0) for e in done]
    calls = [float(sum((e.get("tools") or {}).values())) for e in done]
    latency = [float(e["latency_s"]) for e in done if isinstance(e.get("latency_s"), int | float)]
    for key, values, title, unit in (
        ("rounds", rounds, "Rounds per case", ""),
        ("tool_calls", calls, "Tool calls per case", ""),
        ("latency", latency, "Latency per case", " s"),
    ):
        if values:
            svg = histogram(values, title, unit)
            charts.append({"key": key, "svg": Markup(svg)})  # noqa: S704 - escaped SVG
    return charts
