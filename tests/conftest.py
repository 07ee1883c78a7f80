"""Shared fixtures: a fresh project-like folder per test, fast retries, and batches as real
processes. Helpers the tests import live in `tests/helpers/`; the viewer's fixtures are in
`tests/viewer/conftest.py`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from tests.helpers import ROOT

# Property tests explore new inputs on developers' machines; in CI they are derandomised so a
# submission's verdict does not depend on the draw (a failure found locally gets its own test).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def fast_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff waits become milliseconds so fault tests stay quick (logic unchanged)."""
    try:
        import r1v4.endpoint.retry as retry
    except ImportError:
        return
    monkeypatch.setattr(retry, "WAIT_SCALE", 0.01)


@pytest.fixture(autouse=True)
def user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$XDG_CACHE_HOME of this test (the viewer keeps index caches there): a test never
    writes into the real ~/.cache, and sees no cache another test left."""
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder holding copies of the demo images, used as the working folder."""
    shutil.copytree(ROOT / "demo_image", tmp_path / "demo_image")
    shutil.copytree(
        ROOT / "demo_corpus",
        tmp_path / "demo_corpus",
        ignore=shutil.ignore_patterns(".r1v4-index*"),
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("R1V4_BASE_URL", raising=False)
    monkeypatch.delenv("R1V4_API_KEY", raising=False)
    monkeypatch.delenv("R1V4_MODEL", raising=False)
    return tmp_path


@pytest.fixture()
def start_batch(workdir: Path, subprocess_env: dict[str, str]):
    """Start `python3 <script> args... --no-progress` in `workdir` as a real process (for
    kill and signal tests); output is discarded unless `capture` asks for text pipes."""

    def start(script: str, *args: str, capture: bool = False) -> subprocess.Popen:
        out = subprocess.PIPE if capture else subprocess.DEVNULL
        return subprocess.Popen(
            [sys.executable, str(ROOT / script), *args, "--no-progress"],
            cwd=workdir,
            env=subprocess_env,
            text=capture,
            stdout=out,
            stderr=out,
        )

    return start


@pytest.fixture(scope="session")
def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped) on this host."""
    from r1v4._util.process import pid_alive

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    assert not pid_alive(proc.pid)
    return proc.pid


@pytest.fixture()
def subprocess_env() -> dict[str, str]:
    """Environment for running the project's scripts as subprocesses."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("R1V4_BASE_URL", None)
    return env
