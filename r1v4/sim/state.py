"""`SimState`: everything a running simulator holds, kept on the aiohttp app under `STATE`
(aiohttp "No Singletons Please"), so several simulators can run in one process.

Its own module so the handlers and both responders can name the state without importing
the server that imports them.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from r1v4.sim.faults import FaultInjector
from r1v4.sim.scripts import Script
from r1v4.sim.settings import SimSettings

__all__ = ["STATE", "SimState"]


@dataclass
class SimState:
    """Everything a running simulator holds. `requests` and `faults.counters` are read by the
    test handle from another thread: appends and Counter updates happen under locks."""

    settings: SimSettings
    scripts: list[Script]
    rng: random.Random
    faults: FaultInjector
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    attempts: Counter = field(default_factory=Counter)  # (script, turn) -> requests seen
    matched: set[int] = field(default_factory=set)  # indices into `scripts` that answered
    # Ids come from their own stream, so the fault draws (from `rng`) depend only on the order
    # of requests, not on how many ids or tool-call ids earlier answers used.
    id_rng: random.Random = field(default_factory=random.Random)
    shutdown: asyncio.Event | None = None
    slots: asyncio.Semaphore | None = None  # max_num_seqs
    in_flight: int = 0
    hanging: set = field(default_factory=set)

    def counters(self) -> dict[str, int]:
        return self.faults.snapshot()

    def note_match(self, script: Script) -> None:
        """A script entry answered a request."""
        with self.lock:
            self.matched.update(i for i, s in enumerate(self.scripts) if s is script)

    def unmatched(self) -> list[Script]:
        """Script entries that never matched a request: a typo in an id or question, or a
        case that never ran, would otherwise pass unnoticed as generic turns."""
        with self.lock:
            return [s for i, s in enumerate(self.scripts) if i not in self.matched]

    def hex_id(self, n: int = 32) -> str:
        with self.lock:
            return f"{self.id_rng.getrandbits(n * 4):0{n}x}"


STATE = web.AppKey("r1v4_sim_state", SimState)
