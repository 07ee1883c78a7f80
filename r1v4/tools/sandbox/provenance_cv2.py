"""OpenCV's side of `provenance`: `cv2.imread` of a seeded file gives a tracked array (the
ndarray subclass of `provenance_numpy`), the few OpenCV functions that move pixels in a known
way carry its look, and `cv2.imwrite` reports it as a Pillow save does.

Traced: `imread` (its reduced modes when the size divides exactly; a file with an EXIF
orientation loses the look, since OpenCV applies it), `resize` (`dsize` wins over `fx`/`fy`, as in
OpenCV, whose scale it then uses), `rotate`, `flip`, and the operations that keep every pixel
where it was (`SAME_SIZE`). Any other OpenCV function returns a plain array: no look is
better than a wrong one. OpenCV's functions take the tracked subclass as any ndarray.

Each wrapper calls OpenCV's own function first, unchanged, and returns its result (viewed as
the tracked subclass, which is the same array); a failure in the bookkeeping loses the look.
"""

from __future__ import annotations

import functools
from typing import Any

from .provenance import ATTR, Look, Tracker, get, transpose_map

WRAPPED = "_r1v4_wrapped"  # set on the module once its functions are wrapped
SAME_SIZE = (
    "cvtColor",
    "GaussianBlur",
    "blur",
    "medianBlur",
    "equalizeHist",
    "convertScaleAbs",
    "addWeighted",
    "filter2D",
    "bilateralFilter",
    "detailEnhance",
    "normalize",
)
_INTER_NEAREST, _INTER_LINEAR, _INTER_NEAREST_EXACT = 0, 1, 6
_REDUCED = ((64, 8), (32, 4), (16, 2))  # IMREAD_REDUCED_*_8/4/2: the flag bit, the factor
_ORIENTATION_TAG = 0x0112
# cv2.rotate's codes -> Pillow's Transpose methods (2: 90 counter-clockwise, 3: 180, 4: 270)
_ROTATE = {0: (4, "rotate 270"), 1: (3, "rotate 180"), 2: (2, "rotate 90")}


def _size(arr: Any) -> tuple | None:
    """(width, height) of an image array, or None for anything else."""
    shape = getattr(arr, "shape", ())
    return (shape[1], shape[0]) if isinstance(shape, tuple) and len(shape) >= 2 else None


def _track(tracked: type, out: Any, look: Look | None, args: tuple) -> Any:
    """`out` as the tracked subclass carrying `look`; `out` itself when there is no look, it
    is not a fresh array (an argument given back, e.g. `dst=`), or its size is not the look's."""
    if look is None or type(out) is not tracked.__base__ or any(out is a for a in args):
        return out
    if _size(out) != look.size:
        return out
    view = out.view(tracked)
    view.__dict__[ATTR] = look
    return view


def _orientation(path: Any) -> int:
    """The EXIF orientation of an image file as Pillow reads it (1: none)."""
    from PIL import Image

    with Image.open(path) as img:
        return int(img.getexif().get(_ORIENTATION_TAG, 1) or 1)


