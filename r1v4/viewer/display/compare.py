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


def _side(e: dict | None, f: Any, urls: Urls) -> dict[str, Any] | None:
    """One file's summary of a case for its compare row (None: not in that file)."""
    if e is None:
        return None
    return {
        "answer": snippet(e.get("answer") or e.get("error") or "", 100),
        "status": status_badge(e),
        "mark": match_mark(e),
        "rounds": e.get("rounds", 0),
        "url": urls.case(f.fid, e["n"], {}),
    }


def _shown(show: str, where: str, both_differ: bool, flipped: str | None) -> bool:
    """Whether a case belongs to the table chosen by `show` ("all" and unknown: every case)."""
    if show == "differ":
        return both_differ
    if show in ("only_a", "only_b"):
        return where == show
    if show in ("to_correct", "to_wrong"):
        return flipped == show
    return True


def _join(
    a: Any, b: Any, show: str, compare_case_url: Any, urls: Urls
) -> tuple[list[dict[str, Any]], Counter]:
    """The rows `show` selects, in file order (A's ids, then those only in B), and the
    counts of every kind of case over all of them."""
    ea, eb = _by_id(a.index.entries), _by_id(b.index.entries)
    rows = []
    counts: Counter = Counter()
    for cid in list(ea) + [i for i in eb if i not in ea]:
        x, y = ea.get(cid), eb.get(cid)
        differ = answers_differ(x, y)
        where = "both" if x and y else ("only_a" if x else "only_b")
        flipped = flip(x, y)
        both_differ = bool(x and y and differ)
        counts[where] += 1
        if both_differ:
            counts["differ"] += 1
        if flipped:
            counts[flipped] += 1
        if not _shown(show, where, both_differ, flipped):
            continue
        rows.append(
            {
                "id": cid,
                "url": compare_case_url(cid),
                "question": snippet((x or y or {}).get("question"), 120),
                "differ": differ,
                "flip": flipped,
                "sides": [_side(x, a, urls), _side(y, b, urls)],
            }
        )
    return rows, counts


def _file(f: Any, urls: Urls) -> dict[str, Any]:
    return {
        "fid": f.fid,
        "label": f.label,
        "totals": totals(f.index.entries),
        "url": urls.list(f.fid, {}),
    }


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
    rows, counts = _join(a, b, show, compare_case_url, urls)
    size = page_size or max(1, len(rows))
    pages = max(1, -(-len(rows) // size))
    page = max(1, min(page, pages))
    kinds = ("both", "only_a", "only_b", "differ", "to_correct", "to_wrong")
    return {
        "a": _file(a, urls),
        "b": _file(b, urls),
        "counts": {k: counts[k] for k in kinds},
        "show": show,
        "rows": rows[(page - 1) * size : page * size],
        "matching": len(rows),
        "page": page,
        "pages": pages,
    }
