"""Inside the jail, after the code: find the images it made and hand them over as PNG.

Everything about a call's files that could be hostile happens here, in a process that
runs as the call's own uid, under the call's limits, in the call's namespaces: the walk
(bounded, iterative: a folder a thousand deep or a million files cannot hurt), the choice
of new images, and decoding. A file is decoded only if its first bytes say PNG, JPEG,
WebP, GIF, BMP or TIFF, and only with that one Pillow plugin (so a `.png` that is really
EPS never reaches Ghostscript), within a pixel bound; it is re-encoded as PNG and sent
over the output pipe. The host then only ever decodes PNG.

A file counts as a new image if its name has an image extension and it is new or
changed since the snapshot taken just before the code ran; images are taken oldest first
up to the caps on count, bytes and pixels, and whatever is dropped is reported. Image
paths the output mentions that do not exist, or lie outside the folder, get a note.

Standard library plus Pillow (already imported by the warm worker).
"""

from __future__ import annotations

import io
import os
import re
import stat
import time
from typing import Any

from .fswalk import DIR_FLAGS, WalkLimits, WalkReport, clear_folder, open_relative, walk_files
from .protocol import encode, write_all

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
DECODABLE = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
PNG_MODES = {"1", "L", "LA", "I", "I;16", "RGB", "RGBA", "P"}
TOKEN_SPLIT = re.compile(r"""[\s'"`(),\[\]{}<>=;|]+""")  # linear: no backtracking on long runs
MAX_SCAN_ENTRIES = 20_000
MAX_SCAN_DEPTH = 32