def _read_look(tracker: Tracker, out: Any, path: Any, flags: int) -> Look | None:
    """The look of what `cv2.imread(path, flags)` read: the seed's, scaled for a reduced
    mode whose factor divides the size (else none); none for a file with an EXIF orientation,
    which OpenCV applies (Pillow, whose `open` does not, keeps the look of the raw pixels)."""
    look = tracker.seeded(path)
    size = _size(out)
    if look is None or size is None:
        return None
    if _orientation(path) != 1:  # applied even with IMREAD_IGNORE_ORIENTATION to a TIFF
        return None
    factor = next((f for bit, f in _REDUCED if flags >= 0 and flags & bit), 1)
    w, h = look.size
    if w % factor or h % factor or size != (w // factor, h // factor):
        return None
    return look if factor == 1 else look.then((factor, 0, 0, 0, factor, 0), size, "reduce")


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def _resize_look(look: Look, src: Any, out: Any, args: tuple, kwargs: dict) -> Look | None:
    """OpenCV's geometry, which depends on the interpolation: interpolating ones scale by
    `fx`/`fy` themselves when there is no `dsize` (the size is their rounded product), by
    the ratio of the sizes with it; INTER_NEAREST_EXACT always by the ratio of the sizes;
    INTER_NEAREST copies pixel floor(x / fx), which a map of centres follows only when it
    enlarges by whole factors (else no look)."""
    dsize = _arg(args, kwargs, 0, "dsize")
    interpolation = int(_arg(args, kwargs, 4, "interpolation", _INTER_LINEAR))
    (w0, h0), (w1, h1) = _size(src), _size(out)
    if interpolation == _INTER_NEAREST_EXACT or (dsize is not None and tuple(dsize) != (0, 0)):
        fx, fy = w1 / w0, h1 / h0
    else:
        fx, fy = float(_arg(args, kwargs, 2, "fx")), float(_arg(args, kwargs, 3, "fy"))
    if interpolation == _INTER_NEAREST and not (fx.is_integer() and fy.is_integer()):
        return None
    return look.then((1 / fx, 0, 0, 0, 1 / fy, 0), (w1, h1), "resize")


def _rotate_look(look: Look, src: Any, out: Any, args: tuple, kwargs: dict) -> Look | None:
    method, op = _ROTATE[int(_arg(args, kwargs, 0, "rotateCode"))]
    return look.then(transpose_map(method, *_size(src)), _size(out), op)


def _flip_look(look: Look, src: Any, out: Any, args: tuple, kwargs: dict) -> Look | None:
    code = int(_arg(args, kwargs, 0, "flipCode"))
    method = 1 if code == 0 else 0 if code > 0 else 3  # about x: top-bottom; y: left-right
    return look.then(transpose_map(method, *_size(src)), _size(out), "flip")


def _same_look(look: Look, src: Any, out: Any, args: tuple, kwargs: dict) -> Look | None:
    return look if _size(out) == _size(src) else None


def _after(original: Any, derive: Any, tracked: type) -> Any:
    """A function that runs `original(src, *args)`, then gives its result the look
    `derive(look, src, out, args, kwargs)` when `src` has one."""

    @functools.wraps(original)
    def function(src: Any, *args: Any, **kwargs: Any) -> Any:
        out = original(src, *args, **kwargs)
        try:
            look = get(src) if isinstance(src, tracked) else None
            if look is not None:
                given = (src, *args, *kwargs.values())
                return _track(tracked, out, derive(look, src, out, args, kwargs), given)
        except Exception:  # noqa: BLE001 - never let bookkeeping break the code
            pass
        return out

    return function


def _io(cv2: Any, tracker: Tracker, tracked: type) -> None:
    """`imread` of a seeded file and `imwrite`'s report."""
    imread, imwrite = cv2.imread, cv2.imwrite

    @functools.wraps(imread)
    def reading(filename: Any, *args: Any, **kwargs: Any) -> Any:
        out = imread(filename, *args, **kwargs)
        try:
            flags = int(_arg(args, kwargs, 0, "flags", 1))
            look = _read_look(tracker, out, filename, flags) if out is not None else None
            return _track(tracked, out, look, ())
        except Exception:  # noqa: BLE001
            return out

    @functools.wraps(imwrite)
    def writing(filename: Any, img: Any, *args: Any, **kwargs: Any) -> Any:
        ok = imwrite(filename, img, *args, **kwargs)
        try:
            if ok and _size(img) is not None:
                tracker.saved(img, filename, _size(img))
        except Exception:  # noqa: BLE001
            pass
        return ok

    cv2.imread, cv2.imwrite = reading, writing


def wrap_cv2(cv2: Any, tracker: Tracker, tracked: type) -> None:
    """Install the wrappers on the `cv2` module (once per process); `tracked` is the
    ndarray subclass of `provenance_numpy`."""
    if getattr(cv2, WRAPPED, False):
        return
    _io(cv2, tracker, tracked)
    derive = {"resize": _resize_look, "rotate": _rotate_look, "flip": _flip_look}
    derive.update((name, _same_look) for name in SAME_SIZE)
    for name, how in derive.items():
        if callable(getattr(cv2, name, None)):
            setattr(cv2, name, _after(getattr(cv2, name), how, tracked))
    setattr(cv2, WRAPPED, True)
