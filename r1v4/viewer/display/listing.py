"""The run list page: query parameters, filtering, sorting, rows, JSON twin.

Kept together because the list's query (`ListParams`) and its filters decide both what the
list shows and which neighbours a case page's prev/next links go to. The badges are
`badges`, the header figures and filter choices `list_header`, the run header and charts
`runinfo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1v4.viewer.display.badges import (
    STOP_TITLES,
    flag_badges,
    flags_match,
    match_mark,
    status_badge,
    tool_error_badge,
)
from r1v4.viewer.display.list_header import filter_options, totals
from r1v4.viewer.display.runinfo import run_charts, run_header
from r1v4.viewer.display.text import fmt_seconds, snippet
from r1v4.viewer.display.urls import Urls

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50


@dataclass
class ListParams:
    """The run list's query: filters, search, sort and page, read from request args."""

    status: str = ""
    tool: str = ""
    rounds: str = ""
    answered: str = ""
    score: str = ""
    tool_errors: str = ""  # "some" | "all" (every tool call failed) | "none"
    category: str = ""  # a benchmark case's category
    flag: str = ""  # a flag name | "any" | "none" (checked, no flag) | "unchecked"
    stop: str = ""  # meta.stop_reason
    q: str = ""
    sort: str = "n"
    order: str = "asc"
    page: int = 1
    size: int = DEFAULT_PAGE_SIZE

    @classmethod
    def from_args(cls, args: Any) -> ListParams:
        def _int(name: str, default: int) -> int:
            try:
                return int(args.get(name, default))
            except (TypeError, ValueError):
                return default

        size = _int("size", DEFAULT_PAGE_SIZE)
        return cls(
            status=args.get("status", "") or "",
            tool=args.get("tool", "") or "",
            rounds=args.get("rounds", "") or "",
            answered=args.get("answered", "") or "",
            score=args.get("score", "") or "",
            category=args.get("category", "") or "",
            flag=args.get("flag", "") or "",
            stop=args.get("stop", "") or "",
            tool_errors=args.get("tool_errors", "") or "",
            q=(args.get("q", "") or "").strip(),
            sort=args.get("sort", "n") if args.get("sort") in SORT_KEYS else "n",
            order="desc" if args.get("order") == "desc" else "asc",
            page=max(1, _int("page", 1)),
            size=size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE,
        )

    def query(self, **changes: Any) -> dict[str, Any]:
        """The non-default parameters as a dict for URLs, with `changes` applied."""
        values = {**self.__dict__, **changes}
        defaults = ListParams().__dict__
        return {k: v for k, v in values.items() if v != defaults[k] and v not in ("", None)}

    def filter_query(self) -> dict[str, Any]:
        """Only the filter and sort part (a case page's prev/next follow the same list)."""
        return {k: v for k, v in self.query().items() if k not in ("page", "size")}


def _none_last(value: Any, desc: bool) -> tuple:
    if value is None:
        return (1, 0) if not desc else (0, 0)
    return (0, value) if not desc else (1, value)


SORT_KEYS: dict[str, Any] = {
    "n": lambda e: e["n"],
    "id": lambda e: e.get("id", ""),
    "status": lambda e: e.get("status", ""),
    "category": lambda e: e.get("category") or "",
    "rounds": lambda e: e.get("rounds"),
    "tools": lambda e: sum((e.get("tools") or {}).values()),
    "latency": lambda e: e.get("latency_s"),
    "flags": lambda e: None if e.get("flags") is None else len(e["flags"]),
    "stop": lambda e: e.get("stop_reason") or "",
    "score": lambda e: e.get("score") if e.get("score") is not None else _correct_num(e),
}


def _correct_num(e: dict) -> float | None:
    c = e.get("correct")
    return None if c is None else float(c)


def _rounds_ok(e: dict, want: str) -> bool:
    r = e.get("rounds") or 0
    if want.endswith("+"):
        try:
            return r >= int(want[:-1])
        except ValueError:
            return True
    try:
        return r == int(want)
    except ValueError:
        return True


