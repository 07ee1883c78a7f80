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

Dialects (``r1v4.agent.dialects``) say which calls end a turn (``ends_turn``: R1V4's tags,
Mini-o3's ``<grounding>``…). A Thinking model whose chat template opens ``<think>`` in the
prompt starts its reply inside the think, so a reply with no think tags at all is reasoning
(``in_think``): nothing in it ends the turn. Only a family that writes its calls inside the
think (Thyme) has them act there (``calls_in_think``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from r1v4.parsing.answer import answer_event, is_headless_think
from r1v4.parsing.scanner import Event, iter_events
from r1v4.protocol.tags import ANSWER, THINK, TOOL_CALL

__all__ = ["TurnEnd", "has_headless_think", "read_turn", "toolkit_call"]

_THINK_OPEN, _THINK_CLOSE = f"<{THINK}>", f"</{THINK}>"


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


def toolkit_call(ev: Event) -> bool:
    """The default call that ends a turn: a ``<tool_call>`` (not a one-tag-per-tool call)."""
    return ev.tag is None


#: How a text is scanned: `iter_events`, or a memo's `events` (`r1v4.parsing.memo`), which
#: returns the same events and lets the readers of one text share one scan.
Scan = Callable[[str], Sequence[Event]]


def has_headless_think(text: str, scan: Scan = iter_events) -> bool:
    """The reply closes a think it never opened (its template opened it in the prompt).
    Without any ``</think>`` there is nothing to scan for (most replies of most turns)."""
    if "</think>" not in text:
        return False
    return any(is_headless_think(ev) for ev in scan(text))


@dataclass(frozen=True)
class _Reading:
    """How a dialect reads a turn (see the module docstring)."""

    ends_turn: Callable[[Event], bool] = toolkit_call
    calls_in_think: bool = False
    prefix: str = ""  # "<think>" when the whole reply is reasoning a template opened
    start: int = 0  # where the turn starts in the text read (after what it continues)


def _first_end(events: Sequence[Event], how: _Reading) -> Event | None:
    """The first complete unit that ends a turn: the answer unit or a call (ending after
    `how.start`: what came before is the message this turn continues)."""
    answer = answer_event(events)
    answer = answer if answer is not None and not answer.incomplete else None
    if answer is not None and answer.end <= how.start:
        answer = None
    for ev in events:
        if ev.end <= how.start and ev.kind != THINK:
            continue
        if answer is not None and ev.start >= answer.start:
            return answer
        if ev.kind == TOOL_CALL and not ev.incomplete and how.ends_turn(ev):
            return ev
        if how.calls_in_think and ev.kind == THINK and ev.end > how.start:
            inner = _call_in_think(ev, how)
            if inner is not None:
                return inner
    return answer


def _call_in_think(think: Event, how: _Reading) -> Event | None:
    """A call written inside a think (Thyme), with offsets in the whole text."""
    opening = think.end - len(think.content) - (0 if think.incomplete else len(_THINK_CLOSE))
    head = _THINK_OPEN + _THINK_CLOSE  # so tags at the very start of the content count too
    for ev in iter_events(head + think.content):
        shift = opening - len(head)
        if ev.kind == TOOL_CALL and not ev.incomplete and how.ends_turn(ev):
            if ev.end + shift > how.start:
                return Event(ev.kind, ev.content, ev.start + shift, ev.end + shift, tag=ev.tag)
    return None


def _ended(text: str, ev: Event, how: _Reading) -> TurnEnd:
    kept = text[: max(0, ev.end - len(how.prefix))]
    if ev.kind == ANSWER:
        return TurnEnd("answer", kept)
    return TurnEnd("tool_call", kept, body=ev.content)


def matched_stop(stop_reason: Any, stops: Sequence[str]) -> str | None:
    """The stop string the server reports it matched, when it is one of ours."""
    return stop_reason if isinstance(stop_reason, str) and stop_reason in stops else None


def read_turn(
    text: str,
    stop_reason: Any,
    stops: Sequence[str],
    *,
    ends_turn: Callable[[Event], bool] = toolkit_call,
    in_think: bool = False,
    calls_in_think: bool = False,
    context: str = "",
    scan: Scan = iter_events,
) -> TurnEnd:
    """Read one generated turn; ``stop_reason`` is the server's (a string, a token id or
    None) and ``stops`` the stop strings the request carried. ``ends_turn`` says which calls
    end a turn (default ``<tool_call>``); ``in_think``: a reply with no think tags is all
    reasoning; ``calls_in_think``: calls inside a think count (see the module docstring).
    ``context`` is the text of the assistant message this turn continues (a prefill, or a
    turn with a result appended inside it): read with the turn, never ending it; the kept
    ``text`` is the turn's own. ``scan``: how the turn is scanned (a memo's ``events``, so
    that the readers after this one, the same text once it is the trajectory, scan it no
    more)."""
    stop = matched_stop(stop_reason, stops)
    full = text if stop is None or text.endswith(stop) else text + stop  # the stop put back
    end = _read(context, full, stop, ends_turn, in_think, calls_in_think, scan)
    if end.kind == "false_stop":
        return TurnEnd("false_stop", text, stop=stop)
    if context and end.text.startswith(context):
        return TurnEnd(end.kind, end.text[len(context) :], end.body, end.stop)
    return end


def _read(
    context: str,
    full: str,
    stop: str | None,
    ends_turn: Callable[[Event], bool],
    in_think: bool,
    calls_in_think: bool,
    scan: Scan = iter_events,
) -> TurnEnd:
    """`read_turn` on the context and the turn together (offsets in both)."""
    whole = context + full
    bare = _THINK_OPEN not in whole and _THINK_CLOSE not in whole
    prefix = _THINK_OPEN if in_think and bare else ""
    how = _Reading(ends_turn, calls_in_think, prefix, len(prefix) + len(context))
    full = whole
    events = scan(how.prefix + full)
    end = _first_end(events, how)
    if end is not None:
        return _ended(full, end, how)
    if stop is not None:
        return TurnEnd("false_stop", full, stop=stop)
    last = events[-1] if events else None
    if last is not None and last.incomplete and last.kind in (TOOL_CALL, ANSWER):
        if last.kind == ANSWER or ends_turn(last):  # a stop trimmed without being named
            restored = full + f"</{last.tag or last.kind}>"
            end = _first_end(iter_events(how.prefix + restored), how)
            if end is not None:
                return _ended(restored, end, how)
        if last.kind == TOOL_CALL and ends_turn(last) and last.end > how.start:
            closed = _close_cut_call(full) if last.tag is None else full
            return TurnEnd("incomplete_call", closed, body=last.content)
    return TurnEnd("none", full)


def _close_cut_call(text: str) -> str:
    """The cut call closed so that the trajectory stays readable: a line break makes any
    JSON string left open a broken one, and the scanner then ends the body at the first
    closing tag (the seed's rule), so the observation that follows is not swallowed."""
    closed = f"{text}\n</{TOOL_CALL}>"
    events = iter_events(closed)
    return closed if events and not events[-1].incomplete else text
