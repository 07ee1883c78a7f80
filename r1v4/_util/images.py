"""Load images for a request: the real type from the bytes (not the file name), EXIF
orientation applied, optional downscale, and data URLs.

The seed used `mimetypes.guess_type`, which gives None for webp and lies for misnamed files;
here the magic bytes decide, and Pillow opens the bytes only with the one plugin they name,
among the raster formats a model is sent (`ACCEPTED_FORMATS`): no other decoder (EPS, which
runs Ghostscript; TIFF; the many exotic plugins) ever sees bytes from an input file, a data
URL or the sandbox. The pixel bound is checked on the header, before anything is decoded.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from r1v4._util.files import FileRefused, FileTooLarge, read_bounded
from r1v4.protocol import dataurl
from r1v4.protocol.errors import R1V4Error

#: The raster formats the toolkit decodes, by Pillow's names: what every OpenAI-compatible
#: server accepts, plus BMP (re-encoded as PNG before it is sent).
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
#: The default pixel bound of an image before it is decoded (`--max-input-pixels`): a
#: 10,000 x 10,000 scan; decoding one takes about 0.3 GB (0.4 GB with alpha).
DEFAULT_MAX_INPUT_PIXELS = 100_000_000
#: The default size bound of an input image file (`--max-input-mb`).
DEFAULT_MAX_INPUT_BYTES = 256_000_000

Image.MAX_IMAGE_PIXELS = DEFAULT_MAX_INPUT_PIXELS  # Pillow's own check, as a backstop

_MIME = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
}
# Formats an OpenAI-compatible server is sure to accept; others are re-encoded as PNG.
_SENDABLE = {"PNG", "JPEG", "WEBP", "GIF"}


def sniff_raster(head: bytes) -> str | None:
    """The accepted format the first bytes announce (Pillow's name), or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith(b"BM"):
        return "BMP"
    return None


def _pillow_limit() -> int:
    limit = Image.MAX_IMAGE_PIXELS
    return 2 * limit if limit else 2**63


def set_decoder_pixel_limit(max_pixels: int) -> None:
    """Set Pillow's decompression-bomb limit for this process to `max_pixels` (a batch does
    it once, from `--max-input-pixels`). Pillow's warning for images just over its limit is
    silenced: `prepare_image` refuses them itself, with a message that names the file."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class ImageError(R1V4Error):
    """An image that cannot be used; the message names the file and the reason."""


class ImageTooLarge(ImageError):
    """An image over the pixel bound (or the size bound of its file)."""


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


def prepare_image(
    data: bytes,
    source: str,
    max_pixels: int | None = None,
    *,
    max_input_pixels: int = DEFAULT_MAX_INPUT_PIXELS,
    formats: tuple[str, ...] = ACCEPTED_FORMATS,
) -> LoadedImage:
    """Validate bytes as an image of one of `formats`; refuse one over `max_input_pixels`
    before decoding it; fix orientation, downscale above `max_pixels`, re-encode only when
    something changed (so untouched images go out byte for byte)."""
    fmt = sniff_raster(data[:16])
    if fmt is None or fmt not in formats:
        names = ", ".join("WebP" if f == "WEBP" else f for f in formats)
        raise ImageError(f"{source}: not an accepted image format ({names})")
    try:
        img = Image.open(io.BytesIO(data), formats=[fmt])
        width, height = img.size
        if width * height > max_input_pixels:
            raise ImageTooLarge(
                f"{source}: {width}x{height} = {width * height:,} pixels, over the limit of "
                f"{max_input_pixels:,}"
            )
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own check fired first (its limit may be below ours): same refusal.
        size = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = f"{int(size.group(1)):,} pixels, " if size else ""
        raise ImageTooLarge(
            f"{source}: {pixels}over the limit of {min(max_input_pixels, _pillow_limit()):,}"
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{source}: not a readable image ({exc})") from exc
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


def read_image_file(path: str | Path, max_bytes: int = DEFAULT_MAX_INPUT_BYTES) -> bytes:
    """The bytes of an image file: a regular file (never a FIFO, a device or a folder) of at
    most `max_bytes`. ImageError names the file and the reason."""
    try:
        return read_bounded(path, max_bytes)
    except FileNotFoundError as exc:
        raise ImageError(f"image not found: {path}") from exc
    except FileTooLarge as exc:
        raise ImageTooLarge(f"image {exc}") from exc
    except FileRefused as exc:
        raise ImageError(f"image {exc}") from exc
    except OSError as exc:
        raise ImageError(f"cannot read image {path}: {exc.strerror or exc}") from exc


def load_image(
    path: str | Path,
    max_pixels: int | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_INPUT_BYTES,
    max_input_pixels: int = DEFAULT_MAX_INPUT_PIXELS,
) -> LoadedImage:
    """Read and prepare an image file; ImageError names the file when it is missing or bad."""
    data = read_image_file(path, max_bytes)
    return prepare_image(data, str(path), max_pixels, max_input_pixels=max_input_pixels)


def decode_data_url(url: str) -> bytes:
    """The bytes of a base64 data URL; ImageError if it is not one."""
    try:
        return dataurl.decode_data_url(url)
    except dataurl.DataURLError as exc:
        raise ImageError(str(exc)) from exc


def sniff_extension(data: bytes) -> str:
    """File extension for image bytes, from their magic bytes (no decoder runs): one of the
    accepted formats, else "bin"."""
    fmt = sniff_raster(data[:16])
    if fmt is None:
        return "bin"
    return {"JPEG": "jpg"}.get(fmt, fmt.lower())


def image_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) of an image file from its header (nothing is decoded), or None when it
    is not an image of an accepted format."""
    try:
        with open(path, "rb") as fh:
            fmt = sniff_raster(fh.read(16))
            if fmt is None:
                return None
            fh.seek(0)
            with Image.open(fh, formats=[fmt]) as img:
                return int(img.width), int(img.height)
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError):
        return None


@dataclass(frozen=True)
class ImageStats:
    """What the quality flags need of an image: its size and how much its pixels vary
    (`std`: the standard deviation of its grey levels, 0-255; `span`: max minus min)."""

    width: int
    height: int
    std: float
    span: int


def image_stats(data: bytes, max_pixels: int = DEFAULT_MAX_INPUT_PIXELS) -> ImageStats | None:
    """Size and grey-level spread of image bytes (an accepted format, within `max_pixels`),
    measured on a copy of at most 512 x 512; None when they are not such an image."""
    fmt = sniff_raster(data[:16])
    if fmt is None:
        return None
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as img:
            width, height = img.size
            if width * height > max_pixels:
                return None
            img.draft("L", (512, 512))
            grey = img.convert("L")
            grey.thumbnail((512, 512))
            low, high = grey.getextrema()
            hist = grey.histogram()
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError):
        return None
    n = sum(hist) or 1
    mean = sum(i * c for i, c in enumerate(hist)) / n
    var = sum(c * (i - mean) ** 2 for i, c in enumerate(hist)) / n
    return ImageStats(int(width), int(height), round(math.sqrt(var), 3), int(high) - int(low))
