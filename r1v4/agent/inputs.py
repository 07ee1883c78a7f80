"""A case's input images, loaded once: the sandbox gets the same pixels the model sees.

Input files are untrusted: each must be a regular file within the size bound, of an accepted
format, and within the pixel bound before it is decoded (a FIFO, a device or a decompression
bomb fails this case, not the batch). Called in a worker thread, inside the case's time bound.
"""

from __future__ import annotations

from pathlib import Path

from r1v4._util.images import (
    ImageError,
    ImageTooLarge,
    LoadedImage,
    decode_data_url,
    prepare_image,
    read_image_file,
)
from r1v4.agent.settings import AgentSettings
from r1v4.protocol.cases import Case
from r1v4.protocol.sidecars import safe_component

__all__ = ["load_input_images"]


def load_input_images(
    case: Case, s: AgentSettings, workdir: Path
) -> tuple[list[Path], list[LoadedImage]]:
    """Read, check and prepare the case's images; write each into `workdir` under a unique
    name. Returns the files written and the prepared images, in the case's order. Raises
    `ImageError` (or `ImageTooLarge`) naming the input and the bound it broke."""
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
    files: list[Path] = []
    images: list[LoadedImage] = []
    used: set[str] = set()
    for stem, label, data in sources:
        try:
            img = prepare_image(data, label, s.max_pixels, max_input_pixels=s.max_input_pixels)
        except ImageTooLarge as exc:
            raise ImageTooLarge(f"input image {exc} (--max-input-pixels)") from None
        except ImageError as exc:
            raise ImageError(f"input image {exc}") from None
        ext = {"image/jpeg": "jpg"}.get(img.mime, img.mime.split("/")[-1])
        name = safe_component(stem)
        while f"{name}.{ext}" in used:
            name += "_"
        used.add(f"{name}.{ext}")
        target = workdir / f"{name}.{ext}"
        target.write_bytes(img.data)
        files.append(target)
        images.append(img)
    return files, images
