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
attached) is sent. A session's interpreter is frozen (SIGSTOP) and every other process of
its uid killed as soon as a call ends, so code that fakes the "done" marker, or leaves a
thread running, cannot run on between calls.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from . import cgroups, child
from . import privileges as priv
from .protocol import DATA, FrameBuffer, encode, write_all

READ_CHUNK = 1 << 16
F_SETPIPE_SZ = 1031
CODE_PIPE_BYTES = 1 << 20  # a code frame larger than this ends the session with a note
EXIT_GRACE_S = 1.0  # after the child exits, how long to wait for its pipes to close
MAX_STATUS_LINE = 8 * 1024 * 1024  # a status line longer than this is junk from the code
COLLECT_PROCS = 8  # processes the collector's uid may have (a frozen session counts)


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


@dataclass
class Folder:
    """A call's (or session's) working folder and memory group, made by `prepare`."""

    name: str
    path: str
    uid: int | None
    tmpfs: bool
    cgroup: str | None = None
    oom_seen: int = 0


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
    result: dict[str, Any] = field(default_factory=dict)  # how the code ended
    collector: Proc | None = None
    collect_deadline: float = 0.0
    images: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)
    image_bytes: int = 0
    collect_notes: list[str] = field(default_factory=list)
    collect_done: bool = False
    cleaned: bool | None = None


