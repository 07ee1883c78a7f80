"""The case file of an import and its images, written the same way by every reader.

Lines go to a temporary file that replaces the output only when the import ends (a failed
import leaves the old file alone); each image is written once, by content, into the image
folder and referenced relative to the case file; ids are unique; a bad row is recorded as
`file:row:field: reason`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1v4._util.images import sniff_extension
from r1v4.evals.tables import RowError
from r1v4.protocol.sidecars import safe_component

__all__ = ["CaseWriter", "ImportResult", "row_error_text"]


@dataclass
class ImportResult:
    """What an import did: cases written, images written, bad rows (`file:row:field:
    reason`), and how the file was read (columns or layout), for the closing line."""

    written: int = 0
    images: int = 0
    errors: list[str] = field(default_factory=list)
    columns: dict[str, Any] = field(default_factory=dict)  # what was used, for the summary


def _write_image(folder: Path, stem: str, data: bytes, column: str | None) -> Path:
    ext = sniff_extension(data)
    if ext == "bin":
        raise RowError(column, "image bytes are not a PNG, JPEG, WebP, GIF or BMP image")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{stem}.{ext}"
    if not (target.is_file() and target.read_bytes() == data):
        tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return target


def _relative(path: Path, out_dir: Path) -> str:
    """How the case file refers to an image: relative to its own folder when possible."""
    try:
        return os.path.relpath(path, out_dir)
    except ValueError:  # another drive on Windows
        return str(path)


def row_error_text(source: str | Path, where: str, column: str | None, message: str) -> str:
    """A bad row's place and reason: `file:row:field: reason` (no field when unknown)."""
    field_part = f":{column}" if column else ""
    return f"{source}:{where}{field_part}: {message}"


class CaseWriter:
    """Writes one case file: lines appended to a temporary file that replaces `out` only
    when the import ends (a failed import leaves the old file alone), images written once.

    An image's bytes are written the first time they are seen (named after the case that
    first holds them) and every later case holding the same bytes shares that file, so a
    benchmark that repeats one image across rotated questions stores it once. Ids must be
    unique: a second case with an id already written is a row error.
    """

    def __init__(self, out: str | Path, images_dir: str | Path | None = None) -> None:
        self.out = Path(out)
        self.out_dir = self.out.resolve().parent
        folder = Path(images_dir) if images_dir else self.out_dir / f"{self.out.stem}_images"
        self.folder = folder.resolve()
        self.result = ImportResult()
        self._by_hash: dict[str, str] = {}
        self._stems: set[str] = set()
        self._ids: dict[str, str] = {}
        self._tmp = self.out.with_name(f".{self.out.name}.tmp{os.getpid()}")
        self._fh: Any = None

    def __enter__(self) -> CaseWriter:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._fh = self._tmp.open("w", encoding="utf-8")
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self._fh.close()
            if exc_type is None:
                os.replace(self._tmp, self.out)
        finally:
            self._tmp.unlink(missing_ok=True)

    def stem(self, case_id: str) -> str:
        """A file name stem for a case's images, unique even on case-insensitive file
        systems: ids that sanitise to the same name ("a/b", "a_b", "A_B") get a short hash."""
        stem = safe_component(case_id)
        if stem.lower() in self._stems:
            stem = f"{stem}-{hashlib.sha1(case_id.encode()).hexdigest()[:8]}"
        self._stems.add(stem.lower())
        return stem

    def check_id(self, case_id: str, column: str | None = None) -> None:
        """RowError when a case with this id was already written (before any image of the
        second one is written over the first one's)."""
        if case_id in self._ids:
            raise RowError(column, f"duplicate id {case_id!r} (first at {self._ids[case_id]})")

    def image(self, data: bytes, stem: str, column: str | None = None) -> str:
        """Store image bytes (once per content) and return the case file's reference."""
        digest = hashlib.sha256(data).hexdigest()
        ref = self._by_hash.get(digest)
        if ref is None:
            ref = _relative(_write_image(self.folder, stem, data, column), self.out_dir)
            self._by_hash[digest] = ref
            self.result.images += 1
        return ref

    def path_ref(self, path: Path) -> str:
        """The reference to an image that stays where it is."""
        return _relative(path, self.out_dir)

    def reserve(self, case_id: str, where: str) -> None:
        """Claim an id for a case written later (a row waiting for another row's image)."""
        self.check_id(case_id)
        self._ids[case_id] = where

    def add(self, case: dict[str, Any], where: str, *, reserved: bool = False) -> None:
        """Append one case (its id checked unique unless `reserve`d for it)."""
        if not reserved:
            self.check_id(case["id"])
        self._ids[case["id"]] = where
        self._fh.write(json.dumps(case, ensure_ascii=False) + "\n")
        self.result.written += 1

    def error(self, source: str | Path, where: str, column: str | None, message: str) -> None:
        self.result.errors.append(row_error_text(source, where, column, message))
