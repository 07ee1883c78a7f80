"""Where the plan is in a planner reply: the reasoning split off, then the first JSON value
(in a code fence if there is one), with brackets balanced outside strings.

Apart from ``r1v4.parsing.plan`` because finding the text is a different job from deciding
whether the plan in it is valid.
"""

from __future__ import annotations

import re

__all__ = ["locate_json", "split_think"]

_THINK_RE = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
_FENCE_RE = re.compile(r"```[^\n`]*\n?(.*?)(?:```|\Z)", re.DOTALL)
# A '[' that starts a JSON array (of objects, strings, or nothing), not prose in brackets.
_ARRAY_START_RE = re.compile(r"\[\s*(?=[{\]\"']|\Z)")
_OBJECT_START_RE = re.compile(r"\{\s*(?=[\"'}]|\Z)")


def split_think(text: str) -> tuple[str | None, str, bool]:
    """Separate the reasoning from the rest: (think, rest, think_closed).

    Handles a closed ``<think>…</think>``, a bare ``…</think>`` (chat templates that open
    the think block in the prompt), and an unclosed ``<think>`` (a truncated reply).
    """
    blocks = _THINK_RE.findall(text)
    if blocks:
        rest = _THINK_RE.sub(" ", text)
        # A stray "</think>" left over (e.g. bare close before a closed pair) ends reasoning.
        if "</think>" in rest.lower():
            rest = re.split(r"</think>", rest, flags=re.IGNORECASE)[-1]
        return blocks[0].strip(), rest, True
    lower = text.lower()
    close = lower.find("</think>")
    if close >= 0:
        return text[:close].strip(), text[close + len("</think>") :], True
    open_ = lower.find("<think>")
    if open_ >= 0:
        return text[open_ + len("<think>") :].strip(), text[:open_], False
    return None, text, True


def _scan_balanced(text: str, start: int, quotes: str = "\"'") -> int | None:
    """Index just past the bracket closing the one at ``start``, or None if never closed.

    Strings in ``quotes`` are skipped so brackets inside descriptions and placeholders do
    not count.
    """
    depth = 0
    quote: str | None = None
    i, n = start, len(text)
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in quotes:
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def _first_value_start(text: str) -> int | None:
    """Where the first JSON array or object begins (brackets around prose do not count)."""
    starts = [m.start() for p in (_ARRAY_START_RE, _OBJECT_START_RE) if (m := p.search(text))]
    return min(starts) if starts else None


def locate_json(text: str) -> tuple[str | None, bool]:
    """Find the plan's JSON text in ``text``: (json_text, closed).

    The first JSON value wins, so a step object given on its own is reported as an object
    rather than mistaken for an array inside it. Fenced blocks are looked at first, then
    the whole text; json_text is None when nothing JSON-like is there.
    """
    regions = [m.group(1) for m in _FENCE_RE.finditer(text)] if "```" in text else []
    regions.append(text)
    for region in regions:
        start = _first_value_start(region)
        if start is None:
            continue
        end = _scan_balanced(region, start)
        if end is None:  # an apostrophe in a single-quoted string? try double quotes only
            end = _scan_balanced(region, start, quotes='"')
        if end is None:
            return region[start:].strip().removesuffix("```").rstrip(), False
        return region[start:end], True
    return None, True
