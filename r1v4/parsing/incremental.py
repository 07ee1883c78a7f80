"""``IncrementalParser``: the scanner fed chunk by chunk, for live views of a stream.

Apart from the scanner because it needs both the scanner (events) and the rounds (its
``result()``), while the rounds are built on the scanner's events: here it imports both and
neither imports it.
"""

from __future__ import annotations

from r1v4.parsing.rounds import assemble_rounds
from r1v4.parsing.scanner import Event, Scanner


class IncrementalParser:
    """Parse a response as it streams: ``feed`` chunks of any size, ``close`` at the end.

    Each call returns the events completed by that chunk, so a live view can show a think, a
    tool call or an observation the moment it closes. Whatever the chunking, the events
    (and ``result()``) equal those of ``parse_full_response`` on the whole text.
    """

    def __init__(self) -> None:
        self._scanner = Scanner()
        self._pending: list[str] = []
        self._pending_len = 0
        self._closed = False
        self.events: list[Event] = []

    def feed(self, chunk: str) -> list[Event]:
        """Add text; returns the events that are now complete."""
        if self._closed:
            raise ValueError("IncrementalParser.feed() after close()")
        if not chunk:
            return []
        self._pending.append(chunk)
        self._pending_len += len(chunk)
        # Every unit ends with ">", so without one nothing can complete: skip the scan (and
        # the join) until one arrives or the pending text is as big as the buffer.
        if ">" not in chunk and self._pending_len < max(4096, len(self._scanner.buf)):
            return []
        return self._run(final=False)

    def close(self) -> list[Event]:
        """Declare the end of the text; returns the remaining (possibly incomplete) events."""
        if self._closed:
            return []
        self._closed = True
        return self._run(final=True)

    def result(self) -> dict:
        """The parse of everything completed so far, in ``parse_full_response`` form."""
        return assemble_rounds(self.events)

    def partial(self) -> Event | None:
        """The unit still open (its text so far, ``incomplete=True``), for a live view that
        shows a think as it is written; None between units. Not part of ``events``."""
        return self._scanner.open_unit("".join(self._pending))

    def _run(self, final: bool) -> list[Event]:
        if self._pending:
            self._scanner.buf += "".join(self._pending)
            self._pending.clear()
            self._pending_len = 0
        events = self._scanner.run(final)
        self.events.extend(events)
        return events
