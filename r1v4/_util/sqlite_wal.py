"""Open a SQLite cache file that several runs (processes or threads) may share.

WAL lets readers and one writer work at once, but switching a file to WAL needs a moment of
exclusive access, and SQLite answers that race with "database is locked" at once rather than
through the busy timeout. So the switch is retried until the deadline.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

BUSY_TIMEOUT_S = 30.0


def open_shared(path: str | Path, timeout_s: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """A connection in WAL mode, usable from worker threads (callers serialise access)."""
    con = sqlite3.connect(path, check_same_thread=False, timeout=timeout_s)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            mode = con.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            return con
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                con.close()
                raise
            time.sleep(0.02)
