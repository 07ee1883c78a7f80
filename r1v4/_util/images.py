"""Load images for a request: the real type from the bytes (not the file name), EXIF
orientation applied, optional downscale, and data URLs.

The seed used `mimetypes.guess_type`, which gives None for webp and lies for misnamed files;
here the magic bytes decide, and Pillow opens the bytes only with the one plugin they name,
among the raster formats a model is sent (`ACCEPTED_FORMATS`): no other decoder (EPS, which
runs Ghostscript; TIFF; the many exotic plugins) ever sees bytes from an input file, a data
URL or the sandbox. The pixel bound is checked on the header, before anything is decoded,
and an image that needs no change is never decoded at all: the server decodes what it gets.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from r1v4._util.files import FileRefused, FileTooLarge, read_bounded
from r1v4.protocol import dataurl
from r1v4.protocol.errors import R1V4Error

if TYPE_CHECKING:
    from PIL import Image as ImageType

#: The raster formats the toolkit decodes, by Pillow's names: what every OpenAI-compatible
#: server accepts, plus BMP (re-encoded as PNG before it is sent).
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
#: The default pixel bound of an image before it is decoded (`--max-input-pixels`): a
#: 10,000 x 10,000 scan; decoding one takes about 0.3 GB (0.4 GB with alpha).
DEFAULT_MAX_INPUT_PIXELS = 100_000_000
#: The default size bound of an input image file (`--max-input-mb`).
DEFAULT_MAX_INPUT_BYTES = 256_000_000

_decoder_limit = DEFAULT_MAX_INPUT_PIXELS  # Pillow's own check, as a backstop
_quiet_bombs = False
_pillow: ModuleType | None = None


def _pil() -> ModuleType:
    """`PIL.Image`, imported on first use (a text-only run never loads Pillow), with this
    process's decoder pixel limit applied."""
    global _pillow
    if _pillow is None:
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = _decoder_limit
        if _quiet_bombs:
            warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
        _pillow = Image
    return _pillow


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
    limit = _pil().MAX_IMAGE_PIXELS
    return 2 * limit if limit else 2**63


def set_decoder_pixel_limit(max_pixels: int) -> None:
    """Set Pillow's decompression-bomb limit for this process to `max_pixels` (a batch does
    it once, from `--max-input-pixels`). Pillow's warning for images just over its limit is
    silenced: `prepare_image` refuses them itself, with a message that names the file."""
    global _decoder_limit, _quiet_bombs
    _decoder_limit, _quiet_bombs = max_pixels, True
    if _pillow is not None:  # loaded already: apply now (else `_pil` does on first use)
        _pillow.MAX_IMAGE_PIXELS = max_pixels
        warnings.filterwarnings("ignore", category=_pillow.DecompressionBombWarning)


class ImageError(R1V4Error):
    """An image that cannot be used; the message names the file and the reason."""


class ImageTooLarge(ImageError):
    """An image over the pixel bound (or the size bound of its file)."""


@dataclass
class LoadedImage:
    """Image bytes ready to send, with what the model will see. `prepare_image` fills in
    `url` (the data URL) in the worker thread that prepared the image, so the event loop
    never base64-encodes."""

    data: bytes
    mime: str
    width: int
    height: int
    source: str
    url: str = ""

    def data_url(self) -> str:
        if not self.url:
            self.url = dataurl.encode_data_url(self.data, self.mime)
        return self.url


def _encode(img: ImageType.Image, fmt: str) -> tuple[bytes, str]:
    fmt = fmt if fmt in _SENDABLE and fmt != "GIF" else "PNG"
    if fmt == "JPEG" and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buf.getvalue(), _MIME[fmt]


