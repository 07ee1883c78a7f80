"""How one generated turn of the agent loop ended: an answer, a tool call, a stop string that
fired inside another unit's body, or nothing the loop can act on.

The agent asks the server to stop at ``</tool_call>`` and ``</answer>``. Real servers match
stop strings anywhere in the generated text, trim them, and say which one matched
(``stop_reason`` in vLLM, ``matched_stop`` in SGLang; ENDPOINTS.md items 12-13). A stop string
can therefore fire where it is not a closing tag at all: inside a JSON string of a tool call
(code that prints ``</answer>``), or inside reasoning (vLLM applies stops inside ``<think>``
for some templates, MODELS.md 2.4). Appending the closing tags blindly turned such a turn
into an "answer"; here the decision is made by the scanner on the turn's text with the
matched stop string put back (DESIGN.md, "The agent's stop rule"):

- the turn ends with its first complete answer unit or tool call (``answer_event`` picks the
  answer unit), and the text after that unit is dropped;
- a stop string the server reports that did not close such a unit fired inside another body:
  a false stop, which the loop answers by asking for the same turn again without that stop;
- a turn with no reported stop that ends inside an open unit gets that unit's closing tag
  back only when the tag really closes it (a server that trims stops without saying which);
  a tool call still open then is an incomplete call, never an answer: it is closed after a
  line break, so the scanner reads it as one broken call and the trajectory stays readable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from r1v4.parsing.answer import answer_event
from r1v4.parsing.scanner import Event, iter_events
from r1v4.protocol.tags import ANSWER, TOOL_CALL

__all__ = ["TurnEnd", "read_turn"]


@dataclass(frozen=True)
class TurnEnd:
    """How a turn ended and the text to keep of it.

    ``kind``: ``"answer"``, ``"tool_call"`` (``body`` is the call's raw body),
    ``"incomplete_call"`` (the text ends inside a tool call that no closing tag completes;
    ``text`` has it closed after a line break, ``body`` is what was written of it),
    ``"false_stop"`` (``stop`` fired inside another unit's body; ``text`` is the raw turn, to
    be discarded) or ``"none"`` (no answer and no call).
    """

    kind: Literal["answer", "tool_call", "incomplete_call", "false_stop", "none"]
    text: str
    body: str | None = None
    stop: str | None = None


def _first_end(events: Sequence[Event]) -> Event | None:
    """The first complete unit that ends a turn: the answer unit or a ``<tool_call>``."""
    answer = answer_event(events)
    answer = answer if answer is not None and not answer.incomplete else None
    for ev in events:
        if answer is not None and ev.start >= answer.start:
            return answer
        if ev.kind == TOOL_CALL and ev.tag is None and not ev.incomplete:
            return ev
    return answer


def _ended(text: str, ev: Event) -> TurnEnd:
    kept = text[: ev.end]
    if ev.kind == ANSWER:
        return TurnEnd("answer", kept)
    return TurnEnd("tool_call", kept, body=ev.content)


def matched_stop(stop_reason: Any, stops: Sequence[str]) -> str | None:
    """The stop string the server reports it matched, when it is one of ours."""
    return stop_reason if isinstance(stop_reason, str) and stop_reason in stops else None


def read_turn(text: str, stop_reason: Any, stops: Sequence[str]) -> TurnEnd:
    """Read one generated turn; ``stop_reason`` is the server's (a string, a token id or
    None) and ``stops`` the stop strings the request carried."""
    stop = matched_stop(stop_reason, stops)
    if stop is not None:
        restored = text if text.endswith(stop) else text + stop
        end = _first_end(iter_events(restored))
        if end is not None:
            return _ended(restored, end)
        return TurnEnd("false_stop", text, stop=stop)
    events = iter_events(text)
    end = _first_end(events)
    if end is not None:
        return _ended(text, end)
    last = events[-1] if events else None
    if last is not None and last.incomplete and last.kind in (TOOL_CALL, ANSWER):
        if last.tag is None:  # a server that trimmed a stop without naming it
            closing = f"</{last.kind}>"
            restored = text + closing
            end = _first_end(iter_events(restored))
            if end is not None:
                return _ended(restored, end)
        if last.kind == TOOL_CALL and last.tag is None:
            return TurnEnd("incomplete_call", _close_cut_call(text), body=last.content)
    return TurnEnd("none", text)


def _close_cut_call(text: str) -> str:
    """The cut call closed so that the trajectory stays readable: a line break makes any
    JSON string left open a broken one, and the scanner then ends the body at the first
    closing tag (the seed's rule), so the observation that follows is not swallowed."""
    closed = f"{text}\n</{TOOL_CALL}>"
    events = iter_events(closed)
    return closed if events and not events[-1].incomplete else text
