"""The compare page: two result files joined by case id, differing answers first-class.

Separate because it is the only builder that reads two files at once; it reuses the list
page's totals, badges and marks so both pages count and label cases the same way.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from r1v4.viewer.display.badges import match_mark, status_badge
from r1v4.viewer.display.list_header import totals
from r1v4.viewer.display.listing import DEFAULT_PAGE_SIZE
from r1v4.viewer.display.text import snippet
from r1v4.viewer.display.urls import Urls
from r1v4.viewer.summaries import normalize_answer


def _by_id(entries: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for e in entries:
        out[str(e.get("id"))] = e  # a later line (a retry) replaces an earlier one
    return out


def answers_differ(a: dict | None, b: dict | None) -> bool:
    """True when two cases' outcomes differ: answer text (normalized) or status."""
    if a is None or b is None:
        return True
    if a.get("status") != b.get("status"):
        return True
    return normalize_answer(a.get("answer") or "") != normalize_answer(b.get("answer") or "")


def flip(a: dict | None, b: dict | None) -> str | None:
    """How a case's score changed from A to B, as `report --compare` counts it (cases scored
    in both): "to_correct" (A wrong, B right), "to_wrong" (A right, B wrong), or None."""
    if a is None or b is None or a.get("correct") is None or b.get("correct") is None:
        return None
    if not a["correct"] and b["correct"]:
        return "to_correct"
    if a["correct"] and not b["correct"]:
        return "to_wrong"
    return None


def compare_context(
    a: Any,
    b: Any,
    show: str,
    page: int,
    compare_case_url: Any,
    urls: Urls,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> dict[str, Any]:
    """Two files joined by case id, with the cases whose answers differ listed first-class.

    `page_size` 0 returns every row on one page (the JSON twin).
    """
    ea, eb = _by_id(a.index.entries), _by_id(b.index.entries)
    ids = list(ea) + [i for i in eb if i not in ea]
    rows = []
    counts = Counter()
    for cid in ids:
        x, y = ea.get(cid), eb.get(cid)
        differ = answers_differ(x, y)
        where = "both" if x and y else ("only_a" if x else "only_b")
        flipped = flip(x, y)
        counts[where] += 1
        if x and y and differ:
            counts["differ"] += 1
        if flipped:
            counts[flipped] += 1
        if show == "differ" and not (x and y and differ):
            continue
        if show in ("only_a", "only_b") and where != show:
            continue
        if show in ("to_correct", "to_wrong") and flipped != show:
            continue
        rows.append(
            {
                "id": cid,
                "url": compare_case_url(cid),
                "question": snippet((x or y or {}).get("question"), 120),
                "differ": differ,
                "flip": flipped,
                "sides": [
                    None
                    if e is None
                    else {
                        "answer": snippet(e.get("answer") or e.get("error") or "", 100),
                        "status": status_badge(e),
                        "mark": match_mark(e),
                        "rounds": e.get("rounds", 0),
                        "url": urls.case(f.fid, e["n"], {}),
                    }
                    for e, f in ((x, a), (y, b))
                ],
            }
        )
    size = page_size or max(1, len(rows))
    pages = max(1, -(-len(rows) // size))
    page = max(1, min(page, pages))
    ta, tb = totals(a.index.entries), totals(b.index.entries)
    return {
        "a": {"fid": a.fid, "label": a.label, "totals": ta, "url": urls.list(a.fid, {})},
        "b": {"fid": b.fid, "label": b.label, "totals": tb, "url": urls.list(b.fid, {})},
        "counts": {
            "both": counts["both"],
            "only_a": counts["only_a"],
            "only_b": counts["only_b"],
            "differ": counts["differ"],
            "to_correct": counts["to_correct"],
            "to_wrong": counts["to_wrong"],
        },
        "show": show,
        "rows": rows[(page - 1) * size : page * size],
        "matching": len(rows),
        "page": page,
        "pages": pages,
    }
