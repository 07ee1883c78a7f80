"""The final answer of a response, read from the scanner's events.

The one reading everybody shares: the agent's stop decision (``parsing.turn``), the scorer,
the viewer, ``parse --stats`` and the report. Reading events, never the raw text, is what
makes an ``<answer>`` inside another unit's body harmless: code that prints one (inside a
tool call's arguments or its observation) or a think that mentions the format is a body the
scanner never looks into for tags.

Rules, in order (DESIGN.md, "The final answer"):

1. A trajectory stopped by ``--max-rounds``, a case timeout or an error has no answer,
   whatever its text holds.
2. The answer unit is the first top-level ``<answer>`` — not one that a headless
   ``</think>`` later shows to have been inside the reasoning. Complete, its stripped body
   is the answer; cut (no ``</answer>``), there is none.
3. A response cut by ``max_tokens`` (``stop_reason: "length"``) has no other answer.
4. Without an answer unit, the free text that ends the response (after its last unit, or the
   whole response when it has no tags) is the answer: models that do not write the tags
   (a plain Qwen3-VL, a hosted API) still answer. A response that ends with a tool call or an
   observation has none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from r1v4.parsing.scanner import Event, iter_events
from r1v4.protocol.tags import ANSWER, THINK

__all__ = [
    "NO_ANSWER_STOPS",
    "FinalAnswer",
    "answer_event",
    "final_answer",
    "is_headless_think",
    "read_final_answer",
]

#: Stop reasons (``meta.stop_reason``) that mean the case has no answer at all.
NO_ANSWER_STOPS: dict[str, str] = {
    "max_rounds": "stopped by --max-rounds before an <answer>",
    "case_timeout": "the case timed out (--case-timeout)",
    "error": "the case failed",
}
_THINK_CLOSE = f"</{THINK}>"


@dataclass(frozen=True)
class FinalAnswer:
    """What a response answered: ``text`` ("" when nothing), where it came from, and why
    there is none (``reason``, "" when there is an answer)."""

    text: str
    source: Literal["answer", "free_text", "none"]
    reason: str = ""

    @property
    def answered(self) -> bool:
        return self.source != "none"


def is_headless_think(ev: Event) -> bool:
    """A think closed by a ``</think>`` with no ``<think>`` before it (chat templates that put
    ``<think>`` in the prompt): its span is the reasoning text plus the closing tag only."""
    return ev.kind == THINK and ev.end - ev.start == len(ev.content) + len(_THINK_CLOSE)


def answer_event(events: Sequence[Event]) -> Event | None:
    """The unit holding the final answer: the first top-level ``<answer>``, unless a headless
    ``</think>`` follows it before any other unit, which shows it was part of the reasoning
    (``reasoning <answer>X</answer> more reasoning</think><answer>Y</answer>`` answers Y)."""
    found: Event | None = None
    for ev in events:
        if ev.kind == ANSWER:
            if found is None:
                found = ev
        elif is_headless_think(ev):
            found = None
        elif ev.kind != "text" and found is not None:
            return found
    return found


def final_answer(text: str) -> str | None:
    """The body of the response's answer unit, stripped; None when it has none or the unit
    is cut off. Equal to ``parse_full_response(text)["final_round"]["answer"]`` whenever that
    unit is complete."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    ev = answer_event(iter_events(text))
    if ev is None or ev.incomplete:
        return None
    return ev.content.strip()


def _free_text(events: Sequence[Event]) -> str:
    """The free text after the response's last unit (all of it when there is no unit)."""
    tail: list[str] = []
    for ev in reversed(events):
        if ev.kind != "text" or ev.tag is not None:
            break
        tail.append(ev.content)
    return "".join(reversed(tail)).strip()


def _ends_with(events: Sequence[Event]) -> str:
    for ev in reversed(events):
        if ev.kind != "text" or ev.tag is not None:
            return ev.tag or ev.kind
    return ""


def read_final_answer(
    text: str | None, stop_reason: str | None = None, events: Sequence[Event] | None = None
) -> FinalAnswer:
    """The response's final answer by the module's rules; ``stop_reason`` is the record's
    ``meta.stop_reason`` when known (old files and other tools' files may lack it).
    Pass ``events`` when the caller has already scanned ``text``."""
    if stop_reason in NO_ANSWER_STOPS:
        return FinalAnswer("", "none", f"no answer: {NO_ANSWER_STOPS[stop_reason]}")
    if not text:
        return FinalAnswer("", "none", "no answer: empty response")
    if events is None:
        events = iter_events(text)
    ev = answer_event(events)
    if ev is not None and not ev.incomplete:
        return FinalAnswer(ev.content.strip(), "answer")
    if ev is not None:
        return FinalAnswer("", "none", "no answer: the <answer> is cut off (no </answer>)")
    if stop_reason == "length":
        return FinalAnswer("", "none", "no answer: cut off by max_tokens before an <answer>")
    free = _free_text(events)
    if free:
        return FinalAnswer(free, "free_text")
    last = _ends_with(events)
    if last:
        return FinalAnswer(
            "", "none", f"no answer: the response ends with <{last}>, not an <answer>"
        )
    return FinalAnswer("", "none", "no answer: empty response")
