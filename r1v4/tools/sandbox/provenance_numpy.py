"""NumPy's side of `provenance`: an array taken from a tracked image keeps its look through
basic slicing, arithmetic and `astype`, and gives it back to `Image.fromarray`.

`numpy.array`/`asarray`/`asanyarray` of a tracked image return a view of a small ndarray
subclass (named `ndarray`, shown as `array(...)`, and reducing to plain scalars, so printed
output and comparisons are what the code would get anyway). Slicing the first two axes with
slices (steps and reversal included) maps the look; any other index, or a shape whose first
two axes no longer match the look's size, loses it.
"""

from __future__ import annotations

import functools
from typing import Any

from .provenance import ATTR, Look, get, put, slice_map

WRAPPED = "_r1v4_wrapped"  # the tracked class, set on the module once it is wrapped


def _sliced(look: Look, shape: tuple, key: Any) -> Look | None:
    """The look of `arr[key]` for an array of `shape` (height, width, ...), or None."""
    if len(shape) < 2 or (shape[1], shape[0]) != look.size:
        return None
    parts = key if isinstance(key, tuple) else (key,)
    if parts and parts[-1] is Ellipsis:
        parts = parts[:-1]
    if len(parts) > len(shape) or any(p is Ellipsis or p is None for p in parts):
        return None
    rows = parts[0] if parts else slice(None)
    cols = parts[1] if len(parts) > 1 else slice(None)
    if not isinstance(rows, slice) or not isinstance(cols, slice):
        return None
    y0, sy, h = slice_map(rows, shape[0])
    x0, sx, w = slice_map(cols, shape[1])
    if not h or not w:
        return None
    full = (y0, sy, h, x0, sx, w) == (0.0, 1.0, shape[0], 0.0, 1.0, shape[1])
    return look if full else look.then((sx, 0, x0, 0, sy, y0), (w, h), "slice")


def tracked_class(np: Any) -> type:
    """The ndarray subclass that carries a look."""

    class ndarray(np.ndarray):  # noqa: N801 - shows as numpy's own name in type() and errors
        __qualname__ = "ndarray"

        def __array_finalize__(self, obj: Any) -> None:
            look = getattr(obj, ATTR, None)
            shape = getattr(self, "shape", ())
            fits = look is not None and len(shape) >= 2 and (shape[1], shape[0]) == look.size
            self.__dict__[ATTR] = look if fits else None

        def __array_wrap__(self, arr: Any, context: Any = None, return_scalar: bool = False):
            out = super().__array_wrap__(arr, context, return_scalar)
            if isinstance(out, np.ndarray) and out.ndim == 0:
                return out[()]  # a reduction gives a plain scalar, as on an ndarray
            return out

        def __getitem__(self, key: Any) -> Any:
            out = super().__getitem__(key)
            if isinstance(out, np.ndarray) and type(out) is type(self):
                try:
                    look = self.__dict__.get(ATTR)
                    out.__dict__[ATTR] = None if look is None else _sliced(look, self.shape, key)
                except Exception:  # noqa: BLE001 - the slice stands, only its look is lost
                    out.__dict__[ATTR] = None
            return out

        def __repr__(self) -> str:
            return repr(self.view(np.ndarray))

    return ndarray


def wrap_numpy(np: Any, image_module: Any) -> type:
    """Install the wrappers on `numpy` and `PIL.Image.fromarray` (once per process);
    returns the tracked ndarray class (OpenCV's wrappers make their arrays of it too)."""
    if getattr(np, WRAPPED, None) is not None:
        return getattr(np, WRAPPED)
    tracked = tracked_class(np)
    image_cls = image_module.Image

    def taking(original: Any) -> Any:
        @functools.wraps(original)
        def take(obj: Any, *args: Any, **kwargs: Any) -> Any:
            out = original(obj, *args, **kwargs)
            try:
                if isinstance(obj, image_cls) and isinstance(out, np.ndarray):
                    look = get(obj)
                    if look is not None and out.ndim >= 2:
                        view = out.view(tracked)
                        view.__dict__[ATTR] = look
                        return view
            except Exception:  # noqa: BLE001 - the array stands, untracked
                pass
            return out

        return take

    for name in ("array", "asarray", "asanyarray"):
        setattr(np, name, taking(getattr(np, name)))
    fromarray = image_module.fromarray

    @functools.wraps(fromarray)
    def from_array(obj: Any, *args: Any, **kwargs: Any) -> Any:
        img = fromarray(obj, *args, **kwargs)
        try:
            look = obj.__dict__.get(ATTR) if isinstance(obj, tracked) else None
            put(img, look if look is not None and tuple(img.size) == look.size else None)
        except Exception:  # noqa: BLE001
            pass
        return img

    image_module.fromarray = from_array
    setattr(np, WRAPPED, tracked)
    return tracked
