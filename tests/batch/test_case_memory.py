"""A finished case's objects are freed as it ends (by reference counting), not left as
cyclic garbage for the collector: at concurrency 500 the collector's walks over them were
a tenth of the event loop's time, and a run's memory waited on them (issue 18)."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from pathlib import Path

import pytest

from r1v4.batch.runner import run_batch
from r1v4.batch.settings import AgentSettings, EndpointSettings, OutputSettings, RunSettings
from r1v4.sim import running_simulator
from tests.helpers import write_jsonl


def _toolkit_garbage(tmp: Path, base_url: str, n: int, stream: bool) -> Counter[str]:
    """The toolkit's own objects among the cyclic garbage a batch of `n` text cases left
    (the collector off meanwhile), by type. What the batch's connections and loop leave
    (sockets, transports: a number that varies with how many connections were opened) is
    not the toolkit's and is not counted."""
    cases = tmp / f"cases{n}.jsonl"
    rows = [{"id": f"c{i}", "question": "What colour?", "answer": "red"} for i in range(n)]
    write_jsonl(cases, rows)
    settings = RunSettings(
        input_path=cases,
        output=OutputSettings(tmp / f"out{n}.jsonl", overwrite=True, progress=False),
        endpoint=EndpointSettings([base_url], model="sim"),
        agent=AgentSettings(stream=stream, tools="none"),
        concurrency=8,
    )
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        summary = asyncio.run(run_batch(settings))
        assert summary.done == n and not summary.failed
        gc.collect()
        return Counter(
            type(obj).__qualname__ for obj in gc.garbage if type(obj).__module__.startswith("r1v4.")
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
def test_cases_leave_no_cyclic_garbage(tmp_path: Path, stream: bool) -> None:
    with running_simulator() as sim:
        left = _toolkit_garbage(tmp_path, sim.base_url, 40, stream)
    # Each case used to leave its run, exchange, trajectory, parse and snapshot in a cycle.
    assert not left, f"the toolkit's objects left for the collector: {dict(left)}"
