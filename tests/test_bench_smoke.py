"""Every benchmark still runs end to end, at a tiny size. No timing is asserted: the figures
belong in bench/README.md, this only keeps the scripts from rotting."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ROOT

# Real processes and sandboxes: part of the full run, not of `pytest -m "not slow"`.
pytestmark = pytest.mark.slow

SMALL = {
    "bench_faults.py": ["--cases", "40", "--timeout", "1"],
    "bench_fixtures.py": [],
    "bench_images.py": ["--width", "200", "--height", "150", "--repeat", "1", "--loops", "2"],
    "bench_import.py": ["--size-gb", "0.02"],
    "bench_parse.py": ["--cases", "20", "--short", "50", "--repeat", "1"],
    "bench_profile.py": ["--cases", "20", "--top", "3"],
    "bench_runner.py": [
        *("--n", "16", "--c", "4", "--cpu-latency", "0.01", "--tokens-per-s", "0"),
        *("--latency", "0.05", "--wall-c", "4", "--waves", "2", "--big", "40", "--big-c", "4"),
        *("--repeat", "1", "--tools", "none"),
    ],
    "bench_sandbox.py": ["--calls", "3", "--crops", "1", "--concurrency", "2"],
    "bench_search.py": ["--pages", "40", "--queries", "5"],
    "bench_viewer.py": ["--cases", "20", "--images-per-case", "1", "--side", "64", "--repeat", "1"],
}


def test_every_benchmark_has_a_smoke_run() -> None:
    assert sorted(SMALL) == sorted(p.name for p in (ROOT / "bench").glob("bench_*.py"))


@pytest.mark.parametrize("script", sorted(SMALL))
def test_benchmark_runs_at_a_tiny_size(script: str, subprocess_env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *SMALL[script]],
        cwd=ROOT,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.strip(), "a benchmark must print its figures"
