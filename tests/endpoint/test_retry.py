"""Retry policy, server wait hints, the concurrency limiters and the replica pool."""

from __future__ import annotations

import asyncio
import email.utils
import random

import pytest

import r1v4.endpoint.retry as retry
from r1v4.endpoint.concurrency import AdaptiveLimiter, FixedLimiter
from r1v4.endpoint.replicas import ReplicaPool


@pytest.mark.parametrize("status", [None, 408, 409, 429, 500, 502, 503, 504])
def test_retryable_statuses(status: int | None) -> None:
    assert retry.is_retryable_status(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 501])
def test_not_retryable_statuses(status: int) -> None:
    assert not retry.is_retryable_status(status)


def test_fatal_statuses() -> None:
    assert [s for s in (400, 401, 403, 404, 429, 500) if retry.is_fatal_status(s)] == [
        401,
        403,
        404,
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("6m0s", 360.0), ("1.5s", 1.5), ("250ms", 0.25), ("1h2m3s", 3723.0), ("20", 20.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert retry.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5x", "m5"])
def test_parse_duration_rejects(text: str) -> None:
    assert retry.parse_duration(text) is None


def test_retry_after_seconds_date_ms_and_openai_resets() -> None:
    assert retry.parse_retry_after({"Retry-After": "7"}) == 7.0
    assert retry.parse_retry_after({"retry-after": "7"}) == 7.0
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry.parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(30.0)
    assert retry.parse_retry_after({"retry-after-ms": "1500", "Retry-After": "2"}) == 1.5
    hdrs = {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}
    assert retry.parse_retry_after(hdrs) == 360.0
    assert retry.parse_retry_after({"Retry-After": "garbage"}) is None
    assert retry.parse_retry_after({}) is None
    assert retry.parse_retry_after({"Retry-After": "999999"}) == retry.MAX_SERVER_WAIT_S


def test_backoff_is_jittered_exponential_capped_and_honours_server(monkeypatch) -> None:
    monkeypatch.setattr(retry, "WAIT_SCALE", 1.0)
    policy = retry.RetryPolicy(base_s=1.0, cap_s=8.0)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        waits = [policy.delay(attempt, rng=rng) for _ in range(200)]
        assert max(waits) <= ceiling
        assert min(waits) < ceiling / 4  # full jitter reaches near zero
        assert max(waits) > ceiling * 3 / 4
    assert all(policy.delay(1, retry_after=5.0, rng=rng) >= 5.0 for _ in range(50))
    monkeypatch.setattr(retry, "WAIT_SCALE", 0.01)
    assert policy.delay(1, retry_after=5.0, rng=rng) == pytest.approx(0.05, abs=0.011)


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_adaptive_limiter_grows_while_fast_and_halves_on_429() -> None:
    clock = FakeClock()
    lim = AdaptiveLimiter(max_concurrency=32, initial=2, clock=clock)
    for _ in range(100):
        clock.t += 0.1
        lim.observe(200, 0.05)
    assert lim.limit == 32  # grew to the cap, not beyond
    clock.t += 0.1
    lim.observe(429, 0.01)
    assert lim.limit == 16
    # More 429s from requests sent before that cut do not cut again.
    clock.t += 0.001
    lim.observe(429, 0.5)
    assert lim.limit == 16
    clock.t += 1.0
    lim.observe(503, 0.01)
    assert lim.limit == 8
    for _ in range(20):
        clock.t += 1.0
        lim.observe(429, 0.01)
    assert lim.limit == 1  # never below one


def test_adaptive_limiter_shrinks_when_latency_rises_then_recovers() -> None:
    clock = FakeClock()
    lim = AdaptiveLimiter(max_concurrency=64, initial=8, clock=clock)
    for _ in range(30):
        clock.t += 0.5
        lim.observe(200, 0.1)
    before = lim.limit
    for _ in range(5):
        clock.t += 2.0
        lim.observe(200, 1.0)  # ten times slower than baseline
    assert lim.limit < before
    assert lim.cuts >= 1
    low = lim.limit
    for _ in range(200):
        clock.t += 0.5
        lim.observe(200, 0.1)
    assert lim.limit > low


def test_other_errors_do_not_move_the_window() -> None:
    lim = AdaptiveLimiter(max_concurrency=16, initial=4)
    for status in (None, 400, 500, 404):
        lim.observe(status, 0.1)
    assert lim.limit == 4


@pytest.mark.parametrize("make", [lambda: FixedLimiter(3), lambda: AdaptiveLimiter(3, initial=3)])
def test_limiter_caps_in_flight(make) -> None:
    async def main() -> int:
        lim = make()
        peak = 0
        live = 0

        async def job() -> None:
            nonlocal peak, live
            async with lim:
                live += 1
                peak = max(peak, live)
                await asyncio.sleep(0.005)
                live -= 1
                lim.observe(200, 0.005)

        await asyncio.gather(*(job() for _ in range(20)))
        assert lim.in_flight == 0
        return peak

    assert asyncio.run(main()) == 3


def test_limiter_wakes_waiters_when_window_grows() -> None:
    async def main() -> None:
        lim = AdaptiveLimiter(max_concurrency=4, initial=1)
        await lim.acquire()
        waiter = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        lim.observe(200, 0.01)  # window 1 → 2 admits the waiter without any release
        await asyncio.wait_for(waiter, 1.0)
        assert lim.in_flight == 2

    asyncio.run(main())


def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    async def main() -> None:
        lim = FixedLimiter(1)
        await lim.acquire()
        waiter = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        lim.release()
        assert lim.in_flight == 0
        await asyncio.wait_for(lim.acquire(), 1.0)

    asyncio.run(main())


def test_replica_pool_least_in_flight_bench_and_return() -> None:
    clock = FakeClock()
    pool = ReplicaPool(["http://a/v1", "http://b/v1"], fail_threshold=2, cooldown_s=10, clock=clock)
    a, b = pool.replicas
    first = pool.pick()
    pool.started(first)
    assert pool.pick() is not first  # the other one has fewer in flight
    pool.ended(first)
    pool.failure(a)
    assert pool.pick() is a or pool.pick() is b
    pool.failure(a)  # second in a row: benched
    assert pool.stats()[0]["benched"]
    assert all(pool.pick() is b for _ in range(5))
    clock.t += 11
    assert not pool.stats()[0]["benched"]
    pool.success(a)
    assert pool.stats()[0]["failures"] == 2


def test_all_benched_still_picks_one() -> None:
    clock = FakeClock()
    pool = ReplicaPool(["http://a/v1", "http://b/v1"], fail_threshold=1, cooldown_s=10, clock=clock)
    a, b = pool.replicas
    pool.failure(a)
    clock.t += 1
    pool.failure(b)
    assert pool.pick() is a  # its bench ends first
