"""Incremental Server-Sent Events decoder.

Network reads split an SSE stream anywhere: inside a line, between the CR and LF of a CRLF,
inside a multi-byte UTF-8 character. This decoder takes raw bytes as they arrive and yields
complete events only, following the WHATWG event-stream rules that real servers rely on:
lines end in LF, CRLF or CR; lines starting with ':' are comments (OpenRouter keep-alives);
several ``data:`` lines in one event are joined with '\\n'; a blank line dispatches the event.

Lines are cut on bytes (LF and CR never occur inside a UTF-8 sequence), so a character split
across reads is only decoded once its whole line is here: that is the incremental UTF-8
decoding, without a per-byte decoder state. Invalid UTF-8 becomes U+FFFD rather than an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from r1v4.protocol.errors import R1V4Error

__all__ = ["SSEDecoder", "SSEError", "SSEEvent"]

_LINE_ENDS = (b"\n", b"\r")


class SSEError(R1V4Error, ValueError):
    """The stream broke a hard limit (a single line larger than ``max_line_bytes``)."""


@dataclass(slots=True)
class SSEEvent:
    """One dispatched event; ``data`` is the joined ``data:`` lines (no trailing newline)."""

    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Feed bytes with :meth:`feed`, get whole events; call :meth:`close` at EOF.

    ``close`` dispatches an event left without its blank line (some proxies end the stream
    right after the last ``data:`` line) and reports whether bytes were left hanging.
    """

    def __init__(self, max_line_bytes: int = 64 * 1024 * 1024) -> None:
        self._pending: list[bytes] = []  # bytes of an unfinished line
        self._pending_len = 0
        self._skip_lf = False  # the previous read ended with CR: a leading LF belongs to it
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._max_line = max_line_bytes
        self.comments = 0  # keep-alive comment lines seen (useful in diagnostics)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume one network read; return the events it completed, in order."""
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
                if not chunk:
                    return []
        last = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if last < 0:  # no line end yet: just remember the bytes
            self._pending.append(chunk)
            self._pending_len += len(chunk)
            if self._pending_len > self._max_line:
                raise SSEError(f"SSE line longer than {self._max_line} bytes")
            return []
        if self._pending:
            self._pending.append(chunk[: last + 1])
            complete = b"".join(self._pending)
            self._pending.clear()
            self._pending_len = 0
        else:
            complete = chunk[: last + 1]
        rest = chunk[last + 1 :]
        if rest:
            self._pending.append(rest)
            self._pending_len = len(rest)
        elif complete[-1:] == b"\r":
            self._skip_lf = True
        events: list[SSEEvent] = []
        for line in complete.splitlines():
            ev = self._line(line)
            if ev is not None:
                events.append(ev)
        return events

    def close(self) -> tuple[list[SSEEvent], bool]:
        """End of stream: return (events still buffered, whether an unfinished line was dropped
        or completed here). A final line with no line end is processed as if it had one."""
        events: list[SSEEvent] = []
        leftover = bool(self._pending)
        if self._pending:
            line = b"".join(self._pending)
            self._pending.clear()
            self._pending_len = 0
            ev = self._line(line)
            if ev is not None:
                events.append(ev)
        ev = self._line(b"")
        if ev is not None:
            events.append(ev)
        return events, leftover

    def _line(self, raw: bytes) -> SSEEvent | None:
        if not raw:
            return self._dispatch()
        if raw[:3] == b"\xef\xbb\xbf":  # a byte-order mark is allowed before the first line
            raw = raw[3:]
            if not raw:
                return None
        if raw[:1] == b":":
            self.comments += 1
            return None
        line = raw.decode("utf-8", errors="replace")
        name, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self._id = value
        # "retry" and unknown fields are ignored, as the spec says
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = ""
            return None
        ev = SSEEvent(
            data="\n".join(self._data),
            event=self._event or "message",
            id=self._id,
        )
        self._data = []
        self._event = ""
        return ev
