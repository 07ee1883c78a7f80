"""Resource limits applied in each sandboxed child just before the untrusted code runs.

Why rlimits: they are per process, cost nothing, and need no cgroup setup. RLIMIT_NPROC
counts every process of a user id system-wide (and never applies to uid 0), so it only
means something once the child runs as its own unprivileged uid; without one we set it
relative to the current count, which is weaker and said so at start-up.
"""

from __future__ import annotations

import os
import resource
from dataclasses import asdict, dataclass
from typing import Any

MB = 1024 * 1024


@dataclass
class Limits:
    """What one call may consume. Times in seconds, sizes in MB."""

    memory_mb: int = 2048
    cpu_s: float = 30.0
    max_file_mb: int = 64
    max_procs: int = 64
    max_open_files: int = 256

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Limits:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _set(which: int, soft: int, hard: int | None = None) -> None:
    """Lower a limit; never raise one above the current hard limit (that would fail)."""
    cur_soft, cur_hard = resource.getrlimit(which)
    hard = soft if hard is None else hard
    if cur_hard != resource.RLIM_INFINITY:
        hard = min(hard, cur_hard)
        soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))


def apply_limits(limits: Limits, *, own_uid: bool, session: bool = False) -> None:
    """Apply every limit to the calling process (inherited by anything it forks).

    In a session the CPU limit is a per-call soft limit under a larger hard one, so the
    session loop can grant each call its own budget.
    """
    _set(resource.RLIMIT_AS, limits.memory_mb * MB)
    cpu = max(1, int(limits.cpu_s + 0.999))
    if session:
        _set(resource.RLIMIT_CPU, cpu, cpu * 50)
    else:
        _set(resource.RLIMIT_CPU, cpu, cpu + 1)
    _set(resource.RLIMIT_FSIZE, limits.max_file_mb * MB)
    _set(resource.RLIMIT_NOFILE, limits.max_open_files)
    _set(resource.RLIMIT_CORE, 0)
    if own_uid:
        _set(resource.RLIMIT_NPROC, limits.max_procs)
    else:
        _set(resource.RLIMIT_NPROC, _tasks_of_uid(os.getuid()) + limits.max_procs)


def grant_cpu(cpu_s: float) -> None:
    """Give a session its next call's CPU budget: current usage plus cpu_s (capped)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    want = int(used + cpu_s + 1)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (want, hard))


def _tasks_of_uid(uid: int) -> int:
    """Threads of every process owned by uid (what RLIMIT_NPROC counts)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        if int(fields.get("Uid", "-1 ").split()[0]) == uid:
            total += int(fields.get("Threads", "1").strip() or 1)
    return total
