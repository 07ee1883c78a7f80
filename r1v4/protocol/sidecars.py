"""Sidecar folder for intermediate images, content-addressed so reruns never duplicate them.

A result file `out.jsonl` keeps its images under `out.jsonl.assets/<case-id>/<sha>.<ext>`;
records refer to them by paths relative to the result file's folder, so the file and its
folder can be moved together. With `embed=True` images become data URLs instead, for a single
portable file.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from r1v4.protocol.dataurl import encode_data_url

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_component(name: str) -> str:
    """A case id turned into one safe path component (no separators, no dot-dot)."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "case"
    return cleaned[:120]


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
        folder = self.root / safe_component(case_id)
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
