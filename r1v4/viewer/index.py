"""Offset index of a result file: where each case starts, plus a small summary per case.

One streaming pass reads the file in chunks and keeps, for every complete line, its byte
offset and length and a summary the run list needs (status, question, rounds, tools, answer,
ground truth, score, latency). The full record is read again only when its page is shown.

The index is cached next to the file as `<file>.idx` (or in a cache folder when that folder
is not writable) and is trusted only while the file's size and mtime match. A file that grew
(a batch still writing) with its already indexed bytes unchanged is indexed from the old end
only. A last line without its newline is taken only when it already parses as a JSON object,
so a line still being written is never shown half-done.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

INDEX_VERSION = 2
CHUNK_BYTES = 8 << 20
#: Longest question / answer text kept in the index (for the list and for search).
TEXT_KEEP = 1000
#: Bytes hashed at the head and before the indexed end to detect a rewritten file.
CHECK_BYTES = 4096
#: Minimum seconds between cache writes while a file keeps growing.
PERSIST_EVERY_S = 10.0


class RecordError(ValueError):
    """A record that cannot be read back; the message names file and line."""


def _text(value: Any) -> str:
    """Any JSON value as display text (lists joined, None empty)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " | ".join(_text(v) for v in value)
    return str(value)


_NORM = re.compile(r"[\s\W_]+", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Answer text folded for comparison: case, spaces and punctuation ignored."""
    return _NORM.sub(" ", text.casefold()).strip()


def answers_match(answer: str, truth: Any) -> bool:
    """True when the answer equals the ground truth (or one of a list), normalized."""
    got = normalize_answer(answer)
    if not got:
        return False
    options = truth if isinstance(truth, list) else [truth]
    return any(got == normalize_answer(_text(t)) for t in options if _text(t))


def case_id_of(record: dict, line: int) -> str:
    """The record's id as the runner wrote it, or a stable stand-in from its line number."""
    for key in ("id", "custom_id"):
        value = record.get(key)
        if isinstance(value, str | int) and str(value):
            return str(value)
    return f"line-{line}"


def invalid_summary(line: int, error: str) -> dict[str, Any]:
    """The summary of a line that is not a usable record, with every key the list reads."""
    return {
        "id": f"line-{line}",
        "status": "invalid",
        "error": error,
        "parse_error": None,
        "question": "",
        "rounds": 0,
        "tools": {},
        "answer": "",
        "truth": None,
        "score": None,
        "correct": None,
        "scorer": None,
        "latency_s": None,
        "inputs": 0,
        "images": 0,
        "mode": None,
        "model": None,
        "category": None,
        "planned": False,
    }


def summarize(record: Any, line: int) -> dict[str, Any]:
    """The small per-case summary the list view, filters and search work from."""
    from r1v4.parsing import parse_full_response  # the one parser of the project
    from r1v4.protocol.records import is_failed

    if not isinstance(record, dict):
        return invalid_summary(
            line, f"line {line}: a record must be a JSON object, got {type(record).__name__}"
        )
    response = record.get("response")
    response = response if isinstance(response, dict) else {}
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    error = response.get("error")
    full = response.get("full_response")
    rounds = 0
    tools: Counter[str] = Counter()
    answer = ""
    n_images = 0
    parse_error = None
    if isinstance(full, str) and full:
        try:
            parsed = parse_full_response(full)
        except Exception as exc:  # a parser bug must not hide the case from the list
            parsed = {"rounds": [], "final_round": {}}
            parse_error = f"parser failed: {exc}"
        for rnd in parsed.get("rounds", []):
            call = rnd.get("tool_call")
            if isinstance(call, dict) and isinstance(call.get("name"), str):
                tools[call["name"]] += 1
            n_images += len(rnd.get("images") or [])
        rounds = len(parsed.get("rounds", []))
        answer = _text((parsed.get("final_round") or {}).get("answer"))
    if isinstance(meta.get("rounds"), int):
        rounds = meta["rounds"]
    if isinstance(meta.get("tool_calls"), dict) and meta["tool_calls"]:
        tools = Counter({str(k): int(v) for k, v in meta["tool_calls"].items() if v})
    truth = record.get("answer")
    score = record.get("score") if isinstance(record.get("score"), dict) else None
    correct = None
    score_value = None
    if score is not None:
        correct = score.get("correct") if isinstance(score.get("correct"), bool) else None
        if isinstance(score.get("value"), int | float):
            score_value = float(score["value"])
    elif truth not in (None, "", []) and answer:
        correct = answers_match(answer, truth)
    images = record.get("images") if isinstance(record.get("images"), list) else []
    if not images and isinstance(record.get("image"), str) and record["image"]:
        images = [record["image"]]
    latency = meta.get("latency_s")
    return {
        "id": case_id_of(record, line),
        "status": "error" if is_failed(record) else "ok",
        "error": (_text(error) or "failed (no message)")[:TEXT_KEEP] if is_failed(record) else None,
        "parse_error": parse_error,
        "question": _text(record.get("question"))[:TEXT_KEEP],
        "rounds": int(rounds),
        "tools": dict(tools),
        "answer": answer[:TEXT_KEEP],
        "truth": _text(truth)[:TEXT_KEEP] if truth not in (None, "", []) else None,
        "score": score_value,
        "correct": correct,
        "scorer": score.get("scorer") if score else ("exact" if correct is not None else None),
        "latency_s": float(latency) if isinstance(latency, int | float) else None,
        "inputs": len(images),
        "images": n_images,
        "mode": _text(meta.get("mode")) or None,
        "model": _text(meta.get("model")) or None,
        "category": _text(record.get("category")) or None,
        "planned": bool(record.get("plan")),
    }


def _sha(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def default_cache_dir() -> Path:
    """Per-user folder for indexes of files whose own folder is read-only."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "r1v4" / "index"


class ResultIndex:
    """The offset index of one result file, kept current as the file grows.

    `cache` is "auto" (next to the file, else the user cache folder), a folder path, or None
    to keep the index in memory only. All public methods are thread-safe.
    """

    def __init__(self, path: str | os.PathLike, cache: str | os.PathLike | None = "auto"):
        self.path = Path(path).resolve()
        self.cache = cache
        self.entries: list[dict[str, Any]] = []
        self._indexed = 0  # bytes covered by entries
        self._lines = 0  # lines seen (1-based line numbers for messages)
        self._stat: tuple[int, int] | None = None
        self._prefix_sha: tuple[str, str] | None = None
        self._lock = threading.RLock()
        self._last_persist = 0.0
        self._dirty = False
        self.loaded_from_cache = False
        self.refresh()

    # ---- cache file -------------------------------------------------------------------
    def cache_path(self) -> Path | None:
        """Where this index is cached, or None when caching is off."""
        if self.cache is None:
            return None
        if self.cache != "auto":
            key = _sha(str(self.path).encode())[:16]
            return Path(self.cache) / f"{self.path.name}.{key}.idx"
        if os.access(self.path.parent, os.W_OK):
            return self.path.with_name(self.path.name + ".idx")
        key = _sha(str(self.path).encode())[:16]
        return default_cache_dir() / f"{self.path.name}.{key}.idx"

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
            if head.get("v") != INDEX_VERSION:
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
    def refresh(self) -> int:
        """Bring the index up to date with the file; returns how many cases were added."""
        with self._lock:
            st = self.path.stat()
            stamp = (st.st_size, st.st_mtime_ns)
            if stamp == self._stat:
                return 0
            before = len(self.entries)
            if self._stat is None:
                self._load_cache()
            if st.st_size < self._indexed or not self._prefix_unchanged():
                self.entries, self._indexed, self._lines = [], 0, 0
                before = 0
            self._scan(st.st_size)
            self._stat = stamp
            self._persist(force=before == 0)
            return len(self.entries) - before

    def _prefix_unchanged(self) -> bool:
        """The bytes already indexed still hold what they held (file only appended to)."""
        if self._indexed == 0 or self._prefix_sha is None:
            return True
        with open(self.path, "rb") as f:
            return self._checks(f, self._indexed) == self._prefix_sha

    def _scan(self, size: int) -> None:
        if size <= self._indexed:
            return
        with open(self.path, "rb") as f:
            f.seek(self._indexed)
            buf = b""
            buf_start = self._indexed
            while True:
                chunk = f.read(CHUNK_BYTES)
                if not chunk:
                    break
                buf = buf + chunk if buf else chunk
                pos = 0
                while True:
                    nl = buf.find(b"\n", pos)
                    if nl < 0:
                        break
                    self._add_line(buf, pos, nl, buf_start)
                    pos = nl + 1
                buf = buf[pos:]
                buf_start += pos
                self._indexed = buf_start
            if buf.strip():
                # last line without newline: take it only if it is already a whole object
                try:
                    value = orjson.loads(buf)
                except orjson.JSONDecodeError:
                    value = None
                if isinstance(value, dict):
                    self._lines += 1
                    self._append(value, buf_start, len(buf), self._lines)
                    self._indexed = buf_start + len(buf)
            self._prefix_sha = self._checks(f, self._indexed)
        self._dirty = True

    def _add_line(self, buf: bytes, start: int, end: int, buf_start: int) -> None:
        self._lines += 1
        raw = buf[start:end]
        if not raw.strip():
            return
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            entry = invalid_summary(
                self._lines, f"{self.path.name} line {self._lines}: invalid JSON ({exc})"
            )
            self._push(entry, buf_start + start, end - start, self._lines)
            return
        self._append(value, buf_start + start, end - start, self._lines)

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
        """The full record of case `n`, read with one seek; RecordError names file and line."""
        entry = self.entry(n)
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
