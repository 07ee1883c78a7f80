"""The fork server: a long-lived process that forks one confined child per code call.

It imports Pillow and NumPy once, so a call costs a fork instead of an interpreter start.
One thread, one poll loop: requests arrive as frames on the protocol input; each child's
output pipe, status pipe and pidfd are watched; wall-clock deadlines are enforced here
with SIGKILL for the child's whole uid (or process group), so code that ignores SIGTERM
or leaves daemons behind is gone when its reply is sent. The worker holds no file
objects, only integer descriptors, so nothing the child inherits can close them behind its
back.

A call's life here: `prepare` gives it a folder — its own size- and inode-capped tmpfs
where we are root (so one call filling its disk never touches another, and the folder is
discarded whole however deep the code nested it) — and a memory cgroup where the kernel
allows; `run` forks the code; when the code is over (or killed at its deadline) a
collector child, confined the same way, hands back the new images as PNG within its own
deadline; then the folder and the group are released and the reply (with the images
attached) is sent. A call that changed no file is answered as soon as its child is
exiting (`exiting.py`), its folder released once the child is reaped. A
session's interpreter is frozen (SIGSTOP) and every other process of its uid killed as
soon as a call ends, so code that fakes the "done" marker, or leaves a thread running,
cannot run on between calls.

Size note: one state machine over one poll loop (calls, sessions, collectors and the
descriptors of each); its bookkeeping (`jobs.py`), folders (`folders.py`) and start-up
(`boot.py`) live apart, and splitting the loop itself would scatter the state it guards.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import time
import traceback
from typing import Any

from . import cgroups, child, figures
from . import privileges as priv
from .collect import printed_paths
from .exiting import EXIT_WAIT_S, Exiting
from .folders import Folders
from .jobs import Capture, Folder, Job, Proc
from .protocol import DATA, FrameBuffer, encode, write_all
from .spares import Spares

READ_CHUNK = 1 << 16
F_SETPIPE_SZ = 1031
CODE_PIPE_BYTES = 1 << 20  # a code frame larger than this ends the session with a note
EXIT_GRACE_S = 1.0  # after the child exits, how long to wait for its pipes to close
MAX_STATUS_LINE = 8 * 1024 * 1024  # a status line longer than this is junk from the code
MAX_LOOKS = 256  # files whose origin one call reports (provenance.py); more are dropped
COLLECT_PROCS = 8  # processes the collector's uid may have (a frozen session counts)
SPARE_DELAY_MS = 2  # quiet time after a reply before the next call is made ready


class Worker:
    """The poll loop: requests in, children watched, deadlines enforced, replies out."""

    def __init__(self, cfg: dict[str, Any], proto_in: int, proto_out: int, mode: child.Mode):
        self.cfg = cfg
        self.proto_in = proto_in
        self.proto_out = proto_out
        self.mode = mode
        self.frames = FrameBuffer()
        self.poll = select.poll()
        self.owner: dict[int, tuple[str, Proc]] = {}
        self.jobs: dict[Any, Job] = {}
        self.job_of_proc: dict[int, Job] = {}
        # open sessions, until session_close (also once dead: their folder is released then)
        self.sessions: dict[str, tuple[Proc, Folder]] = {}
        self.folders = Folders(cfg, mode)
        self.spares = Spares(self)
        # calls answered while their child exits
        self.exiting = Exiting(self, float(cfg.get("exit_wait_s", EXIT_WAIT_S)))
        self.running = True
        self.figures_problem: str | None = None  # None: matplotlib not imported yet
        self.spare_next: tuple[Folder, dict[str, Any], Any] | None = None  # `Spares.make`

    # -- plumbing ---------------------------------------------------------------------
    def send(self, obj: dict[str, Any], blob: bytes = b"") -> None:
        write_all(self.proto_out, encode(obj, blob))

    def watch(self, fd: int, role: str, proc: Proc) -> None:
        os.set_blocking(fd, False)
        self.owner[fd] = (role, proc)
        self.poll.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)

    def unwatch(self, fd: int | None) -> None:
        if fd is None or fd not in self.owner:
            return
        self.poll.unregister(fd)
        del self.owner[fd]
        os.close(fd)

    def spawn(self, req: dict[str, Any], kind: str) -> Proc:
        """Fork a child: kind "run" (one-shot code), "prefork" (one-shot code that comes
        later, `spares.py`), "session" or "collect". A call that keeps stderr apart
        (`conv.split`) gets its own pipe for it."""
        out_r, out_w = os.pipe()
        st_r, st_w = os.pipe()
        code_r = code_w = err_r = err_w = None
        if kind != "collect" and (req.get("conv") or {}).get("split"):
            err_r, err_w = os.pipe()
        if kind in ("session", "prefork"):
            code_r, code_w = os.pipe()
            with contextlib.suppress(OSError):  # room for any code frame: writes never block
                fcntl.fcntl(code_w, F_SETPIPE_SZ, CODE_PIPE_BYTES)
            os.set_blocking(code_w, False)
        try:
            pid = os.fork()
        except OSError:
            for fd in (out_r, out_w, st_r, st_w, code_r, code_w, err_r, err_w):
                if fd is not None:
                    os.close(fd)
            raise
        if pid == 0:  # child: never returns
            try:
                os.close(out_r)
                os.close(st_r)
                if err_r is not None:
                    os.close(err_r)
                if kind == "session":
                    os.close(code_w)
                    child.run_session(req, self.mode, out_w, st_w, code_r, err_w)
                elif kind == "prefork":
                    os.close(code_w)
                    child.run_preforked(req, self.mode, out_w, st_w, code_r)
                elif kind == "collect":
                    os.close(st_w)
                    child.run_collector(req, self.mode, out_w)
                child.run_once(req, self.mode, out_w, st_w, err_w)
            finally:
                os._exit(70)
        os.close(out_w)
        os.close(st_w)
        for fd in (code_r, err_w):
            if fd is not None:
                os.close(fd)
        proc = Proc(pid, os.pidfd_open(pid), out_r, st_r, req.get("uid"), code_fd=code_w)
        proc.cgroup = req.get("cgroup")  # every process the child starts stays in it
        if kind == "collect":
            proc.frames = FrameBuffer()
        self.watch(out_r, "out", proc)
        if err_r is not None:
            proc.err_fd, proc.split = err_r, True
            self.watch(err_r, "err", proc)
        self.watch(st_r, "status", proc)
        self.watch(proc.pidfd, "pid", proc)
        return proc

    def kill(self, proc: Proc) -> None:
        """SIGKILL the child, its process group and everything else running as its uid."""
        for target in (-proc.pid, proc.pid):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError:
                pass
        if self.mode.own_uid and proc.uid is not None:
            if proc.wait_status is not None and proc.cgroup and cgroups.holds_none(proc.cgroup):
                return  # it exited and its group is empty: nothing of its uid runs
            priv.kill_uid(int(proc.uid))

    def freeze(self, proc: Proc) -> None:
        """Stop a session between calls and kill everything else it started."""
        with contextlib.suppress(OSError):
            os.kill(proc.pid, signal.SIGSTOP)
        uid = int(proc.uid) if self.mode.own_uid and proc.uid is not None else None
        priv.kill_others(proc.pid, uid=uid)

    def kill_collector(self, job: Job) -> None:
        """Kill the collector and whatever it started, sparing a frozen session."""
        proc = job.collector
        if proc is None:
            return
        for target in (-proc.pid, proc.pid):
            with contextlib.suppress(OSError):
                os.kill(target, signal.SIGKILL)
        self.sweep(job)

    def sweep(self, job: Job) -> None:
        """After a call: nothing of its uid runs any more, except a live session, frozen."""
        session = self.sessions.get(job.session) if job.session is not None else None
        if session is not None and session[0].wait_status is None:
            self.freeze(session[0])
        elif self.mode.own_uid and job.folder.uid is not None:
            priv.kill_uid(int(job.folder.uid))

    def reap(self, proc: Proc, kill_rest: bool = True) -> None:
        if proc.wait_status is not None:
            return
        try:
            pid, status = os.waitpid(proc.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = proc.pid, 0
        if pid:
            proc.wait_status = status
            proc.exited_at = time.monotonic()
            if kill_rest:
                self.kill(proc)  # leftover children die with the call
            self.unwatch(proc.pidfd)

    def reap_blocking(self, proc: Proc) -> None:
        for fd in (proc.out_fd, proc.err_fd, proc.status_fd, proc.code_fd):
            if fd is not None and fd in self.owner:
                self.unwatch(fd)
            elif fd is not None and fd == proc.code_fd:
                os.close(fd)
        proc.out_fd = proc.err_fd = proc.status_fd = proc.code_fd = None
        if proc.wait_status is None:
            try:
                os.waitpid(proc.pid, 0)
            except ChildProcessError:
                pass
            proc.wait_status = 0
            self.unwatch(proc.pidfd)

    # -- requests ---------------------------------------------------------------------
    def handle(self, req: dict[str, Any]) -> None:
        op = req.get("op")
        if op == "prepare":
            self.exiting.settle_uid(req.get("uid"))
            self.make_spare()
            folder = self.spares.take(req) or self.folders.prepare(req)
            info = {"tmpfs": folder.tmpfs, "cgroup": folder.cgroup is not None}
            reply = {"id": req["id"], "ok": True, "name": folder.name, **info}
            run = req.get("then_run")
            if isinstance(run, dict):  # a call with nothing to stage: its code goes at once
                try:
                    self.handle({**run, "op": "run", "name": folder.name, "unstaged": True})
                except Exception as exc:  # not started: the host releases the folder
                    traceback.print_exc()
                    reply["run_error"] = f"{type(exc).__name__}: {exc}"
                job = self.jobs.get(run.get("id"))
                if job is not None and "run_error" not in reply:
                    job.first_reply = reply  # sent with the run's: the host wakes up once
                    return
            self.send(reply)
        elif op == "release":
            folder = self.folders.get(req.get("name"))
            if folder is not None and folder.spare is not None:
                self.spares.drop_child(folder.spare)
            clean = self.folders.release(folder) if folder is not None else True
            self.send({"id": req["id"], "ok": True, "leftover": not clean})
        elif op == "run":
            folder = self.folders.get(req.get("name"))
            if folder is None:
                self.send({"id": req["id"], "setup_error": "the call's folder is gone"})
                return
            self.conventions(req, folder)
            proc = self.use_spare(folder, req)
            if proc is None:
                proc = self.spawn(self.folders.child_req(folder, self.code_fields(req)), "run")
            self.start_job(req, proc, folder, session=None)
        elif op == "session_open":
            folder = self.folders.get(req.get("name"))
            if folder is None:
                self.send({"id": req["id"], "setup_error": "the session's folder is gone"})
                return
            self.conventions(req, folder)
            extra = {"limits": req["limits"], "conv": req.get("conv") or {}}
            proc = self.spawn(self.folders.child_req(folder, extra), "session")
            self.sessions[req["sid"]] = (proc, folder)
            self.send({"id": req["id"], "ok": True})
        elif op == "session_run":
            self.session_run(req)
        elif op == "session_close":
            entry = self.sessions.pop(req["sid"], None)
            clean = True
            if entry is not None:
                proc, folder = entry
                self.kill(proc)
                with contextlib.suppress(OSError):
                    os.kill(proc.pid, signal.SIGCONT)  # a stopped process dies on CONT
                self.reap_blocking(proc)
                clean = self.folders.release(folder)
            self.send({"id": req["id"], "ok": True, "leftover": not clean})
        elif op == "cancel":
            job = self.jobs.get(req.get("target"))
            if job is not None:
                job.cancelled = True
                if job.phase == "collect":
                    self.kill_collector(job)
                else:
                    self.kill(job.proc)
        elif op == "ping":
            self.send({"id": req["id"], "ok": True, "pid": os.getpid()})
        elif op == "drop_spares":
            self.spare_next = None
            self.spares.close()
            self.exiting.settle_all()  # and the calls answered while exiting: reaped
            self.send({"id": req["id"], "ok": True})
        else:
            self.send({"id": req.get("id"), "setup_error": f"unknown op {op!r}"})

    def make_spare(self) -> None:
        """Make the next call ready (`spares.py`): once nothing has happened for a moment
        after a reply (so the fork and the mounts do not hold the CPU the host needs to
        take the reply), or when the next call's `prepare` comes first."""
        if self.spare_next is not None:
            folder, limits, uid = self.spare_next
            self.spare_next = None
            self.spares.make(folder, limits, uid)

    def use_spare(self, folder: Folder, req: dict[str, Any]) -> Proc | None:
        """The folder's child forked ahead of time, given this call's code; None when it
        has none, it died, it was confined with other limits, or the call follows a family's
        conventions, which are set up before its fork (then the spare is dropped)."""
        proc, folder.spare = folder.spare, None
        if proc is None:
            return None
        self.reap(proc)
        fits = proc.wait_status is None and proc.code_fd is not None and not req.get("conv")
        if fits and folder.spare_limits == req.get("limits"):
            frame = {"code": req["code"], "vars": req.get("vars", {}), "seeds": req.get("seeds")}
            data = encode(frame)
            try:
                written = os.write(proc.code_fd, data)
            except OSError:
                written = -1
            if written == len(data):
                os.close(proc.code_fd)
                proc.code_fd = None
                return proc
        self.spares.drop_child(proc)
        return None

    @staticmethod
    def code_fields(req: dict[str, Any]) -> dict[str, Any]:
        return {k: req[k] for k in ("code", "vars", "limits", "conv", "seeds") if k in req}

    def conventions(self, req: dict[str, Any], folder: Folder) -> None:
        """What the worker does for a call's conventions before its child runs: pyplot
        imported once (so the forks have it), the folder made read-only."""
        conv = req.get("conv") or {}
        if conv.get("figures") is not None and self.figures_problem is None:
            cache = os.path.join(self.folders.work_root, ".matplotlib")
            self.figures_problem = figures.warm(cache)
        if conv.get("read_only"):
            self.folders.lock(folder)

    def session_run(self, req: dict[str, Any]) -> None:
        entry = self.sessions.get(req["sid"])
        proc = entry[0] if entry else None
        if proc is not None:
            self.reap(proc)  # died a moment ago, its exit not yet seen by the poll loop?
        if entry is None or proc is None or proc.wait_status is not None or proc.code_fd is None:
            self.send({"id": req["id"], "session_gone": True, "session_ended": True})
            return
        proc, folder = entry
        frame = {"code": req["code"], "vars": req.get("vars", {}), "conv": req.get("conv", {})}
        frame["seeds"] = req.get("seeds")
        data = encode(frame)
        with contextlib.suppress(OSError):
            os.kill(proc.pid, signal.SIGCONT)
        try:
            written = os.write(proc.code_fd, data)
        except OSError:  # BlockingIOError included: the session is not reading
            written = -1
        if written != len(data):
            self.kill(proc)
            self.reap_blocking(proc)
            reason = "session did not accept the code (too large, or still busy)"
            self.send({"id": req["id"], "session_ended": True, "setup_error": reason})
            return
        proc.status = {}
        self.start_job(req, proc, folder, session=req["sid"])

    def start_job(self, req: dict[str, Any], proc: Proc, folder: Folder, session: str | None):
        now = time.monotonic()
        cap = int(req.get("max_output_bytes", 80_000))
        folder.oom_seen = self.folders.oom_kills(folder)
        tail = int(req.get("tail_bytes", 4000))
        job = Job(
            id=req["id"],
            proc=proc,
            folder=folder,
            req=req,
            capture=Capture(head_cap=cap, tail_cap=tail),
            err=Capture(head_cap=cap, tail_cap=tail) if proc.split else None,
            deadline=now + float(req.get("timeout_s", 30)),
            started=now,
            session=session,
        )
        if req.get("unstaged") and session is None:
            job.snapshot = {}  # nothing was staged: the folder is empty before the code
        self.jobs[job.id] = job
        self.job_of_proc[proc.pid] = job

    # -- events -----------------------------------------------------------------------
    def on_readable(self, fd: int) -> None:
        if fd == self.proto_in:
            data = os.read(fd, READ_CHUNK)
            if not data:
                self.running = False
                return
            for req in self.frames.feed(data):
                try:
                    self.handle(req)
                except Exception as exc:  # one bad request (e.g. fork failing) must not stop us
                    traceback.print_exc()
                    self.send({"id": req.get("id"), "setup_error": f"{type(exc).__name__}: {exc}"})
            return
        role, proc = self.owner[fd]
        if role == "pid":
            if proc.pid in self.exiting.dying:
                self.exiting.settle(proc.pid)
                return
            job = self.job_of_proc.get(proc.pid)
            self.reap(proc, kill_rest=not (job is not None and job.collector is proc))
            return
        try:
            data = os.read(fd, READ_CHUNK)
        except BlockingIOError:
            return
        if role == "err":
            if not data:
                self.unwatch(fd)
                proc.err_fd = None
                return
            job = self.job_of_proc.get(proc.pid)
            if job is not None and job.err is not None:
                job.err.add(data)
        elif role == "out":
            if not data:
                self.unwatch(fd)
                proc.out_fd = None
                return
            job = self.job_of_proc.get(proc.pid)
            if job is None:
                return
            if proc.frames is not None:
                self.on_collector_output(job, proc, data)
            else:
                job.capture.add(data)
        elif role == "status":
            self.on_status_data(proc, data)

    def on_status_data(self, proc: Proc, data: bytes) -> None:
        """Bytes from a child's status pipe: each whole line is one status."""
        if not data:
            self.unwatch(proc.status_fd)
            proc.status_fd = None
            return
        proc.status_buf += data
        while b"\n" in proc.status_buf:
            line, _, rest = bytes(proc.status_buf).partition(b"\n")
            proc.status_buf = bytearray(rest)
            self.on_status(proc, line)
        if len(proc.status_buf) > MAX_STATUS_LINE:
            proc.status_buf = bytearray()  # junk the code wrote into fd 3

    def on_status(self, proc: Proc, line: bytes) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            return  # the code wrote junk into fd 3; it only hurts its own report
        if not isinstance(msg, dict):
            return
        job = self.job_of_proc.get(proc.pid)
        if "look" in msg:  # where a saved image came from: untrusted data for the host
            look = msg["look"]
            if job is not None and isinstance(look, dict) and isinstance(look.get("file"), str):
                if look["file"] in job.looks or len(job.looks) < MAX_LOOKS:
                    job.looks[look["file"]] = look
            return
        if "cwd" in msg and not proc.cwd:
            proc.cwd = str(msg["cwd"])
        if "snapshot" in msg:
            if job is not None and job.snapshot is None and isinstance(msg["snapshot"], dict):
                job.snapshot = msg["snapshot"]
        if "cwd" in msg or "snapshot" in msg:
            return
        proc.status = msg
        if job is not None and job.session is None and job.phase == "code" and "exit" in msg:
            job.reported = True
        if job is not None and job.session is not None and msg.get("done"):
            if job.phase == "code":
                job.done_marker = True
                self.drain(proc, job)

    def on_collector_output(self, job: Job, proc: Proc, data: bytes) -> None:
        try:
            frames = proc.frames.feed(data) if proc.frames is not None else []
        except ValueError:
            frames = []
            self.kill_collector(job)
        limit = int(job.req.get("collect", {}).get("max_total_bytes", 128_000_000)) * 2
        for frame in frames:
            if "image" in frame and isinstance(frame.get(DATA), bytes):
                blob = frame.pop(DATA)
                job.image_bytes += len(blob)
                if job.image_bytes > limit:  # more than the collector may send: stop it
                    self.kill_collector(job)
                    break
                job.images.append(({"name": str(frame["image"]), "size": frame.get("size")}, blob))
            elif frame.get("done"):
                job.collect_done = True
                job.collect_notes = [str(n) for n in frame.get("notes") or []][:20]
                job.cleaned = frame.get("cleaned")

    def drain_status(self, proc: Proc) -> None:
        """Read whatever statuses are already in the status pipe."""
        while proc.status_fd is not None:
            try:
                data = os.read(proc.status_fd, READ_CHUNK)
            except BlockingIOError:
                return
            self.on_status_data(proc, data)

    def drain(self, proc: Proc, job: Job) -> None:
        """Read whatever output is already in the pipes (written before the done marker)."""
        while proc.err_fd is not None and job.err is not None:
            try:
                data = os.read(proc.err_fd, READ_CHUNK)
            except BlockingIOError:
                break
            if not data:
                self.unwatch(proc.err_fd)
                proc.err_fd = None
                break
            job.err.add(data)
        while proc.out_fd is not None:
            try:
                data = os.read(proc.out_fd, READ_CHUNK)
            except BlockingIOError:
                return
            if not data:
                self.unwatch(proc.out_fd)
                proc.out_fd = None
                return
            if proc.frames is not None:
                self.on_collector_output(job, proc, data)
            else:
                job.capture.add(data)

    def check_jobs(self) -> None:
        now = time.monotonic()
        for job in list(self.jobs.values()):
            if job.phase == "code":
                self.check_code(job, now)
            else:
                self.check_collect(job, now)

    def check_code(self, job: Job, now: float) -> None:
        proc = job.proc
        overdue = now >= job.deadline and not job.done_marker and not job.timed_out
        if proc.wait_status is None and overdue:
            job.timed_out = True
            self.kill(proc)
            self.reap(proc)
        exited = proc.wait_status is not None
        pipes_closed = proc.out_fd is None and proc.status_fd is None and proc.err_fd is None
        if job.session is not None and job.done_marker and not exited:
            self.end_code(job)
        elif exited and (pipes_closed or now - (proc.exited_at or now) > EXIT_GRACE_S):
            if proc.out_fd is not None or proc.err_fd is not None:
                self.drain(proc, job)
            self.end_code(job)
        elif self.exiting.pending(job) and not job.timed_out:
            self.exiting.try_answer(job)

    def quiet(self, job: Job) -> bool:
        """A one-shot call on its own tmpfs that changed no file and printed no image path:
        the collector would find nothing, and the tmpfs goes whole."""
        proc = job.proc
        return (
            proc.status.get("changed") is False
            and job.session is None
            and job.folder.tmpfs
            and not any(collect_paths(job.capture.text(), proc.cwd, job.folder.path))
        )

    def end_code(self, job: Job) -> None:
        """The code is over: record how, stop what is left, start collecting its images
        (not when a one-shot call on its own tmpfs changed no file and printed no image
        path: the collector would find nothing, and the tmpfs goes whole)."""
        proc = job.proc
        job.nothing_new = self.quiet(job)
        job.result = code_result(job)
        if self.folders.oom_kills(job.folder) > job.folder.oom_seen:
            job.result.update(memory=True, memory_scope="call")
        self.job_of_proc.pop(proc.pid, None)
        if job.session is not None and proc.wait_status is None:
            self.freeze(proc)
        else:
            if job.session is not None:
                job.result["session_ended"] = True  # its folder goes at session_close
            if job.detached:
                self.exiting.detach(proc, job.folder)
            else:
                self.reap_blocking(proc)
        if job.cancelled or not job.req.get("collect") or job.nothing_new:
            self.finish(job)
        else:
            self.start_collector(job)

    def start_collector(self, job: Job) -> None:
        """Fork the collector, confined like the code, as the call's uid, in its folder."""
        collect_req = job.req["collect"]
        budget = float(collect_req.get("budget_s", 10.0))
        extra = {
            **collect_req,
            "snapshot": job.snapshot or {},
            "output": job.capture.text(),
            "cwd": job.proc.cwd,
            "clean": job.session is None and not job.folder.tmpfs,
            "limits": {
                "memory_mb": int(collect_req.get("memory_mb", 2048)),
                "cpu_s": budget + 1,
                "max_file_mb": 1,
                "max_procs": COLLECT_PROCS,
            },
        }
        req = self.folders.child_req(job.folder, extra)
        req["cgroup"] = None  # its own rlimits bound it; the call's group may be full
        try:
            job.collector = self.spawn(req, "collect")
        except OSError as exc:
            job.collect_notes = [f"the images could not be collected: {exc}"]
            self.finish(job)
            return
        job.phase = "collect"
        job.collect_deadline = time.monotonic() + budget
        self.job_of_proc[job.collector.pid] = job

    def check_collect(self, job: Job, now: float) -> None:
        proc = job.collector
        assert proc is not None
        if proc.wait_status is None and now >= job.collect_deadline:
            self.kill_collector(job)
            self.reap(proc, kill_rest=False)
            job.collect_notes.append(
                "collecting the images took too long and was stopped; some may be missing."
            )
        exited = proc.wait_status is not None
        pipes_closed = proc.out_fd is None and proc.status_fd is None
        if exited and (pipes_closed or now - (proc.exited_at or now) > EXIT_GRACE_S):
            if proc.out_fd is not None:
                self.drain(proc, job)
            self.job_of_proc.pop(proc.pid, None)
            self.reap_blocking(proc)
            self.sweep(job)
            if not job.collect_done and not job.collect_notes:
                job.collect_notes.append("collecting the images failed; some may be missing.")
            self.finish(job)

    def next_timeout_ms(self) -> int:
        now = time.monotonic()
        waits = [1000.0]
        for job in self.jobs.values():
            proc = job.collector if job.phase == "collect" and job.collector else job.proc
            if proc.wait_status is None:
                deadline = job.collect_deadline if job.phase == "collect" else job.deadline
                waits.append(deadline - now)
            else:
                waits.append(0.05)
        return max(0, int(min(waits) * 1000) + 1)

    def finish(self, job: Job) -> None:
        del self.jobs[job.id]
        reply: dict[str, Any] = {"id": job.id, **job.result}
        for meta, data in job.images:
            meta["bytes"] = len(data)
        reply["images"] = [meta for meta, _ in job.images]
        reply["looks"] = list(job.looks.values())
        reply["collect_notes"] = job.collect_notes
        if job.detached:
            reply["early"] = True
        # nothing is left of a tmpfs; a detached call's folder goes when its child is reaped
        later = job.session is None and job.folder.tmpfs and not job.detached
        if job.session is None and not later and not job.detached:
            reply["leftover"] = not self.folders.release(job.folder)
        frame = encode(reply, b"".join(data for _, data in job.images))
        if job.first_reply is not None:  # the prepare this run came with
            frame = encode(job.first_reply) + frame
        write_all(self.proto_out, frame)
        if later:
            self.folders.release(job.folder)  # after the reply: off the call's time
        # a call under a family's conventions is forked as it comes: no spare would fit it
        if (
            job.session is None
            and isinstance(job.req.get("limits"), dict)
            and not job.req.get("conv")
        ):  # once the host had the time to take the reply (`loop`)
            self.spare_next = (job.folder, job.req["limits"], job.req.get("next_uid"))

    def loop(self) -> None:
        self.poll.register(self.proto_in, select.POLLIN | select.POLLHUP)
        while self.running:
            timeout = self.next_timeout_ms()
            if self.spare_next is not None:
                timeout = min(timeout, SPARE_DELAY_MS)
            events = self.poll.poll(timeout)
            for fd, _ev in events:
                if fd == self.proto_in or fd in self.owner:
                    self.on_readable(fd)
            if not events:
                self.make_spare()
            try:
                self.check_jobs()
                self.folders.retry_stale_groups()
            except Exception:  # keep serving; the host sees the traceback in its log
                traceback.print_exc()
        procs = [j.proc for j in self.jobs.values()] + [p for p, _ in self.sessions.values()]
        procs += [j.collector for j in self.jobs.values() if j.collector is not None]
        procs += [spare.proc for spare in self.spares.by_uid.values()]
        procs += self.exiting.procs()
        for proc in procs:
            self.kill(proc)


