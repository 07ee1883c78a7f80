"""Offset index of a result file: where each case starts, plus a small summary per case.

One streaming pass reads the file in chunks and keeps, for every complete line, its byte
offset and length and a summary the run list needs (status, question, rounds, tools, answer,
ground truth, score, latency). The full record is read again only when its page is shown.
Each byte is read and searched once, and the reader holds at most one chunk plus the line
being assembled; a line longer than `max_case_bytes` is not kept at all: its bytes are only
counted, and it is listed as "too large to show" (status `too_large`, with the id found in its
first bytes, if any), to be downloaded raw rather than parsed and rendered.

The index is cached in the user's cache folder (`$XDG_CACHE_HOME/r1v4/index`, keyed by the
file's real path; `<file>.idx` beside the file only when asked) and is trusted only while the
indexed bytes' length and a hash of their first and last bytes match. A file that grew
(a batch still writing) with its already indexed bytes unchanged is indexed from the old end
only. A last line without its newline is taken only when it already parses as a JSON object,
so a line still being written is never shown half-done.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from r1v4.viewer.summaries import (
    invalid_summary,
    summarize,
    too_large_summary,
)

INDEX_VERSION = 5  # 5: flags, stop_reason, endpoint, dialect, finished_at
#: Bytes read at a time; the reader holds one chunk plus the line being assembled.
CHUNK_BYTES = 1 << 20
#: Longest record line parsed and rendered by default (MAX_CASE_BYTES in the app config).
DEFAULT_MAX_CASE_BYTES = 64 << 20
#: Bytes kept from the start of a too-large line, to find its id.
HEAD_KEEP = 4096
#: Bytes hashed at the head and before the indexed end to detect a rewritten file.
CHECK_BYTES = 4096
#: Minimum seconds between cache writes while a file keeps growing.
PERSIST_EVERY_S = 10.0
#: New bytes indexed before a viewer shows its first page; the rest in the background.
SYNC_BYTES = 32 << 20


class RecordError(ValueError):
    """A record that cannot be read back; the message names file and line."""


def _first_bytes(pieces: list[bytes], n: int) -> bytes:
    """The first `n` bytes of the pieces joined, without joining them all."""
    out = bytearray()
    for piece in pieces:
        out += piece[: n - len(out)]
        if len(out) >= n:
            break
    return bytes(out)


def _sha(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def default_cache_dir() -> Path:
    """Per-user folder for index caches (`$XDG_CACHE_HOME/r1v4/index`, else ~/.cache/...)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "r1v4" / "index"


