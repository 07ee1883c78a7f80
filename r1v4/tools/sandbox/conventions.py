"""Inside the jail, around the model's code: the conventions a family's sandbox has
(`r1v4.tools.code_profile` on the host side says which a call asks for).

Before the code: the read-only guard (once per interpreter), figure capture, the family's
prelude (its imports) and the preloaded image variables, opened from the staged files, so
they hold exactly the pixels the model was sent. The code itself may be rewritten first, as
the family's sandbox did (`thyme_rewrite`). After the code: figures left open, when asked.

Read-only: where the worker runs as root it has already made the working folder and the
staged files root's (the call's uid cannot write them); the guard here is what gives the
model a clear error in every mode: an audit hook refuses opening a file for writing, and
making, renaming or removing one, anywhere but the helper folder and /dev. Without root the
guard is the only refusal (code that sets out to write can get past an audit hook).

Standard library and Pillow (already imported by the warm worker).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from . import figures

HELPER_DIR = ".r1v4-sandbox"  # what the sandbox writes itself (figures, caches)
REFUSAL = "Writing file to disk is not allowed"
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# audit event -> the positions of its arguments that name a path it writes
_PATH_EVENTS = {
    "os.mkdir": (0,),
    "os.rename": (1,),
    "os.replace": (1,),
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.symlink": (1,),
    "os.link": (1,),
    "os.truncate": (0,),
    "os.chmod": (0,),
}
_guard: dict[str, Any] = {"on": False, "allowed": (), "hint": ""}


def _allowed(path: Any) -> bool:
    if isinstance(path, int):
        return True  # an open descriptor: it was opened (and judged) already
    try:
        real = os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return False
    return any(real == a or real.startswith(a + os.sep) for a in _guard["allowed"])


def _refuse(event: str, args: tuple) -> None:
    """The audit hook of a read-only working folder."""
    if not _guard["on"]:
        return
    if event == "open":
        path, flags = args[0], args[2] if len(args) > 2 else 0
        if isinstance(flags, int) and flags & _WRITE_FLAGS and not _allowed(path):
            raise PermissionError(f"{REFUSAL}: {os.fsdecode(path)!r}{_guard['hint']}")
        return
    for i in _PATH_EVENTS.get(event, ()):
        if i < len(args) and not _allowed(args[i]):
            raise PermissionError(f"{REFUSAL}: {os.fsdecode(args[i])!r}{_guard['hint']}")


def guard_writes(cwd: str, with_figures: bool) -> None:
    """Refuse writes outside the helper folder from now on (for this process's life)."""
    helper = os.path.realpath(os.path.join(cwd, HELPER_DIR))
    _guard["allowed"] = (helper, "/dev", "/proc")
    _guard["hint"] = " (the working folder is read-only" + (
        "; use plt.show() to return an image)" if with_figures else ")"
    )
    if not _guard["on"]:
        sys.addaudithook(_refuse)
        _guard["on"] = True


def before(conv: dict[str, Any], namespace: dict[str, Any], cwd: str) -> list[str]:
    """Set up the call's conventions; returns notes for the observation."""
    notes: list[str] = []
    helper = os.path.join(cwd, HELPER_DIR)
    if conv.get("figures") is not None:
        if not conv.get("read_only"):  # (a read-only folder's helper is the worker's doing)
            os.makedirs(helper, exist_ok=True)
        note = figures.install(conv["figures"], helper)
        if note:
            notes.append(note)
    if conv.get("read_only"):
        guard_writes(cwd, conv.get("figures") is not None)
    if conv.get("prelude"):
        try:
            exec(compile(conv["prelude"], "<sandbox prelude>", "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - e.g. matplotlib missing: the model's code says so
            notes.append(f"the sandbox's own imports failed: {type(exc).__name__}: {exc}")
    for var, name in conv.get("preload") or []:
        try:
            namespace[str(var)] = open_image(str(name), bool(conv.get("preload_rgb")))
        except Exception as exc:  # noqa: BLE001 - staged by the host, so this is unexpected
            notes.append(f"{var} could not be loaded from {name}: {type(exc).__name__}: {exc}")
    return notes


def open_image(name: str, rgb: bool) -> Any:
    """A staged image as `PIL.Image.open` gives it (loaded, so its file can go)."""
    from PIL import Image

    img = Image.open(name)
    img.load()
    return img.convert("RGB") if rgb and img.mode != "RGB" else img


def rewrite(code: str, conv: dict[str, Any], namespace: dict[str, Any]) -> str:
    """The code as the family's sandbox would run it."""
    if conv.get("rewrite") == "thyme":
        from . import thyme_rewrite

        return thyme_rewrite.rewrite(code, namespace.get("image_path"))
    return code


def after(conv: dict[str, Any]) -> None:
    if conv.get("figures") is not None:
        figures.finish()
