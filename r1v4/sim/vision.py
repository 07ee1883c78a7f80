"""What the simulated model can tell from an image it was sent: its size, whether a crop shows
the region it asked for, and the main colour of a region. Enough for the dialect players to
react to a tool's result the way a model would (a crop of the wrong place, or none at all,
gets a different answer), never enough to pretend to read text.

Comparisons are on small thumbnails of the decoded images: the crop against the region of
the input image the model asked for, both scaled to the same few pixels.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

__all__ = ["PALETTE", "Region", "colour_name", "decode_image", "region_difference", "trim_white"]

#: The colours the simulator can name (RGB), nearest wins.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 60),
    "blue": (30, 60, 220),
    "yellow": (230, 220, 40),
    "orange": (240, 140, 20),
    "purple": (140, 50, 170),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "gray": (128, 128, 128),
}
_THUMB = (12, 12)


@functools.lru_cache(maxsize=16)
def decode_image(url: str) -> Image.Image:
    """The whole image of a base64 data URL, as RGB; ValueError when it is not one."""
    header, _, payload = url.partition(",")
    if not url.startswith("data:") or ";base64" not in header:
        raise ValueError("not a base64 data: URL")
    try:
        data = base64.b64decode(payload, validate=False)
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, binascii.Error, SyntaxError) as exc:
        raise ValueError(f"cannot decode image: {exc}") from exc


@dataclass(frozen=True)
class Region:
    """A region as fractions of an image's width and height."""

    left: float
    top: float
    right: float
    bottom: float

    def box(self, size: tuple[int, int]) -> tuple[int, int, int, int]:
        w, h = size
        return (
            round(self.left * w),
            round(self.top * h),
            max(round(self.left * w) + 1, round(self.right * w)),
            max(round(self.top * h) + 1, round(self.bottom * h)),
        )


def _thumb(img: Image.Image) -> bytes:
    return img.convert("RGB").resize(_THUMB, Image.Resampling.BOX).tobytes()


def region_difference(crop: Image.Image, source: Image.Image, region: Region) -> float:
    """Mean absolute difference (0-255) between a crop and `region` of `source`, both seen as
    small thumbnails: near 0 when the crop shows that region, large when it shows another."""
    expected = source.crop(region.box(source.size))
    a, b = _thumb(crop), _thumb(expected)
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def trim_white(img: Image.Image) -> Image.Image:
    """A figure without its white margin (what a model looks at in a plotted image): the
    box of the pixels that are not near-white; the image itself when all of it is."""
    grey = img.convert("L").point(lambda p: 255 if p < 240 else 0)
    box = grey.getbbox()
    return img.crop(box) if box else img


def colour_name(img: Image.Image) -> str:
    """The palette colour nearest to the mean of the image's central half."""
    w, h = img.size
    centre = img.convert("RGB").crop(
        (w // 4, h // 4, max(w // 4 + 1, 3 * w // 4), max(h // 4 + 1, 3 * h // 4))
    )
    raw = centre.resize((16, 16), Image.Resampling.BOX).tobytes()
    r, g, b = (sum(raw[k::3]) / (len(raw) // 3) for k in range(3))
    return min(
        PALETTE, key=lambda n: sum((p - q) ** 2 for p, q in zip(PALETTE[n], (r, g, b), strict=True))
    )
