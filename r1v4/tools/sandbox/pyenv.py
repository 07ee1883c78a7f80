"""Host side: which interpreter the fork server runs, and with which import path.

The sandboxed code must import what the user installed, wherever they installed it: a
`python -m venv` or `virtualenv` environment (over a system, pyenv or Debian base), a
project-local `.venv`, a conda-style prefix, `pip install --user`, or the system. The
worker runs the real interpreter binary (a venv's `python` is only a symlink to it) in
isolated mode (`-I -S`, so no environment variable or stray site folder leaks in) and is
handed the running environment's `sys.path` explicitly; the folders that hold `.pth`
files are processed again with `site.addsitedir`, as the host's own start-up did. The
same folders are what bubblewrap binds read-only, so the jail shows exactly the
environment the toolkit itself runs in.

The script's own folder (or the current directory, for `python -m`), and path entries
inside it, are left out: that is the user's working folder, not part of the environment,
and may hold anything. Package folders inside it stay: site folders (a project-local
`.venv`) and folders holding installed distributions (`pip install --target ./deps`). A package that
is a symlink at the top of a path folder (linked in from elsewhere) has its target bound
too; deeper symlink farms are not followed, and the start-up self-test says so when an
import fails because of one.
"""

from __future__ import annotations

import os
import site
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerPython:
    """The interpreter and import path the fork server uses."""

    executable: str  # the real binary (symlinks resolved), so the jail can bind its home
    sys_path: tuple[str, ...]  # the running environment's import path, resolved
    site_dirs: tuple[str, ...]  # folders whose .pth files the worker processes again
    prefix: str  # sys.prefix of the running environment (for messages)

    links: tuple[str, ...] = ()  # targets of symlinked packages in the path folders

    def binds(self) -> list[str]:
        """Folders the jail must show read-only: the interpreter's home and the path."""
        paths = {os.path.dirname(os.path.dirname(self.executable))}
        for entry in (*self.sys_path, *self.site_dirs, *self.links):
            paths.add(entry if os.path.isdir(entry) else os.path.dirname(entry))
        for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
            real = os.path.realpath(prefix)
            if os.path.isdir(real):
                paths.add(real)  # shared libraries of conda-style prefixes live here
        paths.discard("/")  # never the whole file system, whatever a prefix says
        return outermost(paths)

    def describe(self) -> str:
        """One line for messages: which interpreter, in which environment."""
        where = "" if self.prefix == sys.base_prefix else f" (environment {self.prefix})"
        return f"{self.executable}{where}"


def worker_python() -> WorkerPython:
    """The interpreter and import path of the running environment, for the worker."""
    skip = _launch_folders()
    seen: list[str] = []
    for entry in sys.path:
        if not entry or not os.path.isabs(entry):
            continue  # '' and relative entries name the current folder
        real = os.path.realpath(entry)
        if real in seen or not os.path.exists(real):
            continue
        if real in skip:
            continue  # the launch folder itself, even if a build left *.egg-info in it
        if _inside(real, skip) and not (_is_site_folder(real) or _holds_distributions(real)):
            continue
        seen.append(real)
    sites: list[str] = []
    candidates = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    if site.ENABLE_USER_SITE and not sys.flags.no_user_site:
        candidates.append(site.getusersitepackages())
    for entry in candidates:
        real = os.path.realpath(entry)
        if real in seen and real not in sites:  # only what the host's start-up processed
            sites.append(real)
    return WorkerPython(
        executable=os.path.realpath(sys.executable),
        sys_path=tuple(seen),
        site_dirs=tuple(sites),
        prefix=sys.prefix,
        links=tuple(_linked_targets(seen)),
    )


def _linked_targets(folders: list[str], max_entries: int = 5000) -> list[str]:
    """Real folders behind symlinked entries at the top of the path folders."""
    targets: list[str] = []
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        try:
            with os.scandir(folder) as it:
                for n, entry in enumerate(it):
                    if n >= max_entries:
                        break
                    if entry.is_symlink():
                        real = os.path.realpath(entry.path)
                        if os.path.exists(real) and real not in targets:
                            targets.append(real)
        except OSError:
            continue
    return targets


def _inside(path: str, folders: set[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def _is_site_folder(path: str) -> bool:
    return any(part in ("site-packages", "dist-packages") for part in path.split("/"))


def _holds_distributions(path: str) -> bool:
    """Does the folder hold installed packages (their *.dist-info / *.egg-info records)?"""
    try:
        with os.scandir(path) as it:
            return any(e.name.endswith((".dist-info", ".egg-info")) for e in it)
    except OSError:
        return False


def _launch_folders() -> set[str]:
    """The folder of the script being run, or the current folder for `-m`/`-c`: Python puts
    it first on sys.path, but it belongs to the user, not to the environment."""
    folders: set[str] = set()
    if sys.flags.safe_path:
        return folders
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 and argv0 not in ("-c", "-m") and os.path.exists(argv0):
        folders.add(os.path.realpath(os.path.dirname(os.path.abspath(argv0))))
    try:
        folders.add(os.path.realpath(os.getcwd()))
    except OSError:
        pass
    # a site folder that happens to be the current folder stays; "/" would be everything
    return {f for f in folders if not _is_site_folder(f) and f != "/"}


def outermost(paths: set[str]) -> list[str]:
    """Drop paths inside other paths (bubblewrap binds recursively)."""
    out: list[str] = []
    for path in sorted(paths, key=len):
        if not any(path == o or path.startswith(o.rstrip("/") + "/") for o in out):
            out.append(path)
    return sorted(out)