class ResultIndex:
    """The offset index of one result file, kept current as the file grows.

    `cache` is "auto" (the user cache folder), "beside" (`<file>.idx` next to the file, only
    when asked: a viewer should not write into the folders it reads), a folder path, or None
    to keep the index in memory only. Cache files in a folder are named by the file's name
    and a hash of its real path, so two `out.jsonl` in different folders never share one.
    With `background=True` (the viewer) the first `sync_bytes` of new bytes are indexed at
    once and the rest by a thread, so the first page is shown while a big file is still read:
    `entries` grows meanwhile, `building` says so, `refresh` returns at once, `wait` joins.
    All public methods are thread-safe.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        cache: str | os.PathLike | None = "auto",
        *,
        max_case_bytes: int = DEFAULT_MAX_CASE_BYTES,
        background: bool = False,
        sync_bytes: int | None = None,
    ):
        self.path = Path(path).resolve()
        self.cache = cache
        self.max_case_bytes = max_case_bytes
        #: Most file bytes the reader held at once: one chunk, plus a line under the limit
        #: being assembled (and, for a moment, its joined copy).
        self.max_held_bytes = 0
        self.entries: list[dict[str, Any]] = []
        self._indexed = 0  # bytes covered by entries
        self._lines = 0  # lines seen (1-based line numbers for messages)
        self._stat: tuple[int, int] | None = None
        self._prefix_sha: tuple[str, str] | None = None
        self._lock = threading.RLock()
        self._last_persist = 0.0
        self._dirty = False
        self.loaded_from_cache = False
        self._builder: threading.Thread | None = None
        self._yielding = False
        self.build_error: str | None = None
        if background:
            self._start(SYNC_BYTES if sync_bytes is None else sync_bytes)
        else:
            self.refresh()

    # ---- cache file -------------------------------------------------------------------
    def cache_path(self) -> Path | None:
        """Where this index is cached, or None when caching is off."""
        if self.cache is None:
            return None
        if self.cache == "beside":
            return self.path.with_name(self.path.name + ".idx")
        folder = default_cache_dir() if self.cache == "auto" else Path(self.cache)
        key = _sha(str(self.path).encode())[:16]
        return folder / f"{self.path.name}.{key}.idx"

    def _checks(self, f, upto: int) -> tuple[str, str]:
        f.seek(0)
        head = f.read(min(CHECK_BYTES, upto))
        start = max(0, upto - CHECK_BYTES)
        f.seek(start)
        tail = f.read(upto - start)
        return _sha(head), _sha(tail)

    def _load_cache(self) -> None:
        target = self.cache_path()
        if target is None or not target.is_file():
            return
        try:
            data = orjson.loads(target.read_bytes())
            head = data["header"]
            if head.get("v") != INDEX_VERSION or head.get("max_case") != self.max_case_bytes:
                return
            indexed = int(head["indexed"])
            st = self.path.stat()
            if st.st_size < indexed:
                return
            with open(self.path, "rb") as f:
                if self._checks(f, indexed) != (head["head_sha"], head["tail_sha"]):
                    return
            self.entries = data["entries"]
            self._prefix_sha = (head["head_sha"], head["tail_sha"])
            self._indexed = indexed
            self._lines = int(head["lines"])
            self.loaded_from_cache = True
        except (OSError, ValueError, KeyError, TypeError):
            self.entries, self._indexed, self._lines = [], 0, 0  # unreadable cache: rebuild

    def _persist(self, force: bool = False) -> None:
        target = self.cache_path()
        if target is None or not self._dirty:
            return
        now = time.monotonic()
        if not force and now - self._last_persist < PERSIST_EVERY_S:
            return
        try:
            with open(self.path, "rb") as f:
                head_sha, tail_sha = self._checks(f, self._indexed)
            header = {
                "v": INDEX_VERSION,
                "max_case": self.max_case_bytes,
                "file": self.path.name,
                "indexed": self._indexed,
                "lines": self._lines,
                "head_sha": head_sha,
                "tail_sha": tail_sha,
            }
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f"{target.name}.tmp{os.getpid()}.{threading.get_ident()}")
            tmp.write_bytes(orjson.dumps({"header": header, "entries": self.entries}))
            os.replace(tmp, target)
            self._dirty = False
            self._last_persist = now
        except OSError:
            pass  # a read-only place only costs a rebuild next time

    # ---- scanning ---------------------------------------------------------------------
    @property
    def building(self) -> bool:
        """A background pass is still reading the file (`entries` is growing)."""
        builder = self._builder
        return builder is not None and builder.is_alive()

    def wait(self) -> None:
        """Return once the background pass, if any, is done (export needs every case)."""
        builder = self._builder
        if builder is not None:
            builder.join()

    def _start(self, sync_bytes: int) -> None:
        """Index the first `sync_bytes` now and hand the rest to a thread."""
        with self._lock:
            self._load_cache()
            if self.path.stat().st_size <= self._indexed + sync_bytes:
                self._refresh_locked(load_cache=False)
                return
            if not self._prefix_unchanged():
                self.entries, self._indexed, self._lines = [], 0, 0
            self._scan(self.path.stat().st_size, stop_after=self._indexed + sync_bytes)
            self._stat = None  # not up to date: the thread's refresh finishes the pass
            self._builder = threading.Thread(
                target=self._build, name=f"r1v4-index-{self.path.name}", daemon=True
            )
            self._builder.start()

    def _build(self) -> None:
        self._yielding = True  # let a page being served take the GIL between lines
        try:
            with self._lock:
                self._refresh_locked(load_cache=False, persist=True)
        except Exception as exc:  # shown on the list page; the entries so far stay usable
            self.build_error = f"indexing stopped: {type(exc).__name__}: {exc}"

    def refresh(self) -> int:
        """Bring the index up to date with the file; returns how many cases were added (0 at
        once while a background pass is still reading)."""
        if self.building:
            return 0
        with self._lock:
            return self._refresh_locked(load_cache=self._stat is None)

    def _refresh_locked(self, load_cache: bool, persist: bool = False) -> int:
        st = self.path.stat()
        stamp = (st.st_size, st.st_mtime_ns)
        if stamp == self._stat:
            return 0
        before = len(self.entries)
        if load_cache:
            self._load_cache()
        if st.st_size < self._indexed or not self._prefix_unchanged():
            self.entries, self._indexed, self._lines = [], 0, 0
            before = 0
        self._scan(st.st_size)
        self._stat = stamp
        self._persist(force=before == 0 or persist)
        return len(self.entries) - before

    def _prefix_unchanged(self) -> bool:
        """The bytes already indexed still hold what they held (file only appended to)."""
        if self._indexed == 0 or self._prefix_sha is None:
            return True
        with open(self.path, "rb") as f:
            return self._checks(f, self._indexed) == self._prefix_sha

    def _scan(self, size: int, stop_after: int | None = None) -> None:
        """Index complete lines from `self._indexed` on, in one pass over the new bytes
        (with `stop_after`, only the lines that end before that offset)."""
        if size <= self._indexed:
            return
        limit = self.max_case_bytes
        with open(self.path, "rb") as f:
            f.seek(self._indexed)
            line_start = self._indexed
            parts: list[bytes] = []  # pieces of the line being assembled (under the limit)
            held = 0  # bytes in parts
            over: int | None = None  # length so far of a line over the limit (not kept)
            head = b""
            while True:
                want = (
                    CHUNK_BYTES if stop_after is None else min(CHUNK_BYTES, stop_after - f.tell())
                )
                if want <= 0:  # the rest later: a line cut here is read again from its start
                    self._prefix_sha, self._dirty = self._checks(f, self._indexed), True
                    return
                chunk = f.read(want)
                if not chunk:
                    break
                self.max_held_bytes = max(self.max_held_bytes, held + len(chunk))
                pos = 0
                while pos <= len(chunk):
                    nl = chunk.find(b"\n", pos)
                    end = nl if nl >= 0 else len(chunk)
                    if over is not None:
                        over += end - pos
                    elif held + end - pos > limit:
                        head = _first_bytes([*parts, chunk[pos:end]], HEAD_KEEP)
                        over, parts, held = held + end - pos, [], 0
                    elif end > pos:
                        parts.append(chunk[pos:end])
                        held += end - pos
                        self.max_held_bytes = max(self.max_held_bytes, held + len(chunk))
                    if nl < 0:
                        break
                    self._lines += 1
                    if over is not None:
                        entry = too_large_summary(self._lines, over, head, limit)
                        self._push(entry, line_start, over, self._lines)
                        line_start += over + 1
                    else:
                        if len(parts) > 1:  # the joined copy exists beside its pieces
                            self.max_held_bytes = max(self.max_held_bytes, 2 * held + len(chunk))
                        raw = parts[0] if len(parts) == 1 else b"".join(parts)
                        parts = []
                        self._add_line(raw, line_start)
                        line_start += held + 1
                    parts, held, over, head = [], 0, None, b""
                    self._indexed = line_start
                    pos = nl + 1
            if over is None and held:
                self._last_line(parts[0] if len(parts) == 1 else b"".join(parts), line_start)
            self._prefix_sha = self._checks(f, self._indexed)
        self._dirty = True

    def _last_line(self, raw: bytes, offset: int) -> None:
        """A last line without its newline: taken only when it is already a whole object (a
        line still being written is never shown half-done)."""
        try:
            value = orjson.loads(raw) if raw.strip() else None
        except orjson.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            self._lines += 1
            self._append(value, offset, len(raw), self._lines)
            self._indexed = offset + len(raw)

    def _add_line(self, raw: bytes, offset: int) -> None:
        """Summarise one complete line (already counted in `self._lines`)."""
        if self._yielding:
            time.sleep(0)
        if not raw.strip():
            return
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            entry = invalid_summary(
                self._lines, f"{self.path.name} line {self._lines}: invalid JSON ({exc})"
            )
            self._push(entry, offset, len(raw), self._lines)
            return
        self._append(value, offset, len(raw), self._lines)

    def _append(self, value: Any, offset: int, length: int, line: int) -> None:
        self._push(summarize(value, line), offset, length, line)

    def _push(self, entry: dict[str, Any], offset: int, length: int, line: int) -> None:
        entry["n"] = len(self.entries)
        entry["offset"] = offset
        entry["length"] = length
        entry["line"] = line
        self.entries.append(entry)

    # ---- reading ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, n: int) -> dict[str, Any]:
        """The summary of case number `n` (0-based, file order); IndexError if absent."""
        if n < 0:
            raise IndexError(n)
        return self.entries[n]

    def read_record(self, n: int) -> Any:
        """The full record of case `n`, read with one seek; RecordError names file and line
        (also for a line over the size limit, which is never read whole)."""
        entry = self.entry(n)
        if entry.get("status") == "too_large" or entry["length"] > self.max_case_bytes:
            raise RecordError(f"{self.path.name}: {entry.get('error') or 'case too large'}")
        with open(self.path, "rb") as f:
            f.seek(entry["offset"])
            raw = f.read(entry["length"])
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise RecordError(
                f"{self.path.name} line {entry['line']}: invalid JSON ({exc})"
            ) from None

    def flush(self) -> None:
        """Write the cache now (used at shutdown and by the benchmark)."""
        with self._lock:
            self._persist(force=True)
