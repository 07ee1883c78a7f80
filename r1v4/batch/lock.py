"""Who may write a result file: the lock beside it, and the temporary files of dead writers.

The lock is `<output>.lock`, held with `flock` for as long as the writer runs. The kernel
releases a `flock` when its process dies, however it dies, so a lock left by a killed run is
free at once and taking it over is the same atomic `flock` call as taking a fresh one: two
runs that start together cannot both win, and a live run's lock is never stolen (the old
check-the-pid-then-unlink takeover let two racing runs both remove the stale file and both
write). The file also names its holder (`<pid> <host>`) for the error message a refused run
prints; it is removed when the holder releases it.

Temporary files (`<output>.tmp-<host>-<pid>`: a merge being written, a compaction) are
named after the process that writes them, so the next writer of the same output removes
the ones whose process is gone.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from r1v4._util.process import pid_alive
from r1v4.protocol.errors import R1V4Error

__all__ = ["OutputLock", "ResultFileError", "clear_dead_temps", "replacing", "temp_path"]


class ResultFileError(R1V4Error):
    """The output file cannot be used as asked (locked by another run, unreadable, deleted or
    replaced while the run wrote it, a full disk)."""


@dataclass
class OutputLock:
    """An exclusive `flock` on `<output>.lock`; one left by a dead process is simply free."""

    path: Path
    held: bool = False
    fd: int | None = field(default=None, repr=False)

    def acquire(self) -> None:
        """Take the lock, or raise ResultFileError naming the run that holds it."""
        for _ in range(10):  # only a holder releasing between our open and flock loops
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                owner = _read_owner(fd)
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise ResultFileError(
                        f"cannot lock {self.path} ({exc.strerror}); this file system may not "
                        "support file locks"
                    ) from None
                who = f"process {owner[0]} on {owner[1]}" if owner else "another run"
                raise ResultFileError(
                    f"{self.path.with_suffix('')} is being written by {who} "
                    f"(lock file {self.path}); wait for it to finish"
                ) from None
            if not _same_inode(fd, self.path):
                # The holder released (and removed) the file between our open and our flock:
                # we locked a file nobody will see. Try the path again.
                os.close(fd)
                continue
            try:  # who holds it, for the message of a refused run; only informative
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
            except OSError:
                pass
            self.fd = fd
            self.held = True
            return
        raise ResultFileError(f"cannot take the lock {self.path}")

    def release(self) -> None:
        """Remove the lock file (while still holding it, so nobody locks a removed file and
        believes it holds the lock), then let go."""
        if not self.held or self.fd is None:
            return
        try:
            if _same_inode(self.fd, self.path):
                self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)
            self.fd = None
            self.held = False


def _same_inode(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _read_owner(fd: int) -> tuple[int, str] | None:
    try:
        pid, host = os.pread(fd, 256, 0).decode().split()[:2]
        return int(pid), host
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def temp_path(path: str | os.PathLike[str]) -> Path:
    """A temporary file beside `path`, named after this process (for `clear_dead_temps`)."""
    return Path(f"{os.fspath(path)}.tmp-{socket.gethostname()}-{os.getpid()}")


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Write a new version of `path`: the block writes a temporary file beside it
    (`temp_path`), which is flushed to disk and renamed over `path` when the block ends,
    and removed when it fails; nothing half-written ever stands at `path`. An OSError
    becomes ResultFileError naming `path`."""
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ResultFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def clear_dead_temps(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files of `path` (see `temp_path`) whose process has died on this
    host; returns them. Files of live processes, and of other hosts, are left alone."""
    target = Path(path)
    prefix = f"{target.name}.tmp-{socket.gethostname()}-"
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent if str(target.parent) else "."))
    except OSError:
        return removed
    for entry in entries:
        pid = entry.name[len(prefix) :] if entry.name.startswith(prefix) else ""
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed
