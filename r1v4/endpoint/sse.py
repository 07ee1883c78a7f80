"""Incremental Server-Sent Events decoder.

Network reads split an SSE stream anywhere: inside a line, between the CR and LF of a CRLF,
inside a multi-byte UTF-8 character. This decoder takes raw bytes as they arrive and yields
complete events only, following the WHATWG event-stream rules that real servers rely on:
lines end in LF, CRLF or CR; lines starting with ':' are comments (OpenRouter keep-alives);
several ``data:`` lines in one event are joined with '\\n'; a blank line dispatches the event.

Lines are cut on bytes (LF and CR never occur inside a UTF-8 sequence) and an event's data
stays bytes (`SSEEvent.raw`), handed to the JSON reader as is: a character split across
reads is only read once its whole line is here, and no text is decoded per token. Invalid
UTF-8 becomes U+FFFD where text is asked for (`SSEEvent.data`) rather than an error.
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
    """One dispatched event; ``raw`` is the joined ``data:`` lines as bytes (no trailing
    newline), what a JSON reader takes directly; ``data`` is the same as text."""

    raw: bytes
    event: str = "message"
    id: str | None = None

    @property
    def data(self) -> str:
        return self.raw.decode("utf-8", errors="replace")


class SSEDecoder:
    """Feed bytes with :meth:`feed`, get whole events; call :meth:`close` at EOF.

    Everything stays bytes: a ``data:`` line is sliced, never decoded, so the usual event
    (one ``data:`` line and a blank line) costs two slices and one small object. ``close``
    dispatches an event left without its blank line (some proxies end the stream right after
    the last ``data:`` line) and reports whether bytes were left hanging.
    """

    def __init__(self, max_line_bytes: int = 64 * 1024 * 1024) -> None:
        self._pending: list[bytes] = []  # bytes of an unfinished line
        self._pending_len = 0
        self._skip_lf = False  # the previous read ended with CR: a leading LF belongs to it
        self._data: list[bytes] = []
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
            complete = chunk if last == len(chunk) - 1 else chunk[: last + 1]
        if last + 1 < len(chunk):
            rest = chunk[last + 1 :]
            self._pending.append(rest)
            self._pending_len = len(rest)
        elif complete[-1:] == b"\r":
            self._skip_lf = True
        return self._lines(complete.splitlines())

    def feed_data(self, chunk: bytes) -> list[bytes]:
        """`feed`, returning only each event's data (what a chat stream carries). A read of
        whole one-line events (`data: …` and a blank line each, the usual read) is split
        at once; anything else goes through `feed`.

        The usual read is recognised by counting, not per event: it starts with `data: `,
        ends with a blank line, holds no CR, and its only LFs are the pairs that end its
        events, each pair (but the last) followed by `data: `."""
        if (
            chunk[-2:] == b"\n\n"
            and chunk[:6] == b"data: "
            and not self._pending
            and not self._skip_lf
            and not self._data
            and b"\r" not in chunk
        ):
            n = chunk.count(b"\n\ndata: ") + 1
            if chunk.count(b"\n") == 2 * n:
                self._event = ""
                if n == 1:
                    return [chunk[6:-2]]
                return [b[6:] for b in chunk[:-2].split(b"\n\n")]
        return [ev.raw for ev in self.feed(chunk)]

    def _lines(self, lines: list[bytes]) -> list[SSEEvent]:
        """The hot loop: whole lines in, dispatched events out."""
        events: list[SSEEvent] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append(self._dispatch())
                    data = self._data
                else:
                    self._event = ""
            elif line[:5] == b"data:":
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line[:1] == b":":
                self.comments += 1
            else:
                self._field(line)
        return events

    def close(self) -> tuple[list[SSEEvent], bool]:
        """End of stream: return (events still buffered, whether an unfinished line was dropped
        or completed here). A final line with no line end is processed as if it had one."""
        leftover = bool(self._pending)
        lines = [b"".join(self._pending)] if self._pending else []
        self._pending.clear()
        self._pending_len = 0
        return self._lines([*lines, b""]), leftover

    def _field(self, raw: bytes) -> None:
        """A line that is neither data, a comment nor blank: a byte-order mark before the
        first line, `event`, `id`, or a field the spec says to ignore."""
        if raw[:3] == b"\xef\xbb\xbf":  # a byte-order mark is allowed before the first line
            raw = raw[3:]
            if raw:
                self._lines([raw])
            return
        name, sep, value = raw.decode("utf-8", errors="replace").partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":  # "data" with no colon: an empty data line
            self._data.append(value.encode())
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self._id = value
        # "retry" and unknown fields are ignored, as the spec says

    def _dispatch(self) -> SSEEvent:
        data = self._data
        ev = SSEEvent(
            raw=data[0] if len(data) == 1 else b"\n".join(data),
            event=self._event or "message",
            id=self._id,
        )
        self._data = []
        self._event = ""
        return ev
