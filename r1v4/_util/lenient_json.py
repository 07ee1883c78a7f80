"""Lenient JSON for model output.

Models write tool calls and plans as JSON but slip: code fences around it, single quotes,
trailing commas, Python ``True``/``False``/``None``, a missing final brace. A strict parser
rejects all of those, which turns a usable call into a wasted round. ``loads_lenient`` tries a
strict parse first (fast, exact) and only then asks ``json_repair`` to fix the text, accepting
the repair only when it is clearly the structure the text started to write — prose that merely
contains brackets must still fail, with a message that says why.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["loads_lenient", "loads_strict"]

_INT64_LIMIT = 2.0**63
# ```json ... ``` (closing fence optional: a truncated reply may lack it).
_FENCE_RE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\r?\n?(.*?)(?:```|\Z)", re.DOTALL)


def loads_strict(text: str) -> Any:
    """Parse standard JSON exactly as ``json.loads`` would (orjson first, for speed).

    orjson refuses a few things the standard library accepts (NaN, integers over 64 bits),
    so those fall back to ``json``; the error raised is the standard library's, whose
    message the seed's parser recorded.
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
    if _has_huge_float(value):
        # Some orjson versions turn integers beyond 64 bits into floats instead of refusing;
        # the standard library keeps them exact (a big float literal stays a float there too).
        return json.loads(text)
    return value


def _has_huge_float(value: Any) -> bool:
    """A float at or beyond 2**63 anywhere in a parsed value (walks nodes, not bytes)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if abs(item) >= _INT64_LIMIT:
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _unfence(text: str) -> str:
    """The inside of the first code fence if the text has one, else the text itself."""
    if "```" not in text:
        return text
    m = _FENCE_RE.search(text)
    return m.group(1).strip() if m else text


def _preview(text: str, limit: int = 60) -> str:
    """A short, single-line quote of the text for error messages."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[:limit] + "…")


def loads_lenient(text: str) -> Any:
    """Parse JSON written by a model, tolerating the usual slips.

    Strict JSON of any kind (object, array, string, number…) is returned as is. Otherwise
    the text — after removing a code fence — must start with ``{`` or ``[``, and the repaired
    value must be the same kind of container; anything else raises ``ValueError`` naming
    the problem, because a guess built from prose is worse than an error the model can read.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected JSON text, got {type(text).__name__}")
    stripped = text.strip().lstrip("\ufeff")
    if not stripped:
        raise ValueError("empty text, expected JSON")
    try:
        return loads_strict(stripped)
    except (json.JSONDecodeError, RecursionError) as exc:
        strict_error = str(exc) if isinstance(exc, json.JSONDecodeError) else "nested too deep"

    inner = _unfence(stripped)
    if inner != stripped:
        if not inner:
            raise ValueError("empty code fence, expected JSON inside it")
        try:
            return loads_strict(inner)
        except (json.JSONDecodeError, RecursionError):
            pass
    opener = inner[0]
    if opener not in "{[":
        raise ValueError(
            f"not JSON: text starts with {_preview(inner)} rather than '{{' or '[' "
            f"(strict parse: {strict_error})"
        )
    import json_repair  # only when a slip needs it: most JSON parses strictly

    try:
        repaired = json_repair.loads(inner)
    except Exception as exc:  # json_repair has no narrow error type of its own
        raise ValueError(f"invalid JSON that could not be repaired: {strict_error}") from exc
    expected = dict if opener == "{" else list
    if not isinstance(repaired, expected):
        raise ValueError(
            f"invalid JSON that could not be repaired: {strict_error}; repair produced "
            f"{type(repaired).__name__} {_preview(repr(repaired))} where the text starts "
            f"an {'object' if expected is dict else 'array'}"
        )
    return repaired
