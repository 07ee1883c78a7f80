"""Host side: find bubblewrap, build the command line that jails the fork server, probe it.

The jail is narrow on purpose: an empty root with read-only binds of the system folders,
the interpreter's home and every folder of the running environment's import path (a
virtualenv, a user site, a conda prefix: see `pyenv.py`), and this package; a private
/tmp, /proc and /dev; no network (--unshare-net) and its own pid namespace, so the code
can neither see nor signal host processes. Only the work root (and the server's memory
cgroup, where there is one) is bound read-write.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from .pyenv import outermost, worker_python

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
PACKAGE_DIR = str(Path(__file__).resolve().parent)


def find_bwrap() -> str | None:
    return shutil.which("bwrap")


def python_executable() -> str:
    """The real interpreter, not a pyenv shim or venv symlink chain we might not bind."""
    return worker_python().executable


def python_paths() -> list[str]:
    """Folders the worker needs to read: the interpreter's home and its import path."""
    return worker_python().binds()


def bwrap_argv(bwrap: str, work_root: str, rw_binds: Sequence[str] = ()) -> list[str]:
    """Everything before `--` and the interpreter command."""
    argv = [
        bwrap,
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandbox",
    ]
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            argv += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            argv += ["--ro-bind", d, d]
    # The private /tmp comes before the code binds: a project checked out under /tmp (as CI
    # clones often are) must stay visible, not be hidden by the tmpfs mounted over it.
    argv += ["--tmpfs", "/tmp"]
    bound = [d for d in SYSTEM_DIRS if os.path.isdir(d) and not os.path.islink(d)]
    for path in outermost(set(python_paths()) | {PACKAGE_DIR}):
        if not any(path == b or path.startswith(b + "/") for b in bound):
            argv += ["--ro-bind", path, path]
            bound.append(path)
    argv += ["--dev", "/dev", "--proc", "/proc", "--dir", "/var/tmp"]
    argv += ["--bind", work_root, work_root]
    for path in rw_binds:
        argv += ["--bind", path, path]
    argv += ["--chdir", "/"]
    return argv


@functools.lru_cache(maxsize=1)
def bwrap_works() -> tuple[bool, str]:
    """Does bubblewrap run the interpreter here? (True, "") or (False, why not)."""
    bwrap = find_bwrap()
    if bwrap is None:
        return False, "bwrap is not installed (Debian package: bubblewrap)"
    probe_root = "/tmp"
    argv = bwrap_argv(bwrap, probe_root) + [
        "--",
        python_executable(),
        "-I",
        "-S",
        "-c",
        "import socket\ntry:\n socket.create_connection(('127.0.0.1', 9), 1)\n"
        "except OSError: print('ok')\n",
    ]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, env=minimal_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bwrap failed to start: {exc}"
    if proc.returncode != 0 or "ok" not in proc.stdout:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        return False, f"bwrap does not work here: {detail[-1] if detail else proc.returncode}"
    return True, ""


def minimal_env() -> dict[str, str]:
    """The only environment the fork server ever gets: no secrets, one BLAS thread."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
