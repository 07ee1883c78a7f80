"""What a forked child does: enter the sandbox, then run the untrusted code once or in a loop,
or (the collector) hand back the images the code made.

Runs in a fork of the warm worker, so Pillow and NumPy are already imported. The order of
steps matters: the call's memory cgroup, namespaces and mounts need root, so they come
first; limits next; then the uid drop, which also drops every capability; the code runs
last, with a cleared environment and only four file descriptors: /dev/null, the output
pipe (as stdout and stderr), the status pipe, and in a session the pipe that brings the
next code. Just before the code runs, the child reports a snapshot of its folder, so the
collector can tell new images from staged ones.
"""

from __future__ import annotations

import builtins
import io
import json
import linecache
import os
import resource
import signal
import sys
import traceback
from dataclasses import dataclass
from typing import Any

from . import cgroups, collect, conventions, provenance, tracking
from . import privileges as priv
from .limits import Limits, apply_limits, grant_cpu
from .protocol import read_frame_blocking, write_all

STATUS_FD = 3
CODE_FD = 4
_status_fd = STATUS_FD  # before the fds are arranged, the status pipe's original number
CODE_NAME = "<code>"

SAFE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "MPLBACKEND": "Agg",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
}


@dataclass
class Mode:
    """What isolation this worker can apply per child (decided once at worker start)."""

    own_uid: bool  # each call runs as its own unprivileged uid
    private_tmp: bool  # each call gets a mount namespace with its folder at /tmp
    block_network: bool  # no network namespace: install the socket audit hook instead
    private_net: bool = False  # each call gets its own empty network namespace


