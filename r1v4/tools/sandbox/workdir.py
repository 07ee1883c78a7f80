"""Host side: the per-call working folder — stage images in, find new images out.

Images are copied, never hard-linked: with a link, code that overwrote `image_path` in
place would change the case's own file. After the run, a file counts as a new image if it
has an image extension and is new or changed since staging, or if the code printed its
path. Only regular files owned by the call's uid are read (no symlinks, no hard links to
someone else's file), each is checked by Pillow, and caps on count, bytes and pixels apply;
whatever is dropped is reported.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
FORMAT_EXT = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "BMP": "bmp", "GIF": "gif"}
FORMAT_EXT["TIFF"] = "tiff"
TOKEN_SPLIT = re.compile(r"""[\s'"`(),\[\]{}<>=;|]+""")  # linear: no backtracking on long runs
MAX_SCAN_ENTRIES = 20_000  # a folder with more files than this is not read any further


@dataclass
class FoundImage:
    data: bytes
    ext: str
    name: str  # path relative to the working folder
    size: tuple[int, int]


@dataclass
class Collected:
    images: list[FoundImage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def make_folder(root: Path, name: str, uid: int | None) -> Path:
    folder = root / name
    folder.mkdir(mode=0o700)
    if uid is not None:
        os.chown(folder, uid, uid)
    return folder


def stage_images(folder: Path, sources: list[Path], uid: int | None, taken: set[str]) -> list[str]:
    """Copy each source into folder under a unique plain name; returns those names.

    A session's folder is writable by the code between calls, so it may have planted a
    symlink under the name the next image would get: files are created with O_EXCL and
    O_NOFOLLOW (never through an existing entry) and chowned by descriptor, not by path.
    """
    names: list[str] = []
    for src in sources:
        src = Path(src)
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", src.name).lstrip(".") or "image.png"
        stem, suffix = Path(base).stem, Path(base).suffix
        try:
            source = open(src, "rb")  # noqa: SIM115 - closed below, after the copy
        except OSError as exc:
            raise FileNotFoundError(f"cannot stage image {src} into the sandbox: {exc}") from exc
        with source:
            name, n = base, 1
            while True:
                if name not in taken:
                    try:
                        fd = os.open(
                            folder / name,
                            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                            0o644,
                        )
                        break
                    except FileExistsError:
                        pass
                n += 1
                name = f"{stem}_{n}{suffix}"
            with os.fdopen(fd, "wb") as target:
                shutil.copyfileobj(source, target, 1 << 20)
                os.fchmod(target.fileno(), 0o644)
                if uid is not None:
                    os.fchown(target.fileno(), uid, uid)
        taken.add(name)
        names.append(name)
    return names


def snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """(size, mtime_ns, inode) of every regular file, by relative path."""
    out: dict[str, tuple[int, int, int]] = {}
    for rel, st in _walk(folder):
        out[rel] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return out


def _walk(folder: Path):
    """Regular files under folder (symlinks never followed), capped in number."""
    seen = 0
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for fname in sorted(filenames):
            seen += 1
            if seen > MAX_SCAN_ENTRIES:
                return
            full = os.path.join(dirpath, fname)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                yield os.path.relpath(full, folder), st


def printed_paths(output: str, cwd_seen: str, folder: Path) -> tuple[list[str], list[str]]:
    """Image paths the output mentions: (inside the folder, relative; outside, as printed)."""
    inside: list[str] = []
    outside: list[str] = []
    prefixes = [p.rstrip("/") + "/" for p in {cwd_seen, str(folder)} if p]
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


def collect_images(
    folder: Path,
    before: dict[str, tuple[int, int, int]],
    output: str,
    cwd_seen: str,
    *,
    uid: int | None,
    max_images: int,
    max_image_bytes: int,
    max_total_bytes: int,
    max_pixels: int,
) -> Collected:
    """New or changed images in folder (plus printed ones), validated and capped."""
    result = Collected()
    candidates: list[tuple[int, str, os.stat_result]] = []
    inside, outside = printed_paths(output, cwd_seen, folder)
    files = dict(_walk(folder))
    for rel, st in files.items():
        if not rel.lower().endswith(IMAGE_EXTS):
            continue
        changed = before.get(rel) != (st.st_size, st.st_mtime_ns, st.st_ino)
        if changed:
            candidates.append((st.st_mtime_ns, rel, st))
    known = {rel for _, rel, _ in candidates}
    missing = [rel for rel in inside if rel not in files]
    for rel in inside:  # printed, unchanged: only if it is not one of the staged inputs
        if rel in files and rel not in known and rel not in before:
            candidates.append((files[rel].st_mtime_ns, rel, files[rel]))
    candidates.sort(key=lambda c: (c[0], c[1]))
    dropped: dict[str, int] = {}
    total = 0
    for _mtime, rel, st in candidates:
        if len(result.images) >= max_images:
            dropped[f"over the limit of {max_images} images per call"] = (
                dropped.get(f"over the limit of {max_images} images per call", 0) + 1
            )
            continue
        if uid is not None and st.st_uid != uid:
            continue  # not written by the code (e.g. a hard link to another file)
        if st.st_size > max_image_bytes:
            key = f"larger than {max_image_bytes // 1_000_000} MB"
            dropped[key] = dropped.get(key, 0) + 1
            continue
        if total + st.st_size > max_total_bytes:
            key = f"over the total of {max_total_bytes // 1_000_000} MB per call"
            dropped[key] = dropped.get(key, 0) + 1
            continue
        found, why = _load(folder / rel, rel, max_pixels, uid, max_image_bytes)
        if found is None:
            dropped[why] = dropped.get(why, 0) + 1
            continue
        total += len(found.data)
        result.images.append(found)
    if candidates:
        n_drop = sum(dropped.values())
        if n_drop:
            reasons = "; ".join(f"{n} {why}" for why, n in dropped.items())
            result.notes.append(
                f"{len(candidates)} new image file(s) found; returned {len(result.images)}, "
                f"dropped {n_drop} ({reasons})."
            )
    for raw in outside[:5]:
        result.notes.append(
            f"printed image path {raw} is outside the working folder; "
            "save images in the working folder (the current directory) to return them."
        )
    for rel in missing[:5]:
        result.notes.append(f"printed image path {rel} does not exist in the working folder.")
    return result


def _load(
    path: Path, rel: str, max_pixels: int, uid: int | None, max_bytes: int
) -> tuple[FoundImage | None, str]:
    """Read and check one image file; (None, reason) when it cannot be returned."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode) or (uid is not None and st.st_uid != uid):
                return None, "not a file the code wrote"
            data = fh.read(max_bytes + 1)
    except OSError:
        return None, "unreadable"
    if len(data) > max_bytes:
        return None, "grew while being read"
    try:
        from io import BytesIO

        with Image.open(BytesIO(data)) as img:
            width, height = img.size
            fmt = img.format or ""
            if width * height > max_pixels:
                return None, f"over {max_pixels} pixels"
            img.verify()
    except Exception:  # noqa: BLE001 - any decoder failure means "not an image we return"
        return None, "not a valid image"
    ext = FORMAT_EXT.get(fmt, Path(rel).suffix.lstrip(".").lower() or "png")
    return FoundImage(data=data, ext=ext, name=rel, size=(width, height)), ""
