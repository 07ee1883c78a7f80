"""Installing `provenance` in a sandboxed process: the Pillow wrappers, the NumPy ones when
NumPy imports, and the OpenCV ones when the code imports `cv2`. Apart from `provenance` (the
looks and their geometry, which the wrapper modules use) so that the modules import in one
direction.

OpenCV is not imported here (the warm worker does not import it, and most code never does):
when it is not imported yet, a finder at the head of `sys.meta_path` waits for the import of
`cv2`, lets the other finders load it, and wraps the module once it has loaded; then it goes.

Standard library only at import; Pillow and NumPy are already imported by the warm worker.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib.abc import Loader, MetaPathFinder
from importlib.util import find_spec
from typing import Any

from .provenance import Tracker

__all__ = ["install"]


def install(report: Callable[[dict[str, Any]], None]) -> Tracker:
    """Wrap Pillow (and NumPy, when it imports; OpenCV when it is imported) in this process;
    returns the tracker whose `seed` takes each call's seeds."""
    tracker = Tracker(report)
    from PIL import Image

    from .provenance_pil import wrap_pillow

    wrap_pillow(Image, tracker)
    try:
        import numpy
    except ImportError:
        return tracker
    from .provenance_numpy import wrap_numpy

    tracked = wrap_numpy(numpy, Image)

    def wrap_cv2(cv2: Any) -> None:
        from .provenance_cv2 import wrap_cv2

        wrap_cv2(cv2, tracker, tracked)

    when_imported("cv2", wrap_cv2)
    return tracker


def when_imported(name: str, then: Callable[[Any], None]) -> None:
    """Call `then(module)` now if the top-level module `name` is imported, else once it is."""
    if name in sys.modules:
        _call(then, sys.modules[name])
    elif not any(isinstance(f, _Awaiting) and f.name == name for f in sys.meta_path):
        sys.meta_path.insert(0, _Awaiting(name, then))


def _call(then: Callable[[Any], None], module: Any) -> None:
    try:
        then(module)
    except Exception:  # noqa: BLE001 - the module stands, untracked
        pass


class _Awaiting(MetaPathFinder):
    """Finds nothing itself: for `name` it asks the finders after it and hands back their
    spec with a loader that runs `then` once the module has loaded. While it loads (OpenCV's
    package imports its binary extension under the same name) it stands aside."""

    def __init__(self, name: str, then: Callable[[Any], None]) -> None:
        self.name, self.then, self.busy = name, then, False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name or self.busy:
            return None
        self.busy = True
        try:
            spec = find_spec(fullname)
        except Exception:  # noqa: BLE001 - let the import itself say what is wrong
            spec = None
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            self.busy = False
            return None
        spec.loader = _Then(spec.loader, self)
        return spec

    def loaded(self, module: Any) -> None:
        self.busy = False
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        _call(self.then, sys.modules.get(self.name, module))


class _Then(Loader):
    """The loader of a spec, unchanged, and then the finder's `loaded`."""

    def __init__(self, loader: Any, finder: _Awaiting) -> None:
        self.loader, self.finder = loader, finder

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        try:
            self.loader.exec_module(module)
        except BaseException:
            self.finder.busy = False
            raise
        self.finder.loaded(module)

    def __getattr__(self, attr: str) -> Any:  # what importlib.resources and others ask of it
        if attr in ("loader", "finder"):
            raise AttributeError(attr)  # not set yet (a copy): no endless lookup
        return getattr(self.loader, attr)