def _tool_errors_ok(e: dict, want: str) -> bool:
    errors = e.get("tool_errors") or 0
    if want == "some":
        return errors > 0
    if want == "all":
        return bool(e.get("all_tools_failed"))
    if want == "none":
        return errors == 0
    return True


def filter_entries(entries: list[dict], p: ListParams) -> list[dict]:
    """The entries matching the filters and search, in the requested order."""
    q = p.q.casefold()
    out = []
    for e in entries:
        if p.status and e.get("status") != p.status:
            continue
        if p.tool and p.tool not in (e.get("tools") or {}):
            continue
        if p.rounds and not _rounds_ok(e, p.rounds):
            continue
        if p.answered == "yes" and not e.get("answer"):
            continue
        if p.answered == "no" and e.get("answer"):
            continue
        if p.score == "correct" and e.get("correct") is not True:
            continue
        if p.score == "wrong" and e.get("correct") is not False:
            continue
        if p.score == "unscored" and e.get("correct") is not None:
            continue
        if p.tool_errors and not _tool_errors_ok(e, p.tool_errors):
            continue
        if p.category and (e.get("category") or "") != p.category:
            continue
        if p.flag and not flags_match(e, p.flag):
            continue
        if p.stop and (e.get("stop_reason") or "") != p.stop:
            continue
        if q and not (
            q in (e.get("question") or "").casefold()
            or q in (e.get("answer") or "").casefold()
            or q in str(e.get("id", "")).casefold()
        ):
            continue
        out.append(e)
    if p.sort != "n" or p.order == "desc":
        key = SORT_KEYS[p.sort]
        desc = p.order == "desc"
        out.sort(key=lambda e: _none_last(key(e), desc), reverse=desc)
    return out


COLUMNS = [
    ("n", "#", True),
    ("id", "Case", True),
    ("status", "Status", True),
    ("question", "Question", False),
    ("category", "Category", True),
    ("rounds", "Rounds", True),
    ("tools", "Tools", True),
    ("flags", "Flags", True),
    ("answer", "Answer", False),
    ("truth", "Ground truth", True),
    ("stop", "Stop", True),
    ("latency", "Latency", True),
]


def _category_cell(entry: dict) -> dict[str, Any]:
    """A benchmark case's category; its benchmark and split on hover."""
    where = (entry.get("benchmark"), entry.get("split"), entry.get("category"))
    return {
        "key": "category",
        "value": snippet(entry.get("category") or "", 40),
        "raw": entry.get("category"),
        "value_type": "text" if entry.get("category") else "muted",
        "title": " · ".join(str(x) for x in where if x),
    }


def _flags_cell(entry: dict) -> dict[str, Any]:
    """The case's quality flags as badges, each reason on hover ("not checked": none stored)."""
    return {
        "key": "flags",
        "value_type": "flags",
        "raw": entry.get("flags"),
        "items": flag_badges(entry),
        "value": "" if entry.get("flags") is not None else "not checked",
    }


def _stop_cell(entry: dict) -> dict[str, Any]:
    """How the case stopped (meta.stop_reason), what that means on hover."""
    return {
        "key": "stop",
        "value": entry.get("stop_reason") or "",
        "raw": entry.get("stop_reason"),
        "value_type": "text",
        "title": STOP_TITLES.get(entry.get("stop_reason") or "", ""),
    }