class Worker:
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
        self.folders: dict[str, Folder] = {}
        self.stale_groups: list[str] = []  # call groups whose rmdir must be retried
        self.running = True
        self.work_root = str(cfg.get("work_root", ""))
        self.tmpfs = bool(cfg.get("work_tmpfs"))
        group = cfg.get("cgroup")
        self.cgroup = cgroups.MemoryCgroup(int(group[0]), str(group[1])) if group else None

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
        """Fork a child: kind "run" (one-shot code), "session" or "collect"."""
        out_r, out_w = os.pipe()
        st_r, st_w = os.pipe()
        code_r = code_w = None
        if kind == "session":
            code_r, code_w = os.pipe()
            with contextlib.suppress(OSError):  # room for any code frame: writes never block
                fcntl.fcntl(code_w, F_SETPIPE_SZ, CODE_PIPE_BYTES)
            os.set_blocking(code_w, False)
        try:
            pid = os.fork()
        except OSError:
            for fd in (out_r, out_w, st_r, st_w, code_r, code_w):
                if fd is not None:
                    os.close(fd)
            raise
        if pid == 0:  # child: never returns
            try:
                os.close(out_r)
                os.close(st_r)
                if kind == "session":
                    os.close(code_w)
                    child.run_session(req, self.mode, out_w, st_w, code_r)
                elif kind == "collect":
                    os.close(st_w)
                    child.run_collector(req, self.mode, out_w)
                child.run_once(req, self.mode, out_w, st_w)
            finally:
                os._exit(70)
        os.close(out_w)
        os.close(st_w)
        if code_r is not None:
            os.close(code_r)
        proc = Proc(pid, os.pidfd_open(pid), out_r, st_r, req.get("uid"), code_fd=code_w)
        if kind == "collect":
            proc.frames = FrameBuffer()
        self.watch(out_r, "out", proc)
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
        for fd in (proc.out_fd, proc.status_fd, proc.code_fd):
            if fd is not None and fd in self.owner:
                self.unwatch(fd)
            elif fd is not None and fd == proc.code_fd:
                os.close(fd)
        proc.out_fd = proc.status_fd = proc.code_fd = None
        if proc.wait_status is None:
            try:
                os.waitpid(proc.pid, 0)
            except ChildProcessError:
                pass
            proc.wait_status = 0
            self.unwatch(proc.pidfd)

    # -- folders ----------------------------------------------------------------------
    def prepare(self, req: dict[str, Any]) -> Folder:
        name = str(req["name"])
        if "/" in name or name in ("", ".", "..") or name in self.folders:
            raise ValueError(f"bad folder name {name!r}")
        path = os.path.join(self.work_root, name)
        uid = req.get("uid") if self.mode.own_uid else None
        os.mkdir(path, 0o700)
        tmpfs = False
        try:
            if self.tmpfs:
                opts = f"size={int(req['disk_mb'])}m,nr_inodes={int(req['max_files'])},mode=0700"
                if uid is not None:
                    opts += f",uid={int(uid)},gid={int(uid)}"
                priv.mount("tmpfs", path, "tmpfs", priv.MS_NOSUID | priv.MS_NODEV, opts)
                tmpfs = True
            elif uid is not None:
                os.chown(path, int(uid), int(uid))
        except OSError:
            os.rmdir(path)
            raise
        folder = Folder(name=name, path=path, uid=uid, tmpfs=tmpfs)
        if self.cgroup is not None and req.get("memory_mb"):
            try:
                folder.cgroup = cgroups.create_call(
                    self.cgroup, name, int(req["memory_mb"]) * 1024 * 1024
                )
            except OSError as exc:
                print(f"no memory cgroup for {name}: {exc}", file=sys.stderr)
        self.folders[name] = folder
        return folder

    def release(self, folder: Folder) -> bool:
        """Discard the folder (its tmpfs) and its group; False when files were left."""
        self.folders.pop(folder.name, None)
        left = False
        if folder.tmpfs:
            try:
                priv.umount(folder.path)
            except OSError as exc:
                print(f"cannot unmount {folder.path}: {exc}", file=sys.stderr)
        try:
            os.rmdir(folder.path)
        except FileNotFoundError:
            pass
        except OSError:
            left = True
        if folder.cgroup is not None and not cgroups.remove_group(folder.cgroup):
            self.stale_groups.append(folder.cgroup)
        return not left

    def child_req(self, folder: Folder, extra: dict[str, Any]) -> dict[str, Any]:
        """What every child of this folder needs to confine itself."""
        return {
            "dir": folder.path,
            "uid": folder.uid,
            "work_root": self.work_root,
            "cgroup": folder.cgroup,
            "expose": self.cfg.get("env_binds") or [],  # the sandbox package is loaded
            **extra,
        }

    # -- requests ---------------------------------------------------------------------
    def handle(self, req: dict[str, Any]) -> None:
        op = req.get("op")
        if op == "prepare":
            folder = self.prepare(req)
            info = {"tmpfs": folder.tmpfs, "cgroup": folder.cgroup is not None}
            self.send({"id": req["id"], "ok": True, **info})
        elif op == "release":
            folder = self.folders.get(str(req.get("name")))
            clean = self.release(folder) if folder is not None else True
            self.send({"id": req["id"], "ok": True, "leftover": not clean})
        elif op == "run":
            folder = self.folders.get(str(req.get("name")))
            if folder is None:
                self.send({"id": req["id"], "setup_error": "the call's folder is gone"})
                return
            proc = self.spawn(self.child_req(folder, self.code_fields(req)), "run")
            self.start_job(req, proc, folder, session=None)
        elif op == "session_open":
            folder = self.folders.get(str(req.get("name")))
            if folder is None:
                self.send({"id": req["id"], "setup_error": "the session's folder is gone"})
                return
            proc = self.spawn(self.child_req(folder, {"limits": req["limits"]}), "session")
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
                clean = self.release(folder)
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
        else:
            self.send({"id": req.get("id"), "setup_error": f"unknown op {op!r}"})

    @staticmethod
    def code_fields(req: dict[str, Any]) -> dict[str, Any]:
        return {k: req[k] for k in ("code", "vars", "limits") if k in req}

    def session_run(self, req: dict[str, Any]) -> None:
        entry = self.sessions.get(req["sid"])
        proc = entry[0] if entry else None
        if proc is not None:
            self.reap(proc)  # died a moment ago, its exit not yet seen by the poll loop?
        if entry is None or proc is None or proc.wait_status is not None or proc.code_fd is None:
            self.send({"id": req["id"], "session_gone": True, "session_ended": True})
            return
        proc, folder = entry
        data = encode({"code": req["code"], "vars": req.get("vars", {})})
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
        if folder.cgroup is not None:
            folder.oom_seen = cgroups.oom_kills(folder.cgroup, self.cgroup.version)
        job = Job(
            id=req["id"],
            proc=proc,
            folder=folder,
            req=req,
            capture=Capture(head_cap=cap, tail_cap=int(req.get("tail_bytes", 4000))),
            deadline=now + float(req.get("timeout_s", 30)),
            started=now,
            session=session,
        )
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
            job = self.job_of_proc.get(proc.pid)
            self.reap(proc, kill_rest=not (job is not None and job.collector is proc))
            return
        try:
            data = os.read(fd, READ_CHUNK)
        except BlockingIOError:
            return
        if role == "out":
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
            if not data:
                self.unwatch(fd)
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
        if "cwd" in msg and not proc.cwd:
            proc.cwd = str(msg["cwd"])
        if "snapshot" in msg:
            if job is not None and job.snapshot is None and isinstance(msg["snapshot"], dict):
                job.snapshot = msg["snapshot"]
        if "cwd" in msg or "snapshot" in msg:
            return
        proc.status = msg
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

    def drain(self, proc: Proc, job: Job) -> None:
        """Read whatever output is already in the pipe (written before the done marker)."""
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
        pipes_closed = proc.out_fd is None and proc.status_fd is None
        if job.session is not None and job.done_marker and not exited:
            self.end_code(job)
        elif exited and (pipes_closed or now - (proc.exited_at or now) > EXIT_GRACE_S):
            if proc.out_fd is not None:
                self.drain(proc, job)
            self.end_code(job)

    def end_code(self, job: Job) -> None:
        """The code is over: record how, stop what is left, start collecting its images."""
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
        for key in ("exc", "memory", "setup_error"):
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
        folder = job.folder
        if folder.cgroup is not None and self.cgroup is not None:
            if cgroups.oom_kills(folder.cgroup, self.cgroup.version) > folder.oom_seen:
                result["memory"] = True
                result["memory_scope"] = "call"
        self.job_of_proc.pop(proc.pid, None)
        if job.session is not None:
            if proc.wait_status is not None:
                result["session_ended"] = True  # its folder goes at session_close
                self.reap_blocking(proc)
            else:
                self.freeze(proc)
        else:
            self.reap_blocking(proc)
        job.result = result
        collect_req = job.req.get("collect")
        if job.cancelled or not collect_req:
            self.finish(job)
            return
        budget = float(collect_req.get("budget_s", 10.0))
        req = self.child_req(
            folder,
            {
                **collect_req,
                "snapshot": job.snapshot or {},
                "output": job.capture.text(),
                "cwd": proc.cwd,
                "clean": job.session is None and not folder.tmpfs,
                "limits": {
                    "memory_mb": int(collect_req.get("memory_mb", 2048)),
                    "cpu_s": budget + 1,
                    "max_file_mb": 1,
                    "max_procs": COLLECT_PROCS,
                },
            },
        )
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
        reply["collect_notes"] = job.collect_notes
        if job.session is None:
            reply["leftover"] = not self.release(job.folder)
        self.send(reply, b"".join(data for _, data in job.images))

    def retry_stale_groups(self) -> None:
        if self.stale_groups:
            self.stale_groups = [g for g in self.stale_groups if not cgroups.remove_group(g)]

    def loop(self) -> None:
        self.poll.register(self.proto_in, select.POLLIN | select.POLLHUP)
        while self.running:
            for fd, _ev in self.poll.poll(self.next_timeout_ms()):
                if fd == self.proto_in or fd in self.owner:
                    self.on_readable(fd)
            try:
                self.check_jobs()
                self.retry_stale_groups()
            except Exception:  # keep serving; the host sees the traceback in its log
                traceback.print_exc()
        procs = [j.proc for j in self.jobs.values()] + [p for p, _ in self.sessions.values()]
        procs += [j.collector for j in self.jobs.values() if j.collector is not None]
        for proc in procs:
            self.kill(proc)


