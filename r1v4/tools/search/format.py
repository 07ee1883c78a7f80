"""Turn search entries and pages into the observation text the model reads.

One shape for every backend, so a trajectory reads the same whether it ran offline or against
Google: numbered entries `N. title / link: URL / image: URL / snippet`, the form the R1V4 paper's
figures show and the viewer turns into links. Everything is capped so one call can never flood
the context window.
"""

from __future__ import annotations

import re
from typing import Any

_WS = re.compile(r"\s+")
TRUNCATED = "\n[… truncated]"


def clean(text: Any, limit: int = 0) -> str:
    """One line of plain text: whitespace collapsed, optionally cut at `limit` characters."""
    s = _WS.sub(" ", str(text or "")).strip()
    if limit and len(s) > limit:
        s = s[: max(0, limit - 1)].rstrip() + "…"
    return s


def entry(title: Any, url: Any, snippet: Any = "", image: Any = None, **extra: Any) -> dict:
    """A search entry dict as every backend returns it (`image` only for image results)."""
    out: dict[str, Any] = {
        "title": clean(title, 200) or clean(url, 200),
        "url": str(url or "").strip(),
        "snippet": clean(snippet, 400),
    }
    if image:
        out["image"] = str(image).strip()
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def format_entries(entries: list[dict], start: int = 1) -> str:
    """Numbered entries: title, link, optional image, snippet (indented)."""
    lines: list[str] = []
    for i, e in enumerate(entries, start):
        lines.append(f"{i}. {e.get('title') or e.get('url')}")
        lines.append(f"   link: {e.get('url', '')}")
        if e.get("image"):
            lines.append(f"   image: {e['image']}")
        if e.get("snippet"):
            lines.append(f"   {e['snippet']}")
    return "\n".join(lines)


def format_search(sections: list[tuple[str, list[dict]]], max_chars: int) -> str:
    """One observation for a call with one or more queries (or images).

    `sections` pairs what was searched (a query, or an image name) with its entries.
    """
    blocks: list[str] = []
    for label, entries in sections:
        if entries:
            blocks.append(f"Results for {label}:\n{format_entries(entries)}")
        else:
            blocks.append(f"No results for {label}.")
    return cap("\n\n".join(blocks), max_chars)


def format_page(title: str, url: str, text: str, max_chars: int) -> str:
    """A visited page: title, URL, then its text."""
    head = f"Page: {clean(title, 200) or url}\nURL: {url}\n\n"
    return cap(head + text.strip(), max_chars)


def cap(text: str, max_chars: int) -> str:
    """Cut `text` to `max_chars`, on a line boundary when one is near, and say so."""
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    keep = max(0, max_chars - len(TRUNCATED))
    cut = text.rfind("\n", 0, keep)
    if cut < keep * 0.8:
        cut = keep
    return text[:cut].rstrip() + TRUNCATED
