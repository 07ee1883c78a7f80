"""Quality flags for a result file already written (`python -m r1v4 flags`): every record
gets its `flags` field computed afresh (`r1v4.evals.flagging`), in place or into another
file, with the output's lock held so a batch still writing it is never raced.

The file is streamed: records are flagged a chunk at a time (the judge's requests of one
chunk run together) and written to a temporary file beside the output, which then replaces
it in one rename; a line that is not a record is copied as it is, and counted. Nothing is
changed when `write` is False (the counts alone).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from r1v4.batch.lock import OutputLock, clear_dead_temps, replacing
from r1v4.evals.flagging import FlagRun, flag_record

__all__ = ["ReflagCounts", "reflag_file"]

_CHUNK = 16


@dataclass
class ReflagCounts:
    """What flagging a file found: records, flagged ones, each flag's count, broken lines."""

    records: int = 0
    flagged: int = 0
    by_flag: Counter[str] = field(default_factory=Counter)
    changed: int = 0  # records whose flags differ from what they held
    broken_lines: list[int] = field(default_factory=list)


async def _flag_chunk(chunk: list[tuple[int, bytes, Any]], run: FlagRun, counts: ReflagCounts):
    records = [rec for _, _, rec in chunk if isinstance(rec, dict)]
    results = await asyncio.gather(*(flag_record(rec, run) for rec in records))
    flags_of = {id(rec): flags for rec, flags in zip(records, results, strict=True)}
    out: list[bytes] = []
    for number, raw, rec in chunk:
        if not isinstance(rec, dict):
            counts.broken_lines.append(number)
            out.append(raw if raw.endswith(b"\n") else raw + b"\n")
            continue
        flags = flags_of[id(rec)]
        counts.records += 1
        counts.flagged += bool(flags)
        counts.by_flag.update(f["flag"] for f in flags)
        counts.changed += rec.get("flags") != flags
        rec["flags"] = flags
        out.append(orjson.dumps(rec) + b"\n")
    return out


async def _stream(src: Path, sink: Any, run: FlagRun, counts: ReflagCounts) -> None:
    chunk: list[tuple[int, bytes, Any]] = []
    with open(src, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                rec = orjson.loads(raw)
            except orjson.JSONDecodeError:
                rec = None
            chunk.append((number, raw, rec))
            if len(chunk) >= _CHUNK:
                for line in await _flag_chunk(chunk, run, counts):
                    sink(line)
                chunk = []
    for line in await _flag_chunk(chunk, run, counts):
        sink(line)


async def reflag_file(
    path: str | Path, run: FlagRun, *, output: str | Path | None = None, write: bool = True
) -> ReflagCounts:
    """Flag every record of `path`; write the result to `output` (default: `path` itself)
    unless `write` is False. Raises ResultFileError when the output is locked or cannot be
    written (the original file is untouched then)."""
    src = Path(path)
    out = Path(output) if output is not None else src
    counts = ReflagCounts()
    if not write:
        await _stream(src, lambda line: None, run, counts)
        return counts
    lock = OutputLock(Path(f"{out}.lock"))
    lock.acquire()
    try:
        clear_dead_temps(out)
        with replacing(out) as fh:
            await _stream(src, fh.write, run, counts)
    finally:
        lock.release()
    return counts
