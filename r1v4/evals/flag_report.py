"""Quality flags in the report: per run and per category, how many cases were flagged and
how many carry each flag; for two runs paired by case id, which flags appeared (absent in A,
present in B) and which vanished. Over `CaseRow`-like rows: anything with `id` and `flags`
(a list of flag names)."""

from __future__ import annotations

from typing import Any

from r1v4.evals.flags import FLAGS

__all__ = ["compare_flags", "flag_counts"]


def flag_counts(rows: list[Any]) -> dict[str, Any]:
    """`flagged` (cases with a flag) and `flags` (cases per flag, in FLAGS order)."""
    counts = {name: 0 for name in FLAGS}
    flagged = 0
    for r in rows:
        names = set(r.flags or [])
        flagged += bool(names)
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    return {"flagged": flagged, "flags": {k: v for k, v in counts.items() if v}}


def compare_flags(a: list[Any], b: list[Any]) -> dict[str, dict[str, Any]]:
    """Per flag, over the case ids in both runs: `appeared` (in B, not in A) and `vanished`
    (in A, not in B), with the ids of each."""
    fa = {r.id: set(r.flags or []) for r in a}
    fb = {r.id: set(r.flags or []) for r in b}
    both = [i for i in fa if i in fb]
    out: dict[str, dict[str, Any]] = {}
    for name in FLAGS:
        appeared = sorted(i for i in both if name in fb[i] and name not in fa[i])
        vanished = sorted(i for i in both if name in fa[i] and name not in fb[i])
        if appeared or vanished:
            out[name] = {
                "appeared": len(appeared),
                "vanished": len(vanished),
                "appeared_ids": appeared,
                "vanished_ids": vanished,
            }
    return out
