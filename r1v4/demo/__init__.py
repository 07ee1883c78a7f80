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
import tempfile
from collections.abc import Iterator
from pathlib import Path

from r1v4.agent.dialects.registry import get_dialect
from r1v4.batch.settings import RunSettings, SearchSettings
from r1v4.demo.dialects import DIALECT_SIM_SETTINGS, dialect_scripts, write_dialect_cases
from r1v4.demo.files import CORPUS_DIR, DATA_DIR, DEMO_CASES, DEMO_DIR, corpus_index_path
from r1v4.demo.images import SIGN_BOX, SIGN_TEXT, ensure_demo_images
from r1v4.demo.scripts import (
    RESEARCH_QUESTION,
    WAREHOUSE_QUESTION,
    demo_cases,
    demo_scripts,
    write_demo_cases,
)

__all__ = [
    "CORPUS_DIR",
    "DATA_DIR",
    "DEMO_CASES",
    "DEMO_DIR",
    "RESEARCH_QUESTION",
    "SIGN_BOX",
    "SIGN_TEXT",
    "SIM_MODEL",
    "WAREHOUSE_QUESTION",
    "demo_cases",
    "demo_endpoint",
    "demo_scripts",
    "ensure_demo_images",
    "write_demo_cases",
]

#: The model name the demo's simulator serves and the batch asks for, so every record of
#: the demo says it comes from a simulator.
SIM_MODEL = "r1v4-sim"


@contextlib.contextmanager
def demo_endpoint(settings: RunSettings, *, packaged_cases: bool = True) -> Iterator[RunSettings]:
    """Start the SIMULATED endpoint on a free loopback port and yield `settings` pointed at
    it (a copy; the caller's settings are not changed). With `packaged_cases` the input is
    the demo's own cases file inside the package (`DEMO_CASES`), whose images resolve from
    the package too, whatever the working folder; the output stays where `settings` put it.
    With no search backend chosen, the offline demo corpus is used, its index kept in the
    user's cache folder. With a dialect other than `r1v4` (`--demo --dialect NAME`), the
    simulator plays that family (`r1v4.demo.dialects`) and the cases are those its tools can
    answer."""
    from r1v4.sim import running_simulator

    ensure_demo_images()
    dialect = settings.agent.dialect
    scripts = demo_scripts() if dialect == "r1v4" else dialect_scripts(dialect)
    server = DIALECT_SIM_SETTINGS.get(dialect, {})
    with (
        contextlib.ExitStack() as stack,
        running_simulator(
            scripts=scripts, model=SIM_MODEL, ttft_s=0.05, tokens_per_s=400, **server
        ) as sim,
    ):
        endpoint = dataclasses.replace(
            settings.endpoint, base_urls=[sim.base_url], model=SIM_MODEL, api_key=None
        )
        search = settings.search
        if search is None and CORPUS_DIR.is_dir():  # the offline demo corpus
            cache = Path(f"{settings.output_path}.toolcache.sqlite")
            search = SearchSettings(
                backend="local",
                corpus_dir=CORPUS_DIR,
                index_path=corpus_index_path(CORPUS_DIR),
                cache_path=cache,
            )
        changes: dict = {"endpoint": endpoint, "search": search}
        if get_dialect(dialect).free_text_answer and settings.scorer == "auto":
            changes["scorer"] = "includes"  # a free-text answer holds the fact in a sentence
        if packaged_cases and dialect == "r1v4":
            changes["input_path"] = DEMO_CASES
        elif packaged_cases:  # the cases this family's tools can answer
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="r1v4-demo-")))
            changes["input_path"] = write_dialect_cases(folder / "test_cases.jsonl")
        yield dataclasses.replace(settings, **changes)
