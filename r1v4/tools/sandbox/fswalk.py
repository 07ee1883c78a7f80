"""Bounded, iterative walks and removals of folders the sandboxed code wrote.

Code can build a tree a thousand folders deep, or with millions of entries. A recursive
walk (os.walk, shutil.rmtree) then dies with RecursionError or runs for minutes, and a
folder that is never removed fills the disk for every later case. Everything here is
iterative, works relative to open directory descriptors (never through a path that a
symlink could redirect, never hitting PATH_MAX), and stops at a bound on entries, depth
and time, saying so. Standard library only: the worker loads this inside the jail.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class WalkLimits:
    """How far a walk may go; `deadline` is a time.monotonic() value (None: no limit)."""

    max_entries: int = 20_000
    max_depth: int = 32
    deadline: float | None = None


@dataclass
class WalkReport:
    """Why a walk stopped early, if it did."""

    entries: int = 0
    too_many: bool = False
    too_deep: bool = False
    too_slow: bool = False

    @property
    def complete(self) -> bool:
        return not (self.too_many or self.too_deep or self.too_slow)

    def note(self) -> str:
        """A sentence for the observation, or "" when the walk saw everything."""
        why = []
        if self.too_many:
            why.append(f"more than {self.entries - 1} entries")
        if self.too_deep:
            why.append("folders nested too deep")
        if self.too_slow:
            why.append("the time for collecting ran out")
        if not why:
            return ""
        return "the working folder was only partly scanned (" + ", ".join(why) + ")"


def walk_files(
    root_fd: int, limits: WalkLimits, report: WalkReport | None = None
) -> Iterator[tuple[str, os.stat_result]]:
    """Regular files under the folder open as root_fd, as (relative path, lstat), sorted
    within each folder. Symlinks are never followed; folders deeper than max_depth are not
    entered; the walk ends after max_entries entries or at the deadline (see `report`)."""
    report = report if report is not None else WalkReport()
    device = os.fstat(root_fd).st_dev  # never into another mount (an exposed environment)
    stack: list[tuple[tuple[str, ...], int]] = [((), os.dup(root_fd))]
    try:
        while stack:
            parts, fd = stack.pop()
            try:
                with os.scandir(fd) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                os.close(fd)
                continue
            subdirs: list[str] = []
            for entry in entries:
                report.entries += 1
                if report.entries > limits.max_entries:
                    report.too_many = True
                    os.close(fd)
                    return
                if limits.deadline is not None and report.entries % 256 == 0:
                    if time.monotonic() > limits.deadline:
                        report.too_slow = True
                        os.close(fd)
                        return
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if st.st_dev == device:
                        subdirs.append(entry.name)
                elif stat.S_ISREG(st.st_mode):
                    yield "/".join((*parts, entry.name)), st
            if subdirs and len(parts) >= limits.max_depth:
                report.too_deep = True
                subdirs = []
            for name in reversed(subdirs):  # popped in sorted order
                try:
                    sub = os.open(name, DIR_FLAGS, dir_fd=fd)
                except OSError:
                    continue
                stack.append(((*parts, name), sub))
            os.close(fd)
    finally:
        for _parts, fd in stack:
            os.close(fd)


def open_relative(root_fd: int, rel: str, flags: int = os.O_RDONLY) -> int:
    """Open root/rel without following a symlink in any component."""
    parts = [p for p in rel.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise OSError(f"not a plain relative path: {rel!r}")
    fd = os.dup(root_fd)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    finally:
        os.close(fd)


class _Budget:
    """Entries handled so far against a count and a deadline."""

    def __init__(self, max_entries: int, deadline: float | None) -> None:
        self.count = 0
        self.max_entries = max_entries
        self.deadline = deadline

    def spend(self) -> bool:
        """Count one entry; False once the bound is passed."""
        self.count += 1
        if self.count > self.max_entries:
            return False
        return not (
            self.deadline is not None and self.count % 256 == 0 and time.monotonic() > self.deadline
        )


def _empty_files(fd: int, subdirs: list[str], budget: _Budget) -> bool:
    """Unlink every non-folder entry of the folder open as fd; list its subfolders."""
    try:
        with os.scandir(fd) as it:
            names = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
    except OSError:
        return False
    for name, is_dir in names:
        if not budget.spend():
            return False
        if is_dir:
            subdirs.append(name)
            continue
        try:
            os.unlink(name, dir_fd=fd)
        except FileNotFoundError:
            pass
        except OSError:
            return False
    return True


def clear_folder(root_fd: int, *, max_entries: int = 1_000_000, deadline: float | None = None):
    """Remove everything inside the folder open as root_fd, at any depth, iteratively.

    Descends holding one descriptor, climbs back through "..", and checks each step by
    device and inode, so a folder moved mid-way cannot send it elsewhere; never enters
    another mount. Returns True when the folder is empty, False when a bound, a mount
    point or an error stopped it.
    """
    budget = _Budget(max_entries, deadline)
    fd = os.dup(root_fd)
    st = os.fstat(fd)
    # per level: (dev, ino) of the folder, its name in the parent, subfolders still to do
    levels: list[tuple[tuple[int, int], str, list[str]]] = [((st.st_dev, st.st_ino), "", [])]
    try:
        if not _empty_files(fd, levels[-1][2], budget):
            return False
        while True:
            pending = levels[-1][2]
            if pending:
                name = pending.pop()
                try:
                    sub = os.open(name, DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    continue
                except OSError:
                    return False
                sst = os.fstat(sub)
                os.close(fd)
                fd = sub
                if sst.st_dev != st.st_dev:  # a mount point: not ours to empty
                    return False
                levels.append(((sst.st_dev, sst.st_ino), name, []))
                if not _empty_files(fd, levels[-1][2], budget):
                    return False
                continue
            if len(levels) == 1:
                return True
            _ids, name, _ = levels.pop()
            parent = os.open("..", DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent
            pst = os.fstat(fd)
            if (pst.st_dev, pst.st_ino) != levels[-1][0]:
                return False  # the tree moved under us: stop rather than guess
            try:
                os.rmdir(name, dir_fd=fd)
            except FileNotFoundError:
                pass
            except OSError:
                return False
    finally:
        os.close(fd)


def remove_tree(path: str | os.PathLike, *, max_entries: int = 1_000_000, timeout_s: float = 30.0):
    """Remove a folder and everything in it, iteratively and within bounds.

    Returns True when it is gone (or was never there), False when a bound stopped the
    removal; a symlink at `path` itself is removed, never followed.
    """
    deadline = time.monotonic() + timeout_s
    try:
        fd = os.open(path, DIR_FLAGS)
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.unlink(path)  # a symlink or a file: remove the entry itself
            return True
        except OSError:
            return False
    try:
        done = clear_folder(fd, max_entries=max_entries, deadline=deadline)
    finally:
        os.close(fd)
    if not done:
        return False
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True
