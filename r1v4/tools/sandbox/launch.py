"""Host side: start the fork server — the environment's interpreter, isolated, handed the
environment's import path, inside bubblewrap when asked — and read its frames.

The worker sends its tmpfs work root (a directory descriptor) over a socket pair before
its ready frame, so the host can stage files into the worker's mount namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from dataclasses import dataclass
from typing import Any

from . import bwrap
from .protocol import DATA, HEADER, blob_size
from .pyenv import WorkerPython
from .replies import SandboxUnavailable

BOOT = (
    "import contextlib, importlib.util, json, sys\n"
    "cfg = json.loads(sys.argv[-1])\n"
    "sys.path[:] = cfg['sys_path']\n"  # the running environment's path, not the base's
    "import site\n"
    "with contextlib.redirect_stdout(sys.stderr):\n"  # stdout carries the protocol
    "    for p in cfg['site_dirs']:\n"
    "        site.addsitedir(p)\n"
    "d = sys.argv[1]\n"
    "s = importlib.util.spec_from_file_location('r1v4_sandbox', d + '/__init__.py',"
    " submodule_search_locations=[d])\n"
    "m = importlib.util.module_from_spec(s); sys.modules['r1v4_sandbox'] = m\n"
    "s.loader.exec_module(m)\n"
    "from r1v4_sandbox.boot import main\n"
    "main()\n"
)


@dataclass
class Started:
    """A worker that sent its ready frame."""

    proc: asyncio.subprocess.Process
    info: dict[str, Any]  # its ready frame
    root_fd: int | None  # its tmpfs work root, seen from here (None: no tmpfs)


async def launch_worker(
    python: WorkerPython,
    cfg: dict[str, Any],
    *,
    use_bwrap: bool,
    rw_binds: list[str],
    timeout_s: float,
) -> Started:
    """Start the worker and wait for its ready frame; SandboxUnavailable if it never comes."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    cfg = {**cfg, "fd_socket": theirs.fileno()}
    argv = [python.executable, "-I", "-S", "-B", "-c", BOOT, bwrap.PACKAGE_DIR, json.dumps(cfg)]
    if use_bwrap:
        bw = bwrap.find_bwrap() or "bwrap"
        argv = bwrap.bwrap_argv(bw, str(cfg["work_root"]), rw_binds=rw_binds) + ["--"] + argv
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
        info = await asyncio.wait_for(read_frame(proc.stdout), timeout_s)
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
    root_fd = _received_fd(ours) if info.get("work_tmpfs") else None
    ours.close()
    return Started(proc=proc, info=info, root_fd=root_fd)


def _received_fd(sock: socket.socket) -> int | None:
    """The worker's tmpfs work root, sent before its ready frame."""
    sock.setblocking(False)
    with contextlib.suppress(OSError):
        _msg, fds, _flags, _addr = socket.recv_fds(sock, 64, 4)
        for extra in fds[1:]:
            os.close(extra)
        return fds[0] if fds else None
    return None


async def read_frame(reader: asyncio.StreamReader | None) -> dict[str, Any]:
    assert reader is not None
    header = await reader.readexactly(HEADER.size)
    (size,) = HEADER.unpack(header)
    body = await reader.readexactly(size)
    obj = json.loads(body)
    if not isinstance(obj, dict):
        raise ValueError("sandbox worker sent a frame that is not an object")
    attached = blob_size(obj)
    if attached:
        obj[DATA] = await reader.readexactly(attached)
    return obj