def enter_sandbox(req: dict[str, Any], mode: Mode, fds: dict[int, int], session: bool) -> str:
    """Confine this freshly forked process; returns the working folder as the code sees it.

    `fds` maps the target descriptor number to the current one (1 = output, 3 = status,
    4 = code pipe in a session).
    """
    os.setsid()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    if req.get("cgroup"):  # the whole call's memory bound; children inherit it
        cgroups.join(req["cgroup"])
    cwd = req["dir"]
    if mode.private_tmp:
        _private_mounts(req, mode)
        cwd = "/tmp"
    os.chdir(cwd)
    _arrange_fds(fds)
    global _status_fd
    _status_fd = STATUS_FD
    apply_limits(Limits.from_dict(req["limits"]), own_uid=mode.own_uid, session=session)
    uid = req.get("uid")
    if mode.own_uid and uid is not None:
        priv.drop_to_uid(int(uid))
    priv.prctl(priv.PR_SET_NO_NEW_PRIVS, 1)
    priv.prctl(priv.PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid drop, which resets it
    os.environ.clear()
    os.environ.update(SAFE_ENV, HOME=cwd, TMPDIR=cwd, PWD=cwd)
    _text_streams()
    sys.argv = [CODE_NAME]
    if mode.block_network:
        sys.addaudithook(_refuse_network)
    return cwd


def _private_mounts(req: dict[str, Any], mode: Mode) -> None:
    """Own mount namespace with the call's folder on /tmp (and /var/tmp), the other calls'
    folders out of sight, a private /dev/shm; own network namespace, so that concurrent
    calls cannot even talk to each other over loopback."""
    priv.unshare(priv.CLONE_NEWNS | (priv.CLONE_NEWNET if mode.private_net else 0))
    priv.mount(None, "/", None, priv.MS_REC | priv.MS_PRIVATE)
    held = os.open(req["dir"], os.O_PATH | os.O_CLOEXEC)
    # the environment may live under /tmp (a CI clone, a venv in a temp folder): keep a
    # handle on those folders before the call's folder covers /tmp
    env_under_tmp = {
        path: os.open(path, os.O_PATH | os.O_CLOEXEC)
        for path in req.get("expose") or []
        if path.startswith(("/tmp/", "/var/tmp/")) and os.path.exists(path)
    }
    work_root = req.get("work_root")
    if work_root and os.path.isdir(work_root):
        opts = "size=4k,nr_inodes=4,mode=0755"
        priv.mount("tmpfs", work_root, "tmpfs", priv.MS_NOSUID | priv.MS_NODEV, opts)
    source = f"/proc/self/fd/{held}"
    if os.path.isdir("/var/tmp"):
        priv.mount(source, "/var/tmp", None, priv.MS_BIND)
    priv.mount(source, "/tmp", None, priv.MS_BIND)
    os.close(held)
    for path, fd in env_under_tmp.items():  # back in, read-only
        os.makedirs(path, exist_ok=True)
        priv.mount(f"/proc/self/fd/{fd}", path, None, priv.MS_BIND | priv.MS_REC)
        priv.mount(None, path, None, priv.MS_REMOUNT | priv.MS_BIND | priv.MS_RDONLY)
        os.close(fd)
    if os.path.isdir("/dev/shm"):  # multiprocessing needs a writable one; private per call
        opts = "size=64m,mode=1777"
        priv.mount("tmpfs", "/dev/shm", "tmpfs", priv.MS_NOSUID | priv.MS_NODEV, opts)


def _text_streams() -> None:
    """Python's stdin/stdout/stderr on the arranged descriptors, UTF-8, line-buffered."""
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - lives as long as we do
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = io.TextIOWrapper(
            io.FileIO(fd, "w", closefd=False),
            encoding="utf-8",
            errors="backslashreplace",
            line_buffering=True,
        )
        setattr(sys, name, stream)


def _arrange_fds(fds: dict[int, int]) -> None:
    """Put each pipe on its fixed number, /dev/null on 0, and close everything else."""
    moved = {target: os.dup(src) for target, src in fds.items()}  # dup first: numbers may clash
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    for target, src in moved.items():
        os.dup2(src, target)
    if 2 not in fds:
        os.dup2(1, 2)
    highest = max([2, *fds])
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    os.closerange(highest + 1, min(soft, 1 << 20) if soft > 0 else 1 << 20)


def _refuse_network(event: str, _args: tuple) -> None:
    """Audit hook: the weaker network block used when no network namespace is possible."""
    if event in ("socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo"):
        raise PermissionError("network access is disabled in this sandbox")


def execute(code: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Run code in namespace like `python -c` would; return what the status pipe reports."""
    linecache.cache[CODE_NAME] = (len(code), None, code.splitlines(True), CODE_NAME)
    try:
        compiled = compile(code, CODE_NAME, "exec")
    except SyntaxError as exc:
        traceback.print_exception(type(exc), exc, None)
        return {"exc": "SyntaxError", "exit": 1}
    try:
        exec(compiled, namespace)
    except SystemExit as exc:
        code_ = exc.code
        if code_ is None:
            return {"exit": 0}
        if isinstance(code_, int):
            return {"exit": code_ & 0xFF}
        print(code_, file=sys.stderr)
        return {"exit": 1}
    except BaseException as exc:  # the code's own failure: show it as Python would
        try:
            _print_traceback(exc)
        except MemoryError:
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return {
            "exc": type(exc).__name__,
            "memory": isinstance(exc, MemoryError),
            "exit": 1,
        }
    return {"exit": 0}


_OWN = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _print_traceback(exc: BaseException) -> None:
    """The code's traceback as Python prints it, without the sandbox's own frames (the
    first, which ran the code, and a convention's refusal, such as the write guard)."""
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    shown = traceback.TracebackException(type(exc), exc, tb)
    kept = [f for f in shown.stack if not f.filename.startswith(_OWN)]
    shown.stack = traceback.StackSummary.from_list(kept)
    print("".join(shown.format()), end="", file=sys.stderr)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed or broken stream must not hide the status
            pass


def _report(status: dict[str, Any]) -> None:
    try:
        write_all(_status_fd, (json.dumps(status) + "\n").encode())
    except OSError:
        pass


_tracker: provenance.Tracker | None = None


def _track(seeds: dict[str, Any] | None) -> None:
    """Follow where the images the code saves come from (`provenance`), from this call's
    seeds; without Pillow there is nothing to follow. Pillow and NumPy are wrapped once per
    process (a child made ready ahead of time does it while it waits, with no seeds)."""
    global _tracker
    try:
        if _tracker is None:
            _tracker = tracking.install(_report)
        _tracker.seed(seeds)
    except Exception:  # noqa: BLE001 - losing the regions must never stop the code
        pass


def new_namespace(variables: dict[str, Any]) -> dict[str, Any]:
    return {"__name__": "__main__", "__builtins__": builtins, **variables}


def run_code(code: str, namespace: dict[str, Any], conv: dict[str, Any], cwd: str) -> dict:
    """The code under its family's conventions (`conventions`); what the status pipe
    reports, with the conventions' notes."""
    if not conv:
        return execute(code, namespace)
    notes = conventions.before(conv, namespace, cwd)
    status = execute(conventions.rewrite(code, conv, namespace), namespace)
    conventions.after(conv)
    if notes:
        status["notes"] = notes
    return status


def _fds(out_fd: int, status_fd: int, err_fd: int | None, code_fd: int | None = None):
    """The child's descriptors: stdout, stderr apart when asked (else it joins stdout),
    the status pipe, and a session's code pipe."""
    fds = {1: out_fd, 3: status_fd}
    if err_fd is not None:
        fds[2] = err_fd
    if code_fd is not None:
        fds[CODE_FD] = code_fd
    return fds


def run_once(
    req: dict[str, Any], mode: Mode, out_fd: int, status_fd: int, err_fd: int | None = None
) -> None:
    """Child body of a one-shot call; never returns."""
    global _status_fd
    _status_fd = status_fd
    status: dict[str, Any] = {"exit": 70}
    try:
        cwd = enter_sandbox(req, mode, _fds(out_fd, status_fd, err_fd), session=False)
        before = collect.snapshot(cwd)
        _report({"cwd": cwd, "snapshot": before})
        _track(req.get("seeds"))
        namespace = new_namespace(req.get("vars", {}))
        conv = req.get("conv") or {}
        status = run_code(req["code"], namespace, conv, cwd)
        status["changed"] = True if conv else _changed(cwd, before)
    except BaseException as exc:  # failure to set up the sandbox: say so, never run the code
        status = {"setup_error": f"{type(exc).__name__}: {exc}", "exit": 70}
    _flush()
    _report(status)  # the worker may answer once this process is exiting (`exiting.py`)
    os._exit(status.get("exit", 0))


def run_preforked(
    req: dict[str, Any], mode: Mode, out_fd: int, status_fd: int, code_fd: int
) -> None:
    """Child body of a one-shot call forked ahead of time: confined at once (the costly
    part: the memory group, the namespaces), then it waits for its one code frame; never
    returns. Nothing of the call is in it before the frame: the frame brings the code and
    the variables, and the snapshot is taken once the host has staged the images."""
    global _status_fd
    _status_fd = status_fd
    try:
        cwd = enter_sandbox(req, mode, _fds(out_fd, status_fd, None, code_fd), session=False)
    except BaseException as exc:
        _report({"setup_error": f"{type(exc).__name__}: {exc}", "exit": 70})
        os._exit(70)
    _report({"cwd": cwd})
    _warm_up(cwd)
    _track(None)  # Pillow wrapped now; the call's seeds come with the frame
    frame = read_frame_blocking(CODE_FD)
    if frame is None:
        os._exit(0)
    os.close(CODE_FD)
    status: dict[str, Any] = {"exit": 70}
    try:
        before = collect.snapshot(cwd)
        if before:  # an empty folder the worker knows of (nothing staged): no need to wake it
            _report({"snapshot": before})
        _track(frame.get("seeds"))
        status = execute(frame["code"], new_namespace(frame.get("vars", {})))
        status["changed"] = _changed(cwd, before)
    except BaseException as exc:
        status = {"setup_error": f"{type(exc).__name__}: {exc}", "exit": 70}
    _flush()
    _report(status)  # the worker may answer once this process is exiting (`exiting.py`)
    os._exit(status.get("exit", 0))


def _warm_up(cwd: str) -> None:
    """Touch, while waiting, what every call touches (the folder walk, compiling, running
    and reporting): a fork shares the worker's memory until it is written, and Python
    writes to every object it uses, so these copies are made now rather than on the
    call's time."""
    collect.snapshot(cwd)
    namespace = new_namespace({})
    exec(compile("x = [str(i) for i in range(100)]\ndel x", CODE_NAME, "exec"), namespace)
    json.loads(json.dumps({"exit": 0, "changed": False, "snapshot": {}}))
    linecache.cache.pop(CODE_NAME, None)


def _changed(cwd: str, before: dict[str, Any]) -> bool:
    """Whether any file is new or changed since the snapshot, so the collector has work.
    Read after the code ran, in its process: the code could make this say False, which
    only loses its own images (the worker then skips the collector); any doubt says True."""
    try:
        return collect.snapshot(cwd) != before
    except BaseException:  # noqa: BLE001 - a folder that cannot be read: let the collector look
        return True


def run_session(
    req: dict[str, Any],
    mode: Mode,
    out_fd: int,
    status_fd: int,
    code_fd: int,
    err_fd: int | None = None,
) -> None:
    """Child body of a persistent session: run each code frame in one namespace."""
    global _status_fd
    _status_fd = status_fd
    try:
        fds = _fds(out_fd, status_fd, err_fd, code_fd)
        cwd = enter_sandbox(req, mode, fds, session=True)
    except BaseException as exc:
        _report({"setup_error": f"{type(exc).__name__}: {exc}", "done": True, "exit": 70})
        os._exit(70)
    _report({"cwd": cwd})
    namespace = new_namespace({})
    cpu_s = float(req["limits"].get("cpu_s", 30))
    while True:
        frame = read_frame_blocking(CODE_FD)
        if frame is None:
            os._exit(0)
        grant_cpu(cpu_s)
        _report({"snapshot": collect.snapshot(cwd)})
        _track(frame.get("seeds"))
        namespace.update(frame.get("vars", {}))
        status = run_code(frame["code"], namespace, frame.get("conv") or {}, cwd)
        _flush()
        _report({**status, "done": True})


def run_collector(req: dict[str, Any], mode: Mode, out_fd: int) -> None:
    """Child body of the collector: confined like the code, as the call's uid; never returns.

    Its stdout carries frames (PNG images, then a summary), so stderr goes to /dev/null:
    a Pillow warning must not corrupt the stream.
    """
    try:
        enter_sandbox(req, mode, {1: out_fd}, session=False)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)
        import warnings

        warnings.simplefilter("ignore")
        collect.collect(req, 1)
    except BaseException:  # noqa: BLE001 - the worker reports a collector that failed
        os._exit(71)
    os._exit(0)
