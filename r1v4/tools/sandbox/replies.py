"""Host side: what a sandbox call gives back and the handles it is made with.

`Outcome` is one call as the worker saw it (output, how it ended, the images the collector
sent as PNG, its notes); `RawImage` one such image before the host has checked it;
`CallFolder` and `Session` name a call's folder and a persistent interpreter; `Isolation`
says what protects the host, as measured when the worker started.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .protocol import DATA
from .uids import Slot


class SandboxUnavailable(RuntimeError):
    """The fork server could not be started at all."""


class WorkerLost(RuntimeError):
    """The worker stopped while a call was being prepared; the call may be retried."""


@dataclass
class Isolation:
    """What protects the host, as measured when the worker started."""

    bwrap: bool = False
    own_uid: bool = False
    private_tmp: bool = False
    network: str = "none"
    bwrap_problem: str = ""
    tmpfs_per_call: bool = False
    memory_cgroup: str = ""  # "cgroup v1" / "cgroup v2", or "" (rlimits only)
    cgroup_problem: str = ""

    def resources(self) -> str:
        """How one call's disk and memory are bounded, in words."""
        disk = "own tmpfs per call" if self.tmpfs_per_call else "folder on the host disk"
        if self.memory_cgroup:
            memory = f"memory bounded per call ({self.memory_cgroup})"
        else:
            why = f" ({self.cgroup_problem})" if self.cgroup_problem else ""
            memory = f"memory bounded per process only{why}"
        return f"{disk}; {memory}"

    def describe(self) -> str:
        if self.bwrap:
            return "bubblewrap: filesystem and network isolated"
        parts = ["resource limits"]
        if self.own_uid:
            parts.append("a separate user id per call")
        if self.private_tmp:
            parts.append("a private /tmp")
        if self.network == "namespace":
            parts.append("no network (a private network namespace per call)")
        else:
            parts.append("network blocked by an audit hook only (bypassable)")
        why = f" ({self.bwrap_problem})" if self.bwrap_problem else ""
        return "no bubblewrap" + why + ": " + ", ".join(parts) + "; filesystem readable"


@dataclass
class Outcome:
    """What one call did, as the worker saw it."""

    output: str = ""  # stdout, and stderr too unless the call kept it apart
    stderr: str = ""  # stderr, when kept apart
    total_bytes: int = 0
    omitted_bytes: int = 0
    exit_code: int | None = None
    signal: int | None = None
    timed_out: bool = False
    exc: str | None = None
    memory: bool = False
    setup_error: str | None = None
    worker_lost: bool = False
    session_ended: bool = False
    session_gone: bool = False  # the session had died before this call: the code did not run
    cancelled: bool = False
    duration_s: float = 0.0
    cwd: str = ""
    memory_scope: str = ""  # "call" when the call's memory cgroup ran out
    images: list[RawImage] = field(default_factory=list)  # PNG, as the collector sent them
    collect_notes: list[str] = field(default_factory=list)
    leftover: bool = False  # the worker could not remove the call's folder
    notes: list[str] = field(default_factory=list)  # from the family's conventions
    looks: list[Any] = field(default_factory=list)  # where saved images came from: untrusted
    early: bool = False  # answered while its process was exiting (`exiting.py`)

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> Outcome:
        output, total, omitted = _joined(reply, "")
        stderr, err_total, err_omitted = _joined(reply, "err_")
        return cls(
            output=output,
            stderr=stderr,
            total_bytes=total + err_total,
            omitted_bytes=omitted + err_omitted,
            exit_code=reply.get("exit_code"),
            signal=reply.get("signal"),
            timed_out=bool(reply.get("timed_out")),
            exc=reply.get("exc"),
            memory=bool(reply.get("memory")),
            setup_error=reply.get("setup_error"),
            session_ended=bool(reply.get("session_ended")),
            session_gone=bool(reply.get("session_gone")),
            cancelled=bool(reply.get("cancelled")),
            duration_s=float(reply.get("duration_s", 0.0)),
            cwd=str(reply.get("cwd", "")),
            memory_scope=str(reply.get("memory_scope", "")),
            images=RawImage.split(reply.get("images"), reply.get(DATA, b"")),
            collect_notes=[str(n) for n in reply.get("collect_notes") or []],
            leftover=bool(reply.get("leftover")),
            notes=[str(n) for n in reply.get("notes") or []][:10],
            looks=list(reply.get("looks") or [])[:256],
            early=bool(reply.get("early")),
        )


def _joined(reply: dict[str, Any], prefix: str) -> tuple[str, int, int]:
    """One stream of a reply (head, omission marker, tail); its total and omitted bytes."""
    head, tail = reply.get(f"{prefix}head", ""), reply.get(f"{prefix}tail", "")
    total = int(reply.get(f"{prefix}total" if prefix else "total_bytes", 0))
    omitted = max(0, total - int(reply.get(f"{prefix}head_bytes", 0)) - len(tail.encode()))
    text = head
    if omitted and tail:
        text += f"\n...[{omitted} bytes of output omitted]...\n" + tail
    elif tail:
        text += tail
    return text, total, omitted


@dataclass
class RawImage:
    """An image as the collector sent it: still to be checked by the host."""

    name: str
    size: tuple[int, int]
    data: bytes

    @classmethod
    def split(cls, metas: Any, blob: bytes) -> list[RawImage]:
        """Cut the reply's attachment into its images, by the sizes the reply lists."""
        out: list[RawImage] = []
        offset = 0
        for meta in metas if isinstance(metas, list) else []:
            n = int(meta.get("bytes", 0))
            if n < 0 or offset + n > len(blob):
                break
            w, h = (list(meta.get("size") or [0, 0]) + [0, 0])[:2]
            out.append(cls(str(meta.get("name", "")), (int(w), int(h)), blob[offset : offset + n]))
            offset += n
        return out


@dataclass
class CallFolder:
    """A call's (or session's) working folder, made by the worker."""

    name: str
    host_path: Path  # where the host stages files (through the worker's mount)
    inner: str  # the folder's path as the worker sees it
    tmpfs: bool
    generation: int
    # the run the worker started in it at once (`SandboxServer.prepare(then_run=...)`):
    # its request id, its reply's future and how long to wait for it
    started: tuple[int, Any, float] | None = field(default=None, repr=False, compare=False)


@dataclass
class Session:
    """A persistent sandboxed interpreter bound to one trajectory."""

    sid: str
    generation: int
    slot: Slot
    folder: CallFolder
    names: set[str] = field(default_factory=set)
    staged: set[str] = field(default_factory=set)  # source paths already copied in
    name_of: dict[str, str] = field(default_factory=dict)  # source path -> name in folder
    alive: bool = True
    started: bool = False  # it has run a call (its prelude and preloads are done)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one call at a time