def setup_isolation(cfg: dict[str, Any]) -> tuple[child.Mode, dict[str, Any]]:
    """Decide (and for the no-bubblewrap case, build) what each child will get."""
    info: dict[str, Any] = {"in_bwrap": bool(cfg.get("in_bwrap"))}
    root = os.geteuid() == 0 and priv.has_cap(priv.CAP_SYS_ADMIN) and priv.has_cap(priv.CAP_SETUID)
    network_isolated = info["in_bwrap"]
    private_mounts = False
    if root:
        try:
            flags = priv.CLONE_NEWNS | (0 if info["in_bwrap"] else priv.CLONE_NEWNET)
            priv.unshare(flags)
            priv.mount(None, "/", None, priv.MS_REC | priv.MS_PRIVATE)
            network_isolated = True
            private_mounts = True
            priv.expose_paths(list(cfg.get("expose", [])))
            info["work_tmpfs"] = _work_tmpfs(cfg)
        except OSError as exc:
            info["namespace_error"] = str(exc)
    own_uid = root and cfg.get("uid_base") is not None
    if own_uid:
        base, size = int(cfg["uid_base"]), int(cfg["uid_count"])
        priv.kill_uid_range(base, base + size)  # leftovers of a previous worker
    mode = child.Mode(
        own_uid=own_uid,
        private_tmp=private_mounts,
        block_network=not network_isolated,
        private_net=private_mounts,
    )
    info.update(
        own_uid=mode.own_uid,
        private_tmp=mode.private_tmp,
        network="namespace" if network_isolated else "audit-hook",
        memory_cgroup=bool(cfg.get("cgroup")) and root,
    )
    return mode, info