def list_row(entry: dict, case_url: str) -> dict[str, Any]:
    """One table row: a cell per column with display `value`, `raw` and `value_type`."""
    tools = entry.get("tools") or {}
    cells = [
        {"key": "n", "value": str(entry["n"] + 1), "raw": entry["n"], "value_type": "number"},
        {
            "key": "id",
            "value": snippet(str(entry.get("id")), 40),
            "raw": entry.get("id"),
            "value_type": "link",
            "href": case_url,
            "title": str(entry.get("id")),
        },
        {"key": "status", "value_type": "badge", "raw": entry.get("status"), **status_badge(entry)},
        {
            "key": "question",
            "value": snippet(entry.get("question"), 160),
            "raw": entry.get("question"),
            "value_type": "text",
            "title": snippet(entry.get("question"), 600),
        },
        _category_cell(entry),
        {
            "key": "rounds",
            "value": str(entry.get("rounds", 0)),
            "raw": entry.get("rounds"),
            "value_type": "number",
        },
        {
            "key": "tools",
            "value_type": "tools",
            "raw": tools,
            "items": [{"name": k, "count": v} for k, v in sorted(tools.items())],
            "badge": tool_error_badge(entry),
        },
        _flags_cell(entry),
        {
            "key": "answer",
            "value": snippet(entry.get("answer") or entry.get("error") or "", 120),
            "raw": entry.get("answer"),
            "value_type": "text" if entry.get("answer") else "muted",
            "title": snippet(entry.get("answer") or entry.get("error") or "", 600),
        },
        {
            "key": "truth",
            "value": snippet(entry.get("truth") or "", 80),
            "raw": entry.get("truth"),
            "value_type": "truth",
            "mark": match_mark(entry),
        },
        _stop_cell(entry),
        {
            "key": "latency",
            "value": fmt_seconds(entry.get("latency_s")),
            "raw": entry.get("latency_s"),
            "value_type": "number",
        },
    ]
    return {"n": entry["n"], "url": case_url, "cls": entry.get("status", "ok"), "cells": cells}


def list_context(opened: Any, params: ListParams, urls: Urls) -> dict[str, Any]:
    """Everything the run list template needs (also the JSON twin's source)."""
    entries = opened.index.entries
    chosen = filter_entries(entries, params)
    pages = max(1, -(-len(chosen) // params.size))
    page = min(params.page, pages)
    start = (page - 1) * params.size
    fq = params.filter_query()
    shown = chosen[start : start + params.size]
    rows = [list_row(e, urls.case(opened.fid, e["n"], fq)) for e in shown]
    headers = []
    for key, label, sortable in COLUMNS:
        h: dict[str, Any] = {"key": key, "label": label, "href": None, "arrow": ""}
        if sortable:
            desc = params.sort == key and params.order == "asc"
            h["href"] = urls.list(
                opened.fid, params.query(sort=key, order="desc" if desc else "asc", page=1)
            )
            if params.sort == key:
                h["arrow"] = "▼" if params.order == "desc" else "▲"
        headers.append(h)
    all_totals = totals(entries)
    for t in all_totals["tool_mix"]:
        t["href"] = urls.list(opened.fid, params.query(tool=t["name"], page=1))
    for f in all_totals["flag_mix"]:
        f["href"] = urls.list(opened.fid, params.query(flag=f["name"], page=1))
    filtered = bool(fq.keys() - {"sort", "order"})
    header = run_header(Path(opened.path), entries)
    return {
        "file": {"fid": opened.fid, "label": opened.label, "path": str(opened.path)},
        "indexing": opened.index.building,
        "index_error": opened.index.build_error,
        "params": params,
        "totals": all_totals,
        "shown": totals(chosen) if filtered else None,
        "matching": len(chosen),
        "filtered": filtered,
        "headers": headers,
        "rows": rows,
        "options": filter_options(entries),
        "header": header,
        "charts": run_charts(chosen),
        "sizes": PAGE_SIZES,
        "pager": {
            "page": page,
            "pages": pages,
            "first": start + 1 if chosen else 0,
            "last": min(start + params.size, len(chosen)),
            "prev": urls.list(opened.fid, params.query(page=page - 1)) if page > 1 else None,
            "next": urls.list(opened.fid, params.query(page=page + 1)) if page < pages else None,
        },
        "clear_url": urls.list(opened.fid, {}),
        "live_url": urls.live(opened.fid),
        "live_append": not filtered
        and params.sort == "n"
        and params.order == "asc"
        and page == pages,
    }


def list_json(ctx: dict[str, Any], entries: list[dict]) -> dict[str, Any]:
    """The run list's JSON twin: same filters and page, raw summaries instead of cells."""
    return {
        "file": ctx["file"],
        "totals": ctx["totals"],
        "matching": ctx["matching"],
        "page": ctx["pager"]["page"],
        "pages": ctx["pager"]["pages"],
        "cases": [entries[r["n"]] for r in ctx["rows"]],
    }
