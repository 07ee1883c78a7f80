"""`RunHooks`: how a running batch reports to whoever started it, without printing.

The command line turns these into terminal output (start-up notices on stderr, `--live`
lines and a progress bar); a program that embeds the runner may collect them, or pass
nothing: every notice is also kept in `Summary.warnings`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["ProgressSink", "RunHooks"]


class ProgressSink(Protocol):
    """A progress display for one batch."""

    def update(self, succeeded: int, failed: int) -> None:
        """One more case is done; the counts so far."""

    def close(self) -> None: ...


@dataclass
class RunHooks:
    """Callbacks a batch reports through; each may be None (nothing is shown)."""

    #: Start-up lines for the user, as they should read ("code sandbox: …", "warning: …").
    notice: Callable[[str], None] | None = None
    #: `--live` lines, as each unit of a streamed turn closes.
    echo: Callable[[str], None] | None = None
    #: A progress display for `total` cases, labelled `label`.
    progress: Callable[[int, str], ProgressSink] | None = None
