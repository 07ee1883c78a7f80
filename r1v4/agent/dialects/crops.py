"""Zoom and grounding tools as the published models' own code runs them: pure crops on the
host, no sandbox (the model's arguments are numbers, never code).

Each family addresses a region its own way, and each is reproduced exactly:

- Qwen3-VL / Qwen-Agent `image_zoom_in_tool`: `bbox_2d` relative 0-1000 of the image
  `img_idx`, a box under 32 px grown around its centre (kept only if both sides then exceed
  32), the crop resized with `smart_resize(factor=32, min_pixels=256*32*32,
  max_pixels=12845056)`, BICUBIC (`QwenLM/Qwen-Agent@31a4d36:
  qwen_agent/tools/image_zoom_in_qwen3vl.py:63-177`).
- DeepEyes `image_zoom_in_tool`: absolute pixels, `crop` on the original image with no
  clamping, the crop resized with `smart_resize(factor=28, min_pixels=4*28*28,
  max_pixels=16384*28*28)`, BICUBIC (`Visual-Agent/DeepEyes@6c5e796:eval/eval_vstar.py:93-119,
  169-233`).
- Mini-o3 `<grounding>`: `bbox_2d` in [0, 1] of the source observation at its stored full
  resolution, `int()` then clamped to `[0, w-1]`/`[0, h-1]`, a box under one pixel or with an
  aspect ratio of 200 or more refused, the crop kept as is; the model is sent
  `process_image(crop, max_pixels=2000000, min_pixels=40000)` (NEAREST)
  (`Mini-o3/Mini-o3@8654dbf:verl/workers/rollout/vllm_rollout/function_tools.py`,
  `vllm_async_engine.py:189-223, 520-582`).

The region functions (`*_box`) are separate from the crops so the coordinate conventions can
be tested against each other: the same region written in each convention gives the same box.
A `ZoomError` carries the message the model reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from math import ceil, floor

from PIL import Image

from r1v4._util.pixels import smart_resize_unchecked

__all__ = [
    "ZoomError",
    "deepeyes_box",
    "deepeyes_zoom",
    "mini_o3_box",
    "mini_o3_crop",
    "mini_o3_process_image",
    "number_box",
    "qwen_box",
    "qwen_grow_box",
    "qwen_zoom",
]


class ZoomError(ValueError):
    """A zoom the model asked for that cannot be done; the message is shown to it."""


def number_box(value: object, what: str = "bbox_2d") -> list[float]:
    """Four numbers, or a ZoomError saying what was given instead."""
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 4:
        raise ZoomError(f"{what} must be a list of four numbers [x1, y1, x2, y2], got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ZoomError(f"{what} must hold four numbers, got {value!r}")
        out.append(float(v))
    return out


# -- Qwen3-VL / Qwen-Agent ----------------------------------------------------------------


def qwen_grow_box(
    left: float, top: float, right: float, bottom: float, img_width: int, img_height: int
) -> list[float]:
    """Qwen-Agent's `maybe_resize_bbox`, line for line: clamp to the image; a box with a side
    under 32 px is grown around its centre by 32 / (short side), clamped again, and used only
    if both sides are then over 32; otherwise the clamped box stands."""
    left = max(0, left)
    top = max(0, top)
    right = min(img_width, right)
    bottom = min(img_height, bottom)

    height = bottom - top
    width = right - left
    if height < 32 or width < 32:
        center_x = (left + right) / 2.0
        center_y = (top + bottom) / 2.0
        ratio = 32 / min(height, width)  # a zero side raises ZeroDivisionError, as there
        new_half_height = ceil(height * ratio * 0.5)
        new_half_width = ceil(width * ratio * 0.5)
        new_left = floor(center_x - new_half_width)
        new_right = ceil(center_x + new_half_width)
        new_top = floor(center_y - new_half_height)
        new_bottom = ceil(center_y + new_half_height)

        new_left = max(0, new_left)
        new_top = max(0, new_top)
        new_right = min(img_width, new_right)
        new_bottom = min(img_height, new_bottom)

        new_height = new_bottom - new_top
        new_width = new_right - new_left

        if new_height > 32 and new_width > 32:
            return [new_left, new_top, new_right, new_bottom]
    return [left, top, right, bottom]


def qwen_box(bbox: Sequence[float], size: tuple[int, int]) -> list[float]:
    """The crop box on an image of `size` for a 0-1000 relative `bbox_2d`, before growing."""
    x1, y1, x2, y2 = number_box(bbox)
    w, h = size
    return [x1 / 1000.0 * w, y1 / 1000.0 * h, x2 / 1000.0 * w, y2 / 1000.0 * h]


def qwen_zoom(image: Image.Image, bbox: Sequence[float]) -> Image.Image:
    """Qwen-Agent's `image_zoom_in_tool` on an opened image: relative box, grown, cropped,
    smart-resized (factor 32, at least 256*32*32 pixels), BICUBIC."""
    w, h = image.size
    try:
        left, top, right, bottom = qwen_grow_box(*qwen_box(bbox, (w, h)), w, h)
        cropped = image.crop((left, top, right, bottom))
        new_w, new_h = smart_resize_unchecked(
            right - left, bottom - top, factor=32, min_pixels=256 * 32 * 32, max_pixels=12845056
        )
        return cropped.resize((new_w, new_h), resample=Image.Resampling.BICUBIC)
    except ZoomError:
        raise
    except (ZeroDivisionError, ValueError) as exc:  # Qwen-Agent: 'Tool Execution Error {e}'
        raise ZoomError(f"Tool Execution Error {exc}") from exc


# -- DeepEyes --------------------------------------------------------------------------------


def deepeyes_box(
    bbox: Sequence[float], seen: tuple[int, int], original: tuple[int, int]
) -> tuple[float, float, float, float]:
    """The crop box on the original image for absolute pixel coordinates the model wrote on
    the image it was sent (`seen`); the same numbers when the image went out unresized, as in
    DeepEyes's own eval."""
    left, top, right, bottom = number_box(bbox)
    if right <= left or bottom <= top:
        raise ZoomError(
            f"invalid bbox_2d {list(bbox)!r}: x2 must exceed x1 and y2 must exceed y1 "
            "(absolute pixel coordinates [x1, y1, x2, y2])"
        )
    sx, sy = original[0] / seen[0], original[1] / seen[1]
    return left * sx, top * sy, right * sx, bottom * sy


