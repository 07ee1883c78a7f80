"""Host side: a private block of user ids, one per concurrent call, held with a file lock.

Each call runs as its own uid so RLIMIT_NPROC counts only its processes and one kill(-1)
as that uid ends all of them. Two toolkit processes on one machine must never share a
uid, or one's cleanup would kill the other's calls: each takes a block of ids under an
flock that the kernel releases if the process dies.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import stat
import tempfile
from collections import deque
from pathlib import Path

UID_FIRST = 2_100_000_000  # far above real users and the usual subuid ranges
BLOCK_STRIDE = 1024
MAX_BLOCKS = 40


class UidBlock:
    """A locked range [base, base + size) of uids; None base when not running as root."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.base: int | None = None
        self._lock_fd: int | None = None
        if os.geteuid() != 0:
            return
        lock_dir = Path(tempfile.gettempdir()) / "r1v4-sandbox-uids"
        lock_dir.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(lock_dir)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0:  # someone else's or a symlink
            return
        for block in range(MAX_BLOCKS):
            fd = os.open(lock_dir / f"{block}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self._lock_fd = fd
            self.base = UID_FIRST + block * BLOCK_STRIDE
            return

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


class Slot:
    """A uid (or None) lent to one call or session; released once, maybe after a reply."""

    def __init__(self, pool: SlotPool, uid: int | None) -> None:
        self.uid = uid
        self._pool = pool
        self._released = False
        self.deferred = False  # set when release must wait for the worker's reply

    def release(self, *, force: bool = False) -> None:
        if self._released or (self.deferred and not force):
            return
        self._released = True
        self._pool.put(self)


class SlotPool:
    """Hands out uids from a block (or plain tokens without one) to bound concurrency.

    First in, first out: a uid given back waits behind every other free one, so the
    processes of its last call have long been reaped before it is lent again (a uid's
    process count is what its next call's process limit counts). `next_uid` says which
    uid will be lent next, so the worker can make that call ready ahead of time."""

    def __init__(self, block: UidBlock, count: int) -> None:
        self._free: deque[int | None] = deque(
            None if block.base is None else block.base + i for i in range(count)
        )
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def get(self) -> Slot:
        while not self._free:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif self._free:  # woken, then cancelled: wake the next one instead
                    self._wake()
                raise
        return Slot(self, self._free.popleft())

    def put(self, slot: Slot) -> None:
        self._free.append(slot.uid)
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def next_uid(self) -> int | None:
        """The uid the next `get` lends (None when none is free or uids are not used)."""
        return self._free[0] if self._free else None
