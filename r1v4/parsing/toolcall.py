"""Tool-call bodies → ``{"name", "arguments"}``, forgiving the slips models make.

Its own module because both sides of the project need it without the scanner: the agent
decodes a ``<tool_call>`` body to run it, and the round statistics and file summaries only
need the tool's name. It also decodes the hosted DeepResearch endpoint's dialect (one tag per
tool, ``<text_search>query</text_search>``) into the same form. ``json_kind`` lives here as
the one place that words a JSON type for an error message.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from r1v4._util.lenient_json import loads_lenient, loads_strict

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
        return None, f"tool call must be a JSON object, got {json_kind(value)}"
    if isinstance(value.get("function"), dict) and not any(k in value for k in _NAME_KEYS):
        value = value["function"]

    name = next((value[k] for k in _NAME_KEYS if k in value), None)
    if name is None:
        return None, f'tool call has no "name" (keys: {", ".join(map(str, value)) or "none"})'
    if not isinstance(name, str) or not name.strip():
        return None, f'tool call "name" must be a non-empty string, got {json_kind(name)}'

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
        return None, f'tool call "{arg_key}" must be a JSON object, got {json_kind(args)}'
    return {"name": name.strip(), "arguments": args}, None


# One tag per tool: the hosted DeepResearch endpoint's dialect (SkyworkAI/Skywork-R1V,
# r1v4/inference/request_deepresearch.py), plus Mini-o3's `<grounding>`: tag → (the tool
# name, its argument, list-valued).
DIALECT_TOOLS: dict[str, tuple[str, str, bool]] = {
    "image_search": ("image_search", "image_paths", True),
    "text_search": ("text_search", "queries", True),
    "web_content": ("web_visit", "urls", True),
    "web_visit": ("web_visit", "urls", True),
    "code": ("code", "code", False),
    # Mini-o3's zoom (`<grounding>{"bbox_2d": [...], "source": ...}</grounding>`,
    # Mini-o3/Mini-o3@8654dbf:verl/trainer/constants.py): its JSON body is the arguments.
    "grounding": ("grounding", "grounding", False),
}


def parse_dialect_call(tag: str, body: str) -> tuple[dict | None, str | None, bool]:
    """A dialect body (``<text_search>…</text_search>``) → ``(call, error, repaired)``.

    The bare body is the tool's one argument: an image path, a query, a URL or Python code
    (``{"queries": [body]}``…). A body that is a JSON object (lenient) is the arguments
    instead, or, written as a whole ``{"name", "arguments"}`` call for the same tool, its
    arguments; for the list-valued tools a JSON array is the list. For ``code`` a JSON
    object counts only when it carries ``code``, since Python starting with a dict literal
    is code. ``repaired`` says a lenient parse fixed a slip. On failure (an empty body)
    returns ``(None, error)`` as ``parse_tool_call`` does.
    """
    name, arg, is_list = DIALECT_TOOLS[tag]
    text = body.strip()
    if not text:
        return None, f"empty <{tag}>: expected {'Python code' if arg == 'code' else arg}", False
    if text[0] in "{[`":
        found = _dialect_json(text, name, arg, is_list)
        if found is not None:
            return {"name": name, "arguments": found[0]}, None, found[1]
    value = textwrap.dedent(body).strip() if arg == "code" else text
    return {"name": name, "arguments": {arg: [value] if is_list else value}}, None, False


def _dialect_json(text: str, name: str, arg: str, is_list: bool) -> tuple[dict, bool] | None:
    """``(arguments, repaired)`` when a dialect body is JSON meant as arguments, else None.

    Only an object is repaired, and only one the text closes: most bodies are bare text, and
    a query like ``[PDF] report`` or ``{"a"} b`` must stay a query.
    """
    try:
        value, repaired = loads_strict(text), False
    except (ValueError, RecursionError):
        if text[-1] not in "}`":
            return None
        try:
            value, repaired = loads_lenient(text), True
        except (ValueError, RecursionError):
            return None
    if isinstance(value, list):
        if is_list and value and all(isinstance(v, str) for v in value) and not repaired:
            return {arg: value}, False
        return None
    if not isinstance(value, dict):
        return None
    call, _ = parse_tool_call(text) if any(k in value for k in _NAME_KEYS) else (None, None)
    if call is not None and DIALECT_TOOLS.get(call["name"], (None,))[0] == name:
        value = call["arguments"]
    if arg == "code" and "code" not in value:
        return None
    return value, repaired


def tool_name_of(call: Any) -> str | None:
    """The tool name of a decoded tool call, whichever key the model used for it."""
    if not isinstance(call, dict):
        return None
    if isinstance(call.get("function"), dict) and not any(k in call for k in _NAME_KEYS):
        call = call["function"]
    name = next((call[k] for k in _NAME_KEYS if k in call), None)
    return name if isinstance(name, str) else None


def json_kind(value: Any) -> str:
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
