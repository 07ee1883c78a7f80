"""Scripted turns for the simulator: loading them (files, dicts, JSONL lines) and finding
the one that matches a request.

The reply to a conversation holding k assistant messages is turn k. Scripts are dicts (or JSONL
lines) matched against the request, first match wins, in this order of keys:
  {"id": s}        the request's `request_id` field or X-Request-Id header equals s, or starts
                   with s followed by one of "-:/#" (clients add the turn/attempt after the id),
                   or is the batch runner's `r1v4-<case id>-<turn>[-<attempt>]` for case id s
                   (the longest matching id wins)
  {"question": s}  the first user message's text part(s), joined by "\n", equal s (stripped)
  {"contains": s}  s occurs in the text of any message
plus "turns": [str, ...] (full assistant turns), optionally "plan" (the planner-mode reply: a
str is sent verbatim, a list as JSON after a think block), "server_response" (str: the whole
trajectory when the request has `enable_search: true`) and "faults" (a list of fault names:
attempt i of any turn of this script gets faults[i]; see faults.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1v4.protocol.errors import R1V4Error
from r1v4.protocol.requestids import names_case
from r1v4.sim.request import first_user, message_text, request_id

__all__ = ["SCRIPT_KEYS", "Script", "ScriptError", "find_script", "load_scripts"]

SCRIPT_KEYS = ("id", "question", "contains")
_ID_SEPARATORS = "-:/#"


class ScriptError(R1V4Error, ValueError):
    """A script file or entry is malformed; the message names the file, line and field."""


@dataclass
class Script:
    """One scripted case."""

    key: str  # "id" | "question" | "contains"
    value: str
    turns: list[str]
    plan: str | list | None = None  # str: the reply verbatim; list: a think, then it as JSON
    server_response: str | None = None
    faults: list[str] | None = None
    where: str = ""  # "file.jsonl:3" or "scripts[3]", for messages


def _parse_script(entry: Any, where: str) -> Script:
    from r1v4.sim.faults import FAULT_NAMES

    if not isinstance(entry, dict):
        raise ScriptError(
            f"{where}: a script entry must be a JSON object, got {type(entry).__name__}"
        )
    keys = [k for k in SCRIPT_KEYS if k in entry]
    if len(keys) != 1:
        raise ScriptError(
            f"{where}: give exactly one of 'id', 'question' or 'contains' (got {keys})"
        )
    key = keys[0]
    value = entry[key]
    if not isinstance(value, str) or not value.strip():
        raise ScriptError(f"{where}: field '{key}' must be a non-empty string")
    turns = entry.get("turns", [])
    if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
        raise ScriptError(f"{where}: field 'turns' must be a list of strings")
    plan = entry.get("plan")
    if plan is not None and not isinstance(plan, (str, list)):
        raise ScriptError(f"{where}: field 'plan' must be a string or a JSON array")
    server_response = entry.get("server_response")
    if server_response is not None and not isinstance(server_response, str):
        raise ScriptError(f"{where}: field 'server_response' must be a string")
    faults = entry.get("faults")
    if faults is not None:
        if not isinstance(faults, list) or not all(
            f is None or (isinstance(f, str) and f in FAULT_NAMES) for f in faults
        ):
            raise ScriptError(
                f"{where}: field 'faults' must be a list of null or {', '.join(FAULT_NAMES)}"
            )
    if not turns and plan is None and server_response is None:
        raise ScriptError(f"{where}: needs 'turns', 'plan' or 'server_response'")
    return Script(
        key,
        value.strip() if key == "question" else value,
        turns,
        plan,
        server_response,
        faults,
        where,
    )


def load_scripts(source: str | Path | list[dict[str, Any] | str | Path] | None) -> list[Script]:
    """Scripts from a JSONL file, or a list whose items are script dicts or JSONL file paths
    (in order); raises ScriptError naming the file and line, or the list index."""
    if source is None:
        return []
    if isinstance(source, list):
        scripts: list[Script] = []
        for i, entry in enumerate(source):
            if isinstance(entry, (str, Path)):
                scripts += load_scripts(entry)
            else:
                scripts.append(_parse_script(entry, f"scripts[{i}]"))
        return scripts
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"{path}: cannot read script file: {exc.strerror or exc}") from exc
    scripts = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ScriptError(
                f"{path}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})"
            ) from exc
        scripts.append(_parse_script(entry, f"{path}:{lineno}"))
    return scripts


def _id_matches(rid: str, value: str) -> bool:
    """A script's `id` names the request: the request id itself, the request id followed by
    a separator and more, or the case id inside the batch runner's `r1v4-<case>-<turn>`."""
    if rid == value or (rid.startswith(value) and rid[len(value)] in _ID_SEPARATORS):
        return True
    return names_case(rid, value)


def script_label(script: Script) -> str:
    """A script entry as a message names it: where it came from and what it matches."""
    return f"{script.where} ({script.key} {script.value[:80]!r})"


def find_script(
    scripts: list[Script], body: dict[str, Any], headers: dict[str, str]
) -> Script | None:
    """The first script that matches the request (see the module docstring)."""
    if not scripts:
        return None
    messages = body.get("messages", [])
    rid = request_id(body, headers)
    user = first_user(messages)
    question = message_text(user).strip() if user else ""
    texts = [message_text(m) for m in messages]
    if rid:
        by_id = [s for s in scripts if s.key == "id" and _id_matches(rid, s.value)]
        if by_id:  # the longest id wins: "case-1" over "case" for r1v4-case-1-0
            return max(by_id, key=lambda s: len(s.value))
    for s in scripts:
        if s.key == "question" and s.value == question:
            return s
    for s in scripts:
        if s.key == "contains" and any(s.value in t for t in texts):
            return s
    return None
