"""The images a record refers to, and the only way the viewer turns a reference into bytes.

A reference is served only when it is named by the loaded record (input `image`/`images`,
or an observation's images) and its bytes really are a raster image (PNG, JPEG, GIF, WebP,
BMP — sniffed from the content, so an SVG with a script or a renamed text file is refused).
Paths are tried relative to the result file's folder, then the folder the viewer runs in,
as the runner writes them either way.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Biggest image the viewer will read into memory.
MAX_IMAGE_BYTES = 64 << 20

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
    (b"BM", "image/bmp", "bmp"),
)


class ImageRefused(LookupError):
    """A reference the viewer will not serve; the message says why."""


@dataclass(frozen=True)
class ImageRef:
    """One image of a case: where it appears (`input` or a round number) and its reference."""

    kind: str  # "input" | "round" | "final"
    round_num: int | None
    ref: str

    @property
    def label(self) -> str:
        """A short caption: the file name, or "embedded image" for data URLs."""
        if self.ref.startswith("data:"):
            return "embedded image"
        return os.path.basename(self.ref) or self.ref


def sniff(data: bytes) -> tuple[str, str] | None:
    """(mime type, extension) of raster image bytes, or None for anything else."""
    for magic, mime, ext in _MAGIC:
        if data.startswith(magic):
            return mime, ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def _refs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v.strip()]
    return []


def input_refs(record: dict) -> list[str]:
    """The case's input images: `images` if present, else the seed's single `image`."""
    refs = _refs(record.get("images"))
    return refs or _refs(record.get("image"))


def round_refs(rnd: dict) -> list[str]:
    """Intermediate images of a parsed round: the parser's list plus the observation's."""
    seen: dict[str, None] = {}
    obs = rnd.get("observation")
    for ref in _refs(rnd.get("images")) + _refs(
        obs.get("images") if isinstance(obs, dict) else None
    ):
        seen.setdefault(ref, None)
    return list(seen)


def case_images(record: dict, parsed: dict) -> list[ImageRef]:
    """Every image of a case in page order; an image's position is its id in URLs."""
    out = [ImageRef("input", None, r) for r in input_refs(record)]
    for rnd in parsed.get("rounds", []):
        out.extend(ImageRef("round", rnd.get("round_num"), r) for r in round_refs(rnd))
    final = parsed.get("final_round") or {}
    out.extend(ImageRef("final", None, r) for r in _refs(final.get("images")))
    return out


def decode_data_url(url: str) -> bytes:
    """Bytes of a base64 data URL; ImageRefused when it is not one."""
    head, sep, payload = url.partition(",")
    if not sep or ";base64" not in head:
        raise ImageRefused("not a base64 data URL")
    if len(payload) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise ImageRefused("embedded image too large")
    try:
        return base64.b64decode("".join(payload.split()), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ImageRefused(f"bad base64 in data URL: {exc}") from None


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def locate(ref: str, result_dir: Path, cwd: Path, within: Sequence[Path] | None = None) -> Path:
    """The file a path reference names: relative to the result's folder, then to `cwd`.

    With `within` (resolved folders), only a file whose real path lies under one of them is
    taken, so a reference from a less trusted source (an in-flight snapshot) cannot reach
    out by `..` or a symlink.
    """
    raw = Path(ref)
    candidates = [raw] if raw.is_absolute() else [result_dir / raw, cwd / raw]
    outside = False
    for cand in candidates:
        if cand.is_file():
            real = cand.resolve()
            if within is not None and not any(_is_within(real, w) for w in within):
                outside = True
                continue
            return real
    if outside:
        raise ImageRefused(f"image outside the allowed folder: {ref}")
    raise ImageRefused(f"image file not found: {ref}")


def precheck(
    ref: str, result_dir: Path, cwd: Path, within: Sequence[Path] | None = None
) -> str | None:
    """Why a reference cannot be shown (None when it can), reading only its first bytes.

    Lets a page say "not an image: x.txt" instead of drawing a broken image; the image route
    still checks the full bytes itself.
    """
    try:
        if ref.startswith("data:"):
            head, _, payload = ref.partition(",")
            if ";base64" not in head:
                return "not a base64 data URL"
            start = base64.b64decode("".join(payload[:64].split())[:16] + "==", validate=False)
        else:
            with open(locate(ref, result_dir, cwd, within), "rb") as fh:
                start = fh.read(16)
    except (ImageRefused, OSError, binascii.Error, ValueError) as exc:
        return str(exc) if isinstance(exc, ImageRefused) else f"cannot read: {ref[:80]}"
    return None if sniff(start) else f"not a raster image: {ref[:80]}"


def load_image(
    ref: str, result_dir: Path, cwd: Path, within: Sequence[Path] | None = None
) -> tuple[bytes, str, str]:
    """(bytes, mime, extension) of a referenced image, refusing anything that is not one
    (and, with `within`, any file outside those folders; see `locate`)."""
    if ref.startswith("data:"):
        data = decode_data_url(ref)
    else:
        path = locate(ref, result_dir, cwd, within)
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise ImageRefused(f"image too large: {ref}")
        data = path.read_bytes()
    kind = sniff(data)
    if kind is None:
        raise ImageRefused(f"not a raster image: {ref[:80]}")
    return data, kind[0], kind[1]
