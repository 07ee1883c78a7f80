"""A memory bound for a whole call: one memory cgroup per call, where the kernel lets us.

rlimits bound each process; a call that forks eight processes could use eight times
`memory_mb`. A memory cgroup bounds the call's processes together, and also the files
they write into the call's tmpfs (tmpfs pages are charged to the writer). The host makes
one parent group per sandbox server, `r1v4-sandbox-<pid>-<n>`, under its own memory cgroup
(cgroup v2 when the memory controller is delegated to us, else the v1 memory hierarchy);
the worker makes `<parent>/<call>` per call, and the call's first process joins it
before it drops its privileges. Where neither works (no root, v2 without delegation) the
bound stays per process (address space) plus a process count, and start-up says so.

Standard library only: the worker loads this inside the jail.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass

PARENT_PREFIX = "r1v4-sandbox-"
PARENT_NAME = re.compile(r"^r1v4-sandbox-(\d+)-\d+$")  # <pid>-<n>: n tells servers apart
_serial = itertools.count(1)


@dataclass(frozen=True)
class MemoryCgroup:
    """A cgroup folder we own, and the cgroup version it follows (1 or 2)."""

    version: int
    path: str


def _mount_points() -> tuple[str | None, str | None]:
    """(cgroup2 mount, v1 memory hierarchy mount) from /proc/self/mountinfo."""
    v2 = v1 = None
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                left, _, right = line.partition(" - ")
                fields, rest = left.split(), right.split()
                if len(fields) < 5 or len(rest) < 3:
                    continue
                fstype, options = rest[0], rest[2].split(",")
                if fstype == "cgroup2" and v2 is None:
                    v2 = fields[4]
                elif fstype == "cgroup" and "memory" in options and v1 is None:
                    v1 = fields[4]
    except OSError:
        pass
    return v2, v1


def _own_groups() -> tuple[str | None, str | None]:
    """(v2 path, v1 memory path) of this process, from /proc/self/cgroup."""
    v2 = v1 = None
    try:
        with open("/proc/self/cgroup", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) != 3:
                    continue
                if parts[0] == "0" and parts[1] == "":
                    v2 = parts[2]
                elif "memory" in parts[1].split(","):
                    v1 = parts[2]
    except OSError:
        pass
    return v2, v1


def _read(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as fh:
        return fh.read()


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def memory_base() -> tuple[int, str] | tuple[None, str]:
    """Where a parent group could go: (version, folder), or (None, why not)."""
    if os.geteuid() != 0:
        return None, "not running as root"
    v2_mount, v1_mount = _mount_points()
    v2_path, v1_path = _own_groups()
    if v2_mount and v2_path is not None:
        here = os.path.join(v2_mount, v2_path.lstrip("/"))
        try:
            delegated = "memory" in _read(os.path.join(here, "cgroup.subtree_control")).split()
        except OSError:
            delegated = False
        if delegated:
            return 2, here
    if v1_mount and v1_path is not None:
        here = os.path.join(v1_mount, v1_path.lstrip("/"))
        if os.path.isdir(here) and os.access(here, os.W_OK):
            return 1, here
    if v2_mount:
        return None, "cgroup v2 without the memory controller delegated to this process"
    return None, "no memory cgroup hierarchy"


def create_parent() -> tuple[MemoryCgroup | None, str]:
    """Make a parent group for one sandbox server; (group, "") or (None, why not)."""
    version, where = memory_base()
    if version is None:
        return None, where
    path = os.path.join(where, f"{PARENT_PREFIX}{os.getpid()}-{next(_serial)}")
    try:
        os.makedirs(path, exist_ok=True)
        if version == 2:
            _write(os.path.join(path, "cgroup.subtree_control"), "+memory")
        else:
            _probe_v1(path)
    except OSError as exc:
        remove_group(path)
        return None, f"cannot create a memory cgroup under {where}: {exc.strerror or exc}"
    return MemoryCgroup(version, path), ""


def _probe_v1(parent: str) -> None:
    """A v1 hierarchy may be read-only or refuse limits: find out now, not per call."""
    probe = os.path.join(parent, "probe")
    os.makedirs(probe, exist_ok=True)
    try:
        _write(os.path.join(probe, "memory.limit_in_bytes"), str(64 * 1024 * 1024))
    finally:
        os.rmdir(probe)


def create_call(parent: MemoryCgroup, name: str, memory_bytes: int) -> str:
    """A group for one call with its memory limit (no swap); returns its folder."""
    path = os.path.join(parent.path, name)
    os.mkdir(path)
    try:
        if parent.version == 2:
            _write(os.path.join(path, "memory.max"), str(memory_bytes))
            swap = os.path.join(path, "memory.swap.max")
            if os.path.exists(swap):
                _write(swap, "0")
        else:
            _write(os.path.join(path, "memory.limit_in_bytes"), str(memory_bytes))
            memsw = os.path.join(path, "memory.memsw.limit_in_bytes")
            if os.path.exists(memsw):
                _write(memsw, str(memory_bytes))
    except OSError:
        os.rmdir(path)
        raise
    return path


def join(path: str) -> None:
    """Move the calling process into the group (its children follow)."""
    _write(os.path.join(path, "cgroup.procs"), str(os.getpid()))


def holds_none(path: str) -> bool:
    """True when no process is in the group (a group that cannot be read holds some: the
    caller then kills the slow, sure way)."""
    try:
        return not _read(os.path.join(path, "cgroup.procs")).strip()
    except OSError:
        return False


def holds_only(path: str, pid: int) -> bool:
    """True when no process but `pid` is in the group (unreadable: False, as above)."""
    try:
        listed = _read(os.path.join(path, "cgroup.procs")).split()
    except OSError:
        return False
    return all(entry == str(pid) for entry in listed)


def oom_kills(path: str, version: int) -> int:
    """How many processes the kernel has killed in this group for want of memory."""
    name = "memory.events" if version == 2 else "memory.oom_control"
    try:
        text = _read(os.path.join(path, name))
    except OSError:
        return 0
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def remove_group(path: str) -> bool:
    """Remove a group and its child groups (they must hold no process); True when gone."""
    if not os.path.isdir(path):
        return True
    ok = True
    try:
        children = [e.path for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except OSError:
        children = []
    for child in children:
        ok = remove_group(child) and ok
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return ok


def dead_parents(alive) -> list[str]:
    """Parent groups of toolkit processes that are gone (`alive(pid)` says which live)."""
    version, where = memory_base()
    if version is None:
        return []
    found = []
    try:
        entries = list(os.scandir(where))
    except OSError:
        return []
    for entry in entries:
        match = PARENT_NAME.match(entry.name)
        if match and not alive(int(match.group(1))):
            found.append(entry.path)
    return found
