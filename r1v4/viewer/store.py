"""The files one viewer instance has opened, and cheap access to their cases.

A `Library` lives on the app (`app.extensions["r1v4_viewer"]`), not in a module global, so
every test gets a fresh one. Each opened file gets a short stable id (from its real path)
used in URLs, so links survive a restart. Recently shown cases are kept parsed in a small
LRU, because one case page triggers several image requests for the same record.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from r1v4._util.files import open_or_reason
from r1v4.protocol.records import first_record_problem
from r1v4.viewer.images import ImageRef, case_images
from r1v4.viewer.index import DEFAULT_MAX_CASE_BYTES, RecordError, ResultIndex
from r1v4.viewer.paths import PathRefused, resolve_result_path


def result_file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why a file is not a result file the viewer can show (a README, a case file), judged
    by its first complete line; None when it may be one (an empty file is a run to come)."""
    opened = open_or_reason(path)
    if isinstance(opened, str):
        return opened
    with opened:
        return first_record_problem(opened, str(path))


def file_id(path: Path) -> str:
    """A short id for a resolved path, stable across restarts."""
    return hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:12]


@dataclass
class OpenedFile:
    """One result file the viewer may show."""

    fid: str
    path: Path
    index: ResultIndex
    label: str

    @property
    def folder(self) -> Path:
        return self.path.parent


@dataclass
class LoadedCase:
    """A case read back in full: the record, its parsed rounds and its images in page order."""

    n: int
    entry: dict[str, Any]
    record: Any
    parsed: dict[str, Any]
    images: list[ImageRef] = field(default_factory=list)


class Library:
    """Opened files by id; opens typed paths only through the root guard."""

    def __init__(
        self,
        *,
        roots: list[str],
        files: list[str],
        cache: str | None,
        cwd: str,
        lru_size: int = 16,
        max_case_bytes: int = DEFAULT_MAX_CASE_BYTES,
    ):
        self.roots = [str(Path(r).resolve()) for r in roots]
        self.cwd = Path(cwd).resolve()
        self.cache = cache
        self.max_case_bytes = max_case_bytes
        self.allowed = [Path(f).resolve() for f in files]
        self._files: dict[str, OpenedFile] = {}
        self._lock = threading.RLock()
        self._lru: OrderedDict[tuple, LoadedCase] = OrderedDict()
        self._lru_size = lru_size
        for path in self.allowed:
            self._register(path)

    def label_for(self, path: Path) -> str:
        """The path as the user knows it: relative to the working folder or a root."""
        for base in [self.cwd, *map(Path, self.roots)]:
            try:
                return str(path.relative_to(base))
            except ValueError:
                continue
        return str(path)

    def _register(self, path: Path) -> OpenedFile:
        fid = file_id(path)
        with self._lock:
            opened = self._files.get(fid)
            if opened is None:
                index = ResultIndex(
                    path, cache=self.cache, max_case_bytes=self.max_case_bytes, background=True
                )
                opened = OpenedFile(fid, path, index, self.label_for(path))
                self._files[fid] = opened
            return opened

    def open(self, user_path: str) -> OpenedFile:
        """Open a path typed by a user; raises PathRefused (a ValueError) with the reason."""
        path = resolve_result_path(
            user_path, roots=self.roots, allowed_files=self.allowed, cwd=self.cwd
        )
        if file_id(path) not in self._files:
            problem = result_file_problem(path)
            if problem:
                raise PathRefused(problem)
        return self._register(path)

    def files(self) -> list[OpenedFile]:
        with self._lock:
            return list(self._files.values())

    def get(self, fid: str) -> OpenedFile | None:
        """The opened file with this id, brought up to date with its growth; None if unknown."""
        with self._lock:
            opened = self._files.get(fid)
        if opened is not None:
            opened.index.refresh()
        return opened

    def load_case(self, opened: OpenedFile, n: int) -> LoadedCase:
        """Read, parse and list the images of case `n` (IndexError if absent)."""
        from r1v4.parsing import parse_full_response

        entry = opened.index.entry(n)
        key = (opened.fid, n, entry["offset"], entry["length"])
        with self._lock:
            hit = self._lru.get(key)
            if hit is not None:
                self._lru.move_to_end(key)
                return hit
        parsed: dict[str, Any] = {"rounds": [], "final_round": {}}
        try:
            unreadable = entry.get("status") in ("invalid", "too_large")
            record = None if unreadable else opened.index.read_record(n)
        except RecordError as exc:  # the file changed under us: show the reason on the page
            entry = {**entry, "status": "invalid", "error": str(exc)}
            record = None
        if isinstance(record, dict):
            response = record.get("response") if isinstance(record.get("response"), dict) else {}
            full = response.get("full_response")
            if isinstance(full, str) and full:
                parsed = parse_full_response(full)
            images = case_images(record, parsed)
        else:
            images = []
        case = LoadedCase(n, entry, record, parsed, images)
        with self._lock:
            self._lru[key] = case
            while len(self._lru) > self._lru_size:
                self._lru.popitem(last=False)
        return case


def library_from_config(config: dict[str, Any]) -> Library:
    """Build the library from app config keys RESULT_FILES, ROOTS, INDEX_CACHE, CWD and
    MAX_CASE_BYTES."""
    cwd = config.get("CWD") or os.getcwd()
    roots = config.get("ROOTS") or [cwd]
    return Library(
        roots=list(roots),
        files=list(config.get("RESULT_FILES") or []),
        cache=config.get("INDEX_CACHE", "auto"),
        cwd=cwd,
        max_case_bytes=int(config.get("MAX_CASE_BYTES") or DEFAULT_MAX_CASE_BYTES),
    )


def get_library(app: Flask | None = None) -> Library:
    """The Library of the current (or given) app; views import this at module level, as
    flaskr's blueprints import `get_db` from `db.py`."""
    return (app or current_app).extensions["r1v4_viewer"]
