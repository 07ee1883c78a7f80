"""Tool-call bodies → ``{"name", "arguments"}``, forgiving the slips models make.

Its own module because both sides of the project need it without the scanner: the agent
decodes a ``<tool_call>`` body to run it, and the round statistics and file summaries only
need the tool's name. ``_kind`` lives here as the one place that words a JSON type for an
error message.
"""

from __future__ import annotations

import json
from typing import Any

from r1v4.lenient_json import loads_lenient

# Keys models use for the tool name and its arguments (OpenAI, planner prompt, slips).
_NAME_KEYS = ("name", "tool_name", "tool")
_ARG_KEYS = ("arguments", "parameters", "args")


def parse_tool_call(body: str) -> tuple[dict | None, str | None]:
    """The text inside ``<tool_call>…</tool_call>`` → ``({"name", "arguments"}, None)``.

    On failure returns ``(None, error)`` with a message precise enough to show the model, so
    the agent can ask it to correct itself instead of crashing. Accepted slips: everything
    ``loads_lenient`` accepts, ``arguments`` given as a JSON-encoded string, ``parameters``
    (or ``args``) for ``arguments``, ``tool_name`` for ``name``, the OpenAI
    ``{"function": {...}}`` wrapper, and a one-element list around the call.
    """
    try:
        value = loads_lenient(body)
    except ValueError as exc:
        return None, f"tool call is not valid JSON: {exc}"
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, dict):
        return None, f"tool call must be a JSON object, got {_kind(value)}"
    if isinstance(value.get("function"), dict) and not any(k in value for k in _NAME_KEYS):
        value = value["function"]

    name = next((value[k] for k in _NAME_KEYS if k in value), None)
    if name is None:
        return None, f'tool call has no "name" (keys: {", ".join(map(str, value)) or "none"})'
    if not isinstance(name, str) or not name.strip():
        return None, f'tool call "name" must be a non-empty string, got {_kind(name)}'

    arg_key = next((k for k in _ARG_KEYS if k in value), None)
    args: Any = {} if arg_key is None else value[arg_key]
    if args is None:
        args = {}
    if isinstance(args, str):
        if not args.strip():
            args = {}
        else:
            try:
                args = loads_lenient(args)
            except ValueError as exc:
                return None, f'tool call "{arg_key}" is a string that is not JSON: {exc}'
    if not isinstance(args, dict):
        return None, f'tool call "{arg_key}" must be a JSON object, got {_kind(args)}'
    return {"name": name.strip(), "arguments": args}, None


def _tool_name(call: Any) -> str | None:
    """The tool name of a decoded tool call, whichever key the model used for it."""
    if not isinstance(call, dict):
        return None
    if isinstance(call.get("function"), dict) and not any(k in call for k in _NAME_KEYS):
        call = call["function"]
    name = next((call[k] for k in _NAME_KEYS if k in call), None)
    return name if isinstance(name, str) else None


def _kind(value: Any) -> str:
    """A JSON-ish type name for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"an array of {len(value)}"
    if isinstance(value, str):
        return f"a string {json.dumps(value[:40])}"
    return f"a {type(value).__name__}"
