"""Where the model looked: the region of an input image that an intermediate image shows.

An intermediate image made by cropping, resizing, rotating or flipping a known image (by the
model's code in the sandbox, or by a zoom or grounding tool that knows its box) carries a
`Region`: which of the case's input images it came from, the bounding box it covers there
(in that input's pixels, as the sandbox and the tools saw it), and the operations on the way.
The record keeps one entry per observation image (DESIGN.md, "Regions"):

    "regions": [{"input": 0, "source": "chart.png", "source_size": [W, H],
                 "box": [x0, y0, x1, y1], "size": [w, h], "ops": ["crop", "resize"]}, null]

parallel to the observation's `images` (null: not derived from an input image, or not known).
A matplotlib figure of a crop (ops ending in "figure") shows the input only inside its axes:
its entry adds `"clip": [x0, y0, x1, y1]`, that rectangle of the figure's pixels, and `box`
is where the clip (not the whole figure) lies on the input.
A region also holds, for the toolkit's own use while the trajectory runs, the affine map from
the image's pixel coordinates to the input's (`transform`), so a later crop of that image can
be traced back to the input; the record keeps only its bounding box.

Everything here is arithmetic on numbers; `region_from_record` reads a record's entry, which
is untrusted (a model can write its own observation text), into a checked `Region` or None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "IDENTITY",
    "MAX_OPS",
    "Region",
    "checked_clip",
    "compose",
    "iou",
    "region_from_record",
    "regions_from_observation",
]

#: Operations kept per region (the oldest give way; a long chain is summarised).
MAX_OPS = 16
#: The affine map that changes nothing: (a, b, c, d, e, f) sends (x, y) to (ax+by+c, dx+ey+f).
IDENTITY: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
_MAX_SIDE = 1_000_000  # no image side or coordinate beyond this is believed


def compose(outer: tuple[float, ...], inner: tuple[float, ...]) -> tuple[float, ...]:
    """`outer ∘ inner`: apply `inner` first, then `outer` (both 6-number affine maps)."""
    a1, b1, c1, d1, e1, f1 = outer
    a2, b2, c2, d2, e2, f2 = inner
    return (
        a1 * a2 + b1 * d2,
        a1 * b2 + b1 * e2,
        a1 * c2 + b1 * f2 + c1,
        d1 * a2 + e1 * d2,
        d1 * b2 + e1 * e2,
        d1 * c2 + e1 * f2 + f1,
    )


def _finite(values: Any, n: int) -> tuple[float, ...] | None:
    if not isinstance(values, list | tuple) or len(values) != n:
        return None
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            return None
        if abs(v) > _MAX_SIDE * 1000:
            return None
        out.append(float(v))
    return tuple(out)


def _size(value: Any) -> tuple[int, int] | None:
    pair = _finite(value, 2)
    if pair is None or not all(0 < v <= _MAX_SIDE and float(v).is_integer() for v in pair):
        return None
    return int(pair[0]), int(pair[1])


def _op(text: Any) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return None
    return "".join(ch for ch in text.strip()[:40] if ch.isprintable())


@dataclass(frozen=True)
class Region:
    """An image derived from input image `input` (named `source`, `source_size` pixels):
    `transform` sends this image's pixel coordinates (corner-based: pixel (i, j) covers
    [i, i+1) x [j, j+1)) to the input's; `size` is this image's size; `clip`, when set, the
    part of it (x0, y0, x1, y1, its pixels) that shows the input (a matplotlib figure)."""

    input: int
    source: str
    source_size: tuple[int, int]
    size: tuple[int, int]
    transform: tuple[float, ...] = IDENTITY
    ops: tuple[str, ...] = field(default_factory=tuple)
    clip: tuple[float, float, float, float] | None = None

    @property
    def shown(self) -> tuple[float, float, float, float]:
        """The rectangle of this image's pixels that shows the input: `clip` (a figure
        shows its image inside margins and axes), else the whole image."""
        return self.clip if self.clip is not None else (0.0, 0.0, *map(float, self.size))

    @classmethod
    def of_input(cls, index: int, name: str, size: tuple[int, int]) -> Region:
        """An input image itself: the identity region, no operations."""
        return cls(index, name, size, size)

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The bounding box of this image's area (its clip, when set) on the input, clipped
        to the input."""
        u0, v0, u1, v1 = self.shown
        a, b, c, d, e, f = self.transform
        corners = ((u0, v0), (u1, v0), (u0, v1), (u1, v1))
        xs = [a * x + b * y + c for x, y in corners]
        ys = [d * x + e * y + f for x, y in corners]
        sw, sh = self.source_size
        x0, x1 = max(0.0, min(xs)), min(float(sw), max(xs))
        y0, y1 = max(0.0, min(ys)), min(float(sh), max(ys))
        return (round(x0, 2), round(y0, 2), round(max(x0, x1), 2), round(max(y0, y1), 2))

    @property
    def area_fraction(self) -> float:
        """The box's share of the input's area (0 when the box is empty)."""
        x0, y0, x1, y1 = self.box
        sw, sh = self.source_size
        return max(0.0, x1 - x0) * max(0.0, y1 - y0) / float(sw * sh)

    @property
    def cropped(self) -> bool:
        """True when a crop (or a zoom into a box) is among the operations."""
        return any(op.split(" ")[0] in ("crop", "slice", "zoom", "grounding") for op in self.ops)

    def then(self, matrix: tuple[float, ...], size: tuple[int, int], op: str) -> Region:
        """The region of an image made from this one: `matrix` sends the new image's pixel
        coordinates to this image's; `size` is the new image's size."""
        ops = (*self.ops, op)[-MAX_OPS:]
        m = compose(self.transform, matrix)
        return Region(
            self.input, self.source, self.source_size, size, m, ops, _clip_after(self, matrix, size)
        )

    def crop(self, box: tuple[float, float, float, float], op: str = "crop") -> Region:
        """The region of the part `box` (this image's pixels) of this image, as it is cut."""
        x0, y0, x1, y1 = box
        size = (max(1, round(x1 - x0)), max(1, round(y1 - y0)))
        return self.then((1.0, 0.0, x0, 0.0, 1.0, y0), size, op)

    def resize(self, size: tuple[int, int], op: str = "resize") -> Region:
        """The region of this image resized to `size` (the whole of it)."""
        w, h = self.size
        return self.then((w / size[0], 0.0, 0.0, 0.0, h / size[1], 0.0), size, op)

    def to_record(self) -> dict[str, Any]:
        """The record's entry (DESIGN.md, "Regions"): everything but the transform; `clip`
        only when set."""
        entry = {
            "input": self.input,
            "source": self.source,
            "source_size": list(self.source_size),
            "box": list(self.box),
            "size": list(self.size),
            "ops": list(self.ops),
        }
        if self.clip is not None:
            entry["clip"] = list(self.clip)
        return entry


