"""Inside the jail: matplotlib figures the model's code shows come back as images.

`plt.show()` is replaced by a function that renders the open figures (or only the current
one) to PNG files in the call's helper folder and closes them, as the families' own
sandboxes do (DeepEyesV2's Jupyter sandbox patches `plt.show` to save every open figure
with `bbox_inches='tight'`; PyVision replaces `plt.show()` by a `savefig` of the current
figure). The files are ordinary new images of the call: the collector finds them, decodes
them inside the jail and sends them on as PNG, exactly like an image the code saved; the
host never decodes anything else. With `at_end`, figures still open when the code ends
are rendered too.

Where the model looked: `install` wraps `Axes.imshow` and `AxesImage.draw`
(`provenance_mpl`), and each saved figure is reported as a save is (`provenance`): when it
shows exactly one image with a look, the look of the PNG and its `clip` (the part that
shows the image), else none. The wrappers only record; the PNG is what it was.

The backend is Agg (headless). The warm worker imports pyplot when the first call asks for
figures (`warm`), so a call does not pay for the import; its cache folder is the worker's.
Standard library at import; matplotlib only when a call asks for figures.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from typing import Any

from . import provenance

FIGURES = "figures"  # under the call's helper folder
_state: dict[str, Any] = {"folder": None, "spec": {}, "count": 0}


def warm(cache_dir: str) -> str:
    """Import pyplot in the worker, before the calls fork (their import is then free).
    Returns "" or why matplotlib cannot be used."""
    if "matplotlib.pyplot" in sys.modules:
        return ""
    try:
        os.makedirs(cache_dir, exist_ok=True)
        os.environ["MPLCONFIGDIR"] = cache_dir
        os.environ["MPLBACKEND"] = "Agg"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot  # noqa: F401 - imported for the forks
    except Exception as exc:  # noqa: BLE001 - any failure: the calls say matplotlib is missing
        return f"{type(exc).__name__}: {exc}"
    return ""


def install(spec: dict[str, Any], helper: str) -> str | None:
    """Capture figures for this call (idempotent in a session). Returns a note when
    matplotlib cannot be imported (the code then fails on its own import, as without it)."""
    folder = os.path.join(helper, FIGURES)
    _state["folder"], _state["spec"] = folder, dict(spec)
    if "matplotlib.pyplot" not in sys.modules:
        os.environ.setdefault("MPLCONFIGDIR", os.path.join(helper, "mpl"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
    except Exception as exc:  # noqa: BLE001
        return f"matplotlib is not available in the sandbox ({type(exc).__name__}: {exc})"
    if not getattr(plt.show, "_r1v4_capture", False):

        def show(*args: Any, **kwargs: Any) -> None:
            """Figures come back to you as images (the sandbox's plt.show)."""
            capture(_state["spec"].get("show", "all"))

        setattr(show, "_r1v4_capture", True)  # noqa: B010 - marks the patched show
        plt.show = show
    _follow()
    return None


def _follow() -> None:
    """Wrap `Axes.imshow` so a figure of a tracked image gets a look (`provenance_mpl`)."""
    try:
        import matplotlib.axes
        import matplotlib.image

        from .provenance_mpl import wrap_matplotlib

        wrap_matplotlib(matplotlib.axes.Axes, matplotlib.image.AxesImage)
    except Exception:  # noqa: BLE001 - figures come back all the same, without a look
        pass


def capture(which: str) -> int:
    """Render the open figures (`all`) or the current one to new PNG files; close them.
    Returns how many were written."""
    plt = sys.modules.get("matplotlib.pyplot")
    folder = _state["folder"]
    if plt is None or folder is None:
        return 0
    numbers = list(plt.get_fignums())
    if which == "current" and numbers:
        numbers = [plt.gcf().number]
    written = 0
    for number in numbers:
        fig = plt.figure(number)
        _state["count"] += 1
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"figure_{_state['count']}.png")
        tight = bool(_state["spec"].get("tight", True))
        with warnings.catch_warnings(), contextlib.suppress(Exception):
            warnings.simplefilter("ignore")
            if tight:
                fig.tight_layout()
        _forget(fig)
        fig.savefig(path, format="png", bbox_inches="tight" if tight else None)
        _report(fig, path)
        plt.close(fig)
        written += 1
    return written


def _forget(fig: Any) -> None:
    with contextlib.suppress(Exception):
        from .provenance_mpl import forget

        forget(fig)


def _report(fig: Any, path: str) -> None:
    """Say where the figure just saved to `path` came from, as a save does (`provenance`):
    the look of its one tracked image and the rectangle showing it, else none."""
    tracker = provenance.CURRENT[0]
    if tracker is None:
        return
    try:
        from PIL import Image  # imported by the warm worker; reads the header only

        with Image.open(path, formats=["PNG"]) as png:
            size = png.size
        from .provenance_mpl import figure_look

        found = figure_look(fig, size)
        tracker.tell(path, *(found[0], size, found[1]) if found else (None, size))
    except Exception:  # noqa: BLE001 - the figure comes back all the same, without a look
        pass


def finish() -> None:
    """After the code: with `at_end`, the figures it left open come back too."""
    if _state["spec"].get("at_end") and "matplotlib.pyplot" in sys.modules:
        try:
            capture("all")
        except Exception as exc:  # noqa: BLE001 - the code's own figure failed to render
            print(f"[sandbox] an open figure could not be rendered: {exc}", file=sys.stderr)
