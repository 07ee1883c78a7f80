"""Length-prefixed JSON frames between the host and the fork server (and a session child).

Frames instead of lines because code and output may hold any character; a 4-byte big-endian
length keeps parsing trivial on both sides. A frame whose object has `"_blob": n` is
followed by n raw bytes (returned images), so image data never passes through JSON.
Standard library only: the worker loads this.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024  # a request holds code, a reply capped output: far below this
MAX_BLOB = 1024 * 1024 * 1024  # images of one reply together; the caps per call are far below
BLOB = "_blob"  # key of a frame's attachment size
DATA = "_data"  # where FrameBuffer puts the attachment's bytes


def encode(obj: Any, blob: bytes = b"") -> bytes:
    """One frame: length header plus compact UTF-8 JSON, plus an optional attachment."""
    if blob:
        obj = {**obj, BLOB: len(blob)}
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return HEADER.pack(len(body)) + body + blob


def blob_size(obj: Any) -> int:
    """The attachment size a decoded frame announces (0 for none); refuses absurd sizes."""
    size = obj.get(BLOB, 0) if isinstance(obj, dict) else 0
    if not isinstance(size, int) or not 0 <= size <= MAX_BLOB:
        raise ValueError(f"frame announces an attachment of {size!r} bytes")
    return size


class FrameBuffer:
    """Accumulates bytes from a non-blocking fd and yields complete frames; a frame's
    attachment, if any, is in `frame[DATA]`."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pending: dict[str, Any] | None = None  # a frame waiting for its attachment

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Any]:
        self._buf += data
        frames: list[Any] = []
        while True:
            if self._pending is not None:
                size = blob_size(self._pending)
                if len(self._buf) < size:
                    break
                self._pending[DATA] = bytes(self._buf[:size])
                del self._buf[:size]
                frames.append(self._pending)
                self._pending = None
                continue
            if len(self._buf) < HEADER.size:
                break
            (size,) = HEADER.unpack_from(self._buf)
            if size > MAX_FRAME:
                raise ValueError(f"frame of {size} bytes exceeds the {MAX_FRAME} byte limit")
            if len(self._buf) < HEADER.size + size:
                break
            body = bytes(self._buf[HEADER.size : HEADER.size + size])
            del self._buf[: HEADER.size + size]
            obj = json.loads(body)
            if blob_size(obj):
                self._pending = obj
            else:
                frames.append(obj)
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
