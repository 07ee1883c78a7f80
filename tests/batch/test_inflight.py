"""Snapshots of cases in flight: written while a case runs, gone once its record lands."""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
import pytest

from r1v4.batch.inflight import CaseSnapshot, clear_dead_snapshots
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
    with running_simulator(scripts=demo_scripts(), tokens_per_s=60) as sim:
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
    alive = CaseSnapshot(tmp_path, Case(id="alive", question="q"), "stream")
    alive.update("<think>still going", 1, force=True)
    (tmp_path / "dead.json").write_bytes(orjson.dumps({"id": "dead", "pid": dead_pid}))
    (tmp_path / "junk.json").write_bytes(b"{not json")
    assert clear_dead_snapshots(tmp_path) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["alive.json"]
    alive.close()
    assert not any(tmp_path.iterdir())


def test_snapshot_updates_are_throttled_between_turn_boundaries(tmp_path: Path) -> None:
    snap = CaseSnapshot(tmp_path, Case(id="x", question="q"), "stream", min_interval_s=60)
    snap.update("a", 1, force=True)
    snap.update("ab", 1)  # within the interval: skipped
    assert orjson.loads((tmp_path / "x.json").read_bytes())["full_response"] == "a"
    snap.update("abc", 2, force=True)  # a turn boundary always writes
    assert orjson.loads((tmp_path / "x.json").read_bytes())["full_response"] == "abc"
