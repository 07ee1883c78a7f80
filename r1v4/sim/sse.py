"""Server-sent-events framing for the simulator, including the odd framings real servers use
(comment keep-alives, CRLF, multi-line data, events cut across writes), so a client can be
tested against each. Writes are buffered and flushed before each pause, which keeps a fast
(unpaced) stream cheap."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
from aiohttp import web

KEEPALIVE_COMMENT = ": OPENROUTER PROCESSING"


def encode_event(obj: Any, *, crlf: bool = False, multiline: bool = False) -> bytes:
    """One `data:` event. `obj` is a JSON-able value, or the literal string "[DONE]"."""
    nl = b"\r\n" if crlf else b"\n"
    data = b"[DONE]" if obj == "[DONE]" else orjson.dumps(obj)
    if multiline and data != b"[DONE]" and len(data) > 2:
        # Split after the first comma at top level-ish: any split is fine, since SSE joins the
        # data lines with "\n", and a newline between JSON tokens is still valid JSON.
        cut = data.find(b",")
        if cut > 0:
            return b"data: " + data[: cut + 1] + nl + b"data: " + data[cut + 1 :] + nl + nl
    return b"data: " + data + nl + nl


def encode_comment(text: str, *, crlf: bool = False) -> bytes:
    nl = b"\r\n" if crlf else b"\n"
    return text.encode() + nl + nl


class SSEWriter:
    """Buffered SSE writer over an aiohttp StreamResponse."""

    def __init__(
        self,
        resp: web.StreamResponse,
        *,
        rng: random.Random,
        crlf: bool = False,
        multiline: bool = False,
        keepalive: bool = False,
        split_writes: bool = False,
    ) -> None:
        self.resp = resp
        self.rng = rng
        self.crlf, self.multiline = crlf, multiline
        self.keepalive, self.split_writes = keepalive, split_writes
        self._buf = bytearray()
        self.events_sent = 0

    def event(self, obj: Any) -> None:
        if self.keepalive and self.events_sent % 4 == 0:
            self.comment(KEEPALIVE_COMMENT)
        self._buf += encode_event(obj, crlf=self.crlf, multiline=self.multiline)
        self.events_sent += 1

    def comment(self, text: str) -> None:
        self._buf += encode_comment(text, crlf=self.crlf)

    def done(self) -> None:
        self.event("[DONE]")

    async def flush(self) -> None:
        if not self._buf:
            return
        data, self._buf = bytes(self._buf), bytearray()
        if not self.split_writes:
            await self.resp.write(data)
            return
        i = 0
        while i < len(data):
            n = self.rng.randint(1, 23)
            await self.resp.write(data[i : i + n])
            i += n
            # Yield so each piece leaves as its own TCP segment (most of the time).
            await asyncio.sleep(0.0005)


def parse_sse(raw: bytes | str) -> tuple[list[Any], bool]:
    """Reference parser for tests: the JSON payloads of a complete SSE body, and whether it
    ended with `data: [DONE]`. Follows the SSE rules (CRLF/LF, ':' comments, several `data:`
    lines joined by newlines); raises ValueError on a payload that is not JSON."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    events: list[Any] = []
    done = False
    for block in text.split("\n\n"):
        data = [
            line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")
        ]
        if not data:
            continue
        payload = "\n".join(data)
        if payload == "[DONE]":
            done = True
            continue
        events.append(orjson.loads(payload))
    return events, done
