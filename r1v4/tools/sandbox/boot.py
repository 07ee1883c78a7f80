"""The fork server's start: decide the isolation each child will get (and, without
bubblewrap, build it: namespaces, the tmpfs work root handed to the host), check that a
call's memory group can really be made, warm Pillow and NumPy, then serve. The host's BOOT
snippet calls `main()`; its ready frame tells the host what was achieved and which of
Pillow and NumPy would not import.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import sys
from typing import Any

from . import cgroups, child
from . import privileges as priv
from .worker import Worker


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


#: The package's modules a child imports only when a call needs them. A child cannot load
#: them itself: its /tmp is the call's folder, so a checkout or an install under /tmp is out
#: of its sight (the environment's own folders are bound back in; this package is not).
LAZY_MODULES = (
    "provenance_cv2",
    "provenance_mpl",
    "provenance_numpy",
    "provenance_pil",
    "thyme_rewrite",
)


def _preload_own_modules() -> None:
    """Import LAZY_MODULES here, before any fork (standard library only at import)."""
    for name in LAZY_MODULES:
        importlib.import_module(f"{__package__}.{name}")


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
    _preload_own_modules()
    info.update(ready=True, pid=os.getpid(), warm=warm, missing=missing, sys_path=sys.path)
    worker = Worker(cfg, proto_in, proto_out, mode)
    worker.send(info)
    worker.loop()
