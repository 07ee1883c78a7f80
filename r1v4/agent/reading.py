"""How one generated turn ended, in any dialect: an answer, a call the dialect counts, a stop
string that fired somewhere it closes nothing, or none of these.

The agent may ask the server to stop at a dialect's closing tags. Real servers match stop
strings anywhere in the generated text, trim them (unless `include_stop_str_in_output`),
and say which one matched (`stop_reason` in vLLM, `matched_stop` in SGLang; ENDPOINTS.md
12-13). Since vLLM applies client stops inside the reasoning again for think-in-prompt
templates (vllm#52393, #53066, #38499; MODELS.md 2.4), a stop can fire in the middle of a
think: then it ended nothing, the turn is asked for again without that stop, and no answer
is ever taken out of a think. Only a family that writes its calls inside the think (Thyme)
acts on a stop there (`Dialect.stops_in_think`).

A Thinking model whose chat template opens `<think>` in the prompt starts its reply inside
the think: a reply with no `<think>` and no `</think>` is then all reasoning (`in_think`).
The scanner (`r1v4.parsing`) reads the units; text after the unit that ended the turn is
dropped, as the server would have stopped there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from r1v4.parsing import Event, iter_events
from r1v4.protocol.tags import ANSWER, THINK, TOOL_CALL

__all__ = ["TurnEnd", "has_headless_think", "matched_stop", "read_dialect_turn"]

_THINK_OPEN, _THINK_CLOSE = f"<{THINK}>", f"</{THINK}>"


@dataclass(frozen=True)
class TurnEnd:
    """How a turn ended and the text to keep of it.

    `kind`: "answer"; "call" (a call the dialect counts ended the turn); "incomplete_call"
    (the text ends inside a call no closing tag completes); "false_stop" (`stop` fired where
    it closes nothing: the turn is to be asked again without it; `text` is the raw turn);
    "none" (no answer and no call: a free-text answer, or nothing the loop can act on).
    """

    kind: Literal["answer", "call", "incomplete_call", "false_stop", "none"]
    text: str
    stop: str | None = None


def matched_stop(stop_reason: Any, stops: Sequence[str]) -> str | None:
    """The stop string the server reports it matched, when it is one the request sent."""
    return stop_reason if isinstance(stop_reason, str) and stop_reason in stops else None


def _headless(ev: Event) -> bool:
    """A think closed by `</think>` with no `<think>` before it (think-in-prompt template)."""
    return ev.kind == THINK and ev.end - ev.start == len(ev.content) + len(_THINK_CLOSE)


def has_headless_think(text: str) -> bool:
    """The reply starts inside a think (it closes one it never opened)."""
    return any(_headless(ev) for ev in iter_events(text))


def _answer(events: Sequence[Event]) -> Event | None:
    """The first top-level `<answer>`, unless a headless `</think>` after it shows it was
    still inside the reasoning."""
    found: Event | None = None
    for ev in events:
        if ev.kind == ANSWER and found is None:
            found = ev
        elif _headless(ev):
            found = None
    return found


def _first_end(
    events: Sequence[Event], ends_turn: Callable[[Event], bool], in_think_calls: bool
) -> Event | None:
    answer = _answer(events)
    answer = answer if answer is not None and not answer.incomplete else None
    for ev in events:
        if answer is not None and ev.start >= answer.start:
            return answer
        if ev.kind == TOOL_CALL and not ev.incomplete and ends_turn(ev):
            return ev
        if in_think_calls and ev.kind == THINK:
            inner = _inner_call(ev, ends_turn)
            if inner is not None:
                return inner
    return answer


def _inner_call(think: Event, ends_turn: Callable[[Event], bool]) -> Event | None:
    """A call written inside a think (Thyme), with offsets in the whole text."""
    opening = think.end - len(think.content) - (0 if think.incomplete else len(_THINK_CLOSE))
    # An empty think first, so the scanner reads tags at the start of the content too.
    for ev in iter_events(_THINK_OPEN + _THINK_CLOSE + think.content):
        if ev.kind == TOOL_CALL and not ev.incomplete and ends_turn(ev):
            shift = opening - len(_THINK_OPEN + _THINK_CLOSE)
            return Event(ev.kind, ev.content, ev.start + shift, ev.end + shift, tag=ev.tag)
    return None


def read_dialect_turn(
    text: str,
    stop_reason: Any,
    stops: Sequence[str],
    ends_turn: Callable[[Event], bool],
    *,
    stops_in_think: bool = False,
    in_think: bool = False,
) -> TurnEnd:
    """Read one turn. `stop_reason` is the server's (a string, a token id or None), `stops`
    the stop strings the request carried, `ends_turn` the dialect's test for a call, and
    `in_think` whether a reply without think tags is all reasoning (a Thinking template)."""
    stop = matched_stop(stop_reason, stops)
    # The stop string back where the server trimmed it (kept: include_stop_str_in_output).
    full = text if stop is None or text.endswith(stop) else text + stop
    prefix = ""
    if in_think and _THINK_OPEN not in full and _THINK_CLOSE not in full:
        prefix = _THINK_OPEN  # all of it is reasoning the template opened
    events = iter_events(prefix + full)
    end = _first_end(events, ends_turn, stops_in_think)
    if end is not None:
        kind = "answer" if end.kind == ANSWER else "call"
        return TurnEnd(kind, full[: max(0, end.end - len(prefix))])
    if stop is not None:
        return TurnEnd("false_stop", text, stop=stop)
    last = events[-1] if events else None
    if last is not None and last.incomplete and last.kind in (TOOL_CALL, ANSWER):
        if last.kind == ANSWER or ends_turn(last):
            closing = f"</{last.tag or last.kind}>"
            restored = full + closing  # a server that trimmed a stop without naming it
            end = _first_end(iter_events(prefix + restored), ends_turn, stops_in_think)
            if end is not None:
                kind = "answer" if end.kind == ANSWER else "call"
                return TurnEnd(kind, restored[: max(0, end.end - len(prefix))])
            if last.kind == TOOL_CALL:
                return TurnEnd("incomplete_call", full)
    return TurnEnd("none", full)
