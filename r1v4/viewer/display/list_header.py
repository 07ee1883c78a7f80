"""The run list's header and filter choices: totals over the whole file (the seed's
total/succeeded/failed plus rounds, tools, answers, score, quality flags) and the values each filter
select offers, taken from the data. Apart from `listing` because they read every entry
while the list itself works on one page."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from r1v4.viewer.display.text import fmt_seconds

__all__ = ["filter_options", "totals"]


def totals(entries: list[dict]) -> dict[str, Any]:
    """Header figures: the seed's total/succeeded/failed plus rounds, tools, answers, score,
    and the quality flags (cases checked, flagged, and each flag's count)."""
    ok = sum(1 for e in entries if e.get("status") == "ok")
    invalid = sum(1 for e in entries if e.get("status") == "invalid")
    too_large = sum(1 for e in entries if e.get("status") == "too_large")
    unread = ("invalid", "too_large")
    rounds = [e.get("rounds") or 0 for e in entries if e.get("status") not in unread]
    mix: Counter[str] = Counter()
    for e in entries:
        mix.update(e.get("tools") or {})
    scored = [e for e in entries if e.get("correct") is not None]
    correct = sum(1 for e in scored if e["correct"])
    lat = [e["latency_s"] for e in entries if isinstance(e.get("latency_s"), int | float)]
    checked = [e for e in entries if e.get("flags") is not None]
    flag_mix: Counter[str] = Counter(name for e in checked for name in {f[0] for f in e["flags"]})
    return {
        "total": len(entries),
        "succeeded": ok,
        "failed": len(entries) - ok - invalid - too_large,
        "invalid": invalid,
        "too_large": too_large,
        "answered": sum(1 for e in entries if e.get("answer")),
        "rounds_total": sum(rounds),
        "rounds_mean": f"{statistics.fmean(rounds):.2f}" if rounds else "–",
        "tool_mix": [{"name": k, "count": v} for k, v in mix.most_common()],
        "tool_errors": sum(e.get("tool_errors") or 0 for e in entries),
        "all_tools_failed": sum(1 for e in entries if e.get("all_tools_failed")),
        "scored": len(scored),
        "correct": correct,
        "accuracy": f"{100 * correct / len(scored):.1f}%" if scored else None,
        "latency_p50": fmt_seconds(statistics.median(lat)) if lat else "–",
        "flags_checked": len(checked),
        "flagged": sum(1 for e in checked if e["flags"]),
        "flag_mix": [{"name": k, "count": v} for k, v in flag_mix.most_common()],
    }


def filter_options(entries: list[dict]) -> dict[str, list[dict[str, str]]]:
    """Choices for the filter selects, taken from the data."""
    tools = sorted({t for e in entries for t in (e.get("tools") or {})})
    rounds = sorted({e.get("rounds") or 0 for e in entries})
    round_opts = [str(r) for r in rounds[:8]]
    if len(rounds) > 8:
        round_opts.append(f"{rounds[8]}+")
    statuses = sorted({e.get("status", "ok") for e in entries})
    categories = sorted({str(e["category"]) for e in entries if e.get("category")})
    flags = sorted({f[0] for e in entries for f in e.get("flags") or []})
    stops = sorted({e["stop_reason"] for e in entries if e.get("stop_reason")})
    return {
        "category": [{"value": c, "label": c} for c in categories],
        "flag": [
            {"value": "any", "label": "≥ 1 flag"},
            {"value": "none", "label": "no flag"},
            *({"value": f, "label": f} for f in flags),
            {"value": "unchecked", "label": "not checked"},
        ],
        "stop": [{"value": s, "label": s} for s in stops],
        "status": [{"value": s, "label": s} for s in statuses],
        "tool": [{"value": t, "label": t} for t in tools],
        "rounds": [{"value": r, "label": r} for r in round_opts]
        + [{"value": "1+", "label": "≥ 1 (used a tool)"}],
        "answered": [{"value": "yes", "label": "answered"}, {"value": "no", "label": "no answer"}],
        "score": [
            {"value": "correct", "label": "✓ correct"},
            {"value": "wrong", "label": "✗ wrong"},
            {"value": "unscored", "label": "unscored"},
        ],
        "tool_errors": [
            {"value": "some", "label": "≥ 1 tool error"},
            {"value": "all", "label": "every tool call failed"},
            {"value": "none", "label": "no tool error"},
        ],
    }
