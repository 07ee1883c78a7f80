"""What a batch shows on the terminal while it runs: start-up notices on stderr, `--live`
lines, and a tqdm progress bar drawn on a timer (the runner itself prints nothing; see
`RunHooks`)."""

from __future__ import annotations

import asyncio
import sys

from r1v4.batch.hooks import RunHooks


class _Bar:
    """A tqdm bar on stderr counting cases, with ok/failed counts beside it.

    `update` only counts: drawing the bar is a write to the terminal, so it happens on a
    timer of the running event loop (every `REFRESH_S`) and once more at `close`, never per
    case (a run at thousands of cases a second would spend its loop drawing)."""

    REFRESH_S = 0.5

    def __init__(self, total: int, label: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=total,
            desc=label,
            unit="case",
            file=sys.stderr,
            dynamic_ncols=True,
        )
        self._done = self._shown = 0
        self._counts = (0, 0)
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # no loop: every update draws at once
            self._loop = None
        self._timer = self._loop.call_later(self.REFRESH_S, self._tick) if self._loop else None

    def update(self, succeeded: int, failed: int) -> None:
        self._done += 1
        self._counts = (succeeded, failed)
        if self._loop is None:
            self._draw()

    def _tick(self) -> None:
        self._draw()
        assert self._loop is not None
        self._timer = self._loop.call_later(self.REFRESH_S, self._tick)

    def _draw(self) -> None:
        if self._done == self._shown:
            return
        ok, failed = self._counts
        self._bar.set_postfix(ok=ok, failed=failed, refresh=False)
        self._bar.update(self._done - self._shown)
        self._shown = self._done
        if self._bar.last_print_n != self._bar.n:
            self._bar.refresh()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._draw()
        self._bar.close()


def _notice(line: str) -> None:
    print(line, file=sys.stderr)


def terminal_hooks() -> RunHooks:
    """Hooks that print: notices to stderr, live lines above the bar, the bar itself."""
    return RunHooks(notice=_notice, echo=_echo, progress=_Bar)


def _echo(line: str) -> None:
    """A `--live` line, printed above the progress bar."""
    from tqdm import tqdm

    tqdm.write(line)
