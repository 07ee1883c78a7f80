"""Load images for a request: the real type from the bytes (not the file name), EXIF
orientation applied, optional downscale, and data URLs.

The seed used `mimetypes.guess_type`, which gives None for webp and lies for misnamed files;
here Pillow decides.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from r1v4.protocol import dataurl
from r1v4.protocol.errors import R1V4Error

Image.MAX_IMAGE_PIXELS = 400_000_000  # large scans are fine; decompression bombs are not

_MIME = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}
# Formats an OpenAI-compatible server is sure to accept; others are re-encoded as PNG.
_SENDABLE = {"PNG", "JPEG", "WEBP", "GIF"}


class ImageError(R1V4Error):
    """An image that cannot be used; the message names the file and the reason."""


@dataclass
class LoadedImage:
    """Image bytes ready to send, with what the model will see."""

    data: bytes
    mime: str
    width: int
    height: int
    source: str

    def data_url(self) -> str:
        return dataurl.encode_data_url(self.data, self.mime)


def _encode(img: Image.Image, fmt: str) -> tuple[bytes, str]:
    fmt = fmt if fmt in _SENDABLE and fmt != "GIF" else "PNG"
    if fmt == "JPEG" and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buf.getvalue(), _MIME[fmt]


def prepare_image(data: bytes, source: str, max_pixels: int | None = None) -> LoadedImage:
    """Validate bytes as an image; fix orientation, downscale above `max_pixels`, re-encode
    only when something changed (so untouched images go out byte for byte)."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = probe.format or ""
            probe.load()
            img = probe.copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{source}: not a readable image ({exc})") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{source}: image too large ({exc})") from exc
    changed = False
    orientation = img.getexif().get(0x0112, 1)
    if orientation not in (1, None):
        img = ImageOps.exif_transpose(img)
        changed = True
    if max_pixels and img.width * img.height > max_pixels:
        scale = math.sqrt(max_pixels / (img.width * img.height))
        size = (max(1, int(img.width * scale)), max(1, int(img.height * scale)))
        img = img.resize(size, Image.Resampling.LANCZOS)
        changed = True
    if changed or fmt not in _SENDABLE:
        out, mime = _encode(img, fmt)
    else:
        out, mime = data, _MIME[fmt]
    return LoadedImage(data=out, mime=mime, width=img.width, height=img.height, source=source)


def load_image(path: str | Path, max_pixels: int | None = None) -> LoadedImage:
    """Read and prepare an image file; ImageError names the file when it is missing or bad."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ImageError(f"image not found: {path}") from exc
    except IsADirectoryError as exc:
        raise ImageError(f"image path is a folder: {path}") from exc
    except OSError as exc:
        raise ImageError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    return prepare_image(data, str(path), max_pixels)


def decode_data_url(url: str) -> bytes:
    """The bytes of a base64 data URL; ImageError if it is not one."""
    try:
        return dataurl.decode_data_url(url)
    except dataurl.DataURLError as exc:
        raise ImageError(str(exc)) from exc


def sniff_extension(data: bytes) -> str:
    """File extension for image bytes, from their content."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = (img.format or "PNG").lower()
    except (UnidentifiedImageError, OSError):
        return "bin"
    return {"jpeg": "jpg"}.get(fmt, fmt)
