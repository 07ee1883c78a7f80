"""Pillow's side of `provenance`: wrappers that carry an image's look through the operations
that move its pixels, and report saves.

Each wrapper calls Pillow's own method first, unchanged, and only then works out the new
look; a failure there loses the look, never the result.
"""

from __future__ import annotations

import functools
from typing import Any

from .provenance import Look, Tracker, get, put, transpose_map

_TRANSFORM_AFFINE, _TRANSFORM_EXTENT, _TRANSFORM_QUAD = 0, 1, 3
WRAPPED = "_r1v4_wrapped"  # set on the class once its methods are wrapped


def _after(original: Any, derive: Any) -> Any:
    """A method that runs `original`, then `derive(self, result, *args, **kwargs)` to set
    the result's look; bookkeeping errors are swallowed."""

    @functools.wraps(original)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = original(self, *args, **kwargs)
        try:
            look = get(self)
            if look is not None:
                derive(look, self, out, *args, **kwargs)
        except Exception:  # noqa: BLE001 - never let bookkeeping break the code
            put(out, None)
        return out

    return method


def _crop(look: Look, img: Any, out: Any, box: Any = None) -> None:
    if box is None or tuple(box) == (0, 0, *img.size):
        return  # a copy: `_new` already kept the look
    x0, y0 = float(box[0]), float(box[1])
    put(out, look.then((1, 0, x0, 0, 1, y0), out.size, "crop"))


def _resize(look: Look, img: Any, out: Any, size: Any, resample: Any = None, box: Any = None,
            reducing_gap: Any = None) -> None:  # fmt: skip
    bx0, by0, bx1, by1 = box if box is not None else (0, 0, *img.size)
    w, h = out.size
    put(out, look.then(((bx1 - bx0) / w, 0, bx0, 0, (by1 - by0) / h, by0), out.size, "resize"))


def _reduce(look: Look, img: Any, out: Any, factor: Any, box: Any = None) -> None:
    bx0, by0, bx1, by1 = box if box is not None else (0, 0, *img.size)
    w, h = out.size
    put(out, look.then(((bx1 - bx0) / w, 0, bx0, 0, (by1 - by0) / h, by0), out.size, "reduce"))


def _transpose(look: Look, img: Any, out: Any, method: Any) -> None:
    names = {0: "flip", 1: "flip", 2: "rotate 90", 3: "rotate 180", 4: "rotate 270"}
    op = names.get(int(method), "transpose")
    put(out, look.then(transpose_map(method, *img.size), out.size, op))


def _transform(look: Look, img: Any, out: Any, size: Any, method: Any, data: Any = None,
               *rest: Any, **kwargs: Any) -> None:  # fmt: skip
    w, h = out.size
    if method == _TRANSFORM_AFFINE and data is not None:
        put(out, look.then(tuple(float(v) for v in data[:6]), out.size, "affine"))
    elif method in (_TRANSFORM_EXTENT, _TRANSFORM_QUAD) and data is not None:
        xs, ys = [float(v) for v in data[0::2]], [float(v) for v in data[1::2]]
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        op = "extent" if method == _TRANSFORM_EXTENT else "quad"
        put(out, look.then(((x1 - x0) / w, 0, x0, 0, (y1 - y0) / h, y0), out.size, op))
    else:
        put(out, None)


def _rotate(original: Any) -> Any:
    """`rotate` runs `transpose` or `transform` inside; its op is named by its angle."""

    @functools.wraps(original)
    def rotate(self: Any, angle: Any, *args: Any, **kwargs: Any) -> Any:
        out = original(self, angle, *args, **kwargs)
        try:
            look = get(out)
            if look is not None and len(look.ops) > len((get(self) or look).ops):
                ops = (*look.ops[:-1], f"rotate {angle:g}")
                put(out, Look(look.source, look.m, look.size, ops))
        except Exception:  # noqa: BLE001
            put(out, None)
        return out

    return rotate


def _thumbnail(original: Any) -> Any:
    """In place: the image keeps its whole extent at a smaller size."""

    @functools.wraps(original)
    def thumbnail(self: Any, *args: Any, **kwargs: Any) -> Any:
        before = get(self)
        out = original(self, *args, **kwargs)
        try:
            if before is not None:
                after = before.at(self.size)
                put(self, Look(after.source, after.m, after.size, (*after.ops, "thumbnail")))
        except Exception:  # noqa: BLE001
            put(self, None)
        return out

    return thumbnail


def _new(original: Any) -> Any:
    """Every derived image passes through `_new`: one of the same size keeps the look."""

    @functools.wraps(original)
    def new(self: Any, im: Any) -> Any:
        out = original(self, im)
        try:
            look = get(self)
            put(out, look if look is not None and tuple(out.size) == tuple(self.size) else None)
        except Exception:  # noqa: BLE001
            put(out, None)
        return out

    return new


def wrap_pillow(image_module: Any, tracker: Tracker) -> None:
    """Install the wrappers on `PIL.Image` (once per process)."""
    cls = image_module.Image
    if getattr(cls, WRAPPED, False):
        return
    cls._new = _new(cls._new)  # noqa: SLF001 - the one place every derived image passes
    cls.crop = _after(cls.crop, _crop)
    cls.resize = _after(cls.resize, _resize)
    cls.reduce = _after(cls.reduce, _reduce)
    cls.transpose = _after(cls.transpose, _transpose)
    cls.transform = _after(cls.transform, _transform)
    cls.rotate = _rotate(cls.rotate)
    cls.thumbnail = _thumbnail(cls.thumbnail)
    save, open_ = cls.save, image_module.open

    @functools.wraps(save)
    def saving(self: Any, fp: Any, *args: Any, **kwargs: Any) -> Any:
        out = save(self, fp, *args, **kwargs)
        try:
            tracker.saved(self, fp)
        except Exception:  # noqa: BLE001
            pass
        return out

    @functools.wraps(open_)
    def opening(fp: Any, *args: Any, **kwargs: Any) -> Any:
        img = open_(fp, *args, **kwargs)
        try:
            tracker.opened(fp, img)
        except Exception:  # noqa: BLE001
            pass
        return img

    cls.save = saving
    image_module.open = opening
    setattr(cls, WRAPPED, True)
