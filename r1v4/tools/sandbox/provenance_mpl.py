"""Matplotlib's side of `provenance`: a figure that shows one tracked image (a crop the code
shows with `plt.imshow(...)` and `plt.show()`, as DeepEyesV2 and PyVision do) gets a look.

`Axes.imshow` is wrapped so that the `AxesImage` it returns remembers the look of the image
or array it was given (a tracked Pillow image or tracked ndarray), with the array it holds:
a later `set_data` makes it another picture, whose look is unknown. `AxesImage.draw` is
wrapped so that each drawing of such an image records, from the renderer it draws with (at
the saved dpi, and for `bbox_inches='tight'` with the figure already shifted onto the saved
box), the affine map from the canvas's pixels to the array's pixels and the rectangle of the
canvas that shows the image: its extent intersected with its clip box (the axes' visible
area, so `xlim`/`ylim` zooms count) and the canvas. `figures.capture` then reports the look
of the saved PNG (`figure_look`).

Only the plain case is followed: a rectilinear Axes with linear scales, an axis-aligned
transform, and exactly one image in the figure. Anything else, or any failure in the
bookkeeping, gives no look; the wrappers call matplotlib's own functions first and return
their results, so what is drawn and saved is what it was.
"""

from __future__ import annotations

import functools
from typing import Any

from .provenance import ATTR, Look, compose, get

WRAPPED = "_r1v4_wrapped"  # set on the Axes class once it is wrapped
DRAWN = "_r1v4_drawn"  # on an AxesImage: (canvas px -> array px map, clip, canvas size)
OP = "figure"


def wrap_matplotlib(axes_cls: Any, image_cls: Any) -> None:
    """Install the wrappers on `Axes.imshow` and `AxesImage.draw` (once per process)."""
    if getattr(axes_cls, WRAPPED, False):
        return
    imshow, draw = axes_cls.imshow, image_cls.draw

    @functools.wraps(imshow)
    def shown(self: Any, X: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N803 - its name
        out = imshow(self, X, *args, **kwargs)
        try:
            look = get(X)
            if look is not None:
                out.__dict__[ATTR] = (look, out.get_array())
        except Exception:  # noqa: BLE001 - never let bookkeeping break the code
            pass
        return out

    @functools.wraps(draw)
    def drawn(self: Any, renderer: Any, *args: Any, **kwargs: Any) -> Any:
        out = draw(self, renderer, *args, **kwargs)
        try:
            if self.__dict__.get(ATTR) is not None:
                self.__dict__[DRAWN] = geometry(self, renderer)
        except Exception:  # noqa: BLE001
            self.__dict__[DRAWN] = None
        return out

    axes_cls.imshow, image_cls.draw = shown, drawn
    setattr(axes_cls, WRAPPED, True)


def geometry(image: Any, renderer: Any) -> tuple[tuple, tuple, tuple] | None:
    """(the map from canvas pixels to the array's pixels, the canvas rectangle that shows
    the image, the canvas's (width, height)) of `image` as `renderer` draws it, or None."""
    ax = image.axes
    if ax is None or getattr(ax, "name", "") != "rectilinear":
        return None
    if ax.get_xscale() != "linear" or ax.get_yscale() != "linear":
        return None
    trans = image.get_transform()
    if not trans.is_affine:
        return None
    (a, b, c), (d, e, f), _ = trans.get_affine().get_matrix()
    if b or d or not a or not e:
        return None  # rotated, sheared or flat
    h, w = image.get_array().shape[:2]
    x1, x2, y1, y2 = image.get_extent()
    if image.origin == "upper":  # row 0 at the extent's top (y2), as matplotlib draws it
        to_data = ((x2 - x1) / w, 0.0, x1, 0.0, -(y2 - y1) / h, y2)
    else:
        to_data = ((x2 - x1) / w, 0.0, x1, 0.0, (y2 - y1) / h, y1)
    width, height = renderer.get_canvas_width_height()
    to_canvas = (a, 0.0, c, 0.0, -e, height - f)  # display y grows up, the PNG's rows down
    sx, _, cx, _, sy, cy = compose(to_canvas, to_data)  # array px -> canvas px
    if not sx or not sy:
        return None
    inverse = (1 / sx, 0.0, -cx / sx, 0.0, 1 / sy, -cy / sy)
    left, right = sorted((cx, cx + sx * w))
    top, bottom = sorted((cy, cy + sy * h))
    rect = [max(0.0, left), max(0.0, top), min(float(width), right), min(float(height), bottom)]
    box = image.get_clip_box() if image.get_clip_on() else None
    if box is not None:
        rect[0], rect[2] = max(rect[0], box.x0), min(rect[2], box.x1)
        rect[1], rect[3] = max(rect[1], height - box.y1), min(rect[3], height - box.y0)
    if rect[2] <= rect[0] or rect[3] <= rect[1]:
        return None
    return inverse, tuple(round(v, 3) for v in rect), (int(width), int(height))


def images_of(fig: Any) -> list[Any]:
    """Every image drawn in the figure: each Axes' and the figure's own (`figimage`)."""
    found = list(getattr(fig, "images", []) or [])
    for ax in fig.get_axes():
        found.extend(ax.get_images())
    return found


def forget(fig: Any) -> None:
    """Drop what earlier drawings recorded, before the figure is saved."""
    for image in images_of(fig):
        image.__dict__.pop(DRAWN, None)


def figure_look(fig: Any, png_size: tuple[int, int]) -> tuple[Look, tuple] | None:
    """The look of the PNG just saved from `fig` (of `png_size`) and the rectangle of its
    pixels that shows the image: only for a figure with exactly one image, which has a
    look, drawn last on a canvas of the PNG's size."""
    images = images_of(fig)
    if len(images) != 1:
        return None
    (image,) = images
    tracked, drawn = image.__dict__.get(ATTR), image.__dict__.get(DRAWN)
    if not isinstance(tracked, tuple) or drawn is None:
        return None
    look, array = tracked
    if not isinstance(look, Look) or image.get_array() is not array:
        return None
    inverse, clip, canvas = drawn
    if tuple(canvas) != tuple(png_size) or tuple(array.shape[1::-1]) != look.size:
        return None
    return look.then(inverse, canvas, OP), clip
