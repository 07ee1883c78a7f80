"""Installing `provenance` in a sandboxed process: the Pillow wrappers, and the NumPy ones
when NumPy imports. Apart from `provenance` (the looks and their geometry, which both
wrapper modules use) so that the modules import in one direction.

Standard library only at import; Pillow and NumPy are already imported by the warm worker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .provenance import Tracker

__all__ = ["install"]


def install(report: Callable[[dict[str, Any]], None]) -> Tracker:
    """Wrap Pillow (and NumPy, when it imports) in this process; returns the tracker whose
    `seed` takes each call's seeds."""
    tracker = Tracker(report)
    from PIL import Image

    from .provenance_pil import wrap_pillow

    wrap_pillow(Image, tracker)
    try:
        import numpy
    except ImportError:
        return tracker
    from .provenance_numpy import wrap_numpy

    wrap_numpy(numpy, Image)
    return tracker
