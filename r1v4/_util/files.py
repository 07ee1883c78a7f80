"""Files named by untrusted input: only regular files are read, and never without a bound.

A path in an input line or on a command line can name a FIFO (opening it for reading blocks
until a writer appears, forever), a device (`/dev/zero` never ends), a folder or a socket.
Opening with `O_NONBLOCK` returns at once whatever the path is; `fstat` on the open
descriptor then says what it really is (no race between a check and the open), and only a
regular file is read, at most `max_bytes` of it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from r1v4.protocol.errors import R1V4Error

__all__ = [
    "FileRefused",
    "FileTooLarge",
    "file_kind",
    "open_or_reason",
    "open_regular",
    "read_bounded",
    "same_file",
]


class FileRefused(R1V4Error):
    """A path that is not a regular file, or a file over its size bound."""


class FileTooLarge(FileRefused):
    """A regular file over its size bound."""


def file_kind(mode: int) -> str:
    """What a `st_mode` names, in words for a message ("a FIFO (named pipe)")."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISREG(mode):
        return "a regular file"
    return "not a regular file"


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open `path` for reading only if it is a regular file (symlinks are followed to what
    they name). Raises FileRefused for anything else, OSError when it cannot be opened."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FileRefused(f"{path} is {file_kind(mode)}, not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_or_reason(path: str | os.PathLike[str]) -> BinaryIO | str:
    """`open_regular(path)`, or why it cannot be opened, in words that name the path: for
    commands that check a file before they start and report every refusal alike."""
    try:
        return open_regular(path)
    except FileNotFoundError:
        return f"{path}: no such file"
    except FileRefused as exc:
        return str(exc)
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"


def read_bounded(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`; FileRefused names the path and
    the bound otherwise. A file that grows while it is read is still cut at the bound."""
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > max_bytes:
            raise FileTooLarge(f"{path} is {_mb(size)}, over the {_mb(max_bytes)} limit")
        # Ask for what the file holds (asking for the bound would allocate it whole),
        # then for the rest of the bound if the file grew meanwhile.
        data = fh.read(size + 1)
        if len(data) > size:
            data += fh.read(max_bytes + 1 - len(data))
    if len(data) > max_bytes:
        raise FileTooLarge(f"{path} is over the {_mb(max_bytes)} limit")
    return data


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n} bytes"


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when both paths name one existing file (hard links and symlinks included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()
