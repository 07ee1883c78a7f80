"""Fault injection for the simulator: which fault (if any) a request gets. Decisions come from a
deterministic plan first, then a script's per-attempt faults, then the rate limiter, then seeded
random draws, so a run with the same seed and request order injects the same faults."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass

# "ok" means no fault. 429/5xx are HTTP errors; "drop" cuts the connection; "hang" never answers;
# the last three answer 200 and then report an error inside the body (see ENDPOINTS.md §3, §30).
FAULT_NAMES = (
    "ok",
    "429",
    "500",
    "502",
    "503",
    "drop",
    "hang",
    "stream_error",
    "stream_error_no_done",
    "choice_error",
)

# Share of each status among injected server errors (some 502s, as a gateway in front sends).
_ERROR_MIX = ((500, 0.45), (503, 0.40), (502, 0.15))

# Counter name per fault, as reported in the handle's/app's counters.
COUNTER_NAMES = {
    "429": "rate_limited",
    "500": "error_500",
    "502": "error_502",
    "503": "error_503",
    "drop": "dropped",
    "hang": "hung",
    "stream_error": "stream_error",
    "stream_error_no_done": "stream_error_no_done",
    "choice_error": "choice_error",
}


class TokenBucket:
    """Requests-per-second limit with a burst of max(1, rate) requests."""

    def __init__(self, rate: float, clock=time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock()

    def take(self) -> float:
        """0.0 when the request may go ahead (a token is spent), else seconds until one frees."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class Decision:
    fault: str  # one of FAULT_NAMES
    retry_after_s: float | None = None  # whole seconds, for the Retry-After header
    retry_after_ms: int | None = None  # the exact wait, for retry-after-ms (OpenAI sends it)


class FaultInjector:
    """Decides the fault per request and counts what it injected (thread-safe counters)."""

    def __init__(
        self,
        *,
        rng: random.Random,
        error_rate: float = 0.0,
        throttle_rate: float = 0.0,
        throttle_retry_after_s: float = 1.0,
        drop_rate: float = 0.0,
        hang_rate: float = 0.0,
        rate_limit: float | None = None,
        plan: list[str] | None = None,
        error_retry_after_s: float | None = None,
    ) -> None:
        self.rng = rng
        self.error_rate, self.drop_rate, self.hang_rate = error_rate, drop_rate, hang_rate
        self.throttle_rate = throttle_rate
        self.throttle_retry_after_s = throttle_retry_after_s
        self.bucket = TokenBucket(rate_limit) if rate_limit else None
        self.plan = list(plan or [])
        self.error_retry_after_s = error_retry_after_s
        self.counters: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    def high_water(self, name: str, value: int) -> None:
        """Keep the largest value seen under `name` (e.g. requests in flight at once)."""
        with self._lock:
            if value > self.counters[name]:
                self.counters[name] = value

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counters)

    def decide(self, forced: str | None = None) -> Decision:
        """The fault for the next request. `forced` (from a script) wins over the random draws
        but not over the global plan; the rate limit applies to every request that is not
        already forced to fail."""
        if self.plan:
            forced = self.plan.pop(0)
        if forced is None and self.bucket is not None:
            wait = self.bucket.take()
            if wait > 0:
                return self._record(
                    Decision("429", max(1.0, math.ceil(wait)), max(1, round(wait * 1000)))
                )
        if forced is None:
            forced = self._draw()
        if forced == "429":
            wait = self.throttle_retry_after_s
            return self._record(
                Decision("429", float(max(1, math.ceil(wait))), max(1, round(wait * 1000)))
            )
        if forced == "503" and self.error_retry_after_s is not None:
            return self._record(Decision("503", self.error_retry_after_s))
        return self._record(Decision(forced))

    def _draw(self) -> str:
        r = self.rng.random()
        if r < self.throttle_rate:
            return "429"
        r -= self.throttle_rate
        if r < self.error_rate:
            pick = self.rng.random()
            acc = 0.0
            for status, share in _ERROR_MIX:
                acc += share
                if pick < acc:
                    return str(status)
            return "500"
        r -= self.error_rate
        if r < self.drop_rate:
            return "drop"
        r -= self.drop_rate
        if r < self.hang_rate:
            return "hang"
        return "ok"

    def _record(self, d: Decision) -> Decision:
        if d.fault != "ok":
            self.count(COUNTER_NAMES[d.fault])
            self.count("faults")
        return d
