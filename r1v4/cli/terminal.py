"""What a batch shows on the terminal while it runs: start-up notices on stderr, `--live`
lines, and a tqdm progress bar (the runner itself prints nothing; see `RunHooks`)."""

from __future__ import annotations

import sys

from tqdm import tqdm

from r1v4.batch.hooks import RunHooks


class _Bar:
    """A tqdm bar on stderr counting cases, with ok/failed counts beside it."""

    def __init__(self, total: int, label: str) -> None:
        self._bar = tqdm(
            total=total,
            desc=label,
            unit="case",
            file=sys.stderr,
            dynamic_ncols=True,
        )

    def update(self, succeeded: int, failed: int) -> None:
        self._bar.update(1)
        self._bar.set_postfix(ok=succeeded, failed=failed)

    def close(self) -> None:
        self._bar.close()


def _notice(line: str) -> None:
    print(line, file=sys.stderr)


def terminal_hooks() -> RunHooks:
    """Hooks that print: notices to stderr, live lines above the bar, the bar itself."""
    return RunHooks(notice=_notice, echo=tqdm.write, progress=_Bar)
