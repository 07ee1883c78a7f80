"""The fork server's side of a call's folder: its own size- and inode-capped tmpfs where
the worker is root (discarded whole afterwards, however deep the code nested it), else a
plain folder; and the call's memory cgroup where the kernel allows one. Standard library
only: the worker loads this inside the jail.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from . import cgroups, child
from . import privileges as priv
from .conventions import HELPER_DIR
from .jobs import Folder

#: What a `prepare` bounds a folder by: its disk, its files, its memory group.
BOUNDS = ("disk_mb", "max_files", "memory_mb")


def bounds(req: dict[str, Any]) -> tuple:
    """The folder bounds a `prepare` asks for."""
    return tuple(req.get(k) for k in BOUNDS)


class Folders:
    """The folders (and memory groups) of the calls and sessions a worker serves."""

    def __init__(self, cfg: dict[str, Any], mode: child.Mode) -> None:
        self.mode = mode
        self.work_root = str(cfg.get("work_root", ""))
        self.tmpfs = bool(cfg.get("work_tmpfs"))
        self.env_binds = list(cfg.get("env_binds") or [])
        group = cfg.get("cgroup")
        self.cgroup = cgroups.MemoryCgroup(int(group[0]), str(group[1])) if group else None
        self.by_name: dict[str, Folder] = {}
        self.stale_groups: list[str] = []  # call groups whose rmdir must be retried

    def get(self, name: Any) -> Folder | None:
        return self.by_name.get(str(name))

    def adopt(self, folder: Folder) -> None:
        """Serve a folder made ahead of time (`spares.py`) under its own name."""
        self.by_name[folder.name] = folder

    def prepare(self, req: dict[str, Any], register: bool = True) -> Folder:
        """Make the folder `req["name"]` (and its memory group)."""
        name = str(req["name"])
        if "/" in name or name in ("", ".", "..") or name in self.by_name:
            raise ValueError(f"bad folder name {name!r}")
        path = os.path.join(self.work_root, name)
        uid = req.get("uid") if self.mode.own_uid else None
        os.mkdir(path, 0o700)
        tmpfs = False
        try:
            if self.tmpfs:
                opts = f"size={int(req['disk_mb'])}m,nr_inodes={int(req['max_files'])},mode=0700"
                if uid is not None:
                    opts += f",uid={int(uid)},gid={int(uid)}"
                priv.mount("tmpfs", path, "tmpfs", priv.MS_NOSUID | priv.MS_NODEV, opts)
                tmpfs = True
            elif uid is not None:
                os.chown(path, int(uid), int(uid))
        except OSError:
            os.rmdir(path)
            raise
        folder = Folder(name=name, path=path, uid=uid, tmpfs=tmpfs, bounds=bounds(req))
        if self.cgroup is not None and req.get("memory_mb"):
            try:
                memory = int(req["memory_mb"]) * 1024 * 1024
                folder.cgroup = cgroups.create_call(self.cgroup, name, memory)
            except OSError as exc:
                print(f"no memory cgroup for {name}: {exc}", file=sys.stderr)
        if register:
            self.by_name[name] = folder
        return folder

    def lock(self, folder: Folder) -> None:
        """Make the folder read-only for its call (a family that forbids writing files):
        where calls run as their own uid, the folder and the files staged in it become
        root's, and only the helper folder (captured figures) stays the call's. Without
        an own uid the child's write guard is the only refusal (`conventions`)."""
        helper = os.path.join(folder.path, HELPER_DIR)
        if not os.path.isdir(helper):
            os.mkdir(helper, 0o700)
        if folder.uid is None:
            return
        os.chown(helper, int(folder.uid), int(folder.uid))
        for entry in os.scandir(folder.path):
            if entry.name != HELPER_DIR:
                os.chown(entry.path, 0, 0, follow_symlinks=False)
        os.chown(folder.path, 0, 0)
        os.chmod(folder.path, 0o755)

    def release(self, folder: Folder) -> bool:
        """Discard the folder (its tmpfs) and its group; False when files were left."""
        self.by_name.pop(folder.name, None)
        left = False
        if folder.tmpfs:
            try:
                priv.umount(folder.path)
            except OSError as exc:
                print(f"cannot unmount {folder.path}: {exc}", file=sys.stderr)
        try:
            os.rmdir(folder.path)
        except FileNotFoundError:
            pass
        except OSError:
            left = True
        if folder.cgroup is not None and not cgroups.remove_group(folder.cgroup):
            self.stale_groups.append(folder.cgroup)
        return not left

    def retry_stale_groups(self) -> None:
        if self.stale_groups:
            self.stale_groups = [g for g in self.stale_groups if not cgroups.remove_group(g)]

    def oom_kills(self, folder: Folder) -> int:
        """Processes the kernel killed in the folder's group for want of memory so far."""
        if folder.cgroup is None or self.cgroup is None:
            return 0
        return cgroups.oom_kills(folder.cgroup, self.cgroup.version)

    def child_req(self, folder: Folder, extra: dict[str, Any]) -> dict[str, Any]:
        """What every child of this folder needs to confine itself."""
        return {
            "dir": folder.path,
            "uid": folder.uid,
            "work_root": self.work_root,
            "cgroup": folder.cgroup,
            "expose": self.env_binds,  # the environment; the sandbox package is loaded
            **extra,
        }
