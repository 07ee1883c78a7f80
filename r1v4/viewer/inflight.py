"""Reading the snapshots of cases still running (DESIGN.md, "Cases in flight").

A batch keeps one JSON file per running case in `<result file>.inflight/`. The viewer only
reads them, and treats them as untrusted like any record: only regular `*.json` files
directly in that folder are read (no symlinks, and the folder itself must not be one), each
at most `MAX_SNAPSHOT_BYTES`, and a file that is not a JSON object with an id is skipped.

A snapshot whose case already has a successful record is dropped (the runner deletes it
right after appending; we may just have looked in between). One whose process is gone or
that has not been updated for `STALE_AFTER_S` is kept but marked stale, with the reason.
A failed record does not hide a live snapshot: `--retry-errors` reruns failed ids.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1v4._util.process import pid_alive
from r1v4.protocol.sidecars import decode_snapshot, inflight_dir_for, read_snapshot_file

#: Largest snapshot file read; a bigger one is skipped (a trajectory is far smaller).
MAX_SNAPSHOT_BYTES = 5 << 20
#: Seconds without an update after which a snapshot is shown as stale.
STALE_AFTER_S = 120.0
#: At most this many snapshots are listed per file (a batch runs far fewer at once).
MAX_SNAPSHOTS = 1000

__all__ = [
    "MAX_SNAPSHOT_BYTES",
    "STALE_AFTER_S",
    "Snapshot",
    "SnapshotCache",
    "find_snapshot",
    "inflight_dir",
    "list_snapshots",
    "pid_alive",
    "visible_snapshots",
]


def inflight_dir(result_path: str | os.PathLike[str]) -> Path:
    """The snapshot folder of a result file (`r1v4.protocol.sidecars.inflight_dir_for`)."""
    return inflight_dir_for(result_path)


@dataclass
class Snapshot:
    """One running case as read from its file; `parsed` is `parse_full_response` of it."""

    id: str
    question: str
    image: Any
    images: Any
    mode: str
    pid: int | None
    host: str | None
    started_at: float | None
    updated_at: float | None
    turns: int
    full_response: str
    name: str
    parsed: dict[str, Any] = field(default_factory=dict)
    stale: str | None = None  # why it is stale, None while it looks alive

    def age(self, now: float) -> float | None:
        """Seconds since the last update (never negative), None when the time is unknown."""
        return max(0.0, now - self.updated_at) if self.updated_at is not None else None

    def record_like(self) -> dict[str, Any]:
        """The snapshot shaped like a result record, for the case page builders."""
        return {
            "id": self.id,
            "question": self.question,
            "image": self.image,
            "images": self.images,
            "response": {"full_response": self.full_response},
            "meta": {"mode": self.mode},
        }


def _from_json(data: bytes, name: str) -> Snapshot | None:
    """A Snapshot from file bytes, or None when they are not a usable snapshot."""
    from r1v4.parsing import parse_full_response

    fields = decode_snapshot(data)
    if fields is None:
        return None
    full = fields["full_response"]
    try:
        parsed = parse_full_response(full) if full else {"rounds": [], "final_round": {}}
    except Exception as exc:  # a parser bug must not hide the running case
        parsed = {"rounds": [], "final_round": {}, "parse_error": f"parser failed: {exc}"}
    return Snapshot(**fields, name=name, parsed=parsed)


class SnapshotCache:
    """Parsed snapshots by (folder, name, inode, size, mtime): a list page polls every few
    seconds, and most snapshots have not changed since the last poll."""

    def __init__(self, size: int = 256):
        self._items: OrderedDict[tuple, Snapshot | None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple) -> tuple[bool, Snapshot | None]:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return True, self._items[key]
        return False, None

    def put(self, key: tuple, snap: Snapshot | None) -> None:
        with self._lock:
            self._items[key] = snap
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def list_snapshots(
    result_path: str | os.PathLike[str],
    *,
    now: float | None = None,
    cache: SnapshotCache | None = None,
    max_bytes: int = MAX_SNAPSHOT_BYTES,
    stale_after: float = STALE_AFTER_S,
) -> list[Snapshot]:
    """Every readable snapshot of a result file, staleness marked, oldest start first."""
    folder = inflight_dir(result_path)
    if folder.is_symlink() or not folder.is_dir():
        return []
    now = time.time() if now is None else now
    out: list[Snapshot] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    for entry in entries:
        if len(out) >= MAX_SNAPSHOTS:
            break
        if not entry.name.endswith(".json") or entry.name.startswith("."):
            continue
        try:
            if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if st.st_size > max_bytes:
            continue
        # an unchanged file (same inode, size, mtime) is not read again
        hit, snap = (
            cache.get((str(folder), entry.name, st.st_ino, st.st_size, st.st_mtime_ns))
            if cache
            else (False, None)
        )
        if not hit:
            read = read_snapshot_file(Path(entry.path), max_bytes)
            if read is None:
                continue
            data, stamp = read
            snap = _from_json(data, entry.name)
            if cache:
                cache.put((str(folder), entry.name, *stamp), snap)
        if snap is None:
            continue
        out.append(_with_staleness(snap, now, stale_after))
    out.sort(key=lambda s: (s.started_at if s.started_at is not None else now, s.id))
    return out


def _with_staleness(snap: Snapshot, now: float, stale_after: float) -> Snapshot:
    """A copy of `snap` (cached objects stay untouched) with `stale` set for this moment."""
    from dataclasses import replace

    reason = None
    age = snap.age(now)
    if snap.host and snap.host == socket.gethostname():
        # Same machine: the process is the truth. A long non-streaming turn updates nothing
        # for minutes and is still alive.
        if snap.pid is None or not pid_alive(snap.pid):
            reason = f"process {snap.pid} is not running on this host"
    elif age is None:
        reason = "no update time in the snapshot"
    elif age > stale_after:
        # Another machine (or an old snapshot without a host): only the clock can tell.
        reason = f"no update for {age:.0f} s"
    return replace(snap, stale=reason)


def _record_status(entries: list[dict[str, Any]]) -> dict[str, str]:
    """Case id → "ok" if any of its records succeeded, else "error"."""
    status: dict[str, str] = {}
    for e in entries:
        if e.get("status") == "invalid" or e.get("id") is None:
            continue
        cid = str(e["id"])
        if e.get("status") == "ok":
            status[cid] = "ok"
        else:
            status.setdefault(cid, "error")
    return status


def visible_snapshots(
    result_path: str | os.PathLike[str],
    entries: list[dict[str, Any]],
    **kwargs: Any,
) -> list[Snapshot]:
    """The snapshots a page shows: without cases already finished in the file.

    A successful record always hides the snapshot. A failed one hides it only when the
    snapshot is stale: a live snapshot of a failed id is a retry in progress.
    """
    snaps = list_snapshots(result_path, **kwargs)
    if not snaps:  # the usual case once a batch is over: no pass over the index
        return []
    status = _record_status(entries)
    out = []
    for snap in snaps:
        done = status.get(snap.id)
        if done == "ok" or (done == "error" and snap.stale):
            continue
        out.append(snap)
    return out


def find_snapshot(
    result_path: str | os.PathLike[str],
    entries: list[dict[str, Any]],
    case_id: str,
    **kwargs: Any,
) -> Snapshot | None:
    """The visible snapshot of one case id (matched on the id inside, never a file name)."""
    for snap in visible_snapshots(result_path, entries, **kwargs):
        if snap.id == case_id:
            return snap
    return None
