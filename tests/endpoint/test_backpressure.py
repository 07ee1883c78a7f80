"""Backpressure is not failure: a 429 or 503 that names its wait is retried within a
wall-clock budget without spending --max-retries, so a busy but healthy server never turns
into failed cases; real failures still stop at --max-retries, and a failed record says how
many attempts were made, where, and how long it took.

The simulator injects the faults; its Retry-After waits are tiny (and the test suite scales
every wait down), so these tests stay fast.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from r1v4.endpoint.client import ChatClient, EndpointError, EndpointSettings
from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, run_cli, write_jsonl

HELLO = [{"role": "user", "content": "hello"}]


def complete(base_url: str, *, stream: bool = False, **settings: object):
    """One chat completion through the real client; the Completion or the EndpointError."""

    async def go():
        endpoint = EndpointSettings(base_urls=[base_url], model="r1v4-sim", **settings)
        async with ChatClient(endpoint) as client:
            try:
                return await client.complete(HELLO, stream=stream)
            except EndpointError as exc:
                return exc

    return asyncio.run(go())


@pytest.mark.parametrize("fault", ["429", "503"])
def test_waits_the_server_names_do_not_spend_max_retries(fault: str) -> None:
    """Eight paced refusals in a row, then an answer: with one retry for real failures the
    request still succeeds, after nine attempts."""
    with running_simulator(
        fault_plan=[fault] * 8, throttle_retry_after_s=0.02, error_retry_after_s=0.02
    ) as sim:
        done = complete(sim.base_url, max_retries=1)
        assert sim.counters.get("rate_limited" if fault == "429" else "error_503") == 8
    assert not isinstance(done, EndpointError), done
    assert done.attempts == 9 and "<answer>" in done.text


def test_a_503_without_a_wait_is_a_real_failure() -> None:
    with running_simulator(fault_plan=["503"] * 8) as sim:
        failed = complete(sim.base_url, max_retries=2)
    assert isinstance(failed, EndpointError) and failed.status == 503
    assert failed.attempts == 3
    assert "gave up after 3 attempts: 3 failed, --max-retries 2" in failed.message


def test_pacing_stops_when_the_retry_budget_is_spent() -> None:
    with running_simulator(throttle_rate=1.0, throttle_retry_after_s=1.0) as sim:
        failed = complete(sim.base_url, max_retries=0, retry_budget_s=0.3)
        attempts = sim.counters["rate_limited"]
    assert isinstance(failed, EndpointError) and failed.status == 429
    assert failed.attempts == attempts >= 2  # paced retries went on past --max-retries 0
    assert "beyond the retry budget of 0.3 s, --retry-budget-s" in failed.message
    assert failed.elapsed_s is not None and failed.elapsed_s > 0


@pytest.mark.slow
def test_every_case_succeeds_under_throttling_server_errors_and_dropped_streams(
    workdir: Path,
) -> None:
    """15% 429 with Retry-After, 10% server errors (5xx without a wait), 10% streams cut
    midway, a hundred cases, six attempts per request: no case ends as an error. One case at
    a time, so the seeded fault sequence meets the requests in the same order every run;
    with this seed, counting the paced 429s as failures loses a case (checked when the test
    was written), so the test tells the two policies apart."""
    write_jsonl(
        workdir / "cases.jsonl",
        [{"id": f"c{i:03d}", "image": "", "question": f"question {i}"} for i in range(100)],
    )
    with running_simulator(
        throttle_rate=0.15, throttle_retry_after_s=0.02, error_rate=0.10, drop_rate=0.10, seed=4
    ) as sim:
        code = run_cli(
            [
                *("cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--model", "r1v4-sim"),
                *("--concurrency", "1", "--max-retries", "5", "--tools", "none"),
            ],
            mode="stream",
        )
        counters = sim.counters
    records = read_jsonl(workdir / "out.jsonl")
    assert code == 0
    assert len(records) == 100 and not [r for r in records if "error" in r["response"]]
    assert counters["rate_limited"] > 10 and counters["dropped"] > 5
    assert sum(r["meta"]["attempts"] for r in records) == counters["requests"]
    assert max(r["meta"]["attempts"] for r in records) > 2


def test_a_failed_record_keeps_attempts_endpoint_and_timing(workdir: Path) -> None:
    write_jsonl(workdir / "cases.jsonl", [{"id": "x", "image": "", "question": "q"}])
    with running_simulator(fault_plan=["500"] * 3) as sim:
        code = run_cli(
            ["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--max-retries", "2"]
        )
    assert code == 1
    (record,) = read_jsonl(workdir / "out.jsonl")
    assert "gave up after 3 attempts" in record["response"]["error"]
    meta = record["meta"]
    assert meta["attempts"] == 3
    assert meta["endpoint"] == sim.base_url
    assert meta["latency_s"] > 0 and meta["stop_reason"] == "error"
