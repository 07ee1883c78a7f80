"""`--live`: each think, tool call and answer of a streaming run, the moment it closes.

Fed by the client's `on_delta` pieces through the incremental parser, so a user watching a
long batch sees what the model is doing without waiting for whole cases to finish. Lines go
to the `write` callable the caller gives (the command line prints them above its progress
bar); the agent never prints.
"""

from __future__ import annotations

from collections.abc import Callable

from r1v4.parsing import Event, IncrementalParser, parse_tool_call

_WIDTH = 110


def _one_line(text: str, width: int = _WIDTH) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def describe(event: Event) -> str:
    """A one-line description of a closed event, for the terminal (plain text, never HTML)."""
    if event.kind == "tool_call":
        # A stop sequence trims "</tool_call>", so the call often arrives unclosed.
        call = event.data if isinstance(event.data, dict) else parse_tool_call(event.content)[0]
        if call is not None:
            return f"tool_call {call.get('name')}: {_one_line(str(call.get('arguments')), 80)}"
    return f"{event.kind}: {_one_line(event.content)}"


class LiveLog:
    """One generation's live view; `reset` when the client restarts a dropped stream."""

    def __init__(self, case_id: str, write: Callable[[str], None]) -> None:
        self.case_id = case_id
        self._write = write
        self._parser = IncrementalParser()

    def on_delta(self, piece: str) -> None:
        for event in self._parser.feed(piece):
            self._write(f"[{self.case_id}] {describe(event)}")

    def on_restart(self) -> None:
        self._write(f"[{self.case_id}] stream dropped; retrying the turn from its start")
        self._parser = IncrementalParser()

    def finish(self) -> None:
        for event in self._parser.close():
            if event.kind != "text" or event.content.strip():
                self._write(f"[{self.case_id}] {describe(event)}")
        self._parser = IncrementalParser()

    def note(self, text: str) -> None:
        self._write(f"[{self.case_id}] {_one_line(text)}")
