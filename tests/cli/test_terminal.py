"""The progress bar a batch shows: counts drawn on a timer, the last counts always shown."""

from __future__ import annotations

import asyncio

from r1v4.cli.terminal import terminal_hooks


def test_the_bar_shows_the_final_counts_when_it_closes(capsys) -> None:
    async def run() -> None:
        bar = terminal_hooks().progress(3, "r1v4 nonstream")  # type: ignore[misc]
        bar.update(1, 0)
        bar.update(1, 1)
        bar.update(2, 1)
        bar.close()

    asyncio.run(run())
    err = capsys.readouterr().err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert "3/3" in last and "ok=2" in last and "failed=1" in last


def test_without_an_event_loop_every_update_is_drawn(capsys) -> None:
    bar = terminal_hooks().progress(2, "r1v4 stream")  # type: ignore[misc]
    bar.update(0, 1)
    err = capsys.readouterr().err
    assert "1/2" in err and "failed=1" in err
    bar.close()
