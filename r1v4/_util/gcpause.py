"""Pause Python's cyclic garbage collector while a burst of long-lived objects is built."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No collection inside the block; the collector is back as it was after it.

    Reading 100,000 case lines or result lines allocates hundreds of thousands of small
    containers that all stay alive; each allocation threshold crossed makes the collector
    walk them again for nothing (about a fifth of a 100,000-line resume). Nothing here
    makes cycles, so pausing frees nothing late."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: Collector thresholds during a batch: (allocations between young collections, young
#: collections between middle ones). Python's defaults are (700, 10); the oldest
#: generation keeps its own.
BATCH_THRESHOLDS = (100_000, 50)


@contextmanager
def gc_relaxed(thresholds: tuple[int, int] = BATCH_THRESHOLDS) -> Iterator[None]:
    """Collect seldom inside the block, and never look again at what exists on entry.

    A batch at concurrency 500 keeps tens of thousands of small containers alive per wave
    (the cases in flight, their messages, futures), and with the default thresholds the
    collector walks them again every few cases: on 0.5 s-latency waves of 500
    completions that was about a tenth of the event loop's time, and the run's
    efficiency rose from ~0.77 to ~0.88 with these (bench/README.md, issue 18). Cycles
    made inside the block (~30 small objects per case: tracebacks, futures) are still
    collected, later: memory over a 100,000-case run stays flat (bench_runner.py's big
    run). Objects alive on entry (the loaded cases, the modules) are frozen out of the
    collector's generations (`gc.freeze`) unless the process froze some itself.
    Thresholds and the frozen set are as they were after the block."""
    before = gc.get_threshold()
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    gc.set_threshold(max(thresholds[0], before[0]), max(thresholds[1], before[1]), *before[2:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        if freeze:
            gc.unfreeze()
