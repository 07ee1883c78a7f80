"""Small text helpers shared by every page: cutting, links, placeholders, highlighting.

These are the only places model text is turned into display data, kept together so the
"never rendered as HTML" rule can be checked in one module: links are `{"text", "href"}`
segments for http/https only, and `Markup` wraps nothing but Pygments output.
"""

from __future__ import annotations

import json
import re
from typing import Any

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import JsonLexer, PythonLexer

#: Longest observation / think text shown before cutting (the raw JSON keeps everything).
MAX_TEXT = 40_000
_FORMATTER = HtmlFormatter(nowrap=True)


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


def pretty_json(value: Any) -> str:
    """Indented JSON of any value, non-ASCII kept (for raw views)."""
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)
