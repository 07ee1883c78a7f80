"""Calls answered while their process exits: a one-shot call whose code changed no file
(and printed no image path) needs nothing from its child once the child has sent its
last status, and tearing a fork of the worker down (its memory, its mount and network
namespaces) takes milliseconds. So the reply goes as soon as the child is *exiting* —
every thread of it has PF_EXITING set, so none is inside a fork and everything it ever
started is in its memory group — and that group holds nothing but it. Nothing of the
call can run code after the reply. The child is reaped when its pidfd says so; then its
group is checked again (the uid swept if anything is left), and its folder and group are
discarded, always before its uid serves another call.

A child that fakes its last status while it still runs is not exiting: its call is
answered after the exit, as every other call is. Standard library only: the worker loads
this inside the jail.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from . import cgroups
from . import privileges as priv
from .jobs import Folder, Job, Proc

EXIT_WAIT_S = 0.002  # how long a lone call whose child reported waits for it to be exiting
EXIT_SPIN_STEP_S = 0.00005


class Exiting:
    """The children of calls answered while exiting, until they are reaped (by pid)."""

    def __init__(self, worker: Any, wait_s: float = EXIT_WAIT_S) -> None:
        self.worker = worker  # the Worker (jobs, drain, end_code, folders), which owns this
        self.wait_s = wait_s
        self.dying: dict[int, tuple[Proc, Folder]] = {}

    def try_answer(self, job: Job) -> None:
        """Answer the call now if its child is exiting and alone in its memory group;
        else leave it to end at the exit. With no other call in flight a child not yet
        exiting is waited for in short sleeps (it is microseconds from its exit), for at
        most `wait_s`, so a child that lied about being done costs no more; with others
        in flight it is looked at once, so no call waits on another's (their children
        compete for the CPU: the exit then often comes soon anyway)."""
        job.early_checked = True
        w = self.worker
        proc = job.proc
        if not (w.mode.own_uid and proc.uid is not None and proc.cgroup):
            return
        if proc.status.get("changed") is not False or not job.folder.tmpfs:
            return  # the collector will run: it comes after the exit
        if not priv.exiting(proc.pid):
            alone = len(w.jobs) == 1
            if not (alone and _wait_exiting(proc.pid, time.monotonic() + self.wait_s)):
                return
        if not cgroups.holds_only(proc.cgroup, proc.pid):
            return
        w.drain_status(proc)  # its last word counts (a first one may have been faked)
        w.drain(proc, job)
        if w.quiet(job):
            job.detached = True
            w.end_code(job)

    def pending(self, job: Job) -> bool:
        """Whether the loop must look at this call again soon (`try_answer`)."""
        return job.reported and not job.early_checked

    def detach(self, proc: Proc, folder: Folder) -> None:
        """Stop watching an exiting child's pipes; its pidfd says when to `settle` it."""
        w = self.worker
        for fd in (proc.out_fd, proc.err_fd, proc.status_fd):
            if fd is not None and fd in w.owner:
                w.unwatch(fd)
        if proc.code_fd is not None:
            os.close(proc.code_fd)
        proc.out_fd = proc.err_fd = proc.status_fd = proc.code_fd = None
        self.dying[proc.pid] = (proc, folder)

    def settle(self, pid: int) -> None:
        """Reap the child (its pidfd said it is over, or it is about to be), kill whatever
        of its uid its memory group still shows, discard its folder and group."""
        w = self.worker
        proc, folder = self.dying.pop(pid)
        if proc.wait_status is None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, 0)
            proc.wait_status = 0
        w.unwatch(proc.pidfd)
        if w.mode.own_uid and proc.uid is not None:
            if not (proc.cgroup and cgroups.holds_none(proc.cgroup)):
                priv.kill_uid(int(proc.uid))
        w.folders.release(folder)

    def settle_uid(self, uid: Any) -> None:
        """Before a uid serves another call: its last call is settled."""
        for pid in [p for p, (proc, _f) in self.dying.items() if proc.uid == uid]:
            self.settle(pid)

    def settle_all(self) -> None:
        for pid in list(self.dying):
            self.settle(pid)

    def procs(self) -> list[Proc]:
        return [proc for proc, _folder in self.dying.values()]


def _wait_exiting(pid: int, until: float) -> bool:
    """Whether pid is exiting by `until`, looking every EXIT_SPIN_STEP_S."""
    while not priv.exiting(pid):
        if time.monotonic() >= until:
            return False
        time.sleep(EXIT_SPIN_STEP_S)
    return True
