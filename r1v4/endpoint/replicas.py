"""A pool of endpoint replicas: least-in-flight choice, benching of failing replicas, stats.

Each request attempt asks the pool for a replica: the one with the fewest requests in flight
among those not benched (ties go to the one with fewer recent failures, then fewer requests).
A replica failing ``fail_threshold`` times in a row is benched for ``cooldown_s`` and then
tried again; one success clears its streak. If every replica is benched, the one whose bench
ends first is used anyway — a batch never stalls waiting for a pool.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["Replica", "ReplicaPool"]


@dataclass
class Replica:
    base_url: str
    requests: int = 0
    failures: int = 0
    in_flight: int = 0
    streak: int = 0  # consecutive failures
    benched_until: float = 0.0
    times_benched: int = 0
    last_error: str = ""
    #: What the server declared itself in an ``X-Simulator`` header at check time (the
    #: r1v4 simulator sends one on every response), so a simulated run is never taken for
    #: a model's.
    simulator: str = ""

    def benched(self, now: float) -> bool:
        return self.benched_until > now


class ReplicaPool:
    """Choose replicas and keep per-replica counts. Not thread-safe (one event loop)."""

    def __init__(
        self,
        base_urls: list[str],
        fail_threshold: int = 3,
        cooldown_s: float = 30.0,
        clock=time.monotonic,
    ) -> None:
        if not base_urls:
            raise ValueError("at least one base URL is needed")
        self.replicas = [Replica(u) for u in base_urls]
        self.fail_threshold = max(1, fail_threshold)
        self.cooldown_s = cooldown_s
        self._clock = clock

    def pick(self, avoid: Replica | None = None) -> Replica:
        """The replica for the next attempt; ``avoid`` (the one that just failed) loses ties."""
        if len(self.replicas) == 1:  # the usual run: the one replica, benched or not
            return self.replicas[0]
        now = self._clock()
        live = [r for r in self.replicas if not r.benched(now)]
        if not live:
            return min(self.replicas, key=lambda r: r.benched_until)
        return min(live, key=lambda r: (r.in_flight, r is avoid, r.streak, r.requests))

    def has_alternative(self, replica: Replica) -> bool:
        """Is another replica available right now (not benched)?"""
        now = self._clock()
        return any(r is not replica and not r.benched(now) for r in self.replicas)

    @staticmethod
    def started(replica: Replica) -> None:
        """An attempt on ``replica`` is in flight (call `ended` when it is over, whatever
        happened): plain calls, not a context manager, as this runs per request."""
        replica.in_flight += 1
        replica.requests += 1

    @staticmethod
    def ended(replica: Replica) -> None:
        replica.in_flight -= 1

    def success(self, replica: Replica) -> None:
        replica.streak = 0
        replica.benched_until = 0.0

    def failure(self, replica: Replica, reason: str = "") -> None:
        """Count a failure that is the replica's fault (no answer, 5xx, broken stream)."""
        replica.failures += 1
        replica.streak += 1
        replica.last_error = reason
        if replica.streak >= self.fail_threshold and not replica.benched(self._clock()):
            replica.benched_until = self._clock() + self.cooldown_s
            replica.times_benched += 1
            replica.streak = self.fail_threshold - 1  # one more failure after the bench: again

    def bench(self, replica: Replica, seconds: float, reason: str = "") -> None:
        replica.benched_until = self._clock() + seconds
        replica.times_benched += 1
        replica.last_error = reason

    def stats(self) -> list[dict]:
        now = self._clock()
        return [
            {
                "base_url": r.base_url,
                "requests": r.requests,
                "failures": r.failures,
                "in_flight": r.in_flight,
                "benched": r.benched(now),
                "times_benched": r.times_benched,
                "last_error": r.last_error,
            }
            for r in self.replicas
        ]
