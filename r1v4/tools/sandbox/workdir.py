"""Host side: stage a call's images into its folder; accept the images that come back.

Images are copied, never hard-linked: with a link, code that overwrote `image_path` in
place would change the case's own file. Finding the new images is not done here: the
collector does it inside the jail (`collect.py`) and sends them as PNG. The host accepts
only PNG, by its magic bytes, its header read by Pillow's PNG plugin alone (nothing is
decoded: the PNG was written by the collector inside the jail), within the byte and pixel
bounds, in a thread with a time bound — never any other decoder, never on the event loop.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from .server import RawImage

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class FoundImage:
    data: bytes
    ext: str
    name: str  # path relative to the working folder
    size: tuple[int, int]


@dataclass
class Collected:
    images: list[FoundImage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def stage_images(folder: Path, sources: list[Path], uid: int | None, taken: set[str]) -> list[str]:
    """Copy each source into folder under a unique plain name; returns those names.

    A session's folder is writable by the code between calls, so it may have planted a
    symlink under the name the next image would get: files are created with O_EXCL and
    O_NOFOLLOW (never through an existing entry) and chowned by descriptor, not by path.
    """
    names: list[str] = []
    for src in sources:
        src = Path(src)
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", src.name).lstrip(".") or "image.png"
        stem, suffix = Path(base).stem, Path(base).suffix
        try:
            source = open(src, "rb")  # noqa: SIM115 - closed below, after the copy
        except OSError as exc:
            raise FileNotFoundError(f"cannot stage image {src} into the sandbox: {exc}") from exc
        with source:
            name, n = base, 1
            while True:
                if name not in taken:
                    try:
                        fd = os.open(
                            folder / name,
                            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                            0o644,
                        )
                        break
                    except FileExistsError:
                        pass
                n += 1
                name = f"{stem}_{n}{suffix}"
            with os.fdopen(fd, "wb") as target:
                shutil.copyfileobj(source, target, 1 << 20)
                os.fchmod(target.fileno(), 0o644)
                if uid is not None:
                    os.fchown(target.fileno(), uid, uid)
        taken.add(name)
        names.append(name)
    return names


def accept_png(raw: RawImage, max_pixels: int, max_bytes: int) -> tuple[FoundImage | None, str]:
    """Check one image the collector sent, from its header alone: PNG by its magic bytes,
    its header read by Pillow's PNG plugin only, within the byte and pixel bounds. Nothing
    is decoded here: the collector wrote this PNG itself, inside the jail, from pixels it
    decoded there; whoever shows or resizes it later decodes PNG and nothing else."""
    data = raw.data
    if len(data) > max_bytes:
        return None, f"larger than {max_bytes // 1_000_000} MB"
    if not data.startswith(PNG_MAGIC):
        return None, "not a PNG image"
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
            width, height = img.size
    except Image.DecompressionBombError:
        return None, f"over {max_pixels} pixels"
    except Exception:  # noqa: BLE001 - a header Pillow cannot read: not an image we return
        return None, "not a valid image"
    if width * height > max_pixels or width <= 0 or height <= 0:
        return None, f"over {max_pixels} pixels"
    return FoundImage(data=data, ext="png", name=raw.name, size=(width, height)), ""


def accept_images(raws: list[RawImage], *, max_pixels: int, max_bytes: int) -> Collected:
    """The images the collector sent that pass `accept_png`; the rest are reported."""
    result = Collected()
    dropped: dict[str, int] = {}
    for raw in raws:
        found, why = accept_png(raw, max_pixels, max_bytes)
        if found is None:
            dropped[why] = dropped.get(why, 0) + 1
        else:
            result.images.append(found)
    if dropped:
        reasons = "; ".join(f"{n} {why}" for why, n in dropped.items())
        result.notes.append(f"{sum(dropped.values())} returned image(s) refused ({reasons}).")
    return result


async def accept_images_bounded(
    raws: list[RawImage], *, max_pixels: int, max_bytes: int, timeout_s: float
) -> Collected:
    """`accept_images` in a thread (never on the event loop), within a time bound."""
    if not raws:
        return Collected()
    work = asyncio.to_thread(accept_images, raws, max_pixels=max_pixels, max_bytes=max_bytes)
    try:
        return await asyncio.wait_for(work, timeout_s)
    except TimeoutError:
        note = f"checking the returned images took longer than {timeout_s:g} s; none returned."
        return Collected(notes=[note])
