"""Processes on this host: is a writer still alive?"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["pid_alive"]


def pid_alive(pid: Any) -> bool:
    """True when `pid` names a live process on this host (signal 0 probes without sending).
    Lock files, in-flight snapshots and the viewer all judge a writer's liveness this way."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False  # 0 and negatives would address process groups
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except (OverflowError, OSError):
        return False
    return True
