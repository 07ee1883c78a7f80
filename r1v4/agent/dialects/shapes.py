"""Small pieces several dialects build their messages from: image parts with the guard's
notes, tool-call JSON as Qwen-family templates write it, and reading a `<tool_call>` body or
a structured call into a `Call`."""

from __future__ import annotations

import json
from typing import Any

from r1v4.agent.dialects.base import Call, Outcome, Turn
from r1v4.parsing import Event, iter_events, parse_tool_call

__all__ = [
    "call_events",
    "call_from_event",
    "image_parts",
    "notes_text",
    "structured_calls",
    "tool_call_json",
]


def notes_text(outcome: Outcome) -> str:
    """What the guard did to the images, one line each (empty when nothing)."""
    return "\n".join(f"[note: {n}]" for n in outcome.notes)


def image_parts(outcome: Outcome) -> list[dict[str, Any]]:
    """The outcome's images as content parts, in order."""
    return [g.part() for g in outcome.images]


def tool_call_json(name: str, arguments: Any) -> str:
    """`{"name": …, "arguments": …}` as `json.dumps` writes it (Qwen-Agent's replay of a call,
    `nous_fncall_prompt.py:41-88`)."""
    return json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)


def call_events(turn: Turn, is_call: Any, *, inside_think: bool = False) -> list[Event]:
    """The scanner's tool-call events of a turn that the dialect counts as calls, read in the
    whole assistant message (the context decides what is a tag) but only those of this
    turn. `inside_think`: calls written inside a think count too (Thyme), offsets kept."""
    start = len(turn.context)
    found = []
    for ev in iter_events(turn.whole):
        if ev.kind == "tool_call" and ev.end > start and is_call(ev):
            found.append(ev)
        elif inside_think and ev.kind == "think" and ev.end > start:
            found += _calls_in_think(ev, is_call, start)
    return found


def _calls_in_think(think: Event, is_call: Any, start: int) -> list[Event]:
    head = "<think></think>"  # so a tag at the very start of the content is read as one
    opening = think.end - len(think.content) - (0 if think.incomplete else len("</think>"))
    shift = opening - len(head)
    out = []
    for ev in iter_events(head + think.content):
        if ev.kind == "tool_call" and is_call(ev) and ev.end + shift > start:
            ev.start, ev.end = ev.start + shift, ev.end + shift
            out.append(ev)
    return out


def call_from_event(ev: Event, repair: Any = None) -> Call:
    """A `Call` from a scanner event: a dialect tag's decoded call, or a `<tool_call>` body
    read leniently (`repair`, when given, is tried on a body that does not parse)."""
    if ev.incomplete:
        closing = f"</{ev.tag or 'tool_call'}>"
        return Call(ev.tag or "invalid", error=f"the call is incomplete: it ends before {closing}")
    if ev.tag is not None:
        if isinstance(ev.data, dict):
            return Call(ev.data["name"], dict(ev.data.get("arguments") or {}), tag=ev.tag)
        return Call(ev.tag, error=ev.error or f"could not read <{ev.tag}>", tag=ev.tag)
    call, error = parse_tool_call(ev.content)
    if call is None and repair is not None:
        fixed = repair(ev.content)
        if fixed != ev.content:
            call, _ = parse_tool_call(fixed)
    if call is None:
        return Call("invalid", error=f"Could not parse the tool call: {error}")
    return Call(call["name"], call["arguments"])


def structured_calls(turn: Turn) -> list[Call]:
    """The turn's structured `tool_calls` (native function calling), with their ids."""
    out = []
    for i, tc in enumerate(turn.tool_calls):
        fn = tc.get("function") if isinstance(tc.get("function"), dict) else tc
        name = str(fn.get("name") or "")
        raw = fn.get("arguments")
        call_id = tc.get("id") or f"call_{i}"
        if isinstance(raw, dict):
            out.append(Call(name, raw, call_id=call_id))
            continue
        try:
            args = json.loads(raw) if isinstance(raw, str) and raw.strip() else {}
        except ValueError as exc:
            out.append(Call(name, call_id=call_id, error=f"arguments are not valid JSON: {exc}"))
            continue
        if not isinstance(args, dict):
            out.append(Call(name, call_id=call_id, error="arguments must be a JSON object"))
            continue
        out.append(Call(name, args, call_id=call_id))
    return out