class _Refusal:
    """Turns what Pillow raises while it opens or decodes bytes into our errors, each naming
    the source and the bound it broke."""

    def __init__(self, source: str, max_input_pixels: int) -> None:
        self.source = source
        self.max_input_pixels = max_input_pixels

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, ImageError):
            return
        from PIL import UnidentifiedImageError

        Image = _pil()
        if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
            # Pillow's own check fired first (its limit may be below ours): same refusal.
            size = re.search(r"\((\d+) pixels\)", str(exc))
            pixels = f"{int(size.group(1)):,} pixels, " if size else ""
            limit = min(self.max_input_pixels, _pillow_limit())
            raise ImageTooLarge(f"{self.source}: {pixels}over the limit of {limit:,}") from exc
        if isinstance(exc, UnidentifiedImageError | OSError | SyntaxError | ValueError):
            raise ImageError(f"{self.source}: not a readable image ({exc})") from exc


def _orientation(img: ImageType.Image) -> int:
    """The EXIF orientation the header carries (1 when none), without decoding pixels: a
    PNG's eXIf chunk counts only when it comes before the image data, as the PNG extension
    asks (Pillow's PNG reader would decode the whole image to look further)."""
    exif = _pil().Image.getexif(img)
    value = exif.get(0x0112, 1)
    return value if isinstance(value, int) else 1


def prepare_image(
    data: bytes,
    source: str,
    max_pixels: int | None = None,
    *,
    max_input_pixels: int = DEFAULT_MAX_INPUT_PIXELS,
    formats: tuple[str, ...] = ACCEPTED_FORMATS,
) -> LoadedImage:
    """Validate bytes as an image of one of `formats`; refuse one over `max_input_pixels`
    from its header; fix orientation, downscale above `max_pixels`, re-encode only when
    something changed. An image of a format servers accept that needs none of that goes
    out byte for byte and is never decoded: its header is all that is read (its format by
    magic bytes, its size, its orientation). Call it off the event loop: it also makes the
    data URL."""
    fmt = sniff_raster(data[:16])
    if fmt is None or fmt not in formats:
        names = ", ".join("WebP" if f == "WEBP" else f for f in formats)
        raise ImageError(f"{source}: not an accepted image format ({names})")
    Image = _pil()
    with _Refusal(source, max_input_pixels):
        img = Image.open(io.BytesIO(data), formats=[fmt])
        width, height = img.size
        if width * height > max_input_pixels:
            raise ImageTooLarge(
                f"{source}: {width}x{height} = {width * height:,} pixels, over the limit of "
                f"{max_input_pixels:,}"
            )
        orientation = _orientation(img)
    scale = 1.0
    if max_pixels and width * height > max_pixels:
        scale = math.sqrt(max_pixels / (width * height))
    if orientation == 1 and scale == 1.0 and fmt in _SENDABLE:
        out = LoadedImage(data=data, mime=_MIME[fmt], width=width, height=height, source=source)
        out.data_url()
        return out
    with _Refusal(source, max_input_pixels):
        if scale < 1.0 and fmt == "JPEG":  # let the JPEG decoder scale down by 1/2..1/8
            img.draft(img.mode, (math.ceil(width * scale), math.ceil(height * scale)))
        img.load()
        if orientation != 1:
            from PIL import ImageOps

            img = ImageOps.exif_transpose(img)
        if scale < 1.0:
            w, h = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
            size = (max(1, int(w * scale)), max(1, int(h * scale)))
            # Bicubic over a prior integer reduction: indistinguishable from Lanczos for a
            # downscale, several times cheaper.
            img = img.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
    out_data, mime = _encode(img, fmt)
    out = LoadedImage(data=out_data, mime=mime, width=img.width, height=img.height, source=source)
    out.data_url()
    return out


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
    Image = _pil()
    try:
        with open(path, "rb") as fh:
            fmt = sniff_raster(fh.read(16))
            if fmt is None:
                return None
            fh.seek(0)
            with Image.open(fh, formats=[fmt]) as img:
                return int(img.width), int(img.height)
    except (OSError, ValueError, Image.UnidentifiedImageError, Image.DecompressionBombError):
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
    Image = _pil()
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
    except (OSError, ValueError, Image.UnidentifiedImageError, Image.DecompressionBombError):
        return None
    n = sum(hist) or 1
    mean = sum(i * c for i, c in enumerate(hist)) / n
    var = sum(c * (i - mean) ** 2 for i, c in enumerate(hist)) / n
    return ImageStats(int(width), int(height), round(math.sqrt(var), 3), int(high) - int(low))