def _clip_after(region: Region, matrix: tuple[float, ...], size: tuple[int, int]):
    """The clip of an image made from `region`'s by `matrix` (new pixels -> old): the old
    clip in the new pixels, within the new image; None (the whole image) when there was
    none, or the matrix turns or shears, or nothing of the clip is left."""
    if region.clip is None:
        return None
    a, b, c, d, e, f = matrix
    if b or d or not a or not e:
        return None
    x0, y0, x1, y1 = region.clip
    xs = sorted(((x0 - c) / a, (x1 - c) / a))
    ys = sorted(((y0 - f) / e, (y1 - f) / e))
    out = (max(0.0, xs[0]), max(0.0, ys[0]), min(float(size[0]), xs[1]), min(float(size[1]), ys[1]))
    return out if out[2] > out[0] and out[3] > out[1] else None


def checked_clip(value: Any, size: tuple[int, int]) -> tuple[float, float, float, float] | None:
    """A clip (x0, y0, x1, y1) of an image of `size` when it is finite, inside the image
    and not empty, else None (untrusted: from the sandbox or a record)."""
    clip = _finite(value, 4)
    if clip is None:
        return None
    x0, y0, x1, y1 = clip
    if not (0 <= x0 < x1 <= size[0] and 0 <= y0 < y1 <= size[1]):
        return None
    return clip


def region_from_record(value: Any, n_inputs: int | None = None) -> Region | None:
    """A checked Region from a record's entry, or None when it is not a usable one (an
    entry is untrusted: a model can write its own observation). The transform is rebuilt
    from the box, axis-aligned."""
    if not isinstance(value, dict):
        return None
    index = value.get("input")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        return None
    if n_inputs is not None and index >= n_inputs:
        return None
    source_size, size = _size(value.get("source_size")), _size(value.get("size"))
    box = _finite(value.get("box"), 4)
    if source_size is None or box is None:
        return None
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= source_size[0] and 0 <= y0 < y1 <= source_size[1]):
        return None
    size = size or (max(1, round(x1 - x0)), max(1, round(y1 - y0)))
    clip = None
    if value.get("clip") is not None:
        clip = checked_clip(value.get("clip"), size)
        if clip is None:
            return None
    ops = value.get("ops") if isinstance(value.get("ops"), list) else []
    source = value.get("source") if isinstance(value.get("source"), str) else ""
    u0, v0, u1, v1 = clip if clip is not None else (0.0, 0.0, size[0], size[1])
    sx, sy = (x1 - x0) / (u1 - u0), (y1 - y0) / (v1 - v0)  # the clip (else all) onto the box
    transform = (sx, 0.0, x0 - sx * u0, 0.0, sy, y0 - sy * v0)
    kept = tuple(op for op in (_op(o) for o in ops[:MAX_OPS]) if op)
    return Region(index, source[:200], source_size, size, transform, kept, clip)


def regions_from_observation(obs: Any, n_inputs: int | None = None) -> list[Region | None]:
    """The checked regions of an observation, one per image (None where unknown)."""
    if not isinstance(obs, dict):
        return []
    images = obs.get("images") if isinstance(obs.get("images"), list) else []
    raw = obs.get("regions") if isinstance(obs.get("regions"), list) else []
    padded = raw[: len(images)] + [None] * max(0, len(images) - len(raw))
    return [region_from_record(entry, n_inputs) for entry in padded]


def iou(a: Region, b: Region) -> float:
    """Intersection over union of two regions' boxes (0 for different inputs)."""
    if a.input != b.input:
        return 0.0
    ax0, ay0, ax1, ay1 = a.box
    bx0, by0, bx1, by1 = b.box
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union > 0 else 0.0
