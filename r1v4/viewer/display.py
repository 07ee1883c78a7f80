"""Every value a page shows is built here; templates only loop over what this returns.

Model text stays plain `str` all the way to the template, where autoescaping handles it.
The two places that produce HTML do so from escaped parts only: Pygments output (it escapes
the code it highlights) and nothing else. Links are built as data (`{"text", "href"}`
segments) and only for http/https URLs, so a `javascript:` URL in model text stays text.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import JsonLexer, PythonLexer

from r1v4.viewer.images import ImageRef, input_refs, precheck, round_refs
from r1v4.viewer.index import normalize_answer

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
#: Longest observation / think text shown before cutting (the raw JSON keeps everything).
MAX_TEXT = 40_000
MAX_RAW = 400_000
_FORMATTER = HtmlFormatter(nowrap=True)


class Urls(Protocol):
    """How pages link to each other: Flask routes when served, relative files when exported."""

    def home(self) -> str: ...
    def list(self, fid: str, params: dict[str, Any]) -> str: ...
    def case(self, fid: str, n: int, params: dict[str, Any]) -> str: ...
    def image(self, fid: str, n: int, k: int) -> str | None: ...
    def raw(self, fid: str, n: int) -> str | None: ...
    def live(self, fid: str) -> str | None: ...
    def static(self, name: str) -> str: ...


# ---- small text helpers ------------------------------------------------------------------
def snippet(text: str | None, limit: int) -> str:
    """One line of at most `limit` characters."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def cut(text: str, limit: int = MAX_TEXT) -> tuple[str, int]:
    """(text cut to `limit`, number of characters left out)."""
    if len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


_URL = re.compile(r"https?://[^\s<>\"'`\)\]\}]+", re.IGNORECASE)
_DATA_URL = re.compile(r"data:image/[A-Za-z0-9.+-]+;base64,[A-Za-z0-9+/=\s]{200,}")
_PLACEHOLDER = re.compile(r"\[[^\[\]\n]{1,120}\]")


def safe_href(url: Any) -> str | None:
    """The URL itself when it is plain http(s), else None (never a link)."""
    if isinstance(url, str) and re.fullmatch(r"https?://[^\s<>\"'`]+", url.strip(), re.I):
        return url.strip()
    return None


def linkify(text: str) -> list[dict[str, Any]]:
    """Text split into segments; http(s) URLs become `{"text", "href"}` for the template."""
    out: list[dict[str, Any]] = []
    pos = 0
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(".,;:!?")
        if m.start() > pos:
            out.append({"text": text[pos : m.start()], "href": None})
        out.append({"text": url, "href": url})
        pos = m.start() + len(url)
    if pos < len(text):
        out.append({"text": text[pos:], "href": None})
    return out


def placeholder_parts(text: str) -> list[dict[str, Any]]:
    """Planner text split so `[placeholders]` can be marked."""
    out: list[dict[str, Any]] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        if m.start() > pos:
            out.append({"text": text[pos : m.start()], "placeholder": False})
        out.append({"text": m.group(0), "placeholder": True})
        pos = m.end()
    if pos < len(text):
        out.append({"text": text[pos:], "placeholder": False})
    return out


def shorten_data_urls(value: Any) -> Any:
    """A copy of a JSON value with long data URLs replaced by a note of their size."""
    if isinstance(value, str):
        if value.startswith("data:") and len(value) > 200:
            return f"{value[:40]}… ({len(value):,} characters)"
        if len(value) > 200 and "data:image/" in value:
            return _DATA_URL.sub(
                lambda m: f"{m.group(0)[:40]}… ({len(m.group(0)):,} characters)", value
            )
        return value
    if isinstance(value, list):
        return [shorten_data_urls(v) for v in value]
    if isinstance(value, dict):
        return {k: shorten_data_urls(v) for k, v in value.items()}
    return value


def highlighted(code: str, lexer: str = "python") -> Markup:
    """Pygments HTML for code; Pygments escapes every character of the source itself."""
    lex = PythonLexer() if lexer == "python" else JsonLexer()
    return Markup(highlight(code, lex, _FORMATTER))  # noqa: S704 - Pygments output is escaped


def fmt_seconds(value: Any) -> str:
    if not isinstance(value, int | float):
        return ""
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


