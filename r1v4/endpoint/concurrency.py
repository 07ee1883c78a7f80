"""How many requests to keep in flight: a fixed number, or an adaptive (AIMD) window.

Both limiters share one interface so the runner treats them alike::

    async with limiter:            # around each case
        ...                        # the client calls limiter.observe(status, latency_s)

``AdaptiveLimiter`` works like TCP congestion control. The window starts at a quarter of its
ceiling (at least 4), doubles per round trip while the endpoint keeps up (slow start), then
grows by about one per window of successes (additive increase). A 429/503 halves it;
latency rising well above its running baseline cuts it by a quarter (multiplicative
decrease). Responses to requests that were sent before the last cut are not counted as new
congestion, so one burst of 429s from a full window cuts once, not once per response. The
window stays between 1 and ``max_concurrency``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

__all__ = ["AdaptiveLimiter", "FixedLimiter", "Limiter"]

# Statuses that mean "you are sending too much" (rate limited, overloaded).
CONGESTION_STATUSES = frozenset({429, 503})


class _WindowGate:
    """An async gate admitting up to ``limit`` holders; the limit may change at any time."""

    def __init__(self) -> None:
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def _limit(self) -> int:  # overridden
        raise NotImplementedError

    async def acquire(self) -> None:
        if self.in_flight < self._limit() and not self._waiters:
            self.in_flight += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.in_flight -= 1  # admitted just as we were cancelled: give the slot back
                self._wake()
            else:
                try:
                    self._waiters.remove(fut)
                except ValueError:
                    pass
            raise

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self._limit():
            fut = self._waiters.popleft()
            if not fut.done():
                self.in_flight += 1
                fut.set_result(None)

    async def __aenter__(self) -> _WindowGate:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    @property
    def waiting(self) -> int:
        return sum(1 for f in self._waiters if not f.done())


class FixedLimiter(_WindowGate):
    """At most ``concurrency`` in flight; ``observe`` only keeps counts."""

    def __init__(self, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        super().__init__()
        self.max_concurrency = concurrency
        self.observed = 0
        self.congested = 0

    def _limit(self) -> int:
        return self.max_concurrency

    @property
    def limit(self) -> int:
        return self.max_concurrency

    def observe(self, status: int | None, latency_s: float) -> None:
        self.observed += 1
        if status in CONGESTION_STATUSES:
            self.congested += 1

    def stats(self) -> dict:
        return {
            "mode": "fixed",
            "limit": self.max_concurrency,
            "in_flight": self.in_flight,
            "observed": self.observed,
            "congested": self.congested,
        }


class AdaptiveLimiter(_WindowGate):
    """AIMD window between 1 and ``max_concurrency`` (see the module docstring)."""

    def __init__(
        self,
        max_concurrency: int,
        initial: int | None = None,
        latency_factor: float = 2.0,
        min_samples: int = 5,
        clock=time.monotonic,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        super().__init__()
        self.max_concurrency = max_concurrency
        # A quarter of the ceiling (at least 4): slow start from 4 to 100 cost five round
        # trips; a server that cannot take this many says so with a 429 and is backed off.
        self.window = float(
            min(max_concurrency, initial if initial else max(4, max_concurrency // 4))
        )
        self.window = max(1.0, self.window)
        self.ssthresh = float(max_concurrency)
        self.latency_factor = latency_factor
        self.min_samples = min_samples
        self._clock = clock
        self._last_cut = float("-inf")
        self.baseline: float | None = None  # running low-water latency
        self.recent: float | None = None  # fast moving average
        self.samples = 0
        self.cuts = 0
        self.observed = 0
        self.congested = 0
        self.peak = int(self.window)

    def _limit(self) -> int:
        return max(1, int(self.window))

    @property
    def limit(self) -> int:
        return self._limit()

    def observe(self, status: int | None, latency_s: float) -> None:
        """Feed one response: its HTTP status (None: no response) and its latency."""
        now = self._clock()
        self.observed += 1
        sent_at = now - max(0.0, latency_s)
        stale = sent_at < self._last_cut  # sent before the last cut: old news
        if status in CONGESTION_STATUSES:
            self.congested += 1
            if not stale:
                self._cut(0.5, now)
            return
        if status is None or status >= 400:
            return  # other failures say nothing about load
        self._track_latency(latency_s)
        if (
            not stale
            and self.samples >= self.min_samples
            and self.baseline
            and self.recent is not None
            and self.recent > self.latency_factor * self.baseline
        ):
            self._cut(0.75, now)
            self.recent = self.baseline * self.latency_factor  # let it re-measure
            return
        if self.window < self.ssthresh:
            self.window += 1.0  # slow start: +1 per success doubles per round trip
        else:
            self.window += 1.0 / self.window
        self.window = min(float(self.max_concurrency), self.window)
        self.peak = max(self.peak, int(self.window))
        self._wake()

    def _track_latency(self, latency_s: float) -> None:
        self.samples += 1
        if self.recent is None:
            self.recent = latency_s
        else:
            self.recent += 0.3 * (latency_s - self.recent)
        if self.baseline is None or self.recent < self.baseline:
            self.baseline = self.recent
        else:  # drift up slowly so a lasting change of workload becomes the new normal
            self.baseline += 0.01 * (self.recent - self.baseline)

    def _cut(self, factor: float, now: float) -> None:
        self.window = max(1.0, self.window * factor)
        self.ssthresh = max(1.0, self.window)
        self._last_cut = now
        self.cuts += 1

    def stats(self) -> dict:
        return {
            "mode": "adaptive",
            "limit": self.limit,
            "max": self.max_concurrency,
            "peak": self.peak,
            "in_flight": self.in_flight,
            "cuts": self.cuts,
            "observed": self.observed,
            "congested": self.congested,
            "baseline_latency_s": self.baseline,
        }


Limiter = FixedLimiter | AdaptiveLimiter