def deepeyes_zoom(
    original: Image.Image, bbox: Sequence[float], seen: tuple[int, int]
) -> Image.Image:
    """DeepEyes's zoom: `crop` on the original (no clamping: a box past the edge shows black,
    as PIL pads it), then `smart_resize(factor=28)` of the box's size, BICUBIC."""
    left, top, right, bottom = deepeyes_box(bbox, seen, original.size)
    cropped = original.crop((left, top, right, bottom))
    new_w, new_h = smart_resize_unchecked(
        right - left, bottom - top, factor=28, min_pixels=4 * 28 * 28, max_pixels=16384 * 28 * 28
    )
    return cropped.resize((new_w, new_h), resample=Image.Resampling.BICUBIC)


# -- Mini-o3 ---------------------------------------------------------------------------------


def mini_o3_box(bbox: Sequence[float], size: tuple[int, int]) -> list[int]:
    """Mini-o3's `prepare_grounding_inputs_multi_turn` with relative coordinates: [0, 1] of
    the source's stored size, truncated to int, clamped, checked (messages as there)."""
    x0, y0, x1, y1 = number_box(bbox)
    w, h = size
    box = [int(x0 * w), int(y0 * h), int(x1 * w), int(y1 * h)]
    box = [max(box[0], 0), max(box[1], 0), min(box[2], w - 1), min(box[3], h - 1)]
    if not box[0] <= box[2] - 1:
        raise ZoomError(f"The bounding box is not valid in width: {box}")
    if not box[1] <= box[3] - 1:
        raise ZoomError(f"The bounding box is not valid in height: {box}")
    width_box, height_box = box[2] - box[0], box[3] - box[1]
    if width_box / height_box >= 200 or height_box / width_box >= 200:
        raise ZoomError(
            "The absolute aspect ratio of the bounding box exceeds 200, which is too large."
        )
    return box


def mini_o3_crop(source: Image.Image, bbox: Sequence[float]) -> Image.Image:
    """The crop Mini-o3 stores as the next observation (`crop_image(..., resize=1)`)."""
    return source.crop(tuple(mini_o3_box(bbox, source.size)))


def mini_o3_process_image(
    image: Image.Image, max_pixels: int = 2_000_000, min_pixels: int = 40_000
) -> Image.Image:
    """Mini-o3's `process_image` (`vllm_async_engine.py:189-223`): what the model is sent of
    an input image or a crop. NEAREST, not rounded to the factor (the server does that)."""
    if (image.width * image.height) > max_pixels:
        resize_factor = math.sqrt(max_pixels / (image.width * image.height))
        width, height = int(image.width * resize_factor), int(image.height * resize_factor)
        image = image.resize((width, height), resample=Image.Resampling.NEAREST)

    if (image.width * image.height) < min_pixels:
        resize_factor = math.sqrt(min_pixels / (image.width * image.height))
        width, height = int(image.width * resize_factor), int(image.height * resize_factor)
        image = image.resize((width, height), resample=Image.Resampling.NEAREST)

    if image.width < 28 or image.height < 28:
        resize_factor = 28 / min(image.width, image.height)
        width, height = int(image.width * resize_factor + 1), int(image.height * resize_factor + 1)
        image = image.resize((width, height), resample=Image.Resampling.NEAREST)

    if image.width / image.height >= 200:
        width, height = image.width, int(image.width / 190 + 1)
        image = image.resize((width, height), resample=Image.Resampling.NEAREST)

    if image.height / image.width >= 200:
        width, height = int(image.height / 190 + 1), image.height
        image = image.resize((width, height), resample=Image.Resampling.NEAREST)

    if image.mode != "RGB":
        image = image.convert("RGB")

    return image
