"""Tool-result cache: the same tool call with the same arguments on the same backend returns
the stored observation instead of calling the provider again.

Why: reruns of a benchmark must be reproducible (the web changes, search results drift) and
must not pay for the same Serper query twice. The key is the tool name, its normalised
arguments (keys sorted, strings stripped; callers swap file paths for content hashes so
`crop_1.png` in two cases with different pixels never collides) and the backend name.

Only successful results are stored: an error (bad key, quota, timeout) is retried next time.
SQLite in WAL mode, one connection used from worker threads under a lock, so any number of
coroutines (and several processes) may share a file. Identical calls in flight at the same
moment are coalesced: the backend runs once and every caller gets its result.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from r1v4._util.sqlite_wal import open_shared
from r1v4.tools import ToolContext, ToolResult

KeyArgs = Callable[[dict[str, Any], ToolContext], Awaitable[dict[str, Any]]]
Executor = Callable[[dict[str, Any], ToolContext], Awaitable[ToolResult]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tool_cache (
    key TEXT PRIMARY KEY, tool TEXT NOT NULL, backend TEXT NOT NULL, args TEXT NOT NULL,
    text TEXT NOT NULL, data TEXT, created REAL NOT NULL, hits INTEGER NOT NULL DEFAULT 0)
"""


def normalise(value: Any) -> Any:
    """Arguments in a canonical form: strings stripped, dict keys sorted (by json.dumps)."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return {str(k).strip(): normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    return value


def cache_key(tool: str, args: dict[str, Any], backend: str) -> tuple[str, str]:
    """(sha256 key, canonical argument JSON) for one call."""
    canonical = json.dumps(normalise(args), sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(f"{tool}\x00{backend}\x00{canonical}".encode()).hexdigest()
    return digest, canonical


def _cacheable(result: ToolResult) -> bool:
    """Only clean successes: no error, no images, and no per-item failure in `data`."""
    if result.error is not None or result.images:
        return False
    if isinstance(result.data, list):
        return not any(isinstance(d, dict) and "error" in d for d in result.data)
    return True


class ToolCache:
    """A SQLite file of tool results. Open once per run; `close()` when done."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = open_shared(self.path)
        self._con.execute(_SCHEMA)
        self._con.commit()
        self._lock = threading.Lock()
        self._inflight: dict[str, asyncio.Future[ToolResult]] = {}
        self.hits = 0
        self.misses = 0
        self._closed = False

    # -- blocking primitives (run in a thread) --------------------------------------------
    def _get(self, key: str) -> tuple[str, str | None] | None:
        with self._lock:
            # fetchall ends the read before the write: upgrading a still-open read to a write
            # fails at once ("database is locked") when another run wrote in between.
            rows = self._con.execute(
                "SELECT text, data FROM tool_cache WHERE key = ?", (key,)
            ).fetchall()
            row = rows[0] if rows else None
            if row:
                self._con.execute("UPDATE tool_cache SET hits = hits + 1 WHERE key = ?", (key,))
                self._con.commit()
        return row

    def _put(self, key: str, tool: str, backend: str, args: str, result: ToolResult) -> None:
        data = None if result.data is None else json.dumps(result.data, ensure_ascii=False)
        with self._lock:
            self._con.execute(
                "INSERT OR REPLACE INTO tool_cache (key, tool, backend, args, text, data, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, tool, backend, args, result.text, data, time.time()),
            )
            self._con.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._con.execute("SELECT count(*) FROM tool_cache").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._con.close()

    # -- async API ------------------------------------------------------------------------
    async def get_or_call(
        self,
        tool: str,
        backend: str,
        key_args: dict[str, Any],
        call: Callable[[], Awaitable[ToolResult]],
    ) -> ToolResult:
        """The stored result for this call, or `call()`'s result (stored if it is no error)."""
        key, canonical = cache_key(tool, key_args, backend)
        row = await asyncio.to_thread(self._get, key)
        if row is not None:
            self.hits += 1
            text, data = row
            return ToolResult(tool=tool, text=text, data=None if data is None else json.loads(data))
        pending = self._inflight.get(key)
        if pending is not None:  # the same call is running right now: share its outcome
            self.hits += 1
            return await asyncio.shield(pending)
        future: asyncio.Future[ToolResult] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            self.misses += 1
            result = await call()
            if _cacheable(result):
                await asyncio.to_thread(self._put, key, tool, backend, canonical, result)
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            self._inflight.pop(key, None)

    def wrap(self, tool: str, backend: str, execute: Executor, key_args: KeyArgs) -> Executor:
        """An executor that consults the cache first. `key_args` maps a call to its key
        arguments (e.g. image paths replaced by content hashes); errors it raises propagate."""

        async def cached(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
            key = await key_args(args, ctx)
            return await self.get_or_call(tool, backend, key, lambda: execute(args, ctx))

        return cached
