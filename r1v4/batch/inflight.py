"""Snapshots of cases in flight, so the viewer can show what the model is doing before a
case finishes (DESIGN.md, "Cases in flight").

One small JSON file per running case in `<output>.inflight/`, replaced atomically at each
turn boundary and at most every `min_interval_s` while a turn streams, deleted once the
case's record is appended. Writing is best effort: a full disk or a vanished folder must
never fail the case itself.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import orjson

from r1v4._util.process import pid_alive
from r1v4.protocol.cases import Case
from r1v4.protocol.sidecars import (
    inflight_dir_for,
    snapshot_header,
    snapshot_path,
    write_snapshot,
)

__all__ = ["CaseSnapshot", "clear_dead_snapshots", "inflight_dir_for"]

log = logging.getLogger(__name__)


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
    """The in-flight file of one case. With `folder=None` every call is a no-op."""

    def __init__(
        self, folder: Path | None, case: Case, mode: str, min_interval_s: float = 0.5
    ) -> None:
        self.path = snapshot_path(folder, case.id) if folder else None
        self.min_interval_s = min_interval_s
        self._header = snapshot_header(case, mode)
        self._written_at = 0.0

    def update(self, full_response: str, turns: int, *, force: bool = False) -> None:
        """Write the trajectory so far; throttled unless `force` (turn boundaries)."""
        if self.path is None:
            return
        now = time.monotonic()
        if not force and now - self._written_at < self.min_interval_s:
            return
        self._written_at = now
        try:
            write_snapshot(self.path, self._header, full_response, turns)
        except OSError as exc:
            log.debug("in-flight snapshot not written for %s: %s", self._header["id"], exc)

    def close(self) -> None:
        """The case is finished (or abandoned): its snapshot goes."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None
