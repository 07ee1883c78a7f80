"""The run list's header figures: the seed's total/succeeded/failed, then rounds, tools,
answers, accuracy, tool errors, quality flags and latency, over a list of index entries."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from r1v4.viewer.display.text import fmt_seconds


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