def _work_tmpfs(cfg: dict[str, Any]) -> bool:
    """Mount a small tmpfs over the work root (in our namespace only) and hand the host a
    descriptor of it. It only holds the mount points of the calls' own tmpfs folders, so
    nothing a call writes ever reaches the host's disk. False when not possible."""
    sock_fd, root = cfg.get("fd_socket"), cfg.get("work_root")
    if sock_fd is None or not root:
        return False
    opts = "size=1m,nr_inodes=4096,mode=0711"
    priv.mount("tmpfs", root, "tmpfs", priv.MS_NOSUID | priv.MS_NODEV, opts)
    dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    with socket.socket(fileno=int(sock_fd)) as sock:
        socket.send_fds(sock, [b"work-root"], [dir_fd])
    os.close(dir_fd)
    return True


def main() -> None:
    cfg = json.loads(sys.argv[-1])
    proto_in, proto_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(2, 1)  # stray prints must never corrupt the protocol
    priv.prctl(priv.PR_SET_PDEATHSIG, signal.SIGKILL)  # never outlive the toolkit
    mode, info = setup_isolation(cfg)
    cfg["work_tmpfs"] = bool(info.get("work_tmpfs"))
    if info.get("memory_cgroup"):
        group = cgroups.MemoryCgroup(int(cfg["cgroup"][0]), str(cfg["cgroup"][1]))
        try:  # can we really make a call's group and set its limit from in here?
            cgroups.remove_group(cgroups.create_call(group, f"probe-{os.getpid()}", 64 << 20))
        except OSError as exc:
            info.update(memory_cgroup=False, cgroup_error=str(exc))
    if not info.get("memory_cgroup"):
        cfg["cgroup"] = None
    warm, missing = [], {}
    for name in ("numpy", "PIL.Image", "PIL.ImageOps", "PIL.ImageEnhance", "PIL.ImageFilter"):
        try:
            __import__(name)
            warm.append(name)
        except ImportError as exc:
            missing[name] = f"{type(exc).__name__}: {exc}"
    info.update(ready=True, pid=os.getpid(), warm=warm, missing=missing, sys_path=sys.path)
    worker = Worker(cfg, proto_in, proto_out, mode)
    worker.send(info)
    worker.loop()
