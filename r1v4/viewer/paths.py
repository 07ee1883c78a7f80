"""Which files the viewer may open: the files it was started with, or files under --root.

The seed viewer opened any path the browser sent it. Here a typed path is refused when it
contains a `..` component, names a place outside every root (absolute or relative), or leads
outside through a symlink (the check runs on the fully resolved path). Image files are
checked separately (see `images.py`); this module only decides about result files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

#: Suffixes a typed path must have; files named on the command line are exempt.
RESULT_SUFFIXES = (".jsonl", ".json", ".ndjson")


class PathRefused(ValueError):
    """A path the viewer will not open; the message says why, for the user."""


def _is_within(path: Path, folder: Path) -> bool:
    """True when `path` is `folder` or below it (both already resolved)."""
    return path == folder or folder in path.parents


def resolve_result_path(
    user_path: str,
    *,
    roots: Sequence[str | os.PathLike],
    allowed_files: Iterable[str | os.PathLike] = (),
    cwd: str | os.PathLike | None = None,
) -> Path:
    """Resolve a path typed by a user to a real file the viewer may open, or raise PathRefused.

    Relative paths are tried against each root in turn, then against `cwd`. The resolved
    path (symlinks followed) must be one of `allowed_files` or lie under a root.
    """
    text = (user_path or "").strip()
    if not text:
        raise PathRefused("no path given")
    if "\x00" in text:
        raise PathRefused("path contains a NUL byte")
    raw = Path(os.path.expanduser(text))
    if ".." in raw.parts:
        raise PathRefused(f"{text!r}: '..' is not allowed in a path")
    real_roots = [Path(r).resolve() for r in roots]
    allowed = {Path(f).resolve() for f in allowed_files}
    base = Path(cwd) if cwd is not None else Path.cwd()
    if raw.is_absolute():
        candidates = [raw]
    else:
        candidates = [Path(r) / raw for r in roots] + [base / raw]
    existing = [c for c in candidates if c.exists()]
    if not existing:
        raise PathRefused(f"{text!r}: no such file under the allowed folders")
    for cand in existing:
        real = cand.resolve()
        if real in allowed:
            return real
        if any(_is_within(real, root) for root in real_roots):
            if not real.is_file():
                raise PathRefused(f"{text!r}: not a regular file")
            if not real.name.lower().endswith(RESULT_SUFFIXES):
                raise PathRefused(
                    f"{text!r}: only {', '.join(RESULT_SUFFIXES)} files can be opened from the page"
                )
            return real
    if _leads_out_by_symlink(existing, real_roots):
        raise PathRefused(f"{text!r}: a symlink leads outside the allowed folders")
    raise PathRefused(f"{text!r}: outside the allowed folders ({', '.join(map(str, real_roots))})")


def _leads_out_by_symlink(existing: list[Path], real_roots: list[Path]) -> bool:
    """True when a candidate sits under a root lexically but resolves outside it (a symlink)."""
    for cand in existing:
        lexical = Path(os.path.abspath(cand))
        if any(_is_within(lexical, root) for root in real_roots):
            return True
    return False


def is_allowed_file(path: str | os.PathLike, roots: Sequence[str | os.PathLike]) -> bool:
    """True when an already resolved path lies under one of `roots` (for listings)."""
    real = Path(path).resolve()
    return any(_is_within(real, Path(r).resolve()) for r in roots)


def list_result_files(
    roots: Sequence[str | os.PathLike], *, max_files: int = 200, max_depth: int = 3
) -> list[Path]:
    """Result-like files under the roots, shallow and bounded, for the home page picker.

    Symlinked folders are not followed and files resolving outside the roots are skipped.
    """
    found: list[Path] = []
    for root in roots:
        top = Path(root).resolve()
        if not top.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
            depth = len(Path(dirpath).relative_to(top).parts)
            dirnames[:] = sorted(
                d for d in dirnames if not d.startswith(".") and not d.endswith(".assets")
            )
            if depth >= max_depth:
                dirnames[:] = []
            for name in sorted(filenames):
                if not name.lower().endswith(RESULT_SUFFIXES):
                    continue
                path = Path(dirpath) / name
                if not is_allowed_file(path, [top]):
                    continue
                found.append(path.resolve())
                if len(found) >= max_files:
                    return found
    return found
