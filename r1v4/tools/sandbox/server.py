"""Host side: start, talk to, restart and stop the warm fork server, without blocking the loop.

One `SandboxServer` serves every concurrent call of a run. Requests are frames on the
worker's stdin; a reader task matches replies to waiting futures by id, so any number of
calls can be in flight. If the worker dies (crash, OOM killer, someone's kill -9), every
call in flight gets a "worker stopped" outcome and the next call starts a fresh worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import bwrap
from .limits import Limits
from .protocol import HEADER, encode
from .uids import Slot, SlotPool, UidBlock

log = logging.getLogger(__name__)

BOOT = (
    "import importlib.util, sys\n"
    "d = sys.argv[1]\n"
    "s = importlib.util.spec_from_file_location('r1v4_sandbox', d + '/__init__.py',"
    " submodule_search_locations=[d])\n"
    "m = importlib.util.module_from_spec(s); sys.modules['r1v4_sandbox'] = m\n"
    "s.loader.exec_module(m)\n"
    "from r1v4_sandbox.worker import main\n"
    "main()\n"
)
REPLY_GRACE_S = 20.0  # how long past its timeout a call may wait before the worker is deemed hung


class SandboxUnavailable(RuntimeError):
    """The fork server could not be started at all."""


@dataclass
class Isolation:
    """What protects the host, as measured when the worker started."""

    bwrap: bool = False
    own_uid: bool = False
    private_tmp: bool = False
    network: str = "none"
    bwrap_problem: str = ""

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

    output: str = ""
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
    cancelled: bool = False
    duration_s: float = 0.0
    cwd: str = ""

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> Outcome:
        head, tail = reply.get("head", ""), reply.get("tail", "")
        total = int(reply.get("total_bytes", 0))
        omitted = max(0, total - int(reply.get("head_bytes", 0)) - len(tail.encode()))
        output = head
        if omitted and tail:
            output += f"\n...[{omitted} bytes of output omitted]...\n" + tail
        elif tail:
            output += tail
        return cls(
            output=output,
            total_bytes=total,
            omitted_bytes=omitted,
            exit_code=reply.get("exit_code"),
            signal=reply.get("signal"),
            timed_out=bool(reply.get("timed_out")),
            exc=reply.get("exc"),
            memory=bool(reply.get("memory")),
            setup_error=reply.get("setup_error"),
            session_ended=bool(reply.get("session_ended")),
            cancelled=bool(reply.get("cancelled")),
            duration_s=float(reply.get("duration_s", 0.0)),
            cwd=str(reply.get("cwd", "")),
        )


@dataclass
class Session:
    """A persistent sandboxed interpreter bound to one trajectory."""

    sid: str
    generation: int
    slot: Slot
    folder: Path
    names: set[str] = field(default_factory=set)
    staged: set[str] = field(default_factory=set)  # source paths already copied in
    name_of: dict[str, str] = field(default_factory=dict)  # source path -> name in folder
    alive: bool = True
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one call at a time


class SandboxServer:
    """The warm fork server as seen from the event loop."""

    def __init__(
        self,
        *,
        use_bwrap: str = "auto",
        work_root: str | os.PathLike | None = None,
        slots: int = 64,
        start_timeout_s: float = 60.0,
        disk_mb: int | None = 2048,
    ) -> None:
        if use_bwrap not in ("auto", "on", "off"):
            raise ValueError(f"use_bwrap must be 'auto', 'on' or 'off', got {use_bwrap!r}")
        self.use_bwrap = use_bwrap
        self.start_timeout_s = start_timeout_s
        self._own_root = work_root is None
        self._work_root: Path | None = None if work_root is None else Path(work_root).resolve()
        self._uid_block = UidBlock(slots)
        self._slot_count = slots
        self._pool: SlotPool | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None
        self._stderr: asyncio.Task | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self._start_lock: asyncio.Lock | None = None
        self._write_lock: asyncio.Lock | None = None
        self.generation = 0
        self.isolation = Isolation()
        self.worker_pid: int | None = None
        self._closed = False
        self.disk_mb = disk_mb
        self._root_fd: int | None = None  # the worker's tmpfs work root, seen from here

    @property
    def work_root(self) -> Path:
        """The host folder under which working folders live; created on first use, so a
        tool that is built but never called leaves nothing behind."""
        if self._work_root is None:
            self._work_root = Path(tempfile.mkdtemp(prefix="r1v4-sandbox-")).resolve()
            os.chmod(self._work_root, 0o711)
        elif not self._work_root.is_dir():
            self._work_root.mkdir(parents=True, exist_ok=True)
            os.chmod(self._work_root, 0o711)
        return self._work_root

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        """Start the worker if it is not running (idempotent, safe to call concurrently)."""
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
            self._write_lock = asyncio.Lock()
            self._pool = SlotPool(self._uid_block, self._slot_count)
        async with self._start_lock:
            if self._closed:
                raise SandboxUnavailable("the sandbox has been closed")
            if self._proc is not None and self._proc.returncode is None and self._reader:
                if not self._reader.done():
                    return
            await self._spawn()

    async def _spawn(self) -> None:
        want_bwrap = self.use_bwrap != "off"
        problem = ""
        if want_bwrap:
            ok, problem = await asyncio.to_thread(bwrap.bwrap_works)  # runs a probe process
            if not ok:
                if self.use_bwrap == "on":
                    raise SandboxUnavailable(f"use_bwrap='on' but {problem}")
                want_bwrap = False
        else:
            problem = "disabled by settings"
        try:
            info = await self._launch(want_bwrap)
        except SandboxUnavailable as exc:
            if not want_bwrap or self.use_bwrap == "on":
                raise
            problem = f"bwrap worker failed: {exc}"
            log.warning("sandbox: %s; falling back to resource limits only", problem)
            want_bwrap = False
            info = await self._launch(False)
        self.generation += 1
        self.worker_pid = info.get("pid")
        self.isolation = Isolation(
            bwrap=want_bwrap,
            own_uid=bool(info.get("own_uid")),
            private_tmp=bool(info.get("private_tmp")),
            network=str(info.get("network", "none")),
            bwrap_problem="" if want_bwrap else problem,
        )
        log.debug("sandbox worker %s started: %s", self.worker_pid, self.isolation.describe())

    async def _launch(self, use_bwrap: bool) -> dict[str, Any]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        cfg = {
            "in_bwrap": use_bwrap,
            "uid_base": self._uid_block.base,
            "uid_count": self._slot_count,
            "expose": bwrap.python_paths() + [bwrap.PACKAGE_DIR],
            "work_root": str(self.work_root),
            "tmpfs_mb": self.disk_mb,
            "fd_socket": theirs.fileno(),
        }
        argv = [bwrap.python_executable(), "-I", "-B", "-c", BOOT, bwrap.PACKAGE_DIR]
        argv.append(json.dumps(cfg))
        if use_bwrap:
            bw = bwrap.find_bwrap() or "bwrap"
            argv = bwrap.bwrap_argv(bw, str(self.work_root)) + ["--"] + argv
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=bwrap.minimal_env(),
                start_new_session=True,
                pass_fds=(theirs.fileno(),),
            )
        finally:
            theirs.close()
        try:
            info = await asyncio.wait_for(_read_frame(proc.stdout), self.start_timeout_s)
        except (TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            ours.close()
            err = b""
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(Exception):
                err = await asyncio.wait_for(proc.stderr.read(), 5)
            await proc.wait()
            detail = err.decode("utf-8", "replace").strip().splitlines()
            raise SandboxUnavailable(
                f"sandbox worker did not start ({type(exc).__name__}): "
                + (detail[-1] if detail else f"exit code {proc.returncode}")
            ) from exc
        self._adopt_root_fd(ours if info.get("work_tmpfs_mb") else None)
        ours.close()
        self._proc = proc
        self._reader = asyncio.create_task(self._read_replies(proc))
        self._stderr = asyncio.create_task(self._log_stderr(proc))
        return info

    def _adopt_root_fd(self, sock: socket.socket | None) -> None:
        """Take the worker's tmpfs work root (sent before its ready frame), if any."""
        if self._root_fd is not None:
            os.close(self._root_fd)  # the previous worker's tmpfs goes away with it
            self._root_fd = None
        if sock is None:
            return
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            _msg, fds, _flags, _addr = socket.recv_fds(sock, 64, 4)
            if fds:
                self._root_fd = fds[0]
                for extra in fds[1:]:
                    os.close(extra)

    @property
    def host_root(self) -> Path:
        """Where the host creates and reads working folders.

        With a tmpfs work root this is the worker's mount seen through our descriptor
        (/proc/self/fd/N): never resolve() paths under it, that would leave the tmpfs.
        """
        if self._root_fd is not None:
            return Path(f"/proc/self/fd/{self._root_fd}")
        return self.work_root

    def inner_path(self, folder: Path) -> str:
        """The path the worker and the code's mounts use for a host-side folder."""
        return str(self.work_root / folder.name)

    async def _read_replies(self, proc: asyncio.subprocess.Process) -> None:
        try:
            while True:
                reply = await _read_frame(proc.stdout)
                fut = self._pending.pop(reply.get("id"), None)
                if fut is not None and not fut.done():
                    fut.set_result(reply)
        except (asyncio.IncompleteReadError, ValueError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            if not self._closed:
                log.warning("sandbox worker stopped; it will be restarted on the next call")
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_result({"worker_lost": True})
            self._pending.clear()

    async def _log_stderr(self, proc: asyncio.subprocess.Process) -> None:
        while line := await proc.stderr.readline():
            log.warning("sandbox worker: %s", line.decode("utf-8", "replace").rstrip())

    async def aclose(self) -> None:
        """Stop the worker (killing every call and session) and remove the work root."""
        self._closed = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(Exception):
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for task in (self._reader, self._stderr):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self._uid_block.close()
        self._adopt_root_fd(None)
        if self._own_root and self._work_root is not None:
            await asyncio.to_thread(shutil.rmtree, self._work_root, True)

    @property
    def uid_range(self) -> tuple[int, int] | None:
        """[first, last) uids calls may run as; None when calls share the toolkit's uid."""
        if self._uid_block.base is None or not self.isolation.own_uid:
            return None
        return self._uid_block.base, self._uid_block.base + self._slot_count

    def kill_worker_for_test(self) -> None:
        """SIGKILL the worker process (used to show it restarts transparently)."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()

    async def wait_worker_exit(self) -> None:
        """Wait until a killed worker is reaped and its replies reader has finished."""
        if self._proc is not None:
            await self._proc.wait()
        if self._reader is not None:
            with contextlib.suppress(BaseException):
                await self._reader

    # -- calls ------------------------------------------------------------------------
    async def slot(self) -> Slot:
        await self.start()
        assert self._pool is not None
        return await self._pool.get()

    def slot_uid(self, slot: Slot) -> int | None:
        """The uid to chown a folder to (None when calls do not get their own uid)."""
        return slot.uid if self.isolation.own_uid else None

    async def _request(self, msg: dict[str, Any], wait_s: float, slot: Slot | None) -> dict:
        await self.start()
        assert self._proc is not None and self._write_lock is not None
        loop = asyncio.get_running_loop()
        msg["id"] = next(self._ids)
        fut: asyncio.Future = loop.create_future()
        self._pending[msg["id"]] = fut
        proc = self._proc
        try:
            async with self._write_lock:
                proc.stdin.write(encode(msg))
                await proc.stdin.drain()
        except (ConnectionError, RuntimeError):
            self._pending.pop(msg["id"], None)
            return {"worker_lost": True}
        try:
            return await asyncio.wait_for(asyncio.shield(fut), wait_s)
        except TimeoutError:
            log.error("sandbox worker did not answer in %.0f s; restarting it", wait_s)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            return {"worker_lost": True}
        except asyncio.CancelledError:
            if slot is not None:  # the uid stays lent until the worker has killed the call
                slot.deferred = True
                fut.add_done_callback(lambda _f: slot.release(force=True))
            with contextlib.suppress(Exception):
                proc.stdin.write(encode({"op": "cancel", "target": msg["id"]}))
            raise

    async def run(
        self,
        code: str,
        folder: Path,
        slot: Slot,
        *,
        variables: dict[str, Any],
        limits: Limits,
        timeout_s: float,
        max_output_bytes: int,
        tail_bytes: int = 2000,
    ) -> Outcome:
        """Run code once in a fresh child confined to folder."""
        msg = {
            "op": "run",
            "code": code,
            "dir": self.inner_path(folder),
            "uid": slot.uid,
            "vars": variables,
            "limits": limits.to_dict(),
            "timeout_s": timeout_s,
            "max_output_bytes": max_output_bytes,
            "tail_bytes": tail_bytes,
        }
        reply = await self._request(msg, timeout_s + REPLY_GRACE_S, slot)
        if reply.get("worker_lost"):
            return Outcome(worker_lost=True)
        return Outcome.from_reply(reply)

    async def open_session(self, folder: Path, slot: Slot, limits: Limits) -> Session:
        sid = f"s{next(self._ids)}"
        msg = {"op": "session_open", "sid": sid, "dir": self.inner_path(folder), "uid": slot.uid}
        msg["limits"] = limits.to_dict()
        reply = await self._request(msg, 30.0, slot)
        session = Session(sid=sid, generation=self.generation, slot=slot, folder=folder)
        session.alive = not reply.get("worker_lost")
        return session

    async def run_in_session(
        self,
        session: Session,
        code: str,
        *,
        variables: dict[str, Any],
        timeout_s: float,
        max_output_bytes: int,
        tail_bytes: int = 2000,
    ) -> Outcome:
        if not session.alive or session.generation != self.generation:
            session.alive = False
            return Outcome(session_ended=True, setup_error="session is gone")
        msg = {
            "op": "session_run",
            "sid": session.sid,
            "code": code,
            "vars": variables,
            "timeout_s": timeout_s,
            "max_output_bytes": max_output_bytes,
            "tail_bytes": tail_bytes,
        }
        reply = await self._request(msg, timeout_s + REPLY_GRACE_S, session.slot)
        if reply.get("worker_lost"):
            session.alive = False
            return Outcome(worker_lost=True, session_ended=True)
        outcome = Outcome.from_reply(reply)
        if outcome.session_ended:
            session.alive = False
        return outcome

    async def close_session(self, session: Session) -> None:
        """Kill the session's processes; its uid goes back to the pool."""
        if session.generation == self.generation and not self._closed:
            proc = self._proc
            if proc is not None and proc.returncode is None:
                await self._request({"op": "session_close", "sid": session.sid}, 30.0, None)
        session.alive = False
        session.slot.release(force=True)


async def _read_frame(reader: asyncio.StreamReader | None) -> dict[str, Any]:
    assert reader is not None
    header = await reader.readexactly(HEADER.size)
    (size,) = HEADER.unpack(header)
    body = await reader.readexactly(size)
    obj = json.loads(body)
    if not isinstance(obj, dict):
        raise ValueError("sandbox worker sent a frame that is not an object")
    return obj
