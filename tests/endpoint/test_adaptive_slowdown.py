"""Adaptive concurrency backs off when a GPU-like server slows down, not only on 429s.

The simulator with max_num_seqs queues requests beyond its batch size, so latency grows
with the number in flight, as on a saturated vLLM server.
"""

from __future__ import annotations

import asyncio

import pytest

from r1v4.endpoint.client import ChatClient, EndpointSettings
from r1v4.endpoint.concurrency import AdaptiveLimiter
from r1v4.sim import running_simulator


async def drive(base_url: str, limiter: AdaptiveLimiter, n: int) -> int:
    settings = EndpointSettings(base_urls=[base_url], api_key=None, model="r1v4-sim")
    done = 0
    async with ChatClient(settings, limiter=limiter) as client:

        async def one(i: int) -> None:
            nonlocal done
            async with limiter:
                await client.complete(
                    [{"role": "user", "content": f"question {i}"}], stream=True, max_tokens=16
                )
            done += 1

        await asyncio.gather(*(one(i) for i in range(n)))
    return done


@pytest.mark.slow
def test_window_shrinks_when_queueing_raises_latency() -> None:
    # A first token after 50 ms, so the queue (48 in flight, 3 served at a time: ~16x the
    # latency) dominates the noise of a loaded test machine, which slows every request alike.
    limiter = AdaptiveLimiter(max_concurrency=48, initial=48)
    with running_simulator(max_num_seqs=3, ttft_s=0.05, tokens_per_s=2000) as sim:
        done = asyncio.run(drive(sim.base_url, limiter, 150))
        peak_in_flight = sim.counters.get("max_in_flight", 0)
    assert done == 150
    assert limiter.cuts > 0, limiter.stats()
    assert limiter.limit < 48, limiter.stats()
    assert peak_in_flight >= 3


def test_window_stays_open_when_the_server_keeps_up() -> None:
    limiter = AdaptiveLimiter(max_concurrency=16, initial=4)
    with running_simulator(ttft_s=0.02, tokens_per_s=2000) as sim:
        assert asyncio.run(drive(sim.base_url, limiter, 200)) == 200
    # It grows to the ceiling; timing noise on a loaded machine may trim it a little after.
    assert limiter.peak == 16 and limiter.limit >= 8, limiter.stats()