# ---- list page ---------------------------------------------------------------------------
@dataclass
class ListParams:
    """The run list's query: filters, search, sort and page, read from request args."""

    status: str = ""
    tool: str = ""
    rounds: str = ""
    answered: str = ""
    score: str = ""
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
    "rounds": lambda e: e.get("rounds"),
    "tools": lambda e: sum((e.get("tools") or {}).values()),
    "latency": lambda e: e.get("latency_s"),
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


def match_mark(entry: dict) -> dict[str, str] | None:
    """✓/✗ against the ground truth or the stored score, or None when unscored."""
    correct = entry.get("correct")
    if correct is None:
        return None
    how = entry.get("scorer") or "score"
    value = entry.get("score")
    title = f"{how}" + (f" score {value:g}" if isinstance(value, int | float) else "")
    if correct:
        return {"symbol": "✓", "cls": "match", "title": f"matches ground truth ({title})"}
    return {"symbol": "✗", "cls": "mismatch", "title": f"differs from ground truth ({title})"}


def status_badge(entry: dict) -> dict[str, str]:
    status = entry.get("status", "ok")
    if status == "ok" and not entry.get("answer"):
        return {"label": "no answer", "cls": "warn", "title": "finished without an <answer>"}
    labels = {
        "ok": ("ok", "ok", "finished with an answer"),
        "error": ("failed", "bad", entry.get("error") or "failed"),
        "invalid": ("invalid line", "bad", entry.get("error") or "invalid line"),
    }
    label, cls, title = labels.get(status, (status, "warn", status))
    return {"label": label, "cls": cls, "title": snippet(title, 300)}


COLUMNS = [
    ("n", "#", True),
    ("id", "Case", True),
    ("status", "Status", True),
    ("question", "Question", False),
    ("rounds", "Rounds", True),
    ("tools", "Tools", True),
    ("answer", "Answer", False),
    ("truth", "Ground truth", True),
    ("latency", "Latency", True),
]


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
        },
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
        {
            "key": "latency",
            "value": fmt_seconds(entry.get("latency_s")),
            "raw": entry.get("latency_s"),
            "value_type": "number",
        },
    ]
    return {"n": entry["n"], "url": case_url, "cls": entry.get("status", "ok"), "cells": cells}


def totals(entries: list[dict]) -> dict[str, Any]:
    """Header figures: the seed's total/succeeded/failed plus rounds, tools, answers, score."""
    ok = sum(1 for e in entries if e.get("status") == "ok")
    invalid = sum(1 for e in entries if e.get("status") == "invalid")
    rounds = [e.get("rounds") or 0 for e in entries if e.get("status") != "invalid"]
    mix: Counter[str] = Counter()
    for e in entries:
        mix.update(e.get("tools") or {})
    scored = [e for e in entries if e.get("correct") is not None]
    correct = sum(1 for e in scored if e["correct"])
    lat = [e["latency_s"] for e in entries if isinstance(e.get("latency_s"), int | float)]
    return {
        "total": len(entries),
        "succeeded": ok,
        "failed": len(entries) - ok - invalid,
        "invalid": invalid,
        "answered": sum(1 for e in entries if e.get("answer")),
        "rounds_total": sum(rounds),
        "rounds_mean": f"{statistics.fmean(rounds):.2f}" if rounds else "–",
        "tool_mix": [{"name": k, "count": v} for k, v in mix.most_common()],
        "scored": len(scored),
        "correct": correct,
        "accuracy": f"{100 * correct / len(scored):.1f}%" if scored else None,
        "latency_p50": fmt_seconds(statistics.median(lat)) if lat else "–",
    }


