"""The images of one conversation, in the order the model met them: the case's inputs, then
every image a tool returned. Dialects address them by position (Qwen's `img_idx`), by output
number (R1V4's `<sub-image N>`, Mini-o3's `observation_N`) or by file name (the sandbox, the
`image_search` tool).

Each image is kept twice: `original`, at full resolution (the input file, or the tool's
output as produced), which zoom tools crop; and `sent`, what the model is sent after the
served model's pixel rules (`--max-pixels`/`--min-pixels` with the family's factor) and the
server guard (sides >= 32 px, aspect ratio <= 200). The sandbox gets the `sent` pixels, so
absolute coordinates the model writes refer to the image the code opens.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from r1v4._util.images import ImageError, LoadedImage, prepare_image
from r1v4._util.pixels import PixelRules, guard_image, guard_size

__all__ = ["Gallery", "GalleryImage", "fit_image", "png_bytes"]


def png_bytes(img: Image.Image) -> bytes:
    """Lossless bytes of an image (crops and resized copies are stored as PNG)."""
    buf = io.BytesIO()
    if img.mode not in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16"):
        img = img.convert("RGB")
    img.save(buf, format="PNG")
    return buf.getvalue()


def fit_image(
    data: bytes | LoadedImage,
    source: str,
    rules: PixelRules | None,
    *,
    resize: bool = True,
    shape: Callable[[Image.Image], Image.Image] | None = None,
) -> tuple[LoadedImage, str | None]:
    """The image as the model is sent it, and what the guard changed (None: nothing).

    With `rules` (and `resize`), the image is resized with the served model's own rule, so
    the server's processor leaves it as it is; then the guard makes a side under 32 px or an
    aspect ratio over 200 acceptable (a server refuses the whole request otherwise). An image
    that needs neither goes out byte for byte. `shape`, when given, is the family's own
    resizing (Mini-o3's `process_image`), applied first. ImageError names `source` when the
    bytes are not an image; `data` may be an image `prepare_image` already checked."""
    loaded = data if isinstance(data, LoadedImage) else prepare_image(data, source)
    if shape is None and not _changes(loaded.width, loaded.height, rules if resize else None):
        return loaded, None  # decided from the header: the bytes go out as they are
    try:
        with Image.open(io.BytesIO(loaded.data)) as probe:
            probe.load()
            img = probe.copy()
    except (OSError, ValueError) as exc:  # prepare_image decoded it once already
        raise ImageError(f"{source}: not a readable image ({exc})") from exc
    shaped = shape(img) if shape is not None else img
    changed = shaped is not img and shaped.size != img.size
    img, note = guard_image(shaped)
    changed = changed or note is not None
    if rules is not None and resize:
        resized = rules.resize(img)
        changed = changed or resized is not img
        # A factor-28 rule can round an extreme aspect ratio's short side down to 28.
        img, again = guard_image(resized)
        note = note or again
        changed = changed or again is not None
    if not changed:
        return loaded, None
    out = png_bytes(img)
    return LoadedImage(out, "image/png", img.width, img.height, source), note


def _changes(width: int, height: int, rules: PixelRules | None) -> bool:
    """Whether the guard or the model's pixel rules would change an image of this size (the
    sizes `guard_image` and `PixelRules.resize` reach, computed without the pixels)."""
    _, final = guard_size(width, height)
    if final != (width, height):
        return True
    return rules is not None and rules.size_for(width, height) != (width, height)


@dataclass
class GalleryImage:
    """One image of the conversation (see the module docstring)."""

    index: int  # position over the whole conversation, from 0 (Qwen's img_idx)
    number: int  # 1-based among tool outputs (sub-image N, observation_N); 0 for an input
    name: str  # its file name in the case folder (the sandbox's and image_search's name)
    original: bytes  # full resolution: what zooms crop
    sent: LoadedImage  # what the model is sent
    note: str | None = None  # what the guard changed, for the observation
    path: Path | None = None  # the file holding the sent pixels

    @property
    def is_input(self) -> bool:
        return self.number == 0

    def open_original(self) -> Image.Image:
        """The full-resolution image, decoded (call off the event loop)."""
        with Image.open(io.BytesIO(self.original)) as img:
            img.load()
            return img.copy()

    def part(self) -> dict[str, Any]:
        """The image as an OpenAI content part."""
        return {"type": "image_url", "image_url": {"url": self.sent.data_url()}}


@dataclass
class Gallery:
    """Every image of one conversation, inputs first."""

    images: list[GalleryImage] = field(default_factory=list)

    @property
    def inputs(self) -> list[GalleryImage]:
        return [g for g in self.images if g.is_input]

    @property
    def outputs(self) -> list[GalleryImage]:
        return [g for g in self.images if not g.is_input]

    def add(
        self,
        name: str,
        original: bytes,
        sent: LoadedImage,
        *,
        output: bool,
        note: str | None = None,
        path: Path | None = None,
    ) -> GalleryImage:
        number = len(self.outputs) + 1 if output else 0
        image = GalleryImage(len(self.images), number, name, original, sent, note, path)
        self.images.append(image)
        return image

    def output(self, number: int) -> GalleryImage | None:
        """The `number`-th tool output (1-based), or None."""
        outs = self.outputs
        return outs[number - 1] if 1 <= number <= len(outs) else None

    def named(self, name: str) -> GalleryImage | None:
        """The newest image with this file name."""
        return next((g for g in reversed(self.images) if g.name == name), None)
