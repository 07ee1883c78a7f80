"""The fork server's bookkeeping: a call's captured output, a forked child and its
descriptors, a call's folder, and one request in progress. Standard library only: the
worker loads this inside the jail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .protocol import FrameBuffer


@dataclass
class Capture:
    """Output kept for the reply: the head up to a cap, then a rolling tail."""

    head_cap: int
    tail_cap: int
    head: bytearray = field(default_factory=bytearray)
    tail: bytearray = field(default_factory=bytearray)
    total: int = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data and self.tail_cap:
            self.tail += data
            if len(self.tail) > self.tail_cap:
                del self.tail[: len(self.tail) - self.tail_cap]

    def text(self) -> str:
        return (self.head + b"\n" + self.tail).decode("utf-8", "replace")


@dataclass
class Proc:
    """A forked child (one-shot call, session or collector) and its descriptors."""

    pid: int
    pidfd: int
    out_fd: int | None
    status_fd: int | None
    uid: int | None
    code_fd: int | None = None
    status_buf: bytearray = field(default_factory=bytearray)
    status: dict[str, Any] = field(default_factory=dict)
    wait_status: int | None = None
    exited_at: float | None = None
    cwd: str = ""
    frames: FrameBuffer | None = None  # the collector's output is frames, not text
    cgroup: str | None = None  # the memory group it (and all it starts) runs in
    err_fd: int | None = None  # stderr's own pipe, when the call keeps it apart
    split: bool = False  # stderr kept apart (for a session: every call's)


@dataclass
class Folder:
    """A call's (or session's) working folder and memory group, made by `prepare`."""

    name: str
    path: str
    uid: int | None
    tmpfs: bool
    cgroup: str | None = None
    oom_seen: int = 0
    bounds: tuple | None = None  # what `prepare` asked for (disk, files, memory)
    spare: Proc | None = None  # a child forked ahead of time, waiting for the code
    spare_limits: dict[str, Any] | None = None  # the limits that child was confined with


@dataclass
class Job:
    """One request being served: a one-shot run or one call into a session."""

    id: Any
    proc: Proc
    folder: Folder
    req: dict[str, Any]
    capture: Capture
    deadline: float
    started: float
    session: str | None = None
    phase: str = "code"  # then "collect"
    timed_out: bool = False
    cancelled: bool = False
    done_marker: bool = False
    snapshot: dict[str, Any] | None = None
    err: Capture | None = None  # stderr, when kept apart from stdout
    result: dict[str, Any] = field(default_factory=dict)  # how the code ended
    collector: Proc | None = None
    collect_deadline: float = 0.0
    images: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)
    image_bytes: int = 0
    collect_notes: list[str] = field(default_factory=list)
    collect_done: bool = False
    cleaned: bool | None = None
    nothing_new: bool = False  # no file changed and no image named: no collector needed
    reported: bool = False  # a one-shot child sent how its code ended (its last status)
    early_checked: bool = False  # whether that report let the call end before the exit
    detached: bool = False  # answered before its child exited (`exiting.py`)
    first_reply: dict[str, Any] | None = None  # the reply of the prepare it came with
    looks: dict[str, Any] = field(default_factory=dict)  # saved file -> where it came from
