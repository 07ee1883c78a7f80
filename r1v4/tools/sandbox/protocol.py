"""Length-prefixed JSON frames between the host and the fork server (and a session child).

Frames instead of lines because code and output may hold any character; a 4-byte big-endian
length keeps parsing trivial on both sides. Standard library only: the worker loads this.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024  # a request holds code, a reply capped output: far below this


def encode(obj: Any) -> bytes:
    """One frame: length header plus compact UTF-8 JSON."""
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return HEADER.pack(len(body)) + body


class FrameBuffer:
    """Accumulates bytes from a non-blocking fd and yields complete frames."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self._buf += data
        frames: list[Any] = []
        while len(self._buf) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buf)
            if size > MAX_FRAME:
                raise ValueError(f"frame of {size} bytes exceeds the {MAX_FRAME} byte limit")
            if len(self._buf) < HEADER.size + size:
                break
            body = bytes(self._buf[HEADER.size : HEADER.size + size])
            del self._buf[: HEADER.size + size]
            frames.append(json.loads(body))
        return frames


def write_all(fd: int, data: bytes) -> None:
    """Write every byte to a blocking fd (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_frame_blocking(fd: int) -> Any | None:
    """Read one frame from a blocking fd; None at end of file."""
    header = _read_exact(fd, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    body = _read_exact(fd, size)
    if body is None:
        return None
    return json.loads(body)


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < n:
        data = os.read(fd, n - len(chunks))
        if not data:
            return None
        chunks += data
    return bytes(chunks)
