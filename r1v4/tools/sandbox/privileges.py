"""Linux primitives the fork server uses: namespaces, mounts, uid drop, killing a uid.

Thin ctypes wrappers, because the standard library has `os.unshare` only from 3.12 and no
`mount` at all. Everything here is called either once at worker start-up or in a freshly
forked child before the untrusted code runs.
"""

from __future__ import annotations

import ctypes
import os
import signal

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PF_EXITING = 0x00000004  # task flag: the thread is in do_exit
CAP_SETUID = 7
CAP_SYS_ADMIN = 21

_libc = ctypes.CDLL(None, use_errno=True)
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
]


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    src = source.encode() if source is not None else None
    fs = fstype.encode() if fstype is not None else None
    opts = ctypes.c_char_p(data.encode()) if data else None
    _check(_libc.mount(src, target.encode(), fs, flags, opts), f"mount {target}")


def umount(target: str) -> None:
    """Detach a mount (lazily: it goes away once nothing uses it)."""
    _check(_libc.umount2(target.encode(), MNT_DETACH), f"umount {target}")


def prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), "prctl")


def effective_caps() -> int:
    """The CapEff bit mask of this process."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def has_cap(cap: int) -> bool:
    return bool(effective_caps() & (1 << cap))


def drop_to_uid(uid: int) -> None:
    """Become uid/gid `uid` with no supplementary groups; all capabilities go with root."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def kill_uid(uid: int) -> None:
    """SIGKILL every process owned by uid, including daemonised grandchildren.

    A helper forked as that uid calls kill(-1): the kernel signals every process the
    caller may signal, i.e. exactly the ones of that uid, whatever session or group they
    escaped into. Processes being killed cannot fork any more, so one pass suffices.
    """
    pid = os.fork()
    if pid == 0:
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        except BaseException:
            os._exit(1)
        os._exit(0)
    os.waitpid(pid, 0)


def process_ids(pid: int) -> tuple[int, int] | None:
    """(real uid, session id) of a live process, or None when it is gone or a zombie.

    Read from /proc/<pid>/status and /stat, not from the owner of /proc/<pid>: a process
    that makes itself non-dumpable shows that folder as root's.
    """
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            uid = next(int(line.split()[1]) for line in fh if line.startswith("Uid:"))
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rpartition(")")[2].split()
        if fields[0] in ("Z", "X"):
            return None
        return uid, int(fields[3])
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def exiting(pid: int) -> bool:
    """Whether every thread of `pid` has begun to exit (the kernel's PF_EXITING flag in
    /proc/<pid>/task/<tid>/stat): none of them can be inside a fork any more, so every
    process it started exists already, and it will never run user code again. False when
    unsure (a thread still running, /proc unreadable)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    if not tids:
        return False
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rpartition(")")[2].split()
        except FileNotFoundError:
            continue  # that thread is gone
        except OSError:
            return False
        try:
            if not int(fields[6]) & PF_EXITING:
                return False
        except (IndexError, ValueError):
            return False
    return True


def _visible_pids() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def kill_uid_range(lo: int, hi: int) -> int:
    """Kill every visible process whose real uid is in [lo, hi); returns how many."""
    killed = 0
    for pid in _visible_pids():
        ids = process_ids(pid)
        if ids is not None and lo <= ids[0] < hi:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed


def kill_others(keep: int, *, uid: int | None, passes: int = 50) -> None:
    """SIGKILL every process of uid (or, without one, of keep's session) except keep.

    Repeated until a pass finds none: a process forked between two passes is caught by
    the next, and one being killed can fork no more. `keep` should be stopped first.
    """
    me = os.getpid()
    for _ in range(passes):
        found = False
        for pid in _visible_pids():
            if pid in (keep, me):
                continue
            ids = process_ids(pid)
            if ids is None:
                continue
            if (uid is not None and ids[0] == uid) or (uid is None and ids[1] == keep):
                found = True
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if not found:
            return


def expose_paths(paths: list[str]) -> None:
    """Make `paths` reachable for an unprivileged uid inside this mount namespace.

    The interpreter may live under a 0700 folder such as /root. For each such locked
    ancestor we mount an empty tmpfs over it (hiding everything else there) and bind the
    needed paths back in, through O_PATH descriptors taken before the tmpfs hides them.
    """
    locked: dict[str, list[str]] = {}
    for path in paths:
        current = "/"
        for part in path.strip("/").split("/"):
            current = os.path.join(current, part)
            try:
                mode = os.stat(current).st_mode
            except OSError:
                break
            if not mode & 0o001:
                locked.setdefault(current, []).append(path)
                break
    for ancestor, inner in sorted(locked.items()):
        fds = {p: os.open(p, os.O_PATH) for p in inner if os.path.exists(p)}
        mount("tmpfs", ancestor, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
        for path, fd in fds.items():
            os.makedirs(path, exist_ok=True)
            mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            os.close(fd)
