"""One case page: rounds (think, tool call, observation), images, plan, meta, raw JSON, nav.

The largest builder, separate so the list page does not carry the observation and tool-call
parsing; it only needs the list's filters to work out prev/next.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from r1v4.parsing import read_final_answer, record_tool_use
from r1v4.parsing.fences import strip_fences
from r1v4.protocol.records import is_failed
from r1v4.viewer.display.badges import match_mark, status_badge, tool_error_badge
from r1v4.viewer.display.listing import ListParams, filter_entries
from r1v4.viewer.display.regions import image_info, input_overlays
from r1v4.viewer.display.text import (
    cut,
    fmt_seconds,
    highlighted,
    linkify,
    placeholder_parts,
    pretty_json,
    safe_href,
    shorten_data_urls,
    snippet,
)
from r1v4.viewer.display.urls import Urls
from r1v4.viewer.images import (
    ImageRef,
    ImageSources,
    input_refs,
    precheck,
    round_refs,
    sources_for_record,
)

#: Longest raw record JSON shown on the case page (the raw.json route serves all of it).
MAX_RAW = 400_000
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
        out["code"] = highlighted(strip_fences(args["code"]))  # the Python that ran
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
        out["extra"] = highlighted(pretty_json(rest if out["kind"] != "json" else args), "json")
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
            text = pretty_json(result)
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
    sources: ImageSources | None = None,
) -> dict[str, Any]:
    """Everything one case page shows, in page order.

    With `check_images`, each image's first bytes are read so a reference that is missing,
    refused or not an image is shown as such rather than as a broken picture. `sources`
    says where the case's images may come from (default: those of a finished record, see
    `images.sources_for_record`), so the page shows as refused exactly what the image route
    would refuse.
    """
    cwd = cwd if cwd is not None else opened.folder
    record = case.record if isinstance(case.record, dict) else {}
    if sources is None:
        sources = sources_for_record(record, Path(opened.path), Path(cwd))
    entry = case.entry
    parsed = case.parsed
    by_ref: dict[tuple, list[int]] = {}
    for k, img in enumerate(case.images):
        by_ref.setdefault((img.kind, img.round_num, img.ref), []).append(k)

    def image_items(
        kind: str, round_num: int | None, refs: list[str], info: dict | None = None
    ) -> list[dict]:
        items = []
        for ref in refs:
            ks = by_ref.get((kind, round_num, ref)) or []
            if not ks:
                continue
            k = ks[0]
            problem = precheck(ref, kind, sources) if check_images else None
            about = (info or {}).get(ref, {})
            label = about.get("name") or ImageRef(kind, round_num, ref).label
            where = f"round {round_num} · " if round_num is not None else ""
            items.append(
                {
                    "url": None if problem else urls.image(opened.fid, case.n, k),
                    "problem": problem,
                    "label": label,
                    "caption": where + label,
                    "ref": ref if not ref.startswith("data:") else "embedded image",
                    "region_note": about.get("region_note", ""),
                    "dom_id": about.get("dom_id", ""),
                }
            )
        return items

    n_inputs = len(input_refs(record))
    rounds = []
    for rnd in parsed.get("rounds", []):
        num = rnd.get("round_num")
        info = image_info(rnd, n_inputs)
        rounds.append(
            {
                "num": num,
                "think": _think(rnd.get("think")),
                "incomplete": bool(rnd.get("incomplete")),
                "tool": tool_display(rnd),
                "observation": observation_display(
                    rnd, image_items("round", num, round_refs(rnd), info)
                ),
            }
        )
    inputs = image_items("input", None, input_refs(record))
    overlays = input_overlays(parsed, n_inputs)
    for i, item in enumerate(inputs):
        item["overlay"] = overlays.get(i)
    final = parsed.get("final_round") or {}
    response = record.get("response") if isinstance(record.get("response"), dict) else {}
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    full = response.get("full_response")
    stop = "error" if is_failed(record) else meta.get("stop_reason")
    found = read_final_answer(
        full if isinstance(full, str) else None, stop if isinstance(stop, str) else None
    )
    used = record_tool_use(record, parsed if parsed.get("rounds") is not None else None)
    error = entry.get("error") if entry.get("status") != "ok" else None
    raw_text, raw_more = cut(pretty_json(shorten_data_urls(case.record)), MAX_RAW)
    options = record.get("options")
    return {
        "file": {"fid": opened.fid, "label": opened.label},
        "n": case.n,
        "id": str(entry.get("id")),
        "line": entry.get("line"),
        "status": status_badge(entry),
        "tool_badge": tool_error_badge(
            {
                "tool_errors": used.n_errors,
                "all_tools_failed": used.all_failed,
                "answer": found.text,
            }
        ),
        "tools_failed": {
            "all": used.all_failed,
            "errors": used.n_errors,
            "calls": used.n_calls,
            "by_tool": ", ".join(f"{k} × {v}" for k, v in sorted(used.errors.items())),
        },
        "error": error,
        "partial": bool(error) and bool(response.get("full_response")),
        "question": str(record.get("question") or ""),
        "options": [str(o) for o in options]
        if isinstance(options, list)
        else ([f"{k}. {v}" for k, v in options.items()] if isinstance(options, dict) else []),
        "inputs": inputs,
        "flags": [
            {"label": f["flag"], "title": str(f.get("reason") or "")[:600]}
            for f in record["flags"]
            if isinstance(f, dict) and isinstance(f.get("flag"), str)
        ]
        if isinstance(record.get("flags"), list)
        else None,
        "rounds": rounds,
        "final": {
            "think": _think(final.get("think")) if final.get("think") else None,
            "answer": found.text,
            "free_text": found.source == "free_text",
            "why_none": found.reason,
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
        "too_large": {
            "size": f"{(entry.get('length') or 0) / 2**20:.1f} MiB",
            "url": urls.raw(opened.fid, case.n),
        }
        if entry.get("status") == "too_large"
        else None,
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
