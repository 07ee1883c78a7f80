"""The fork server: a long-lived process that forks one confined child per code call.

It imports Pillow and NumPy once, so a call costs a fork instead of an interpreter start.
One thread, one poll loop: requests arrive as frames on the protocol input; each child's
output pipe, status pipe and pidfd are watched; wall-clock deadlines are enforced here
with SIGKILL for the child's whole uid (or process group), so code that ignores SIGTERM
or leaves daemons behind is gone when its reply is sent. The worker holds no file
objects, only integer descriptors, so nothing the child inherits can close them behind its
back.
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

from . import child
from . import privileges as priv
from .protocol import FrameBuffer, encode, write_all

READ_CHUNK = 1 << 16
F_SETPIPE_SZ = 1031
CODE_PIPE_BYTES = 1 << 20  # a code frame larger than this ends the session with a note
EXIT_GRACE_S = 1.0  # after the child exits, how long to wait for its pipes to close


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


@dataclass
class Proc:
    """A forked child (one-shot call or session) and its descriptors."""

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


@dataclass
class Job:
    """One request being served: a one-shot run or one call into a session."""

    id: Any
    proc: Proc
    capture: Capture
    deadline: float
    started: float
    session: str | None = None
    timed_out: bool = False
    cancelled: bool = False
    done_marker: bool = False


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
        self.sessions: dict[str, Proc] = {}
        self.running = True

    # -- plumbing ---------------------------------------------------------------------
    def send(self, obj: dict[str, Any]) -> None:
        write_all(self.proto_out, encode(obj))

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

    def spawn(self, req: dict[str, Any], session: bool) -> Proc:
        out_r, out_w = os.pipe()
        st_r, st_w = os.pipe()
        code_r = code_w = None
        if session:
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
                if session:
                    os.close(code_w)
                    child.run_session(req, self.mode, out_w, st_w, code_r)
                child.run_once(req, self.mode, out_w, st_w)
            finally:
                os._exit(70)
        os.close(out_w)
        os.close(st_w)
        if code_r is not None:
            os.close(code_r)
        proc = Proc(pid, os.pidfd_open(pid), out_r, st_r, req.get("uid"), code_fd=code_w)
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

    def reap(self, proc: Proc) -> None:
        if proc.wait_status is not None:
            return
        try:
            pid, status = os.waitpid(proc.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = proc.pid, 0
        if pid:
            proc.wait_status = status
            proc.exited_at = time.monotonic()
            self.kill(proc)  # leftover children die with the call
            self.unwatch(proc.pidfd)

    # -- requests ---------------------------------------------------------------------
    def handle(self, req: dict[str, Any]) -> None:
        op = req.get("op")
        if op == "run":
            self.start_job(req, self.spawn(req, session=False), session=None)
        elif op == "session_open":
            proc = self.spawn(req, session=True)
            self.sessions[req["sid"]] = proc
            self.send({"id": req["id"], "ok": True})
        elif op == "session_run":
            proc = self.sessions.get(req["sid"])
            if proc is None or proc.wait_status is not None or proc.code_fd is None:
                self.send({"id": req["id"], "session_ended": True, "setup_error": "no session"})
                return
            frame = {"code": req["code"], "vars": req.get("vars", {})}
            data = encode(frame)
            try:
                written = os.write(proc.code_fd, data)
            except OSError:  # BlockingIOError included: the session is not reading
                written = -1
            if written != len(data):
                self.kill(proc)
                self.reap_blocking(proc)
                self.sessions.pop(req["sid"], None)
                reason = "session did not accept the code (too large, or still busy)"
                self.send({"id": req["id"], "session_ended": True, "setup_error": reason})
                return
            self.start_job(req, proc, session=req["sid"])
        elif op == "session_close":
            proc = self.sessions.pop(req["sid"], None)
            if proc is not None:
                self.kill(proc)
                self.reap_blocking(proc)
            self.send({"id": req["id"], "ok": True})
        elif op == "cancel":
            job = self.jobs.get(req.get("target"))
            if job is not None:
                job.cancelled = True
                self.kill(job.proc)
        elif op == "ping":
            self.send({"id": req["id"], "ok": True, "pid": os.getpid()})
        else:
            self.send({"id": req.get("id"), "setup_error": f"unknown op {op!r}"})

    def start_job(self, req: dict[str, Any], proc: Proc, session: str | None) -> None:
        now = time.monotonic()
        cap = int(req.get("max_output_bytes", 80_000))
        job = Job(
            id=req["id"],
            proc=proc,
            capture=Capture(head_cap=cap, tail_cap=int(req.get("tail_bytes", 4000))),
            deadline=now + float(req.get("timeout_s", 30)),
            started=now,
            session=session,
        )
        self.jobs[job.id] = job
        self.job_of_proc[proc.pid] = job

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
            self.reap(proc)
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
            if job is not None:
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

    def on_status(self, proc: Proc, line: bytes) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            return  # the code wrote junk into fd 3; it only hurts its own report
        if not isinstance(msg, dict):
            return
        if "cwd" in msg and not proc.cwd:
            proc.cwd = str(msg["cwd"])
            return
        proc.status = msg
        job = self.job_of_proc.get(proc.pid)
        if job is not None and job.session is not None and msg.get("done"):
            job.done_marker = True
            self.drain(proc, job)

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
            job.capture.add(data)

    def check_jobs(self) -> None:
        now = time.monotonic()
        for job in list(self.jobs.values()):
            proc = job.proc
            overdue = now >= job.deadline and not job.done_marker and not job.timed_out
            if proc.wait_status is None and overdue:
                job.timed_out = True
                self.kill(proc)
                self.reap(proc)
            exited = proc.wait_status is not None
            pipes_closed = proc.out_fd is None and proc.status_fd is None
            if job.session is not None and job.done_marker and not exited:
                self.finish(job)
            elif exited and (pipes_closed or now - (proc.exited_at or now) > EXIT_GRACE_S):
                if proc.out_fd is not None:
                    self.drain(proc, job)
                self.finish(job)

    def next_timeout_ms(self) -> int:
        now = time.monotonic()
        waits = [1000.0]
        for job in self.jobs.values():
            if job.proc.wait_status is None:
                waits.append(job.deadline - now)
            else:
                waits.append(0.05)
        return max(0, int(min(waits) * 1000) + 1)

    def finish(self, job: Job) -> None:
        proc = job.proc
        del self.jobs[job.id]
        self.job_of_proc.pop(proc.pid, None)
        reply: dict[str, Any] = {
            "id": job.id,
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
                reply[key] = proc.status[key]
        if proc.wait_status is not None:
            ws = proc.wait_status
            if os.WIFSIGNALED(ws):
                reply["signal"] = os.WTERMSIG(ws)
            else:
                reply["exit_code"] = os.waitstatus_to_exitcode(ws)
        else:
            reply["exit_code"] = proc.status.get("exit", 0)
        proc.status = {}
        if job.session is not None:
            if proc.wait_status is not None:
                reply["session_ended"] = True
                self.sessions.pop(job.session, None)
                self.reap_blocking(proc)
        else:
            self.reap_blocking(proc)
        self.send(reply)

    def loop(self) -> None:
        self.poll.register(self.proto_in, select.POLLIN | select.POLLHUP)
        while self.running:
            for fd, _ev in self.poll.poll(self.next_timeout_ms()):
                if fd == self.proto_in or fd in self.owner:
                    self.on_readable(fd)
            try:
                self.check_jobs()
            except Exception:  # keep serving; the host sees the traceback in its log
                traceback.print_exc()
        for proc in [j.proc for j in self.jobs.values()] + list(self.sessions.values()):
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
            info["work_tmpfs_mb"] = _work_tmpfs(cfg)
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
    )
    return mode, info


def _work_tmpfs(cfg: dict[str, Any]) -> int | None:
    """Mount a size-capped tmpfs over the work root (in our namespace only) and hand the
    host a descriptor of it, so that all working folders together can never fill the
    host's disk. Returns the size, or None when not asked for or not possible."""
    size_mb, sock_fd, root = cfg.get("tmpfs_mb"), cfg.get("fd_socket"), cfg.get("work_root")
    if not size_mb or sock_fd is None or not root:
        return None
    opts = f"size={int(size_mb)}m,mode=0711"
    priv.mount("tmpfs", root, "tmpfs", priv.MS_NOSUID | priv.MS_NODEV, opts)
    dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    with socket.socket(fileno=int(sock_fd)) as sock:
        socket.send_fds(sock, [b"work-root"], [dir_fd])
    os.close(dir_fd)
    return int(size_mb)


def main() -> None:
    cfg = json.loads(sys.argv[-1])
    proto_in, proto_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(2, 1)  # stray prints must never corrupt the protocol
    priv.prctl(priv.PR_SET_PDEATHSIG, signal.SIGKILL)  # never outlive the toolkit
    mode, info = setup_isolation(cfg)
    warm = []
    for name in ("numpy", "PIL.Image", "PIL.ImageOps", "PIL.ImageEnhance", "PIL.ImageFilter"):
        try:
            __import__(name)
            warm.append(name)
        except ImportError:
            pass
    info.update(ready=True, pid=os.getpid(), warm=warm)
    worker = Worker(cfg, proto_in, proto_out, mode)
    worker.send(info)
    worker.loop()
