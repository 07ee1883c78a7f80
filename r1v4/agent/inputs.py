"""A case's input images, loaded once: the sandbox gets the same pixels the model sees.

Input files are untrusted: each must be a regular file within the size bound, of an accepted
format, and within the pixel bound before it is decoded (a FIFO, a device or a decompression
bomb fails this case, not the batch). Called in a worker thread, inside the case's time bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from r1v4._util.images import (
    ImageError,
    ImageTooLarge,
    LoadedImage,
    decode_data_url,
    prepare_image,
    read_image_file,
)
from r1v4._util.pixels import PixelRules
from r1v4.agent.gallery import fit_image
from r1v4.agent.settings import AgentSettings
from r1v4.protocol.cases import Case
from r1v4.protocol.sidecars import safe_component

__all__ = ["InputImage", "load_input_images"]


@dataclass
class InputImage:
    """One input image: the file the sandbox sees, the full-resolution original (what zoom
    tools crop) and what the model is sent (the served model's pixel rules and the server
    guard applied; the file holds these pixels), with the guard's note."""

    path: Path
    original: LoadedImage
    sent: LoadedImage
    note: str | None = None


def load_input_images(
    case: Case,
    s: AgentSettings,
    workdir: Path | None,
    rules: PixelRules | None = None,
    shape: Callable[[Image.Image], Image.Image] | None = None,
) -> list[InputImage]:
    """Read, check and prepare the case's images; write each (as the model is sent it) into
    `workdir` under a unique name, in the case's order (`workdir` None: no tool reads files,
    so the images keep their names and nothing is written). `rules`: the served model's pixel
    rules (`--max-pixels`/`--min-pixels` with the family's factor; None: as given); `shape`:
    the family's own resizing of inputs (Mini-o3's), applied first. Raises
    `ImageError` (or
    `ImageTooLarge`) naming the input and the bound it broke."""
    max_bytes = int(s.max_input_mb * 1_000_000)
    sources: list[tuple[str, str, bytes]] = []  # (file stem, name in messages, bytes)
    for ref in case.images:
        if ref.startswith("data:"):
            n = len(sources) + 1
            sources.append((f"image_{n}", f"data URL {n}", decode_data_url(ref)))
        elif ref.startswith(("http://", "https://")):
            continue  # a remote image goes to the endpoint as a URL, not into the sandbox
    for path in case.image_paths:
        try:
            sources.append((path.stem, str(path), read_image_file(path, max_bytes)))
        except ImageTooLarge as exc:
            raise ImageTooLarge(f"input {exc} (--max-input-mb)") from None
        except ImageError as exc:
            raise ImageError(f"input {exc}") from None
    out: list[InputImage] = []
    used: set[str] = set()
    for stem, label, data in sources:
        try:
            original = prepare_image(data, label, max_input_pixels=s.max_input_pixels)
            img, note = fit_image(original, label, rules, shape=shape)
        except ImageTooLarge as exc:
            raise ImageTooLarge(f"input image {exc} (--max-input-pixels)") from None
        except ImageError as exc:
            raise ImageError(f"input image {exc}") from None
        ext = {"image/jpeg": "jpg"}.get(img.mime, img.mime.split("/")[-1])
        name = safe_component(stem)
        while f"{name}.{ext}" in used:
            name += "_"
        used.add(f"{name}.{ext}")
        target = Path(f"{name}.{ext}") if workdir is None else workdir / f"{name}.{ext}"
        if workdir is not None:
            target.write_bytes(img.data)
        out.append(InputImage(target, original, img, note))
    return out
