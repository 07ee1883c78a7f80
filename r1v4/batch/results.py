"""Result files: one JSON line per finished case, appended and flushed as it finishes.

Crash safety comes from three rules: each record is written with a single `write` on an
O_APPEND descriptor (a killed process leaves whole lines, or at worst one cut-off last line);
a cut-off last line is moved to `<file>.corrupt` before anything new is appended; and a lock
(`r1v4.batch.lock`) stops two runs from interleaving their lines in one output.

Faults while a run writes are told, never hidden: an append that fails (a full disk) is
undone to the last whole record and raises `ResultFileError`; an output file deleted or
replaced under the run is noticed at the next append (the path no longer names the file
the writer holds open), and what the run wrote is saved beside it instead of being lost
with the unlinked file. Reading an existing output to resume, set aside broken lines or
compact it is one streaming pass at a time: memory grows with the number of ids, never
with the size of the file.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from r1v4.batch.lock import OutputLock, ResultFileError, clear_dead_temps, temp_path
from r1v4.protocol.records import dumps_record, is_failed, iter_records, record_id

__all__ = ["OutputLock", "ResultFileError", "ResultWriter", "ResumeState"]

_CHUNK = 1 << 20


@dataclass
class ResumeState:
    """What an existing output already holds."""

    done: set[str] = field(default_factory=set)  # ids whose last record succeeded
    failed: set[str] = field(default_factory=set)  # ids whose last record failed
    lines: int = 0
    set_aside: int = 0  # broken lines moved to the .corrupt file
    kept: dict[str, Any] = field(default_factory=dict)  # id -> keep(newest record), if asked

    def note(self, rid: str, failed: bool) -> None:
        """The newest record of an id decides whether it is done or failed."""
        (self.failed if failed else self.done).add(rid)
        (self.done if failed else self.failed).discard(rid)


def _is_record_line(raw: bytes) -> bool:
    try:
        return isinstance(orjson.loads(raw), dict)
    except orjson.JSONDecodeError:
        return False


class ResultWriter:
    """Appends records to an output file, resuming what is already there.

    `overwrite` starts afresh; `retry_errors` lets failed cases run again, and when the run
    ends the file is compacted so each id keeps only its newest record. `detached` says,
    once the output was deleted or replaced under the run, what happened and where the
    records went (the caller stops the run).
    `keep`, when given, is applied to the newest record of each id already in the file (in
    the one pass that reads it), so a caller can sum up the whole file without reading it
    again.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        overwrite: bool = False,
        keep: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.keep = keep
        self.lock = OutputLock(Path(f"{self.path}.lock"))
        self.state = ResumeState()
        self.detached: str = ""
        self.rescue_path: Path | None = None
        self.appended = 0  # records this writer wrote
        self._fd: int | None = None
        self._identity: tuple[int, int] = (-1, -1)  # (device, inode) of the file at _fd
        self._replaced: set[str] = set()

    # -- opening ---------------------------------------------------------------------------
    def open(self) -> ResumeState:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        try:
            clear_dead_temps(self.path)
            if self.overwrite and self.path.exists():
                self.path.unlink()
            if self.path.exists():
                if self._scan():  # one pass; a second only when a line is broken
                    self._set_aside_broken_lines()
                else:
                    self._end_with_newline()
            self._fd = self._open_fd()
        except BaseException:
            self.lock.release()
            raise
        return self.state

    def _open_fd(self) -> int:
        # Read access too: if the file is deleted under us, its records can still be copied.
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        mine = os.fstat(fd)
        self._identity = (mine.st_dev, mine.st_ino)  # an open file's never change
        return fd

    def _set_aside_broken_lines(self) -> None:
        """Move undecodable lines (a line cut by a crash, usually the last) to .corrupt, in
        a streaming pass (only run when the scan met one)."""
        bad = 0
        tmp = temp_path(self.path)
        with (
            open(self.path, "rb") as fh,
            open(tmp, "wb") as good,
            open(f"{self.path}.corrupt", "ab") as corrupt,
        ):
            for raw in fh:
                body = raw.strip()
                if body:
                    ok = _is_record_line(body)
                    bad += not ok
                    (good if ok else corrupt).write(body + b"\n")
            good.flush()
            os.fsync(good.fileno())
        os.replace(tmp, self.path)
        self.state.set_aside = bad

    def _end_with_newline(self) -> None:
        """A whole last record without its newline gets one, so the next append starts a
        line of its own."""
        with open(self.path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
        with open(self.path, "ab") as out:
            out.write(b"\n")

    def _scan(self) -> int:
        """Read the existing output once: the ids done and failed (and `keep` of the newest
        record of each). Returns the number of undecodable lines met."""
        bad = 0
        for _, record in iter_records(self.path):
            if record is None:
                bad += 1
                continue
            self.state.lines += 1
            rid = record_id(record)
            self.state.note(rid, is_failed(record))
            if self.keep is not None:
                self.state.kept[rid] = self.keep(record)
        return bad

    # -- writing ---------------------------------------------------------------------------
    def append(self, record: dict[str, Any]) -> None:
        """Write one record as a single append; visible to readers at once.

        Raises ResultFileError when it cannot be written (the file is left ending with the
        last whole record). When the output was deleted or replaced since the last append,
        the record goes to the rescue file and `detached` says so."""
        if self._fd is None:
            raise ResultFileError("result file is not open")
        if not self.detached:
            self._check_still_ours()
        rid = record_id(record)
        if rid in self.state.failed or rid in self.state.done:
            self._replaced.add(rid)
        self._write(dumps_record(record))
        self.appended += 1
        self.state.note(rid, is_failed(record))

    def _write(self, data: bytes) -> None:
        """Append `data` with one write (more only after a short one). On failure the file
        is cut back to its size before this append: its size now less what got written
        (the size is asked only then, not before every append)."""
        assert self._fd is not None
        target = self.rescue_path or self.path
        written = 0
        try:
            written = os.write(self._fd, data)
            while written < len(data):  # a short write: a full disk, or an odd file system
                written += os.write(self._fd, data[written:])
        except OSError as exc:
            try:  # never leave half a record behind
                os.ftruncate(self._fd, os.fstat(self._fd).st_size - written)
            except OSError:
                pass
            hint = (
                "free some space, then rerun the same command to resume"
                if exc.errno in (errno.ENOSPC, errno.EDQUOT)
                else "rerun the same command to resume once it is fixed"
            )
            raise ResultFileError(
                f"cannot append to {target}: {exc.strerror or exc}; the records already in "
                f"it are whole ({hint})"
            ) from None

    def _check_still_ours(self) -> None:
        """Does the output's path still name the file we write? If not, save our records
        (one `stat` of the path against the identity of the file we opened)."""
        assert self._fd is not None
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            self._detach("deleted (or moved away)")
            return
        if (now.st_dev, now.st_ino) != self._identity:
            self._detach("replaced by another file")

    def _detach(self, what: str) -> None:
        """Copy what the lost file holds into a rescue file beside it, and write there from
        now on. The run that sees `detached` stops."""
        assert self._fd is not None
        candidates = [
            Path(f"{self.path}.rescued-{os.getpid()}.jsonl"),
            Path.cwd() / f"{self.path.name}.rescued-{os.getpid()}.jsonl",
        ]
        for rescue in candidates:
            try:
                fd = os.open(rescue, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
            except OSError:
                continue
            try:
                lines = _copy_fd(self._fd, fd)
            except OSError as exc:
                os.close(fd)
                self.detached = (
                    f"the output file {self.path} was {what} while the run was writing it, "
                    f"and its records could not be saved to {rescue} ({exc.strerror})"
                )
                return
            os.close(self._fd)
            self._fd, self.rescue_path = fd, rescue
            self.detached = (
                f"the output file {self.path} was {what} while the run was writing it; "
                f"the {lines} records it held, and every record finished since, are saved "
                f"in {rescue} (move it back to {self.path} to resume)"
            )
            return
        self.detached = (
            f"the output file {self.path} was {what} while the run was writing it, and no "
            "rescue file could be created beside it or in the working folder"
        )

    def compact(self) -> None:
        """Keep only the newest record of each id (after reruns replaced some): one pass to
        find each id's last line, one to copy those lines."""
        if self._fd is None or not self._replaced or self.detached:
            return
        latest: dict[str, int] = {}
        for number, record in iter_records(self.path):
            if record is not None:
                latest[record_id(record)] = number
        keep = set(latest.values())
        del latest
        tmp = temp_path(self.path)
        with open(self.path, "rb") as fh, open(tmp, "wb") as out:
            for number, raw in enumerate(fh, start=1):
                if number in keep:
                    out.write(raw if raw.endswith(b"\n") else raw + b"\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        os.close(self._fd)
        self._fd = self._open_fd()
        self._replaced.clear()

    def close(self) -> None:
        try:
            if self._fd is not None:
                try:
                    self.compact()
                finally:
                    os.close(self._fd)
                    self._fd = None
        finally:
            self.lock.release()

    def __enter__(self) -> ResultWriter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _copy_fd(src: int, dst: int) -> int:
    """Copy all of `src` (from its start) to `dst`; returns the number of lines copied."""
    offset = lines = 0
    while chunk := os.pread(src, _CHUNK, offset):
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst, view) :]
        offset += len(chunk)
        lines += chunk.count(b"\n")
    return lines
