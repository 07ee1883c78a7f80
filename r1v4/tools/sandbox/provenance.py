"""Inside the jail, around the model's code: follow which region of which input image each
image it saves came from.

The host stages the case's images with a *seed* each (which input image it is, or for an
earlier intermediate image, the affine map from its pixels to its input's). Before the code
runs, `tracking.install` wraps a few Pillow and NumPy entry points so that an image opened
from a seeded file, and every image made from it by `crop`, `resize`, `reduce`, `rotate`,
`transpose`, `transform` (affine, extent, quad), `thumbnail`, or by any operation that keeps
the size (`convert`, `filter`, enhancements), carries the map from its own pixels to the
input's; an array taken with `numpy.array`/`asarray` keeps it through basic slicing
(`arr[y0:y1, x0:x1]`, steps included), arithmetic and `astype`, and `Image.fromarray` hands
it back to an image. When the code imports OpenCV, `cv2.imread` of a seeded file gives such
an array, and `cv2.resize`, `rotate`, `flip` and the size-keeping filters carry its map
(`provenance_cv2`). When such an image is saved under the working folder (`save`,
`cv2.imwrite`), one status line `{"look": {"file", "source", "map", "size", "ops"}}` says
so; saving an image without a known origin under the same name says `{"look": {"file",
"none": true}}`. A matplotlib figure that shows one such image (`imshow` of a tracked image
or array, `provenance_mpl`) is reported by `figures.capture` the same way, with `"clip":
[x0, y0, x1, y1]`, the rectangle of the PNG's pixels that shows the image (its map covers
the whole PNG; only the clip shows the input), and `"figure"` as its last op.

Following is best effort and never changes what the code computes: each wrapper calls the
original first and returns its result, and any failure in the bookkeeping only loses the
region. What the code does to these wrappers is its own business: the host treats every
look as untrusted data and checks it against what it staged and what came back.

Standard library only at import; Pillow and NumPy are already imported by the warm worker,
OpenCV is wrapped only once the code imports it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

ATTR = "_r1v4_look"
MAX_OPS = 16
MAX_LOOKS = 256  # looks reported per call; later saves go unreported
CURRENT: list[Any] = [None]  # the process's tracker (figures report through it)


class Look:
    """Where an image's pixels come from: `m` sends (x, y) of this image to the input's
    pixels; `size` is the (width, height) the map was made for."""

    __slots__ = ("m", "ops", "size", "source")

    def __init__(self, source: str, m: tuple, size: tuple, ops: tuple = ()) -> None:
        self.source, self.m, self.size, self.ops = source, tuple(m), tuple(size), tuple(ops)

    def at(self, size: tuple) -> Look:
        """The same look for the image at `size`: an in-place change of size (a draft,
        a thumbnail) keeps the whole extent, so the map is rescaled."""
        size = tuple(size)
        if size == self.size or not all(size) or not all(self.size):
            return self
        sx, sy = self.size[0] / size[0], self.size[1] / size[1]
        return Look(self.source, compose(self.m, (sx, 0, 0, 0, sy, 0)), size, self.ops)

    def then(self, m: tuple, size: tuple, op: str) -> Look:
        return Look(self.source, compose(self.m, m), size, (*self.ops, op)[-MAX_OPS:])


def compose(outer: tuple, inner: tuple) -> tuple:
    """`outer ∘ inner` of two 6-number affine maps (the same as r1v4.protocol.regions)."""
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


def get(obj: Any) -> Look | None:
    """The look of an image (fitted to its current size) or of a tracked array."""
    look = getattr(obj, ATTR, None)
    if not isinstance(look, Look):
        return None
    size = getattr(obj, "size", None)
    if isinstance(size, tuple) and len(size) == 2:
        return look.at(size)
    return look


def put(obj: Any, look: Look | None) -> None:
    try:
        setattr(obj, ATTR, look)
    except Exception:  # noqa: BLE001 - an object that takes no attribute just loses it
        pass


# -- the geometry of each operation: new pixel -> old pixel ----------------------------


def transpose_map(method: int, w: float, h: float) -> tuple:
    """Pillow's Transpose methods (0 FLIP_LEFT_RIGHT … 6 TRANSVERSE) as maps from the new
    image's coordinates to the old one's (w, h: the old size)."""
    return {
        0: (-1, 0, w, 0, 1, 0),  # flip left-right
        1: (1, 0, 0, 0, -1, h),  # flip top-bottom
        2: (0, -1, w, 1, 0, 0),  # rotate 90 (counter-clockwise)
        3: (-1, 0, w, 0, -1, h),  # rotate 180
        4: (0, 1, 0, -1, 0, h),  # rotate 270
        5: (0, 1, 0, 1, 0, 0),  # transpose
        6: (0, -1, w, -1, 0, h),  # transverse
    }[int(method)]


def slice_map(index: slice, length: int) -> tuple[float, float, int]:
    """(offset, step, count) of a basic slice over `length`: new x -> old offset + step*x.
    Pixel i of the slice is old pixel start + step*i, so the centre of one goes to the
    centre of the other: offset = start + (1 - step) / 2 (a step of 1 is a plain shift, -1
    starts at the far edge of its first pixel, a longer step covers its whole stride)."""
    start, stop, step = index.indices(length)
    count = len(range(start, stop, step))
    return start + (1 - step) / 2, float(step), count


# -- the tracker of one process --------------------------------------------------------------


class Tracker:
    """The wrappers of one sandboxed process, the seeds of the current call, and the
    reporting of saves."""

    def __init__(self, report: Callable[[dict[str, Any]], None]) -> None:
        self.report = report
        self.seeds: dict[str, tuple[Look, tuple]] = {}  # real path -> (look, stat)
        self.reported = 0
        self.cwd = os.getcwd()
        CURRENT[0] = self

    def seed(self, seeds: dict[str, Any] | None) -> None:
        """Take this call's seeds: {file name: {"source", "map", "size"}}."""
        self.cwd = os.getcwd()
        self.reported = 0
        for name, spec in (seeds or {}).items():
            try:
                real = os.path.realpath(os.path.join(self.cwd, str(name)))
                st = os.stat(real)
                ops = tuple(str(op) for op in spec.get("ops") or ())[-MAX_OPS:]
                look = Look(str(spec["source"]), tuple(spec["map"]), tuple(spec["size"]), ops)
                self.seeds[real] = (look, (st.st_size, st.st_mtime_ns, st.st_ino))
            except (OSError, KeyError, TypeError, ValueError):
                continue

    def seeded(self, fp: Any) -> Look | None:
        """The seed's look of the file `fp` names, while it is the file that was seeded."""
        path = fp if isinstance(fp, str | bytes | os.PathLike) else getattr(fp, "name", None)
        if not isinstance(path, str | bytes | os.PathLike):
            return None
        real = os.path.realpath(os.path.join(self.cwd, os.fsdecode(path)))
        found = self.seeds.get(real)
        if found is None:
            return None
        look, stamp = found
        st = os.stat(real)
        return look if (st.st_size, st.st_mtime_ns, st.st_ino) == stamp else None

    def opened(self, fp: Any, img: Any) -> None:
        look = self.seeded(fp)
        if look is not None and tuple(img.size) == look.size:
            put(img, look)

    def saved(self, img: Any, fp: Any, size: tuple | None = None) -> None:
        """Report the save of `img` to `fp`; `size` is its (width, height) when it has no
        `size` of its own (an array)."""
        look = get(img)
        self.tell(fp, look, tuple(size if size is not None else getattr(img, "size", ())))

    def tell(self, fp: Any, look: Look | None, size: tuple, clip: tuple | None = None) -> None:
        """Report that the file `fp` (of `size`) shows `look` (None: no known origin) and
        remember it for a later open, unless `clip` says only part of it shows the image
        (a figure: its margins and axes come from nowhere)."""
        path = fp if isinstance(fp, str | bytes | os.PathLike) else getattr(fp, "name", None)
        if not isinstance(path, str | bytes | os.PathLike) or self.reported >= MAX_LOOKS:
            return
        real = os.path.realpath(os.path.join(self.cwd, os.fsdecode(path)))
        rel = os.path.relpath(real, os.path.realpath(self.cwd))
        if rel.startswith(".."):
            return
        self.reported += 1
        if look is None:
            self.seeds.pop(real, None)
            self.report({"look": {"file": rel, "none": True}})
            return
        if clip is None:  # opened again later (in this call or session): the same look
            st = os.stat(real)
            self.seeds[real] = (look.at(size), (st.st_size, st.st_mtime_ns, st.st_ino))
        else:
            self.seeds.pop(real, None)
        body = {"file": rel, "source": look.source, "map": list(look.m)}
        body.update(size=list(size), ops=list(look.ops))
        if clip is not None:
            body["clip"] = list(clip)
        self.report({"look": body})
