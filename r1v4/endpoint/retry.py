"""How to retry: which failures are transient, and how long to wait before the next attempt.

The client decides *what* happened (status, connection error, in-stream error); this module
alone decides whether that is worth another attempt and how long to back off, so every caller
retries the same way (the split inspect_ai uses between providers and ``_retry.py``).

Waits are exponential with full jitter (a uniform draw in [0, base * 2**(attempt-1)], capped),
so a crowd of clients that failed together does not come back together. A server's own hint
wins when it asks for longer: ``Retry-After`` (seconds or an HTTP date), ``retry-after-ms``,
or OpenAI's ``x-ratelimit-reset-requests`` / ``-tokens`` durations such as ``6m0s``.

Two budgets bound a request's retries (``RetryTracker``). A real failure (a 5xx without a
named wait, a dropped stream, a timeout, a connection error) spends one of ``max_retries``.
A 429 or 503 that names its wait (``Retry-After`` and kin) is the server pacing its clients,
not failing: it is retried after that wait without spending ``max_retries``, for as long as
the request's wall-clock ``budget_s`` allows, so a busy but healthy server never turns
backpressure into failed cases.

``WAIT_SCALE`` multiplies every wait; tests set it tiny so a 2 s ``Retry-After`` costs 2 ms
while still proving that the header was honoured.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "FATAL_STATUSES",
    "PACING_STATUSES",
    "RETRYABLE_STATUSES",
    "WAIT_SCALE",
    "RetryPolicy",
    "RetryTracker",
    "is_fatal_status",
    "is_pacing",
    "is_retryable_status",
    "parse_duration",
    "parse_retry_after",
    "scaled",
]

#: Transient by nature: timeout, conflict (often a busy lock), rate limit, server/gateway trouble.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
#: The endpoint refuses us as configured (key, permission, URL or model): stop the batch.
FATAL_STATUSES = frozenset({401, 403, 404})

#: A server that names its wait on one of these statuses is pacing us (rate limit, overload).
PACING_STATUSES = frozenset({429, 503})

#: Multiplies every computed wait. Tests set this to e.g. 0.001.
WAIT_SCALE: float = 1.0

# A server asking us to wait longer than this is capped, so one bad header cannot stall a batch.
MAX_SERVER_WAIT_S = 600.0


def scaled(seconds: float) -> float:
    """Apply the module-wide ``WAIT_SCALE`` (read at call time so tests can patch it)."""
    return max(0.0, seconds) * WAIT_SCALE


def is_retryable_status(status: int | None) -> bool:
    """True for statuses worth another attempt; ``None`` (no response at all) is retryable."""
    return status is None or status in RETRYABLE_STATUSES


def is_fatal_status(status: int | None) -> bool:
    """True when every further request would fail the same way (401/403/404)."""
    return status in FATAL_STATUSES


def is_pacing(status: int | None, retry_after: float | None) -> bool:
    """True for a 429 or 503 that says how long to wait: backpressure, not a failure."""
    return status in PACING_STATUSES and retry_after is not None


_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str) -> float | None:
    """Parse Go-style durations as OpenAI sends them ("6m0s", "1.5s", "250ms", "1h2m3s").

    A bare number is read as seconds. Returns None for anything unparseable.
    """
    text = text.strip().lower()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    pos = 0
    total = 0.0
    for m in _DURATION_RE.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        return None
    return total


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # plain dicts are case-sensitive; aiohttp's CIMultiDict is not
        lname = name.lower()
        for key, val in headers.items():
            if key.lower() == lname:
                return val
    return value


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait, or None if it gave no usable hint.

    Reads, in order: ``retry-after-ms``, ``Retry-After`` (delta-seconds or HTTP-date), then the
    longest of OpenAI's ``x-ratelimit-reset-requests`` / ``x-ratelimit-reset-tokens``.
    """
    if not headers:
        return None
    ms = _header(headers, "retry-after-ms")
    if ms:
        try:
            return min(MAX_SERVER_WAIT_S, max(0.0, float(ms) / 1000.0))
        except ValueError:
            pass
    ra = _header(headers, "retry-after")
    if ra:
        ra = ra.strip()
        try:
            return min(MAX_SERVER_WAIT_S, max(0.0, float(ra)))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(ra)
            except (TypeError, ValueError, IndexError):
                when = None
            if when is not None:
                current = time.time() if now is None else now
                return min(MAX_SERVER_WAIT_S, max(0.0, when.timestamp() - current))
    resets = []
    for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"):
        val = _header(headers, name)
        if val:
            d = parse_duration(val)
            if d is not None:
                resets.append(d)
    if resets:
        return min(MAX_SERVER_WAIT_S, max(resets))
    return None


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter; ``max_retries`` counts real failures after the
    first attempt, ``budget_s`` bounds the waits a pacing server asks for."""

    max_retries: int = 5
    base_s: float = 0.5
    cap_s: float = 30.0
    budget_s: float = 600.0  # wall-clock seconds per request for waits the server names

    def delay(
        self,
        attempt: int,
        retry_after: float | None = None,
        rng: random.Random | None = None,
    ) -> float:
        """Seconds to sleep after failed attempt number ``attempt`` (1-based), already scaled.

        The jittered exponential wait is a floor raised to the server's hint when there is one:
        never retry sooner than the server asked.
        """
        ceiling = min(self.cap_s, self.base_s * (2 ** max(0, attempt - 1)))
        wait = (rng or random).uniform(0.0, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, MAX_SERVER_WAIT_S))
        return scaled(wait)

    def tracker(self, clock: Callable[[], float] = time.monotonic) -> RetryTracker:
        """The retry bookkeeping of one request, starting now."""
        return RetryTracker(self, clock)


@dataclass
class RetryTracker:
    """One request's retries: real failures spend ``policy.max_retries``; waits the server
    names on a 429/503 spend the wall-clock ``policy.budget_s`` instead. After
    ``next_wait`` returns None, ``gave_up`` says why, for the error message."""

    policy: RetryPolicy
    clock: Callable[[], float] = time.monotonic
    failures: int = 0  # real failures so far
    paced: int = 0  # waits the server asked for so far
    gave_up: str = ""
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def next_wait(
        self,
        *,
        retryable: bool,
        status: int | None,
        retry_after: float | None,
        failover: bool = False,
    ) -> float | None:
        """Seconds to wait before the next attempt (already scaled), or None to give up.

        ``failover``: another replica can take the request at once (a connection refused
        here, or a replica that refuses our configuration), so there is no wait; it is still
        a real failure."""
        if not retryable:
            return None
        policy = self.policy
        if is_pacing(status, retry_after) and not failover:
            assert retry_after is not None
            wait = policy.delay(1, retry_after)
            elapsed = self.clock() - self.started
            if elapsed + wait > policy.budget_s:
                self.gave_up = (
                    f"the server still asked to wait after {elapsed:.1f} s, beyond the retry "
                    f"budget of {policy.budget_s:g} s, --retry-budget-s"
                )
                return None
            self.paced += 1
            return wait
        self.failures += 1
        if self.failures > policy.max_retries:
            self.gave_up = f"{self.failures} failed, --max-retries {policy.max_retries}"
            return None
        return 0.0 if failover else policy.delay(self.failures, retry_after)

    def describe(self, attempts: int) -> str:
        """Why the request was given up, for the end of the error message."""
        paced = f"; {self.paced} more the server paced (Retry-After)" if self.paced else ""
        return f"gave up after {attempts} attempts: {self.gave_up}{paced}"