def collect_paths(output: str, cwd: str, folder: str) -> list[str]:
    """Image paths the output names (inside the folder or not): the collector reads or
    reports each."""
    inside, outside = printed_paths(output, cwd, folder)
    return inside + outside


def code_result(job: Job) -> dict[str, Any]:
    """How the code ended, for the reply: output, exit code or signal, exception, timing."""
    proc = job.proc
    result: dict[str, Any] = {
        "head": job.capture.head.decode("utf-8", "replace"),
        "tail": job.capture.tail.decode("utf-8", "replace"),
        "total_bytes": job.capture.total,
        "head_bytes": len(job.capture.head),
        "timed_out": job.timed_out,
        "cancelled": job.cancelled,
        "duration_s": round(time.monotonic() - job.started, 4),
        "cwd": proc.cwd,
    }
    if job.err is not None:  # stderr kept apart
        result["err_head"] = job.err.head.decode("utf-8", "replace")
        result["err_tail"] = job.err.tail.decode("utf-8", "replace")
        result["err_total"] = job.err.total
        result["err_head_bytes"] = len(job.err.head)
    for key in ("exc", "memory", "setup_error", "notes"):
        if key in proc.status:
            result[key] = proc.status[key]
    if proc.wait_status is not None:
        ws = proc.wait_status
        if os.WIFSIGNALED(ws):
            result["signal"] = os.WTERMSIG(ws)
        else:
            result["exit_code"] = os.waitstatus_to_exitcode(ws)
    else:
        result["exit_code"] = proc.status.get("exit", 0)
    proc.status = {}
    return result
