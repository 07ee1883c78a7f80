"""Small benchmark files in the exact layouts the benchmarks ship (fields from MODELS.md §3
and the research notes), written by the tests that read them."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path
from typing import Any

from PIL import Image

__all__ = ["b64", "png", "write_tsv"]


def png(color: str, size: tuple[int, int] = (24, 16), fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt)
    return buf.getvalue()


def b64(color: str, size: tuple[int, int] = (24, 16)) -> str:
    return base64.b64encode(png(color, size)).decode()


def write_tsv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    """As pandas `to_csv(sep="\\t", index=False)` writes it (quoting what needs quotes)."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, dialect="excel-tab")
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in r] for r in rows])
    return path


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path