def sniff(head: bytes) -> str | None:
    """The image format the first bytes announce, among the ones we decode; else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF"
    if head.startswith(b"BM") and len(head) >= 18:
        return "BMP"
    return None


def snapshot(folder: str = ".", limits: WalkLimits | None = None) -> dict[str, list[int]]:
    """[size, mtime_ns, inode] of every regular file under folder (bounded like a walk)."""
    fd = os.open(folder, DIR_FLAGS)
    try:
        walk = walk_files(fd, limits or WalkLimits(MAX_SCAN_ENTRIES, MAX_SCAN_DEPTH))
        return {rel: [st.st_size, st.st_mtime_ns, st.st_ino] for rel, st in walk}
    finally:
        os.close(fd)


def printed_paths(output: str, cwd_seen: str, folder: str) -> tuple[list[str], list[str]]:
    """Image paths the output mentions: (inside the folder, relative; outside, as printed)."""
    inside: list[str] = []
    outside: list[str] = []
    prefixes = [p.rstrip("/") + "/" for p in {cwd_seen, folder} if p]
    for token in TOKEN_SPLIT.split(output):
        raw = token.rstrip(".:,!?")
        if not raw or len(raw) > 4096 or not raw.lower().endswith(IMAGE_EXTS):
            continue
        if raw.lower().startswith(("http://", "https://", "data:")):
            continue
        rel: str | None = None
        if raw.startswith("/"):
            for prefix in prefixes:
                if raw.startswith(prefix):
                    rel = raw[len(prefix) :]
            if rel is None:
                if raw not in outside:
                    outside.append(raw)
                continue
        else:
            rel = raw[2:] if raw.startswith("./") else raw
        rel = os.path.normpath(rel)
        if rel.startswith("..") or rel in inside:
            continue
        inside.append(rel)
    return inside, outside


class Refused(Exception):
    """Why one file is not returned (the text goes into the observation's note)."""


def to_png(data: bytes, max_pixels: int) -> tuple[bytes, tuple[int, int]]:
    """Decode with the one plugin the magic bytes name and re-encode as PNG."""
    from PIL import Image

    fmt = sniff(data[:32])
    if fmt is None:
        raise Refused("not a PNG, JPEG, WebP, GIF, BMP or TIFF file")
    bomb_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max_pixels
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as img:
            width, height = img.size
            if width * height > max_pixels or width <= 0 or height <= 0:
                raise Refused(f"over {max_pixels} pixels")
            img.seek(0)  # an animation: its first frame
            img.load()
            frame = img
            if frame.mode not in PNG_MODES:
                alpha = "A" in frame.mode or "transparency" in frame.info
                frame = frame.convert("RGBA" if alpha else "RGB")
            out = io.BytesIO()
            frame.save(out, format="PNG", compress_level=3)
    except Refused:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure means "not returned"
        if type(exc).__name__ == "DecompressionBombError":
            raise Refused(f"over {max_pixels} pixels") from exc
        raise Refused("not a valid image") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = bomb_limit
    return out.getvalue(), (width, height)


def _read(root_fd: int, rel: str, max_bytes: int) -> bytes:
    try:
        fd = open_relative(root_fd, rel, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise Refused("unreadable") from exc
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise Refused("not a regular file")
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise Refused(f"larger than {max_bytes // 1_000_000} MB")
    return data


def candidates(files: dict[str, os.stat_result], before: dict, inside: list[str]) -> list[str]:
    """New or changed image files, plus printed ones that are not staged inputs; oldest
    first."""
    found: list[tuple[int, str]] = []
    for rel, st in files.items():
        if rel.lower().endswith(IMAGE_EXTS):
            if before.get(rel) != (st.st_size, st.st_mtime_ns, st.st_ino):
                found.append((st.st_mtime_ns, rel))
    known = {rel for _, rel in found}
    for rel in inside:
        if rel in files and rel not in known and rel not in before:
            found.append((files[rel].st_mtime_ns, rel))
    return [rel for _, rel in sorted(found)]


def send_images(
    root_fd: int, names: list[str], req: dict[str, Any], deadline: float, out_fd: int
) -> tuple[int, dict[str, int]]:
    """Convert and send each image within the caps; (how many sent, {why dropped: count})."""
    max_images = int(req.get("max_images", 8))
    max_bytes = int(req.get("max_image_bytes", 32_000_000))
    max_total = int(req.get("max_total_bytes", 128_000_000))
    max_pixels = int(req.get("max_pixels", 40_000_000))
    dropped: dict[str, int] = {}
    returned = total = 0
    for rel in names:
        if returned >= max_images:
            why = f"over the limit of {max_images} images per call"
        elif time.monotonic() > deadline:
            why = "not converted in time"
        else:
            try:
                png, size = to_png(_read(root_fd, rel, max_bytes), max_pixels)
                if len(png) > max_bytes:
                    raise Refused(f"larger than {max_bytes // 1_000_000} MB as PNG")
                if total + len(png) > max_total:
                    raise Refused(f"over the total of {max_total // 1_000_000} MB per call")
            except Refused as exc:
                why = str(exc)
            else:
                write_all(out_fd, encode({"image": rel, "size": list(size)}, png))
                returned += 1
                total += len(png)
                continue
        dropped[why] = dropped.get(why, 0) + 1
    return returned, dropped


def collect(req: dict[str, Any], out_fd: int) -> None:
    """Walk the current folder, send each returned image as a PNG frame, then a summary
    (notes for the observation; whether the folder was emptied, when asked to)."""
    started = time.monotonic()
    budget = float(req.get("budget_s", 10.0))
    deadline = started + max(0.5, budget - 0.5)
    before = {k: tuple(v) for k, v in (req.get("snapshot") or {}).items()}
    root_fd = os.open(".", DIR_FLAGS)
    report = WalkReport()
    files = dict(
        walk_files(root_fd, WalkLimits(MAX_SCAN_ENTRIES, MAX_SCAN_DEPTH, deadline), report)
    )
    inside, outside = printed_paths(
        str(req.get("output", "")), str(req.get("cwd", "")), str(req.get("dir", ""))
    )
    names = candidates(files, before, inside)
    returned, dropped = send_images(root_fd, names, req, deadline, out_fd)
    notes: list[str] = []
    if names and dropped:
        reasons = "; ".join(f"{n} {why}" for why, n in dropped.items())
        notes.append(
            f"{len(names)} new image file(s) found; returned {returned}, "
            f"dropped {sum(dropped.values())} ({reasons})."
        )
    if not report.complete:
        notes.append(report.note() + "; images beyond that were not looked for.")
    for raw in outside[:5]:
        notes.append(
            f"printed image path {raw} is outside the working folder; "
            "save images in the working folder (the current directory) to return them."
        )
    if report.complete:
        for rel in [r for r in inside if r not in files][:5]:
            notes.append(f"printed image path {rel} does not exist in the working folder.")
    cleaned = clear_folder(root_fd, deadline=started + budget) if req.get("clean") else None
    os.close(root_fd)
    write_all(out_fd, encode({"done": True, "notes": notes, "cleaned": cleaned}))
