"""Perceptual hashes of an image and of windows inside it, so a crop still finds its source.

A whole-image pHash does not survive cropping: the model crops a region of a photo and asks
"what is this?". So each corpus image is hashed whole and in 14 windows (five at 70 % of each
side: four corners and the centre; nine at 50 %: a 3x3 grid with 25 % stride, which includes
the four quadrants and the central half). A query — a crop, or a resized copy — is hashed
whole and compared against every window. Windows that are nearly flat (a patch of sky) are not
stored: their hashes say nothing and would match any other flat patch.

Each window also keeps an 8x8 colour thumbnail. Hash distance only proposes candidates; the
search then compares thumbnails, because two different pictures with a similar layout can be a
few bits apart in pHash/dHash but are tens of grey levels apart pixel by pixel.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

# (name, left, top, size) as fractions of width/height.
WINDOWS: tuple[tuple[str, float, float, float], ...] = (
    ("full", 0.0, 0.0, 1.0),
    *((f"70_{i}", x, y, 0.7) for i, (x, y) in enumerate([(0, 0), (0.3, 0), (0, 0.3), (0.3, 0.3)])),
    ("70_c", 0.15, 0.15, 0.7),
    *((f"50_{r}{c}", c * 0.25, r * 0.25, 0.5) for r in range(3) for c in range(3)),
)
MIN_STDDEV = 6.0  # grey-level spread below which a window is "flat"
MIN_SIDE = 16  # pixels; smaller windows are too coarse to hash


@dataclass
class WindowHash:
    window: str
    phash: int  # 64-bit, unsigned
    dhash: int
    thumb: bytes = b""  # THUMB x THUMB RGB pixels, for verifying a hash match


THUMB = 8


def thumbnail(img: Image.Image) -> bytes:
    """A tiny RGB rendering of a window: compared pixel by pixel to confirm a hash match."""
    return img.convert("RGB").resize((THUMB, THUMB), Image.Resampling.BOX).tobytes()


def thumb_distance(a: bytes, b: bytes) -> float:
    """Mean absolute difference of two thumbnails, 0 (same) .. 255."""
    x = np.frombuffer(a, dtype=np.uint8).astype(np.int16)
    y = np.frombuffer(b, dtype=np.uint8).astype(np.int16)
    return float(np.abs(x - y).mean())


def _bits_to_int(h: imagehash.ImageHash) -> int:
    return int.from_bytes(np.packbits(h.hash.flatten()).tobytes(), "big")


def hash_window(rgb: Image.Image) -> WindowHash | None:
    """pHash + dHash + thumbnail of an image, or None if it is too small or flat to tell apart."""
    gray = rgb.convert("L")
    if min(gray.size) < MIN_SIDE or float(np.asarray(gray, dtype=np.float32).std()) < MIN_STDDEV:
        return None
    return WindowHash(
        "",
        _bits_to_int(imagehash.phash(gray)),
        _bits_to_int(imagehash.dhash(gray)),
        thumbnail(rgb),
    )


def window_hashes(img: Image.Image) -> list[WindowHash]:
    """Hashes of the whole image and of each window in WINDOWS (flat windows skipped)."""
    rgb = img.convert("RGB")
    w, h = rgb.size
    out: list[WindowHash] = []
    for name, fx, fy, fs in WINDOWS:
        box = (round(fx * w), round(fy * h), round((fx + fs) * w), round((fy + fs) * h))
        wh = hash_window(rgb if name == "full" else rgb.crop(box))
        if wh is not None:
            wh.window = name
            out.append(wh)
    return out


# Windows of the QUERY image: a crop the model made rarely lines up with a stored window, so the
# query is also hashed at a few smaller centred scales (a crop with a margin around the object)
# and corner positions. (left, top, size) as fractions.
QUERY_WINDOWS: tuple[tuple[float, float, float], ...] = (
    *(
        (round((1 - s) / 2, 3), round((1 - s) / 2, 3), s)
        for s in (1.0, 0.92, 0.85, 0.78, 0.7, 0.62)
    ),
    *(
        (x, y, s)
        for s in (0.85, 0.7)
        for x in (0.0, round(1 - s, 3))
        for y in (0.0, round(1 - s, 3))
    ),
)


def query_hashes(img: Image.Image) -> list[WindowHash]:
    """Hashes of a query image at each QUERY_WINDOWS position (flat windows skipped)."""
    rgb = img.convert("RGB")
    w, h = rgb.size
    out: list[WindowHash] = []
    for fx, fy, fs in QUERY_WINDOWS:
        box = (round(fx * w), round(fy * h), round((fx + fs) * w), round((fy + fs) * h))
        wh = hash_window(rgb if fs == 1.0 else rgb.crop(box))
        if wh is not None:
            wh.window = f"q{fs}@{fx},{fy}"
            out.append(wh)
    return out


def hash_image_file(path: str | Path) -> tuple[int, int, str, list[WindowHash]]:
    """(width, height, sha256, window hashes) of an image file; for the index builder's pool."""
    data = Path(path).read_bytes()
    with Image.open(Path(path)) as img:
        img.load()
        return img.width, img.height, hashlib.sha256(data).hexdigest(), window_hashes(img)


def to_signed(v: int) -> int:
    """SQLite integers are signed 64-bit."""
    return v - (1 << 64) if v >= 1 << 63 else v
