"""A case's temporary folder: made only when something must be written there, and made and
removed in a worker thread, never on the event loop.

Most cases need none (text-only questions, and tools that return no image), and on a
busy machine a `mkdir` and an `rmdir` per case were a large share of the client's time.
The folder holds the case's input images (as the model is sent them, for the code tool)
and the images its tools return; its name carries this process's id, so a killed run's
folder is found and removed by the next run (`r1v4.tools.leftovers`).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from r1v4.tools.leftovers import case_dir_prefix

__all__ = ["CaseFolder"]


class CaseFolder:
    """The folder of one case, made on first use."""

    def __init__(self) -> None:
        self._path: Path | None = None

    @property
    def made(self) -> Path | None:
        """The folder if it was made, else None."""
        return self._path

    def make(self) -> Path:
        """The folder, made now if needed: call it in a worker thread."""
        if self._path is None:
            self._path = Path(tempfile.mkdtemp(prefix=case_dir_prefix()))
        return self._path

    async def path(self) -> Path:
        """The folder, made in a worker thread if needed."""
        if self._path is None:
            await asyncio.to_thread(self.make)
        assert self._path is not None
        return self._path

    async def remove(self) -> None:
        """Remove the folder and what is in it, in a worker thread (nothing when unmade)."""
        path, self._path = self._path, None
        if path is not None:
            await asyncio.to_thread(shutil.rmtree, path, True)
