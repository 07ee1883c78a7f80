"""A finished case's objects are freed as it ends (by reference counting), not left as
cyclic garbage for the collector: at concurrency 500 the collector's walks over them were
a tenth of the event loop's time, and a run's memory waited on them (issue 18)."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest

from r1v4.batch.runner import run_batch
from r1v4.batch.settings import AgentSettings, EndpointSettings, OutputSettings, RunSettings
from r1v4.sim import running_simulator
from tests.helpers import write_jsonl


def _garbage_after(tmp: Path, base_url: str, n: int, stream: bool) -> int:
    """Cyclic garbage left by a batch of `n` text cases (the collector off meanwhile)."""
    cases = tmp / f"cases{n}.jsonl"
    write_jsonl(
        cases, [{"id": f"c{i}", "question": "What colour?", "answer": "red"} for i in range(n)]
    )
    settings = RunSettings(
        input_path=cases,
        output=OutputSettings(tmp / f"out{n}.jsonl", overwrite=True, progress=False),
        endpoint=EndpointSettings([base_url], model="sim"),
        agent=AgentSettings(stream=stream, tools="none"),
        concurrency=8,
    )
    gc.collect()
    gc.disable()
    try:
        summary = asyncio.run(run_batch(settings))
        assert summary.done == n and not summary.failed
        return gc.collect()
    finally:
        gc.enable()


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
def test_cases_leave_no_cyclic_garbage(tmp_path: Path, stream: bool) -> None:
    with running_simulator() as sim:
        small = _garbage_after(tmp_path, sim.base_url, 20, stream)
        big = _garbage_after(tmp_path, sim.base_url, 80, stream)
    # What one batch leaves (its loop, sockets) does not grow with its cases; each case
    # used to leave ~30 objects (its run, exchange, trajectory and snapshot in a cycle).
    assert big - small < 60, f"{big - small} more cyclic objects for 60 more cases"
