"""The images a record refers to, and the only way the viewer turns a reference into bytes.

A reference is served (and copied by `export-html`) only when the loaded record names it and
its bytes really are a raster image (PNG, JPEG, GIF, WebP, BMP — sniffed from the content, so
an SVG with a script or a renamed text file is refused). Where the bytes may come from depends
on who wrote the reference (`ImageSources`):

- input images, named by the record's own `image` / `images` fields: relative paths are tried
  against the result file's folder, the folder of the input file the record names
  (`meta.input_file`), then the folder the viewer runs in; a file that is not found is
  reported with every folder that was tried;
- images of the trajectory, named inside `full_response` (model text, where a model can write
  a fake `<observation>` naming any host path): only files whose real path lies in the
  result file's sidecar folder `<result>.assets/` (or, for a merged file, another result
  file's sidecar folder that the record's own `assets` list names), and data URLs.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Biggest image the viewer will read into memory.
MAX_IMAGE_BYTES = 64 << 20

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
    (b"BM", "image/bmp", "bmp"),
)


class ImageRefused(LookupError):
    """A reference the viewer will not serve; the message says why."""


@dataclass(frozen=True)
class ImageRef:
    """One image of a case: where it appears (`input` or a round number) and its reference."""

    kind: str  # "input" | "round" | "final"
    round_num: int | None
    ref: str

    @property
    def label(self) -> str:
        """A short caption: the file name, or "embedded image" for data URLs."""
        if self.ref.startswith("data:"):
            return "embedded image"
        return os.path.basename(self.ref) or self.ref


def sniff(data: bytes) -> tuple[str, str] | None:
    """(mime type, extension) of raster image bytes, or None for anything else."""
    for magic, mime, ext in _MAGIC:
        if data.startswith(magic):
            return mime, ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def _refs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v.strip()]
    return []


def input_refs(record: dict) -> list[str]:
    """The case's input images: `images` if present, else the seed's single `image`."""
    refs = _refs(record.get("images"))
    return refs or _refs(record.get("image"))


def round_refs(rnd: dict) -> list[str]:
    """Intermediate images of a parsed round: the parser's list plus the observation's."""
    seen: dict[str, None] = {}
    obs = rnd.get("observation")
    for ref in _refs(rnd.get("images")) + _refs(
        obs.get("images") if isinstance(obs, dict) else None
    ):
        seen.setdefault(ref, None)
    return list(seen)


def case_images(record: dict, parsed: dict) -> list[ImageRef]:
    """Every image of a case in page order; an image's position is its id in URLs."""
    out = [ImageRef("input", None, r) for r in input_refs(record)]
    for rnd in parsed.get("rounds", []):
        out.extend(ImageRef("round", rnd.get("round_num"), r) for r in round_refs(rnd))
    final = parsed.get("final_round") or {}
    out.extend(ImageRef("final", None, r) for r in _refs(final.get("images")))
    return out


