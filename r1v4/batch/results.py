"""Result files: one JSON line per finished case, appended and flushed as it finishes.

Crash safety comes from three rules: each record is written with a single `write` on an
O_APPEND descriptor (a killed process leaves whole lines, or at worst one cut-off last line);
a cut-off last line is moved to `<file>.corrupt` before anything new is appended; and a lock
file stops two runs from interleaving their lines in one output.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from r1v4._util.process import pid_alive
from r1v4.protocol.cases import record_id
from r1v4.protocol.errors import R1V4Error
from r1v4.protocol.records import dumps_record, is_failed, iter_records


class ResultFileError(R1V4Error):
    """The output file cannot be used as asked (locked by another run, unreadable)."""


@dataclass
class OutputLock:
    """An exclusive lock file beside the output; a lock left by a dead process is taken over."""

    path: Path
    held: bool = False

    def acquire(self) -> None:
        host = socket.gethostname()
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner and owner[1] == host and not pid_alive(owner[0]):
                    self.path.unlink(missing_ok=True)
                    continue
                who = f"process {owner[0]} on {owner[1]}" if owner else "another run"
                raise ResultFileError(
                    f"{self.path.with_suffix('')} is being written by {who} "
                    f"(lock file {self.path}); wait for it to finish, or delete the lock "
                    "file if that run is gone"
                ) from None
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{os.getpid()} {host}\n")
            self.held = True
            return
        raise ResultFileError(f"cannot take the lock {self.path}")

    def _owner(self) -> tuple[int, str] | None:
        try:
            pid, host = self.path.read_text().split()[:2]
            return int(pid), host
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


@dataclass
class ResumeState:
    """What an existing output already holds."""

    done: set[str] = field(default_factory=set)  # ids whose last record succeeded
    failed: set[str] = field(default_factory=set)  # ids whose last record failed
    lines: int = 0
    set_aside: int = 0  # broken lines moved to the .corrupt file

    def note(self, rid: str, failed: bool) -> None:
        """The newest record of an id decides whether it is done or failed."""
        (self.failed if failed else self.done).add(rid)
        (self.done if failed else self.failed).discard(rid)


class ResultWriter:
    """Appends records to an output file, resuming what is already there.

    `overwrite` starts afresh; `retry_errors` lets failed cases run again, and when the run
    ends the file is compacted so each id keeps only its newest record.
    """

    def __init__(self, path: str | Path, *, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.lock = OutputLock(Path(f"{self.path}.lock"))
        self.state = ResumeState()
        self._fd: int | None = None
        self._replaced: set[str] = set()

    # -- opening ---------------------------------------------------------------------------
    def open(self) -> ResumeState:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        try:
            if self.overwrite and self.path.exists():
                self.path.unlink()
            if self.path.exists():
                self._set_aside_broken_lines()
                self._scan()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except BaseException:
            self.lock.release()
            raise
        return self.state

    def _set_aside_broken_lines(self) -> None:
        """Move undecodable lines (a line cut by a crash, usually the last) to .corrupt."""
        data = self.path.read_bytes()
        if not data:
            return
        good: list[bytes] = []
        bad: list[bytes] = []
        for raw in data.splitlines(keepends=True):
            body = raw.strip()
            if not body:
                continue
            try:
                ok = isinstance(orjson.loads(body), dict)
            except orjson.JSONDecodeError:
                ok = False
            (good if ok else bad).append(body + b"\n")
        if not bad and data.endswith(b"\n"):
            return
        if bad:
            with open(f"{self.path}.corrupt", "ab") as fh:
                fh.writelines(bad)
        self.state.set_aside = len(bad)
        self._atomic_rewrite(good)

    def _scan(self) -> None:
        for _, record in iter_records(self.path):
            if record is None:
                continue
            self.state.lines += 1
            self.state.note(record_id(record), is_failed(record))

    def _atomic_rewrite(self, lines: list[bytes]) -> None:
        tmp = Path(f"{self.path}.tmp{os.getpid()}")
        with open(tmp, "wb") as fh:
            fh.writelines(lines)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    # -- writing ---------------------------------------------------------------------------
    def append(self, record: dict[str, Any]) -> None:
        """Write one record as a single append; visible to readers at once."""
        if self._fd is None:
            raise ResultFileError("result file is not open")
        rid = record_id(record)
        if rid in self.state.failed or rid in self.state.done:
            self._replaced.add(rid)
        data = dumps_record(record)
        written = os.write(self._fd, data)
        while written < len(data):  # only on unusual file systems
            written += os.write(self._fd, data[written:])
        self.state.note(rid, is_failed(record))

    def compact(self) -> None:
        """Keep only the newest record of each id (after reruns replaced some)."""
        if self._fd is None or not self._replaced:
            return
        latest: dict[str, int] = {}
        records: list[bytes] = []
        with open(self.path, "rb") as fh:
            for raw in fh:
                if not raw.strip():
                    continue
                try:
                    rid = record_id(orjson.loads(raw))
                except (orjson.JSONDecodeError, AttributeError):
                    continue
                latest[rid] = len(records)
                records.append(raw if raw.endswith(b"\n") else raw + b"\n")
        keep = sorted(latest.values())
        self._atomic_rewrite([records[i] for i in keep])
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._replaced.clear()

    def close(self) -> None:
        try:
            if self._fd is not None:
                self.compact()
                os.close(self._fd)
                self._fd = None
        finally:
            self.lock.release()

    def __enter__(self) -> ResultWriter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rebase_assets(record: dict[str, Any], source_dir: Path, target_dir: Path) -> dict[str, Any]:
    """Rewrite a record's image references (relative to the file it came from) so they resolve
    from another folder: in `assets` and in the observations inside full_response."""
    refs = record.get("assets") or []
    if not refs or source_dir.resolve() == target_dir.resolve():
        return record
    moved = {
        ref: os.path.relpath((source_dir / ref).resolve(), target_dir.resolve()) for ref in refs
    }
    record["assets"] = [moved[ref] for ref in refs]
    response = record.get("response")
    if isinstance(response, dict) and isinstance(response.get("full_response"), str):
        text = response["full_response"]
        for old, new in moved.items():
            text = text.replace(f'"{old}"', f'"{new}"')
        response["full_response"] = text
    return record


def merge_files(inputs: list[str | Path], output: str | Path) -> dict[str, int]:
    """Join shard outputs into one file, one record per id: a success beats a failure, and
    among equals the later file wins. Image references are rebased onto the output's folder.
    Returns counts for the summary."""
    best: dict[str, tuple[bool, bytes]] = {}
    order: list[str] = []
    broken = 0
    target_dir = Path(output).parent
    for path in inputs:
        source_dir = Path(path).parent
        for _, record in iter_records(path):
            if record is None:
                broken += 1
                continue
            record = rebase_assets(record, source_dir, target_dir)
            rid = record_id(record)
            ok = not is_failed(record)
            if rid not in best:
                order.append(rid)
            elif best[rid][0] and not ok:
                continue
            best[rid] = (ok, dumps_record(record))
    out = Path(output)
    tmp = Path(f"{out}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.writelines(best[rid][1] for rid in order)
    os.replace(tmp, out)
    return {
        "records": len(order),
        "succeeded": sum(1 for rid in order if best[rid][0]),
        "broken_lines": broken,
    }
