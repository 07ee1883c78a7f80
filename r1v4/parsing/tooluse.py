"""Tool calls and tool errors of a trajectory: the one definition of a "tool error".

The batch summary, the record's ``meta``, ``report``, ``parse --stats`` and the viewer all
count tool errors here, from the trajectory itself, so a figure means the same wherever a
user looks, for live records and for files written before the record carried it (the
record's ``meta.tool_errors`` / ``meta.all_tools_failed`` are this count, stored for other
tools to read).

A tool call is a round of the parsed trajectory that has both a ``<tool_call>`` and the
``<observation>`` answering it (a call the trajectory never answered, because the case was
cut, was not run). It is a **tool error** when

- the call is invalid: its body does not decode to a call with a name, or the toolkit
  answered it with an observation of type ``invalid``; such calls are counted under the tool
  name ``invalid``;
- or its observation carries a non-empty ``error``: the tool refused the arguments, raised,
  timed out, ran out of memory, the sandbox could not start, an unknown tool was named.

``all_failed`` means the trajectory made at least one tool call and every one was an error.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from r1v4.parsing.rounds import parse_full_response
from r1v4.parsing.toolcall import tool_name_of

__all__ = [
    "INVALID",
    "ToolUse",
    "record_tool_use",
    "round_tool_error",
    "tool_use",
    "tool_use_possible",
]

#: The tool name invalid calls are counted under.
INVALID = "invalid"


@dataclass
class ToolUse:
    """Calls and errors per tool name (invalid calls under ``INVALID``)."""

    calls: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def n_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())

    @property
    def all_failed(self) -> bool:
        return self.n_calls > 0 and self.n_errors >= self.n_calls

    def add(self, other: ToolUse) -> None:
        self.calls.update(other.calls)
        self.errors.update(other.errors)


def round_tool_error(rnd: dict[str, Any]) -> tuple[str, str | None] | None:
    """``(tool name, error or None)`` for a round holding a call that was answered; None for
    a round that is not a tool call (or one never answered)."""
    if rnd.get("tool_call") is None or rnd.get("observation") is None:
        return None
    obs = rnd["observation"]
    obs = obs if isinstance(obs, dict) else {}
    kind = obs.get("type")
    # The name the call gave, else the tool that answered it (a call the agent's lenient
    # reader accepted in a shape the round does not name, e.g. wrapped in a list).
    name = tool_name_of(rnd["tool_call"]) or (kind if isinstance(kind, str) and kind else None)
    if name is None or kind == INVALID:
        why = obs.get("error") or rnd.get("tool_call_parse_error") or "invalid tool call"
        return INVALID, str(why)
    error = obs.get("error")
    return name, (str(error) if error not in (None, "", False) else None)


def tool_use(parsed: dict[str, Any]) -> ToolUse:
    """Calls and errors of a parsed trajectory (``parse_full_response``'s result)."""
    use = ToolUse()
    for rnd in parsed.get("rounds") or []:
        found = round_tool_error(rnd)
        if found is None:
            continue
        name, error = found
        use.calls[name] += 1
        if error is not None:
            use.errors[name] += 1
    return use


def _counts(value: Any) -> Counter[str] | None:
    if not isinstance(value, dict):
        return None
    return Counter(
        {str(k): int(v) for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)}
    )


def tool_use_possible(record: dict[str, Any]) -> bool:
    """False when `record_tool_use` is sure to find no call: no observation in the text
    (a call counts with its observation) and no call or error in the meta a reading without
    rounds falls back to. Spares a parse of every tool-less record."""
    meta = record.get("meta")
    if isinstance(meta, dict) and (meta.get("tool_calls") or meta.get("tool_errors")):
        return True
    response = record.get("response")
    text = response.get("full_response") if isinstance(response, dict) else None
    return isinstance(text, str) and "<observation" in text


def record_tool_use(record: dict[str, Any], parsed: dict[str, Any] | None = None) -> ToolUse:
    """The tool use of a result record, derived from its trajectory (pass ``parsed`` when the
    caller already has it), so a file written now and one written before the record carried
    the counts read the same. A record without a trajectory (a case that failed before its
    first turn) falls back to ``meta.tool_calls`` and ``meta.tool_errors``."""
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    if parsed is None:
        if not tool_use_possible(record):
            return ToolUse()
        response = record.get("response")
        text = response.get("full_response") if isinstance(response, dict) else None
        if isinstance(text, str) and text:
            parsed = parse_full_response(text)
    if parsed is not None and parsed.get("rounds"):
        return tool_use(parsed)
    calls = _counts(meta.get("tool_calls")) or Counter()
    errors = _counts(meta.get("tool_errors")) or Counter()
    calls[INVALID] += errors.get(INVALID, 0)  # meta.tool_calls counts the calls that ran
    return ToolUse(+calls, +errors)
