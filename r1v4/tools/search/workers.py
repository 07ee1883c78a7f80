"""Process pools whose workers die with the process that started them.

A `ProcessPoolExecutor` worker waits on its task queue; when the parent is SIGKILLed the
queue's pipe never reports end-of-file (every worker holds a copy of it), so the workers
wait forever, each holding its imports and memory. Workers made here arrange their own end:

- on Linux, `prctl(PR_SET_PDEATHSIG, SIGKILL)`: the kernel kills the worker the moment the
  thread that started it exits (the pool is used and shut down inside one call, so that
  thread outlives every useful moment of the worker);
- elsewhere, a daemon thread in the worker that polls its parent pid and exits when it
  changes (the worker was re-parented: its parent is gone);
- in both cases, a worker whose parent died before the hook was in place exits at once.

The pool uses the "spawn" start method: every worker's parent is the calling process on every
platform and Python version (a forkserver would be the parent instead), and it is safe in a
process that already runs threads.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1
#: How often a worker without PR_SET_PDEATHSIG checks its parent.
PARENT_POLL_S = 0.5


def _set_pdeathsig() -> bool:
    """Ask the kernel to SIGKILL this process when its parent goes; False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent_pid:
            os._exit(1)


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: make this worker end when `parent_pid` (its parent) ends."""
    if not _set_pdeathsig():
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the hook was in place
        os._exit(1)


def orphan_safe_pool(max_workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers exit when this process dies, however it dies."""
    return ProcessPoolExecutor(
        max_workers=max_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )
