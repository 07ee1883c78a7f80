"""Snapshots of cases in flight: written while a case runs, gone once its record lands."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import orjson
import pytest

from r1v4.batch.inflight import SnapshotWriter, clear_dead_snapshots
from r1v4.demo import WAREHOUSE_QUESTION, demo_scripts
from r1v4.protocol.cases import Case
from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, run_cli, write_jsonl


@pytest.mark.slow
def test_a_streaming_case_is_visible_while_it_runs_and_gone_when_it_lands(
    workdir: Path, start_batch
) -> None:
    write_jsonl(
        workdir / "cases.jsonl",
        [{"id": "w", "image": "./demo_image/demo_1.png", "question": WAREHOUSE_QUESTION}],
    )
    folder = workdir / "out.jsonl.inflight"
    seen: list[dict] = []
    # Each turn waits 1 s for its first token: the writer (a tick every 0.5 s) has a tick
    # between the observation and the short answer turn, however loaded the machine is.
    with running_simulator(scripts=demo_scripts(), tokens_per_s=60, ttft_s=1.0) as sim:
        proc = start_batch(
            "batch_stream.py", "cases.jsonl", "out.jsonl", "--base-url", sim.base_url
        )
        deadline = time.monotonic() + 60
        while proc.poll() is None:
            assert time.monotonic() < deadline, "batch did not finish"
            try:
                seen.append(orjson.loads((folder / "w.json").read_bytes()))
            except (FileNotFoundError, orjson.JSONDecodeError):
                pass
            time.sleep(0.05)
    assert proc.returncode == 0
    texts = [s["full_response"] for s in seen]
    assert len(set(texts)) >= 3, "the snapshot did not grow while the turn streamed"
    # Mid-turn: streamed text of the first turn before its tool call has closed.
    assert any(t.startswith("<think>") and "</tool_call>" not in t for t in texts)
    assert any("<observation>" in t for t in texts)  # after the tool ran
    assert all(s["id"] == "w" and s["pid"] != os.getpid() and s["mode"] == "stream" for s in seen)
    assert not any(folder.iterdir())  # gone once the record landed
    (record,) = read_jsonl(workdir / "out.jsonl")
    final = record["response"]["full_response"]
    assert all(final.startswith(t) for t in texts if "<observation>" in t)


def test_no_inflight_writes_nothing(workdir: Path) -> None:
    write_jsonl(workdir / "cases.jsonl", [{"id": "a", "question": "q"}])
    with running_simulator() as sim:
        assert (
            run_cli(
                [
                    "cases.jsonl",
                    "out.jsonl",
                    "--base-url",
                    sim.base_url,
                    "--tools",
                    "none",
                    "--no-inflight",
                ],
                "stream",
            )
            == 0
        )
    assert not (workdir / "out.jsonl.inflight").exists()


def test_snapshots_of_dead_runs_are_cleared_and_live_ones_kept(
    tmp_path: Path, dead_pid: int
) -> None:
    async def run() -> None:
        async with SnapshotWriter(tmp_path, "stream", interval_s=60) as writer:
            alive = writer.case(Case(id="alive", question="q"))
            alive.update("<think>still going", 1)
            writer.flush(young=True)
            await writer.settle()
            (tmp_path / "dead.json").write_bytes(orjson.dumps({"id": "dead", "pid": dead_pid}))
            (tmp_path / "junk.json").write_bytes(b"{not json")
            assert clear_dead_snapshots(tmp_path) == 2
            assert [p.name for p in tmp_path.iterdir()] == ["alive.json"]
            alive.close()
        assert not any(tmp_path.iterdir())

    asyncio.run(run())


def test_the_writer_writes_the_newest_state_once_per_tick_and_nothing_for_short_cases(
    tmp_path: Path,
) -> None:
    """Updates only note the state; a tick writes each changed case once, with its newest
    text (a function source is called then, not per update); a case that finishes between
    two ticks never touches the disk; the exit removes what is left."""
    calls = []

    def streamed() -> str:
        calls.append(1)
        return "abc"

    async def run() -> None:
        async with SnapshotWriter(tmp_path, "stream", interval_s=60) as writer:
            snap = writer.case(Case(id="x", question="q"))
            snap.update("a", 1)
            snap.update("ab", 1)
            for _ in range(50):
                snap.update(streamed, 2)
            short = writer.case(Case(id="short", question="q"))
            short.update("done quickly", 1)
            short.close()
            assert not any(tmp_path.iterdir())  # nothing on the loop, nothing before a tick
            writer.flush(young=True)
            await writer.settle()
            assert len(calls) == 1
            written = orjson.loads((tmp_path / "x.json").read_bytes())
            assert (written["full_response"], written["turns"]) == ("abc", 2)
            assert written["pid"] == os.getpid() and written["mode"] == "stream"
            assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
        assert not any(tmp_path.iterdir())

    asyncio.run(run())


def test_the_timer_writes_without_being_asked(tmp_path: Path) -> None:
    async def run() -> None:
        async with SnapshotWriter(tmp_path, "nonstream", interval_s=0.01) as writer:
            snap = writer.case(Case(id="t", question="q"))
            snap.update("so far", 1)
            for _ in range(500):  # a bounded wait for the timer, not a timing assertion
                await asyncio.sleep(0.01)
                await writer.settle()
                if (tmp_path / "t.json").exists():
                    break
            assert orjson.loads((tmp_path / "t.json").read_bytes())["full_response"] == "so far"
            snap.close()
        assert not any(tmp_path.iterdir())

    asyncio.run(run())
