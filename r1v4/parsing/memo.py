"""One response scanned once for all the readers of one record.

A finished case is read by several consumers: the record's meta (tool use, final answer,
observation images), the scorer (the final answer), the quality flags (rounds, the final
answer, returned images). Each used to scan the same ``full_response`` again, about five
times per case. A ``ResponseParse`` is handed explicitly from one reader to the next (the
batch runner makes one per case) and scans the text the first time a reader asks.

Every method takes the text it is asked about: a memo asked about another text scans that
one instead, so a memo can never answer for the wrong response. What it returns is exactly
what ``iter_events``, ``parse_full_response`` and ``read_final_answer`` return for the text;
the results are shared, so readers must not modify them (none does).
"""

from __future__ import annotations

from r1v4.parsing.answer import NO_ANSWER_STOPS, FinalAnswer, read_final_answer
from r1v4.parsing.rounds import assemble_rounds
from r1v4.parsing.scanner import Event, iter_events

__all__ = ["ResponseParse"]


class ResponseParse:
    """The scanner's events and the rounds of one response text, made on first use."""

    __slots__ = ("_answers", "_events", "_rounds", "_text")

    def __init__(self) -> None:
        self._text: str | None = None
        self._events: list[Event] | None = None
        self._rounds: dict | None = None
        self._answers: dict[str | None, FinalAnswer] = {}  # by stop reason

    def _on(self, text: str) -> None:
        """Forget what was read of another text."""
        if self._text is not text and self._text != text:
            self._text, self._events, self._rounds = text, None, None
            if self._answers:
                self._answers = {}

    def events(self, text: str) -> list[Event]:
        """``iter_events(text)``, scanned once."""
        self._on(text)
        if self._events is None:
            self._events = iter_events(text)
        return self._events

    def rounds(self, text: str) -> dict:
        """``parse_full_response(text)``, built once from the shared events."""
        if self._text is text and self._rounds is not None:  # the usual ask: a memo hit
            return self._rounds
        if not isinstance(text, str):
            raise TypeError(f"full_response must be a str, got {type(text).__name__}")
        self._on(text)
        if self._rounds is None:
            self._rounds = assemble_rounds(self.events(text))
        return self._rounds

    def final_answer(self, text: str | None, stop_reason: str | None = None) -> FinalAnswer:
        """``read_final_answer(text, stop_reason)``, on the shared events, read once per stop
        reason (the record's meta, the scorer and the flags all ask; a `FinalAnswer` is
        frozen, so sharing it is safe)."""
        if not text or stop_reason in NO_ANSWER_STOPS:  # decided without a scan
            return read_final_answer(text, stop_reason)
        if self._text is text and (found := self._answers.get(stop_reason)) is not None:
            return found  # the usual ask: a memo hit
        events = self.events(text)
        found = self._answers.get(stop_reason)
        if found is None:
            found = self._answers[stop_reason] = read_final_answer(text, stop_reason, events)
        return found
