"""Calls made ready ahead of time: when a call ends, the worker makes the folder of the
next call (on the uid the host will lend next) and forks its child, confined and waiting
for its code, once the host has had a moment to take the reply (`Worker.make_spare`).

Confining a child is most of a call's fixed cost (joining a memory cgroup alone takes
milliseconds on cgroup v1; the namespaces, mounts and the uid drop add more), and none
of it depends on the code. A spare is made only for a uid nothing runs as (no open folder
or session of it), holds nothing of any call until its code frame arrives, and
is handed out only to a `prepare` for a one-shot call with the same folder bounds on the
same uid; the `run` that follows must bring the limits it was forked with, else it is
discarded and a child is forked as before. Spares are bounded in number; a spare that
died is discarded when asked for. Standard library only: the worker loads this inside
the jail.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
from dataclasses import dataclass
from typing import Any

from .folders import BOUNDS, bounds
from .jobs import Folder, Proc

MAX_SPARES = 8


@dataclass
class Spare:
    folder: Folder
    proc: Proc
    bounds: tuple
    limits: dict[str, Any]


class Spares:
    """At most one spare per uid, at most `cap` in all."""

    def __init__(self, worker: Any, cap: int = MAX_SPARES) -> None:
        self.worker = worker  # the Worker (fork, reap, folders), which owns this
        self.cap = cap
        self.by_uid: dict[int, Spare] = {}
        self._names = itertools.count(1)

    def take(self, req: dict[str, Any]) -> Folder | None:
        """The spare folder for this `prepare`, its child attached; None when there is
        none that fits (a spare of that uid that does not fit is discarded: the uid is
        about to be used)."""
        uid = req.get("uid")
        spare = self.by_uid.pop(uid, None) if uid is not None else None
        if spare is None:
            return None
        self.worker.reap(spare.proc)
        usable = spare.proc.wait_status is None and spare.proc.code_fd is not None
        if not (req.get("spare_ok") and usable and spare.bounds == bounds(req)):
            self.discard(spare)
            return None
        spare.folder.spare = spare.proc
        spare.folder.spare_limits = spare.limits
        self.worker.folders.adopt(spare.folder)
        return spare.folder

    def make(self, folder: Folder, limits: dict[str, Any], uid: Any) -> None:
        """After a one-shot call in `folder` ended: the folder and child of a call on
        `uid` (the uid the host lends next), with the same bounds and limits, made now.
        Never for a uid in use (a folder or session of it is open: its code must not
        meet a process that will run another call) nor the one just used."""
        if not isinstance(uid, int) or isinstance(uid, bool) or uid == folder.uid:
            return
        if uid in self.by_uid or len(self.by_uid) >= self.cap:
            return
        if folder.bounds is None or not self.worker.mode.own_uid:
            return
        if any(f.uid == uid for f in self.worker.folders.by_name.values()):
            return
        req = dict(zip(BOUNDS, folder.bounds, strict=True))
        req.update(name=f"spare-{next(self._names)}-{uid}", uid=uid)
        try:
            made = self.worker.folders.prepare(req, register=False)
        except OSError:
            return
        try:
            child_req = self.worker.folders.child_req(made, {"limits": limits})
            proc = self.worker.spawn(child_req, "prefork")
        except OSError:
            self.worker.folders.release(made)
            return
        self.by_uid[uid] = Spare(made, proc, folder.bounds, limits)

    def discard(self, spare: Spare) -> None:
        self.drop_child(spare.proc)
        self.worker.folders.release(spare.folder)

    def drop_child(self, proc: Proc) -> None:
        """Kill a spare's child and reap it. It never ran code, so it started nothing: its
        pid and its process group are all there is (the uid is not swept, so a check that
        nothing else of the uid runs still means something)."""
        for target in (-proc.pid, proc.pid):
            with contextlib.suppress(OSError):
                os.kill(target, signal.SIGKILL)
        self.worker.reap_blocking(proc)

    def close(self) -> None:
        for spare in list(self.by_uid.values()):
            self.discard(spare)
        self.by_uid.clear()
