"""The folders beside a result file: intermediate images and snapshots of cases in flight.

Assets (DESIGN.md, "Result record"): a result file `out.jsonl` keeps its images under
`out.jsonl.assets/<case_dir_name(id)>/<sha>.<ext>`, content-addressed so reruns never
duplicate them; records refer to them by paths relative to the result file's folder, so the
file and its folder can be moved together. With `embed=True` images become data URLs
instead, for a single portable file.

Snapshots (DESIGN.md, "Cases in flight"): one JSON object per running case in
`out.jsonl.inflight/<case_dir_name(id)>.json`, replaced atomically. The batch writes them
(`r1v4.batch.inflight` decides when) and the viewer reads them (`r1v4.viewer.inflight`
decides what is stale); the file's name, fields, writing and decoding are all here.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from r1v4.protocol.cases import Case
from r1v4.protocol.dataurl import encode_data_url

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: An id that is already a safe file name is its own name: no dot first, at most 120 chars.
_KEPT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,119}")


def safe_component(name: str) -> str:
    """Any text turned into one safe path component (no separators, no dot-dot). Several
    texts can give one name: for a case's folder or file use `case_dir_name`."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "case"
    return cleaned[:120]


def case_dir_name(case_id: str) -> str:
    """The name a case's assets folder and in-flight snapshot take: one safe path component
    that no other id gets. An id that is already a safe name (`[A-Za-z0-9._-]`, no dot
    first, at most 120 characters) is kept as is; any other gets its cleaned first 100
    characters, `+` and 16 hex digits of the SHA-256 of the id. `+` never appears in a kept
    name, so "a/b" (`a_b+…`) and "a_b" stay apart, as do long ids with a common start."""
    if _KEPT.fullmatch(case_id):
        return case_id
    digest = hashlib.sha256(case_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{safe_component(case_id)[:100]}+{digest}"


def assets_dir_for(output_path: str | os.PathLike) -> Path:
    """The sidecar folder that belongs to a result file."""
    return Path(f"{os.fspath(output_path)}.assets")


@dataclass
class AssetStore:
    """Stores image bytes for one result file; returns the string a record should carry."""

    output_path: Path
    embed: bool = False

    @property
    def root(self) -> Path:
        return assets_dir_for(self.output_path)

    def put(self, case_id: str, data: bytes, ext: str = "png") -> str:
        """Store `data` and return its reference: a relative path, or a data URL if embedding."""
        ext = ext.lower().lstrip(".") or "png"
        if self.embed:
            mime = "image/jpeg" if ext in ("jpg", "jpeg") else f"image/{ext}"
            return encode_data_url(data, mime)
        digest = hashlib.sha256(data).hexdigest()[:20]
        folder = self.root / case_dir_name(case_id)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{digest}.{ext}"
        if not target.exists():
            tmp = target.with_suffix(f".{ext}.tmp{os.getpid()}")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return os.path.relpath(target, self.output_path.parent or Path("."))

    def resolve(self, ref: str) -> Path | None:
        """Turn a stored relative reference back into a path (None for data URLs)."""
        if ref.startswith("data:"):
            return None
        return (self.output_path.parent / ref).resolve()


# --------------------------------------------------------------------------- snapshots

#: The fields of a snapshot file, in the order they are written.
SNAPSHOT_FIELDS = (
    "id",
    "question",
    "image",
    "images",
    "mode",
    "pid",
    "host",
    "started_at",
    "updated_at",
    "turns",
    "full_response",
)


def inflight_dir_for(output_path: str | os.PathLike[str]) -> Path:
    """The snapshot folder that belongs to a result file."""
    return Path(f"{os.fspath(output_path)}.inflight")


def snapshot_path(folder: Path, case_id: str) -> Path:
    """The snapshot file of one case (named by `case_dir_name`, as its assets folder)."""
    return folder / f"{case_dir_name(case_id)}.json"


def snapshot_header(
    case: Case, mode: str, started_at: float | None = None, host: str | None = None
) -> dict[str, Any]:
    """The fields that stay the same while a case runs (in this process, on this host);
    a writer of many snapshots passes the host name it looked up once."""
    return {
        "id": case.id,
        "question": case.question,
        "image": case.image,
        "images": case.images,
        "mode": mode,
        "pid": os.getpid(),
        "host": host if host is not None else socket.gethostname(),
        "started_at": time.time() if started_at is None else started_at,
    }


def write_snapshot(path: Path, header: dict[str, Any], full_response: str, turns: int) -> None:
    """Replace the snapshot at `path` atomically (a temporary file, then a rename); raises
    OSError, which a writer should swallow: a snapshot must never fail its case."""
    snapshot = {
        **header,
        "updated_at": time.time(),
        "turns": turns,
        "full_response": full_response,
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(orjson.dumps(snapshot))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def read_snapshot_file(path: Path, max_bytes: int) -> tuple[bytes, tuple] | None:
    """(bytes, stat key) of a regular file opened without following a symlink, or None (a
    snapshot is untrusted: a link or a huge file is not read)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        return None
    return data, (st.st_ino, st.st_size, st.st_mtime_ns)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value == value:
        return float(value)
    return None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def decode_snapshot(data: bytes) -> dict[str, Any] | None:
    """The fields of a snapshot file (`SNAPSHOT_FIELDS`), each of the type it should have
    (a wrong one becomes its empty value), or None when the bytes are not a snapshot: not a
    JSON object, or no id."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    case_id = obj.get("id")
    if isinstance(case_id, int) and not isinstance(case_id, bool):
        case_id = str(case_id)
    if not isinstance(case_id, str) or not case_id:
        return None
    full = obj.get("full_response")
    question = obj.get("question")
    host = obj.get("host")
    return {
        "id": case_id,
        "question": question if isinstance(question, str) else "",
        "image": obj.get("image"),
        "images": obj.get("images"),
        "mode": str(obj.get("mode") or ""),
        "pid": _integer(obj.get("pid")),
        "host": host if isinstance(host, str) else None,
        "started_at": _number(obj.get("started_at")),
        "updated_at": _number(obj.get("updated_at")),
        "turns": _integer(obj.get("turns")) or 0,
        "full_response": full if isinstance(full, str) else "",
    }
