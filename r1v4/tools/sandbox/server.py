"""Host side: start, talk to, restart and stop the warm fork server, without blocking the loop.

One `SandboxServer` serves every concurrent call of a run. Requests are frames on the
worker's stdin; a reader task matches replies to waiting futures by id, so any number of
calls can be in flight. If the worker dies (crash, OOM killer, someone's kill -9), every
call in flight gets a "worker stopped" outcome and the next call starts a fresh worker.

A call is `prepare` (the worker makes the call's folder: its own tmpfs where we are root),
staging by the host into that folder, then `run`, whose reply carries the images the
collector re-encoded as PNG inside the jail; the worker discards the folder itself. The
worker runs the running environment's interpreter and import path (`pyenv.py`).

Size note: one class, because the worker's lifecycle (start, restart, generation, stop)
and its request/reply protocol share one process, one table of pending replies and one
restart generation; starting it (`launch.py`) and what calls return (`replies.py`) live
apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from . import bwrap, cgroups
from .exiting import EXIT_WAIT_S
from .fswalk import remove_tree
from .launch import launch_worker, read_frame
from .limits import Limits
from .protocol import encode
from .pyenv import WorkerPython, worker_python
from .replies import (
    CallFolder,
    Isolation,
    Outcome,
    RawImage,
    SandboxUnavailable,
    Session,
    WorkerLost,
)
from .runrequest import RunRequest
from .uids import Slot, SlotPool, UidBlock

__all__ = [
    "CallFolder",
    "Isolation",
    "Outcome",
    "RawImage",
    "SandboxServer",
    "SandboxUnavailable",
    "Session",
    "WorkerLost",
]

log = logging.getLogger(__name__)

WORK_ROOT_PREFIX = "r1v4-sandbox-"  # + "<pid>-": a dead run's root is found and removed


class SandboxServer:
    """The warm fork server as seen from the event loop."""

    def __init__(
        self,
        *,
        use_bwrap: str = "auto",
        work_root: str | os.PathLike | None = None,
        slots: int = 64,
        start_timeout_s: float = 60.0,
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
        self.worker_info: dict[str, Any] = {}  # the worker's ready frame: path, missing modules
        self.python: WorkerPython | None = None
        self._closed = False
        self._ending: set[asyncio.Task[None]] = set()  # lost workers being reaped
        self._root_fd: int | None = None  # the worker's tmpfs work root, seen from here
        self._cgroup: cgroups.MemoryCgroup | None = None
        self._cgroup_problem = ""
        self._cgroup_tried = False
        # how long the worker waits for a call's child that reported to be exiting
        # (`exiting.py`); tests lengthen it so that calls are surely answered early
        self.exit_wait_s = EXIT_WAIT_S

    @property
    def work_root(self) -> Path:
        """The host folder under which working folders live; created on first use, so a
        tool that is built but never called leaves nothing behind. Its name carries our
        pid, so the next run can tell a dead run's leftover from a live one's."""
        if self._work_root is None:
            prefix = f"{WORK_ROOT_PREFIX}{os.getpid()}-"
            self._work_root = Path(tempfile.mkdtemp(prefix=prefix)).resolve()
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

    def _make_cgroup(self) -> None:
        """Our parent memory group, once per server (after removing dead runs' leftovers).
        Runs in a thread."""
        if self._cgroup_tried:
            return
        self._cgroup_tried = True
        from r1v4.tools.leftovers import clear_dead_leftovers

        clear_dead_leftovers()  # dead runs' sandbox roots and memory groups
        self._cgroup, self._cgroup_problem = cgroups.create_parent()

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
        await asyncio.to_thread(self._make_cgroup)
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
        self.worker_info = info
        cgroup_problem = self._cgroup_problem or str(info.get("cgroup_error", ""))
        self.isolation = Isolation(
            bwrap=want_bwrap,
            own_uid=bool(info.get("own_uid")),
            private_tmp=bool(info.get("private_tmp")),
            network=str(info.get("network", "none")),
            bwrap_problem="" if want_bwrap else problem,
            tmpfs_per_call=bool(info.get("work_tmpfs")),
            memory_cgroup=(
                f"cgroup v{self._cgroup.version}"
                if info.get("memory_cgroup") and self._cgroup is not None
                else ""
            ),
            cgroup_problem="" if info.get("memory_cgroup") else cgroup_problem,
        )
        log.debug("sandbox worker %s started: %s", self.worker_pid, self.isolation.describe())

    async def _launch(self, use_bwrap: bool) -> dict[str, Any]:
        python = self.python = worker_python()
        cfg = {
            "in_bwrap": use_bwrap,
            "uid_base": self._uid_block.base,
            "uid_count": self._slot_count,
            "expose": python.binds() + [bwrap.PACKAGE_DIR],
            "env_binds": python.binds(),
            "sys_path": list(python.sys_path),
            "site_dirs": list(python.site_dirs),
            "work_root": str(self.work_root),
            "cgroup": [self._cgroup.version, self._cgroup.path] if self._cgroup else None,
            "exit_wait_s": self.exit_wait_s,
        }
        extra = [self._cgroup.path] if self._cgroup is not None else []
        started = await launch_worker(
            python, cfg, use_bwrap=use_bwrap, rw_binds=extra, timeout_s=self.start_timeout_s
        )
        if self._root_fd is not None:
            os.close(self._root_fd)  # the previous worker's tmpfs goes away with it
        self._root_fd = started.root_fd
        self._proc = started.proc
        self._reader = asyncio.create_task(self._read_replies(started.proc))
        self._stderr = asyncio.create_task(self._log_stderr(started.proc))
        return started.info

    @property
    def host_root(self) -> Path:
        """Where the host creates and reads working folders.

        With a tmpfs work root this is the worker's mount seen through our descriptor
        (/proc/self/fd/N): never resolve() paths under it, that would leave the tmpfs.
        """
        if self._root_fd is not None:
            return Path(f"/proc/self/fd/{self._root_fd}")
        return self.work_root

    async def _read_replies(self, proc: asyncio.subprocess.Process) -> None:
        try:
            while True:
                reply = await read_frame(proc.stdout)
                fut = self._pending.pop(reply.get("id"), None)
                if fut is not None and not fut.done():
                    fut.set_result(reply)
        except (asyncio.IncompleteReadError, ValueError, ConnectionError):
            pass
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_result({"worker_lost": True})
            self._pending.clear()
            if not self._closed:
                log.warning("sandbox worker stopped; it will be restarted on the next call")
                ending = asyncio.create_task(_end(proc))  # this reader is done: a new worker
                self._ending.add(ending)  # may start at once, while the old one is reaped
                ending.add_done_callback(self._ending.discard)

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
            await _end(proc, grace_s=5.0)
        for task in (self._reader, self._stderr):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        for task in list(self._ending):
            with contextlib.suppress(BaseException):
                await task
        self._uid_block.close()
        if self._root_fd is not None:
            os.close(self._root_fd)
            self._root_fd = None
        if self._own_root and self._work_root is not None:
            await asyncio.to_thread(remove_tree, self._work_root)
        if self._cgroup is not None:
            cgroup, self._cgroup = self._cgroup, None
            await asyncio.to_thread(cgroups.remove_group, cgroup.path)

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
        fut = self._register(msg)
        if not await self._write(msg):
            return {"worker_lost": True}
        return await self._wait(msg["id"], fut, wait_s, slot)

    def _register(self, msg: dict[str, Any]) -> asyncio.Future:
        """Give msg its id and the future its reply will resolve."""
        msg["id"] = next(self._ids)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[msg["id"]] = fut
        return fut

    async def _write(self, msg: dict[str, Any], *also: int) -> bool:
        """Send msg; False (and its replies, with those of the ids in `also`, forgotten)
        when the worker is gone."""
        assert self._proc is not None and self._write_lock is not None
        try:
            async with self._write_lock:
                self._proc.stdin.write(encode(msg))
                await self._proc.stdin.drain()
        except (ConnectionError, RuntimeError):
            for msg_id in (msg["id"], *also):
                self._pending.pop(msg_id, None)
            return False
        return True

    async def _wait(self, msg_id: int, fut: asyncio.Future, wait_s: float, slot: Slot | None):
        """The reply to request msg_id; a cancelled wait cancels the request. Waits on a
        future of its own that the reply or the deadline resolves (the reply's future is
        never cancelled with the caller; two turns of the loop fewer than
        `wait_for(shield(...))`)."""
        proc = self._proc
        assert proc is not None
        if not fut.done():
            loop = asyncio.get_running_loop()
            waiter = loop.create_future()

            def wake(_fut: Any = None) -> None:
                if not waiter.done():
                    waiter.set_result(None)

            fut.add_done_callback(wake)
            timer = loop.call_later(wait_s, wake)
            try:
                await waiter
            except asyncio.CancelledError:
                self._abandon(msg_id, fut, slot)
                raise
            finally:
                timer.cancel()
                fut.remove_done_callback(wake)
        if not fut.done():
            log.error("sandbox worker did not answer in %.0f s; restarting it", wait_s)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(Exception):  # gone before the next call asks for one
                await asyncio.wait_for(proc.wait(), 10)
            return {"worker_lost": True}
        return fut.result()

    def _abandon(self, msg_id: int, fut: asyncio.Future, slot: Slot | None) -> None:
        """Cancel a request whose reply no one will wait for."""
        if slot is not None:  # the uid stays lent until the worker has killed the call
            slot.deferred = True
            fut.add_done_callback(lambda _f: slot.release(force=True))
        with contextlib.suppress(Exception):
            self._proc.stdin.write(encode({"op": "cancel", "target": msg_id}))

    async def prepare(
        self,
        slot: Slot,
        name: str,
        *,
        disk_mb: int,
        max_files: int,
        memory_mb: int,
        spare_ok: bool = False,
        then_run: RunRequest | None = None,
    ) -> CallFolder:
        """Have the worker make a call's folder (and memory group); raises WorkerLost.
        With `spare_ok` (a one-shot call) the worker may hand out a folder it made ahead
        of time, with its child already confined (`spares.py`); the folder then has the
        name the worker gave it. With `then_run` (for a call with nothing to stage) the
        worker starts the run in the folder as soon as it is made, a round trip sooner,
        and answers both when the run is over; `run` on that folder then takes its
        reply."""
        await self.start()
        generation = self.generation
        msg = {
            "op": "prepare",
            "name": name,
            "uid": slot.uid,
            "disk_mb": disk_mb,
            "max_files": max_files,
            "memory_mb": memory_mb,
            "spare_ok": spare_ok,
        }
        started = None
        if then_run is not None:
            run_msg = self._run_message(then_run, slot)
            run_fut = self._register(run_msg)
            started = run_msg["id"], run_fut, then_run.wait_s
            msg["then_run"] = run_msg
        fut = self._register(msg)
        if not await self._write(msg, *([started[0]] if started else [])):
            reply = {"worker_lost": True}
        else:
            try:
                wait_s = 30.0 if started is None else started[2]
                reply = await self._wait(msg["id"], fut, wait_s, None)
            except asyncio.CancelledError:
                if started is not None:
                    self._abandon(started[0], started[1], slot)
                raise
        bad = reply.get("worker_lost") or reply.get("setup_error") or reply.get("run_error")
        if bad and started is not None and not started[1].done():
            self._pending.pop(started[0], None)  # the worker did not start it
            started[1].cancel()
        if reply.get("worker_lost") or generation != self.generation:
            raise WorkerLost("the sandbox worker stopped while preparing a call")
        if reply.get("setup_error"):
            raise SandboxUnavailable(f"cannot prepare a working folder: {reply['setup_error']}")
        name = str(reply.get("name") or name)
        if "/" in name or name in (".", ".."):
            raise SandboxUnavailable(f"the worker named a folder {name!r}")
        folder = CallFolder(
            name=name,
            host_path=self.host_root / name,
            inner=str(self.work_root / name),
            tmpfs=bool(reply.get("tmpfs")),
            generation=generation,
        )
        if reply.get("run_error"):  # made, but the run could not start: release it
            await self.release(folder)
            raise SandboxUnavailable(f"cannot start the call: {reply['run_error']}")
        folder.started = started
        return folder

    async def release(self, folder: CallFolder) -> None:
        """Discard a folder whose call did not run (the worker discards the others)."""
        if folder.generation == self.generation and not self._closed:
            reply = await self._request({"op": "release", "name": folder.name}, 30.0, None)
            if not reply.get("leftover"):
                return
        await self._remove_leftover(folder)

    async def _remove_leftover(self, folder: CallFolder) -> None:
        """A folder on the host's disk that the worker could not empty: remove it here,
        iteratively and within bounds, off the event loop."""
        if folder.tmpfs:
            return  # the tmpfs went away with the worker's mount namespace
        path = self.work_root / folder.name
        if not await asyncio.to_thread(remove_tree, path, max_entries=1_000_000, timeout_s=60.0):
            log.warning("sandbox: could not remove %s completely", path)

    async def run(self, request: RunRequest, folder: CallFolder, slot: Slot) -> Outcome:
        """Run code once in a fresh child confined to folder; the folder is then discarded.
        A folder whose run the worker already started (`prepare(then_run=...)`) only waits
        for its reply."""
        started, folder.started = folder.started, None
        if started is not None:
            reply = await self._wait(started[0], started[1], started[2], slot)
        elif folder.generation != self.generation:
            return Outcome(worker_lost=True)
        else:
            msg = {**self._run_message(request, slot), "name": folder.name}
            reply = await self._request(msg, request.wait_s, slot)
        if reply.get("worker_lost"):
            await self._remove_leftover(folder)
            return Outcome(worker_lost=True)
        outcome = Outcome.from_reply(reply)
        if outcome.leftover:
            await self._remove_leftover(folder)
        return outcome

    def _run_message(self, request: RunRequest, slot: Slot) -> dict[str, Any]:
        """A `run` request, without the folder's name."""
        return request.message(slot.uid, self._pool.next_uid() if self._pool else None)

    async def open_session(
        self, folder: CallFolder, slot: Slot, limits: Limits, conv: dict[str, Any] | None = None
    ) -> Session:
        """A persistent interpreter in `folder`; `conv`: what holds for all its calls
        (stderr apart, a read-only folder, figures)."""
        sid = f"s{next(self._ids)}"
        msg = {"op": "session_open", "sid": sid, "name": folder.name, "uid": slot.uid}
        msg["limits"] = limits.to_dict()
        msg["conv"] = conv or {}
        reply = await self._request(msg, 30.0, slot)
        session = Session(sid=sid, generation=folder.generation, slot=slot, folder=folder)
        session.alive = not (reply.get("worker_lost") or reply.get("setup_error"))
        return session

    async def run_in_session(self, session: Session, request: RunRequest) -> Outcome:
        """Run code in the session's interpreter (`request.limits` is not used: the
        session's were set when it opened)."""
        if not session.alive or session.generation != self.generation:
            session.alive = False
            return Outcome(session_gone=True, session_ended=True)
        msg = request.session_message(session.sid)
        reply = await self._request(msg, request.wait_s, session.slot)
        if reply.get("worker_lost"):
            session.alive = False
            return Outcome(worker_lost=True, session_ended=True)
        outcome = Outcome.from_reply(reply)
        if outcome.session_ended:
            session.alive = False
        return outcome

    async def drop_spares(self) -> None:
        """Have the worker discard the calls it made ready ahead of time (`spares.py`) and
        reap the children of calls answered while they were exiting: after this, no
        process of a sandbox uid is the worker's own doing."""
        if self._proc is not None and self._proc.returncode is None and not self._closed:
            await self._request({"op": "drop_spares"}, 30.0, None)

    async def close_session(self, session: Session) -> None:
        """Kill the session's processes and discard its folder; its uid goes back."""
        leftover = True
        if session.generation == self.generation and not self._closed:
            proc = self._proc
            if proc is not None and proc.returncode is None:
                reply = await self._request({"op": "session_close", "sid": session.sid}, 30.0, None)
                leftover = bool(reply.get("leftover") or reply.get("worker_lost"))
        session.alive = False
        session.slot.release(force=True)
        if leftover:
            await self._remove_leftover(session.folder)


async def _end(proc: asyncio.subprocess.Process, grace_s: float = 1.0) -> None:
    """A worker that was told to stop, or whose output ended: let it exit and be reaped by
    asyncio's child watcher, killing it only if it does not within `grace_s`, and return
    once it is reaped. Killing at once raced the watcher: `Popen.send_signal` polls
    first, so it could reap a worker that had just exited, and asyncio then printed
    "Unknown child process pid …, will report returncode 255" on the user's terminal (at
    the end of a demo run, when `aclose` shut the worker down)."""
    try:
        await asyncio.wait_for(proc.wait(), grace_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
