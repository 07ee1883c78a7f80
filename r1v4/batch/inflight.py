"""Snapshots of cases in flight, so the viewer can show what the model is doing before a
case finishes (DESIGN.md, "Cases in flight").

One small JSON file per running case in `<output>.inflight/`, replaced atomically. No file
is touched on the event loop: a case's `CaseSnapshot.update` only notes the trajectory so
far (a string, or a function that builds it, so a streamed turn is not joined per token),
and one `SnapshotWriter` per batch, on a timer of the loop, hands the changed snapshots to
its one writer thread every `interval_s` (0.5 s). So each file is written at turn
boundaries and while a turn streams, at most every `interval_s`, once the case has run
that long (a case that finishes sooner never writes one at all); a finished case's file is
removed by the same thread, after any write of it already queued. Writing is best effort: a
full disk or a vanished folder must never fail the case itself.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from r1v4._util.process import pid_alive
from r1v4.protocol.cases import Case
from r1v4.protocol.sidecars import (
    inflight_dir_for,
    snapshot_header,
    snapshot_path,
    write_snapshot,
)

__all__ = ["CaseSnapshot", "SnapshotWriter", "clear_dead_snapshots", "inflight_dir_for"]

log = logging.getLogger(__name__)

#: A job for the writer thread: (path, header, text, turns) to write; (path, None, "", 0)
#: to remove.
_Op = tuple[Path, dict[str, Any] | None, str, int]


def clear_dead_snapshots(folder: Path) -> int:
    """Remove snapshots left by runs that are gone (killed, crashed); returns how many."""
    removed = 0
    if not folder.is_dir():
        return 0
    for path in folder.glob("*.json"):
        try:
            pid = int(orjson.loads(path.read_bytes()).get("pid", 0))
        except (OSError, ValueError, AttributeError, TypeError):
            pid = 0
        if pid_alive(pid):
            continue
        path.unlink(missing_ok=True)
        removed += 1
    return removed


class CaseSnapshot:
    """The in-flight state of one case; its file is written by its `SnapshotWriter`."""

    __slots__ = ("writer", "case", "started_at", "source", "turns", "path", "closed")

    def __init__(self, writer: SnapshotWriter, case: Case) -> None:
        self.writer = writer
        self.case = case
        self.started_at = time.time()
        self.source: str | Callable[[], str] = ""
        self.turns = 0
        self.path: Path | None = None  # set once a write of it was queued
        self.closed = False

    def update(self, full_response: str | Callable[[], str], turns: int) -> None:
        """Note the trajectory so far (or a function returning it, called at most once a
        tick). Every update, a turn boundary's as well, is written at the next tick, and no
        case is written more often than once a tick."""
        if self.closed:
            return
        self.source = full_response
        self.turns = turns
        self.writer.dirty[id(self)] = self

    def close(self) -> None:
        """The case is finished (or abandoned): its snapshot goes."""
        if not self.closed:
            self.closed = True
            self.source = ""  # a streamed turn's function points back at the case's objects
            self.writer.finished(self)


class SnapshotWriter:
    """The batch's snapshot writer: a loop timer and one thread. Use as `async with`; the
    exit writes nothing new, removes every file still there and waits for the thread."""

    def __init__(self, folder: Path, mode: str, interval_s: float = 0.5) -> None:
        self.folder = folder
        self.mode = mode
        self.interval_s = interval_s
        self.dirty: dict[int, CaseSnapshot] = {}
        self._on_disk: dict[int, CaseSnapshot] = {}  # written (or queued) and not closed
        self._removals: list[Path] = []
        self._host = socket.gethostname()
        self._pool: ThreadPoolExecutor | None = None
        self._busy: Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def case(self, case: Case) -> CaseSnapshot:
        return CaseSnapshot(self, case)

    async def __aenter__(self) -> SnapshotWriter:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="r1v4-inflight")
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_later(self.interval_s, self._tick)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.dirty.clear()
        for snap in list(self._on_disk.values()):  # abandoned cases: their files go too
            snap.close()
        self.flush()  # removals only now
        await self.settle()
        assert self._pool is not None
        self._pool.shutdown(wait=True)

    async def settle(self) -> None:
        """Wait until the thread has done every job queued so far."""
        if self._busy is not None:
            await asyncio.wrap_future(self._busy)

    def finished(self, snap: CaseSnapshot) -> None:
        self.dirty.pop(id(snap), None)
        if self._on_disk.pop(id(snap), None) is not None:
            self._removals.append(snap.path)

    def _tick(self) -> None:
        if self._busy is None or self._busy.done():
            self.flush()
        self._timer = self._loop.call_later(self.interval_s, self._tick)

    def flush(self, *, young: bool = False) -> None:
        """Queue the changed snapshots and the removals for the thread (one job). A case
        younger than one interval waits for the next tick (unless `young`): most cases of
        a fast endpoint finish before anyone could look at them."""
        ops: list[_Op] = []
        born = time.time() - self.interval_s
        for key, snap in list(self.dirty.items()):
            if snap.path is None and snap.started_at > born and not young:
                continue
            del self.dirty[key]
            text = snap.source() if callable(snap.source) else snap.source
            if snap.path is None:
                snap.path = snapshot_path(self.folder, snap.case.id)
                self._on_disk[id(snap)] = snap
            ops.append((snap.path, self._header(snap), text, snap.turns))
        ops += [(path, None, "", 0) for path in self._removals]
        self._removals.clear()
        if ops and self._pool is not None:
            self._busy = self._pool.submit(_apply, ops)

    def _header(self, snap: CaseSnapshot) -> dict[str, Any]:
        return snapshot_header(snap.case, self.mode, snap.started_at, self._host)


def _apply(ops: list[_Op]) -> None:
    """In the writer thread: write or remove each snapshot, in order."""
    for path, header, text, turns in ops:
        try:
            if header is None:
                path.unlink(missing_ok=True)
            else:
                write_snapshot(path, header, text, turns)
        except OSError as exc:
            log.debug("in-flight snapshot not written for %s: %s", path.name, exc)
