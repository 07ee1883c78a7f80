"""One round of a trajectory as the case page shows it: its reasoning, its tool call (code
highlighted, queries, URLs, image paths) and its observation (printed output, search
results as cards of links, images).

Separate from `case` because this is where model text is taken apart: everything here reads
one round's parsed fields and returns plain values, never HTML except Pygments' escaped
output, so the case page builder only puts the parts together.
"""

from __future__ import annotations

import re
from typing import Any

from r1v4.parsing.fences import strip_fences
from r1v4.viewer.display.text import (
    cut,
    highlighted,
    linkify,
    pretty_json,
    safe_href,
    snippet,
)

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


def think_display(text: Any) -> dict[str, Any]:
    """A round's reasoning: cut to the page's limit, with a one-line summary; short ones
    start open."""
    body, more = cut(str(text or "").strip())
    first = snippet(body, 140)
    return {"text": body, "more": more, "summary": first, "open": len(body) <= 700}
