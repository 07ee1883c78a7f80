"""The demo: images the project draws itself, cases over them, and scripted trajectories for
the SIMULATED endpoint, so `python3 batch_nonstream.py --demo` shows a full agent run on a
machine with no GPU and no network.

The simulator only replays the scripted model turns below; everything else is real: the
code really runs in the sandbox, its crop really becomes an intermediate image, the search
really queries the local demo corpus.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

from r1v4.batch.settings import RunSettings, SearchSettings
from r1v4.demo.images import DEMO_DIR, SIGN_BOX, SIGN_TEXT, ensure_demo_images
from r1v4.demo.scripts import (
    CORPUS_DIR,
    RESEARCH_QUESTION,
    WAREHOUSE_QUESTION,
    demo_cases,
    demo_scripts,
    write_demo_cases,
)

__all__ = [
    "CORPUS_DIR",
    "DEMO_DIR",
    "RESEARCH_QUESTION",
    "SIGN_BOX",
    "SIGN_TEXT",
    "WAREHOUSE_QUESTION",
    "demo_cases",
    "demo_endpoint",
    "demo_scripts",
    "ensure_demo_images",
    "write_demo_cases",
]

#: The model name the batch asks the simulator for.
SIM_MODEL = "r1v4-sim"


@contextlib.contextmanager
def demo_endpoint(settings: RunSettings, *, write_cases: bool = True) -> Iterator[RunSettings]:
    """Start the SIMULATED endpoint on a free loopback port and yield `settings` pointed at
    it (a copy; the caller's settings are not changed). The demo images are drawn if they
    are missing; with `write_cases`, a missing input file gets the demo cases; with no
    search backend chosen, the offline demo corpus is used when it is there."""
    from r1v4.sim import running_simulator

    ensure_demo_images()
    if write_cases and not settings.input_path.exists():
        write_demo_cases(settings.input_path)
    with running_simulator(scripts=demo_scripts(), ttft_s=0.05, tokens_per_s=400) as sim:
        endpoint = dataclasses.replace(
            settings.endpoint, base_urls=[sim.base_url], model=SIM_MODEL, api_key=None
        )
        search = settings.search
        if search is None and CORPUS_DIR.is_dir():  # the offline demo corpus
            cache = Path(f"{settings.output_path}.toolcache.sqlite")
            search = SearchSettings(backend="local", corpus_dir=CORPUS_DIR, cache_path=cache)
        yield dataclasses.replace(settings, endpoint=endpoint, search=search)