def decode_data_url(url: str) -> bytes:
    """Bytes of a base64 data URL; ImageRefused when it is not one."""
    head, sep, payload = url.partition(",")
    if not sep or ";base64" not in head:
        raise ImageRefused("not a base64 data URL")
    if len(payload) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise ImageRefused("embedded image too large")
    try:
        return base64.b64decode("".join(payload.split()), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ImageRefused(f"bad base64 in data URL: {exc}") from None


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


#: Suffixes of result files whose `<name>.assets/` sidecar folders hold trajectory images.
RESULT_SUFFIXES = (".jsonl", ".json", ".ndjson")


def sidecar_of(result_path: Path) -> Path:
    """The resolved `<result>.assets/` folder of a result file (it need not exist)."""
    return Path(f"{result_path}.assets").resolve()


def _owning_sidecar(path: Path) -> Path | None:
    """The `X.assets` folder above a resolved path, when X is an existing result file."""
    for parent in path.parents:
        if parent.name.endswith(".assets"):
            owner = parent.with_name(parent.name[: -len(".assets")])
            if owner.name.lower().endswith(RESULT_SUFFIXES) and owner.is_file():
                return parent
    return None


@dataclass(frozen=True)
class ImageSources:
    """Where the images of one case may be read from (see the module docstring).

    `input_dirs`: folders a relative input path is tried against, in order.
    `input_within`: when set, the only folders an input image may lie in (in-flight
    snapshots, which the viewer trusts less than records); None: anywhere.
    `sidecars`: the only folders a trajectory image may lie in.
    """

    result_dir: Path
    input_dirs: tuple[Path, ...]
    sidecars: tuple[Path, ...]
    input_within: tuple[Path, ...] | None = None


def _unique(paths: Iterable[Path]) -> tuple[Path, ...]:
    return tuple(dict.fromkeys(paths))


def recorded_input_dirs(record: dict, result_dir: Path) -> list[Path]:
    """The folder of the input file a record names (`meta.input_file`, or a top-level
    `input_file`), so inputs resolve after the result file moved; relative names are taken
    against the result file's folder."""
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    out = []
    for value in (meta.get("input_file"), record.get("input_file")):
        if isinstance(value, str) and value.strip() and "\x00" not in value:
            out.append((result_dir / value).parent)
    return out


def sources_for_record(record: Any, result_path: Path, cwd: Path) -> ImageSources:
    """Image sources of a finished record in `result_path`, the viewer running in `cwd`."""
    result_dir = result_path.parent.resolve()
    record = record if isinstance(record, dict) else {}
    sidecars = [sidecar_of(result_path)]
    for ref in _refs(record.get("assets")):  # a merged file: its shards' sidecar folders
        if not ref.startswith("data:"):
            owner = _owning_sidecar((result_dir / ref).resolve())
            if owner is not None:
                sidecars.append(owner)
    return ImageSources(
        result_dir=result_dir,
        input_dirs=_unique([result_dir, *recorded_input_dirs(record, result_dir), Path(cwd)]),
        sidecars=_unique(sidecars),
    )


def sources_for_snapshot(
    result_path: Path, cwd: Path, roots: Iterable[str | os.PathLike]
) -> ImageSources:
    """Image sources of an in-flight snapshot: inputs only under the result's folder, the
    working folder or a viewer root; trajectory images only in the result's sidecar."""
    result_dir = result_path.parent.resolve()
    cwd = Path(cwd).resolve()
    return ImageSources(
        result_dir=result_dir,
        input_dirs=(result_dir, cwd),
        sidecars=(sidecar_of(result_path),),
        input_within=_unique([result_dir, cwd, *(Path(r).resolve() for r in roots)]),
    )


def _locate_input(ref: str, sources: ImageSources) -> Path:
    raw = Path(ref)
    dirs = [] if raw.is_absolute() else list(sources.input_dirs)
    candidates = [raw] if raw.is_absolute() else [d / raw for d in dirs]
    outside = False
    for cand in candidates:
        if cand.is_file():
            real = cand.resolve()
            if sources.input_within is not None and not any(
                _is_within(real, w) for w in sources.input_within
            ):
                outside = True
                continue
            return real
    if outside:
        raise ImageRefused(f"input image outside the allowed folders: {ref}")
    if dirs:
        raise ImageRefused(
            f"input image not found: {ref}, looked in {', '.join(str(d) for d in dirs)}"
        )
    raise ImageRefused(f"input image not found: {ref}")


def _locate_trajectory(ref: str, sources: ImageSources) -> Path:
    raw = Path(ref)
    cand = raw if raw.is_absolute() else sources.result_dir / raw
    real = cand.resolve()
    if not any(_is_within(real, s) for s in sources.sidecars):
        where = ", ".join(str(s) for s in sources.sidecars)
        raise ImageRefused(
            f"image outside the run's assets folder: {ref} (images of a trajectory are "
            f"shown only from {where})"
        )
    if not real.is_file():
        raise ImageRefused(f"image file not found: {ref}")
    return real


def locate(ref: str, kind: str, sources: ImageSources) -> Path:
    """The file a path reference of this kind (`input`, `round`, `final`) may be read from,
    or ImageRefused saying why not."""
    if "\x00" in ref:
        raise ImageRefused("image path contains a NUL byte")
    if kind == "input":
        return _locate_input(ref, sources)
    return _locate_trajectory(ref, sources)


def precheck(ref: str, kind: str, sources: ImageSources) -> str | None:
    """Why a reference cannot be shown (None when it can), reading only its first bytes.

    Lets a page say "not an image: x.txt" instead of drawing a broken image; the image route
    still checks the full bytes itself.
    """
    try:
        if ref.startswith("data:"):
            head, _, payload = ref.partition(",")
            if ";base64" not in head:
                return "not a base64 data URL"
            start = base64.b64decode("".join(payload[:64].split())[:16] + "==", validate=False)
        else:
            with open(locate(ref, kind, sources), "rb") as fh:
                start = fh.read(16)
    except (ImageRefused, OSError, binascii.Error, ValueError) as exc:
        return str(exc) if isinstance(exc, ImageRefused) else f"cannot read: {ref[:80]}"
    return None if sniff(start) else f"not a raster image: {ref[:80]}"


def load_image(ref: str, kind: str, sources: ImageSources) -> tuple[bytes, str, str]:
    """(bytes, mime, extension) of a referenced image, refusing anything that is not one or
    that lies where an image of this kind may not come from (see `locate`)."""
    if ref.startswith("data:"):
        data = decode_data_url(ref)
    else:
        path = locate(ref, kind, sources)
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise ImageRefused(f"image too large: {ref}")
        data = path.read_bytes()
    kind_found = sniff(data)
    if kind_found is None:
        raise ImageRefused(f"not a raster image: {ref[:80]}")
    return data, kind_found[0], kind_found[1]
