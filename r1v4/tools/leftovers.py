"""Leftovers of runs that were killed: temporary folders and memory cgroups, removed at the
next start.

A run killed with SIGKILL cannot clean up: its per-case copies of the input images
(`r1v4-case-<pid>-*` in the temporary folder), its sandbox work root
(`r1v4-sandbox-<pid>-*`) and its memory cgroups (`r1v4-sandbox-<pid>-<n>`) stay. Their
names carry the owning process id, so the next start removes exactly those whose owner
is gone, as in-flight snapshots already are; a live run's folders are never touched.
Removal is iterative and bounded (a sandbox root may hold a tree a thousand folders
deep), and runs off the event loop.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time

from r1v4._util.process import pid_alive
from r1v4.tools.sandbox import cgroups
from r1v4.tools.sandbox.fswalk import remove_tree

log = logging.getLogger(__name__)

CASE_PREFIX = "r1v4-case-"
OWNED = re.compile(r"^r1v4-(?:case|sandbox)-(\d+)-")


def case_dir_prefix() -> str:
    """Prefix of a case's temporary folder: it names this process, so that a folder left
    by a killed run can be told from a live one's."""
    return f"{CASE_PREFIX}{os.getpid()}-"


def dead_run_folders(tmp: str | None = None) -> list[str]:
    """Folders in the temporary folder that belong to toolkit processes no longer alive."""
    tmp = tmp or tempfile.gettempdir()
    found: list[str] = []
    try:
        entries = list(os.scandir(tmp))
    except OSError:
        return found
    me = os.geteuid()
    for entry in entries:
        match = OWNED.match(entry.name)
        if match is None or pid_alive(int(match.group(1))):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if entry.is_dir(follow_symlinks=False) and st.st_uid == me:
            found.append(entry.path)
    return found


def clear_dead_leftovers(tmp: str | None = None, *, timeout_s: float = 30.0) -> list[str]:
    """Remove dead runs' folders and memory cgroups; returns what was removed."""
    deadline = time.monotonic() + timeout_s
    removed: list[str] = []
    for path in dead_run_folders(tmp):
        left = deadline - time.monotonic()
        if left <= 0:
            log.warning("leftovers of dead runs: out of time, the rest waits for the next start")
            break
        if remove_tree(path, timeout_s=left):
            removed.append(path)
        else:
            log.warning("could not remove %s (left by a dead run) completely", path)
    for group in cgroups.dead_parents(pid_alive):
        if cgroups.remove_group(group):
            removed.append(group)
    return removed
