"""The pixel rules of Qwen-VL image processors, and the guard every image passes before a
server sees it.

Qwen2.5-VL and Qwen3-VL processors resize every image so both sides are multiples of a
factor (28 for Qwen2.5-VL, patch 14 x merge 2; 32 for Qwen3-VL, patch 16 x merge 2) and its
area lies within [min_pixels, max_pixels] (`smart_resize`, copied from qwen-vl-utils,
`QwenLM/Qwen3-VL@9658872:qwen-vl-utils/src/qwen_vl_utils/vision_process.py:24-80`). The
same processors refuse an image whose aspect ratio is over 200 (`MAX_RATIO`) or with a side
under 32 px ("Qwen-VL raises an error for images with height or width less than 32 pixels",
`Visual-Agent/DeepEyesV2@0373e6e:evaluation/VLMEvalKit/vlmeval/api/agent_utils.py`), and
the server then answers 400 for the whole request. A client that resizes with the served
model's own rule sends exactly the pixels the model will see, so absolute coordinates the
model writes refer to the image the client (and the sandbox) holds.

Pure functions on sizes and Pillow images; no domain knowledge beyond these rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image

__all__ = [
    "MAX_RATIO",
    "MIN_SIDE",
    "PixelRules",
    "ceil_by_factor",
    "floor_by_factor",
    "guard_image",
    "guard_size",
    "round_by_factor",
    "smart_resize",
    "smart_resize_unchecked",
]

MAX_RATIO = 200  # qwen-vl-utils MAX_RATIO: a longer aspect ratio is refused
MIN_SIDE = 32  # Qwen-VL processors refuse a side under 32 px


def round_by_factor(number: float, factor: int) -> int:
    """The closest integer to `number` divisible by `factor` (qwen-vl-utils)."""
    return round(number / factor) * factor


def ceil_by_factor(number: float, factor: int) -> int:
    """The smallest integer >= `number` divisible by `factor` (qwen-vl-utils)."""
    return math.ceil(number / factor) * factor


def floor_by_factor(number: float, factor: int) -> int:
    """The largest integer <= `number` divisible by `factor` (qwen-vl-utils)."""
    return math.floor(number / factor) * factor


def smart_resize(
    height: float, width: float, factor: int, min_pixels: int, max_pixels: int
) -> tuple[int, int]:
    """(height, width) as the Qwen-VL processors resize an image: both multiples of
    `factor`, the area within [min_pixels, max_pixels], the aspect ratio kept as closely as
    possible. Copied from qwen-vl-utils (`vision_process.py:24-80`); raises ValueError for an
    aspect ratio over 200, as it does. Qwen-Agent's zoom tool and DeepEyes's eval copy the
    same body without the ratio check (callers that need that call `_resize` directly)."""
    if max_pixels < min_pixels:
        raise ValueError("The max_pixels of image must be greater than or equal to min_pixels.")
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise ValueError(
            f"absolute aspect ratio must be smaller than {MAX_RATIO}, "
            f"got {max(height, width) / min(height, width)}"
        )
    return _resize(height, width, factor, min_pixels, max_pixels)


def _resize(
    height: float, width: float, factor: int, min_pixels: int, max_pixels: int
) -> tuple[int, int]:
    h_bar = max(factor, round_by_factor(height, factor))
    w_bar = max(factor, round_by_factor(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = floor_by_factor(height / beta, factor)
        w_bar = floor_by_factor(width / beta, factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ceil_by_factor(height * beta, factor)
        w_bar = ceil_by_factor(width * beta, factor)
    return h_bar, w_bar


def smart_resize_unchecked(
    height: float, width: float, factor: int, min_pixels: int, max_pixels: int
) -> tuple[int, int]:
    """`smart_resize` without the aspect-ratio check, as Qwen-Agent's zoom tool
    (`image_zoom_in_qwen3vl.py:76-92`) and DeepEyes's eval (`eval_vstar.py:105-119`) have it."""
    return _resize(height, width, factor, min_pixels, max_pixels)


@dataclass(frozen=True)
class PixelRules:
    """A served model's pixel rules: the factor of its processor and the area bounds the
    client resizes to (`--min-pixels` / `--max-pixels`). Defaults are qwen-vl-utils's:
    4 to 16384 tokens of factor x factor pixels."""

    factor: int = 32
    min_pixels: int | None = None
    max_pixels: int | None = None

    @property
    def bounds(self) -> tuple[int, int]:
        low = self.min_pixels if self.min_pixels is not None else 4 * self.factor**2
        high = self.max_pixels if self.max_pixels is not None else 16384 * self.factor**2
        return low, max(low, high)

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) the model sees for an image of this size (aspect ratio <= 200)."""
        low, high = self.bounds
        h, w = _resize(height, width, self.factor, low, high)
        return w, h

    def resize(self, img: Image.Image) -> Image.Image:
        """The image at the size the model sees (unchanged when it already is)."""
        size = self.size_for(img.width, img.height)
        if size == img.size:
            return img
        return img.resize(size, Image.Resampling.BICUBIC)


def guard_size(width: int, height: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """((padded width, height), (final width, height)) that a server accepts: first the
    short side padded until the aspect ratio is at most 200, then the whole image enlarged
    until its short side is at least 32 px. Equal sizes mean nothing to do."""
    w, h = max(1, width), max(1, height)
    if w / h > MAX_RATIO:
        h = math.ceil(w / MAX_RATIO)
    elif h / w > MAX_RATIO:
        w = math.ceil(h / MAX_RATIO)
    padded = (w, h)
    short = min(w, h)
    if short < MIN_SIDE:
        scale = MIN_SIDE / short
        w, h = max(MIN_SIDE, math.ceil(w * scale)), max(MIN_SIDE, math.ceil(h * scale))
    return padded, (w, h)


def guard_image(img: Image.Image) -> tuple[Image.Image, str | None]:
    """The image made acceptable to a Qwen-VL server (sides >= 32 px, aspect ratio <= 200),
    and a note saying what was done (None when nothing was). Padding is black and centred;
    enlarging is bicubic, so the content keeps its proportions."""
    padded, final = guard_size(img.width, img.height)
    if final == img.size:
        return img, None
    was = f"{img.width}x{img.height}"
    notes = []
    if padded != img.size:
        mode = img.mode if img.mode in ("RGB", "RGBA", "L") else "RGB"
        canvas = Image.new(mode, padded)
        offset = ((padded[0] - img.width) // 2, (padded[1] - img.height) // 2)
        canvas.paste(img.convert(mode), offset)
        img = canvas
        notes.append(f"padded to {padded[0]}x{padded[1]} (aspect ratio over {MAX_RATIO})")
    if final != img.size:
        img = img.resize(final, Image.Resampling.BICUBIC)
        notes.append(f"enlarged to {final[0]}x{final[1]} (a side under {MIN_SIDE} px)")
    note = f"the {was} image was " + " and ".join(notes) + ": servers refuse it otherwise"
    return img, note