def filter_options(entries: list[dict]) -> dict[str, list[dict[str, str]]]:
    """Choices for the filter selects, taken from the data."""
    tools = sorted({t for e in entries for t in (e.get("tools") or {})})
    rounds = sorted({e.get("rounds") or 0 for e in entries})
    round_opts = [str(r) for r in rounds[:8]]
    if len(rounds) > 8:
        round_opts.append(f"{rounds[8]}+")
    statuses = sorted({e.get("status", "ok") for e in entries})
    return {
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
    }


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
    filtered = bool(fq.keys() - {"sort", "order"})
    return {
        "file": {"fid": opened.fid, "label": opened.label, "path": str(opened.path)},
        "params": params,
        "totals": all_totals,
        "shown": totals(chosen) if filtered else None,
        "matching": len(chosen),
        "filtered": filtered,
        "headers": headers,
        "rows": rows,
        "options": filter_options(entries),
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


# ---- case page ---------------------------------------------------------------------------
_ENTRY_HEAD = re.compile(r"^\s*(\d+)\.\s+(.*)$")


def search_results(text: str) -> list[dict[str, Any]]:
    """Numbered search entries (`N. title` / `link: URL` / `image: URL` / snippet) as cards."""
    results: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    for line in text.splitlines():
        head = _ENTRY_HEAD.match(line)
        if head and not line.startswith("   "):
            cur = {
                "num": head.group(1),
                "title": head.group(2),
                "href": None,
                "image": None,
                "url": "",
                "snippet": "",
            }
            results.append(cur)
            continue
        if cur is None:
            continue
        body = line.strip()
        if body.startswith("link:"):
            cur["url"] = body[5:].strip()
            cur["href"] = safe_href(cur["url"])
        elif body.startswith("image:"):
            cur["image"] = body[6:].strip()
            cur["image_href"] = safe_href(cur["image"])
        elif body:
            cur["snippet"] = (cur["snippet"] + " " + body).strip()
    return [r for r in results if r["url"]]


def _search_sections(text: str) -> list[dict[str, Any]]:
    """`Results for X:` blocks of a search observation, each with its result cards."""
    sections: list[dict[str, Any]] = []
    for block in re.split(r"\n\s*\n(?=Results for |No results for )", text):
        first, _, rest = block.partition("\n")
        if first.startswith("Results for "):
            sections.append({"label": first[12:].rstrip(":"), "results": search_results(rest)})
        elif first.startswith("No results for "):
            sections.append({"label": first[15:].rstrip("."), "results": []})
    return sections


def _list_arg(args: dict, *keys: str) -> list[str]:
    for key in keys:
        value = args.get(key)
        if isinstance(value, str) and value.strip():
            return [value]
        if isinstance(value, list):
            return [str(v) for v in value]
    return []


def tool_display(rnd: dict) -> dict[str, Any]:
    """The tool call of a round as display data (code highlighted, queries, URLs)."""
    call = rnd.get("tool_call")
    if call is None:
        return {"kind": "none", "name": None}
    if not isinstance(call, dict):
        text, more = cut(str(call))
        return {
            "kind": "unparsed",
            "name": "unparsed tool call",
            "text": text,
            "more": more,
            "error": rnd.get("tool_call_parse_error") or "could not be parsed",
        }
    name = str(call.get("name") or "?")
    args = call.get("arguments") if isinstance(call.get("arguments"), dict) else {}
    out: dict[str, Any] = {"kind": "json", "name": name, "items": [], "code": None, "extra": None}
    known: set[str] = set()
    if isinstance(args.get("code"), str):
        out["kind"] = "code"
        out["code"] = highlighted(args["code"])
        known.add("code")
    elif name in ("text_search", "search") or "queries" in args or "query" in args:
        out["kind"] = "queries"
        out["items"] = [{"text": q, "href": None} for q in _list_arg(args, "queries", "query")]
        known |= {"queries", "query"}
    elif name == "web_visit" or "urls" in args or "url" in args:
        out["kind"] = "urls"
        out["items"] = [{"text": u, "href": safe_href(u)} for u in _list_arg(args, "urls", "url")]
        known |= {"urls", "url"}
    elif name == "image_search" or "image_paths" in args or "image_path" in args:
        out["kind"] = "paths"
        out["items"] = [
            {"text": p, "href": None} for p in _list_arg(args, "image_paths", "image_path")
        ]
        known |= {"image_paths", "image_path"}
    rest = {k: v for k, v in args.items() if k not in known}
    if rest or out["kind"] == "json":
        out["extra"] = highlighted(_pretty(rest if out["kind"] != "json" else args), "json")
    return out


def observation_display(rnd: dict, image_urls: list[dict[str, Any]]) -> dict[str, Any]:
    """The observation of a round: printed output, search results as links, images."""
    obs = rnd.get("observation")
    out: dict[str, Any] = {
        "present": obs is not None,
        "type": None,
        "error": None,
        "text": [],
        "more": 0,
        "sections": [],
        "images": image_urls,
        "parse_error": rnd.get("observation_parse_error"),
    }
    if obs is None:
        return out
    if isinstance(obs, dict):
        out["type"] = obs.get("type")
        if obs.get("error"):
            out["error"] = str(obs["error"])
        result = obs.get("result")
        if result is None:
            text = ""
        elif isinstance(result, str):
            text = result
        else:
            text = _pretty(result)
    else:
        text = str(obs)
    text, out["more"] = cut(text)
    if out["type"] in ("text_search", "image_search") or text.lstrip().startswith(
        ("Results for ", "No results for ")
    ):
        out["sections"] = _search_sections(text)
    if not out["sections"]:
        out["text"] = linkify(text)
    return out


def _think(text: Any) -> dict[str, Any]:
    body, more = cut(str(text or "").strip())
    first = snippet(body, 140)
    return {"text": body, "more": more, "summary": first, "open": len(body) <= 700}


def meta_rows(record: dict) -> list[dict[str, str]]:
    """The record's meta as label/value rows (model, endpoint, timings, tokens, attempts)."""
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    usage = meta.get("usage") if isinstance(meta.get("usage"), dict) else {}
    rows = [
        ("Mode", meta.get("mode")),
        ("Model", meta.get("model")),
        ("Endpoint", meta.get("endpoint")),
        ("Latency", fmt_seconds(meta.get("latency_s"))),
        ("Time to first token", fmt_seconds(meta.get("ttft_s"))),
        (
            "Time per output token",
            f"{meta['tpot_s'] * 1000:.1f} ms"
            if isinstance(meta.get("tpot_s"), int | float)
            else None,
        ),
        ("Rounds", meta.get("rounds")),
        (
            "Tool calls",
            ", ".join(f"{k} × {v}" for k, v in meta["tool_calls"].items())
            if isinstance(meta.get("tool_calls"), dict)
            else None,
        ),
        ("Prompt tokens", usage.get("prompt_tokens")),
        ("Completion tokens", usage.get("completion_tokens")),
        ("Attempts", meta.get("attempts")),
        ("Stop reason", meta.get("stop_reason")),
        ("Finished at", meta.get("finished_at")),
        ("Category", record.get("category")),
    ]
    return [{"label": k, "value": str(v)} for k, v in rows if v not in (None, "", {})]


def plan_display(record: dict) -> dict[str, Any] | None:
    """Planner steps as a numbered list with tool badges and marked placeholders."""
    plan = record.get("plan")
    errors = record.get("plan_errors") if isinstance(record.get("plan_errors"), list) else []
    if not plan and not errors:
        return None
    steps = []
    for i, step in enumerate(plan if isinstance(plan, list) else [], 1):
        if not isinstance(step, dict):
            steps.append(
                {"num": i, "parts": placeholder_parts(str(step)), "tool": None, "params": []}
            )
            continue
        params = step.get("parameters") if isinstance(step.get("parameters"), dict) else {}
        steps.append(
            {
                "num": i,
                "parts": placeholder_parts(str(step.get("description") or "")),
                "tool": step.get("tool_name") or step.get("tool"),
                "params": [
                    {
                        "key": k,
                        "parts": placeholder_parts(
                            v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                        ),
                    }
                    for k, v in params.items()
                ],
            }
        )
    return {"steps": steps, "errors": [str(e) for e in errors]}


def case_context(
    opened: Any,
    case: Any,
    urls: Urls,
    nav: dict[str, Any] | None = None,
    *,
    cwd: Any = None,
    check_images: bool = True,
) -> dict[str, Any]:
    """Everything one case page shows, in page order.

    With `check_images`, each image's first bytes are read so a reference that is missing
    or not an image is shown as such rather than as a broken picture.
    """
    cwd = cwd if cwd is not None else opened.folder
    record = case.record if isinstance(case.record, dict) else {}
    entry = case.entry
    parsed = case.parsed
    by_ref: dict[tuple, list[int]] = {}
    for k, img in enumerate(case.images):
        by_ref.setdefault((img.kind, img.round_num, img.ref), []).append(k)

    def image_items(kind: str, round_num: int | None, refs: list[str]) -> list[dict]:
        items = []
        for ref in refs:
            ks = by_ref.get((kind, round_num, ref)) or []
            if not ks:
                continue
            k = ks[0]
            problem = precheck(ref, opened.folder, cwd) if check_images else None
            items.append(
                {
                    "url": None if problem else urls.image(opened.fid, case.n, k),
                    "problem": problem,
                    "label": ImageRef(kind, round_num, ref).label,
                    "ref": ref if not ref.startswith("data:") else "embedded image",
                }
            )
        return items

    rounds = []
    for rnd in parsed.get("rounds", []):
        num = rnd.get("round_num")
        rounds.append(
            {
                "num": num,
                "think": _think(rnd.get("think")),
                "incomplete": bool(rnd.get("incomplete")),
                "tool": tool_display(rnd),
                "observation": observation_display(rnd, image_items("round", num, round_refs(rnd))),
            }
        )
    final = parsed.get("final_round") or {}
    response = record.get("response") if isinstance(record.get("response"), dict) else {}
    answer = str(final.get("answer") or "")
    error = entry.get("error") if entry.get("status") != "ok" else None
    raw_text, raw_more = cut(_pretty(shorten_data_urls(case.record)), MAX_RAW)
    options = record.get("options")
    return {
        "file": {"fid": opened.fid, "label": opened.label},
        "n": case.n,
        "id": str(entry.get("id")),
        "line": entry.get("line"),
        "status": status_badge(entry),
        "error": error,
        "partial": bool(error) and bool(response.get("full_response")),
        "question": str(record.get("question") or ""),
        "options": [str(o) for o in options]
        if isinstance(options, list)
        else ([f"{k}. {v}" for k, v in options.items()] if isinstance(options, dict) else []),
        "inputs": image_items("input", None, input_refs(record)),
        "rounds": rounds,
        "final": {
            "think": _think(final.get("think")) if final.get("think") else None,
            "answer": answer,
            "images": image_items("final", None, [i.ref for i in case.images if i.kind == "final"]),
        },
        "truth": entry.get("truth"),
        "mark": match_mark(entry),
        "extracted": (record.get("score") or {}).get("extracted")
        if isinstance(record.get("score"), dict)
        else None,
        "plan": plan_display(record),
        "meta": meta_rows(record),
        "raw": {"text": raw_text, "more": raw_more, "url": urls.raw(opened.fid, case.n)},
        "nav": nav or {},
        "parse_error": entry.get("parse_error"),
    }


def case_nav(opened: Any, n: int, params: ListParams, urls: Urls) -> dict[str, Any]:
    """Previous/next case within the list the user came from (same filters and order)."""
    chosen = filter_entries(opened.index.entries, params)
    order = [e["n"] for e in chosen]
    fq = params.filter_query()
    try:
        pos = order.index(n)
    except ValueError:  # not in the filtered list: fall back to file order
        order = [e["n"] for e in opened.index.entries]
        pos = order.index(n) if n in order else 0
        fq = {}
    prev_n = order[pos - 1] if pos > 0 else None
    next_n = order[pos + 1] if pos + 1 < len(order) else None
    page = pos // params.size + 1
    return {
        "pos": pos + 1,
        "count": len(order),
        "prev": urls.case(opened.fid, prev_n, fq) if prev_n is not None else None,
        "next": urls.case(opened.fid, next_n, fq) if next_n is not None else None,
        "list": urls.list(opened.fid, {**fq, **({"page": page} if page > 1 else {})}),
    }


# ---- compare -----------------------------------------------------------------------------
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
        counts[where] += 1
        if x and y and differ:
            counts["differ"] += 1
        if show == "differ" and not (x and y and differ):
            continue
        if show in ("only_a", "only_b") and where != show:
            continue
        rows.append(
            {
                "id": cid,
                "url": compare_case_url(cid),
                "question": snippet((x or y or {}).get("question"), 120),
                "differ": differ,
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
        },
        "show": show,
        "rows": rows[(page - 1) * size : page * size],
        "matching": len(rows),
        "page": page,
        "pages": pages,
    }
