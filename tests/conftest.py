"""Shared fixtures: a fresh project-like folder per test, fast retries, and helpers to run
batches against the simulator on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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


def write_jsonl(path: Path, rows: list[dict | str]) -> Path:
    """Write rows (dicts, or raw strings for deliberately bad lines) as JSONL."""
    with open(path, "wb") as fh:
        for row in rows:
            fh.write((row.encode() if isinstance(row, str) else orjson.dumps(row)) + b"\n")
    return path


def run_cli(argv: list[str], mode: str = "nonstream") -> int:
    """Run a batch command line in-process, as `python3 batch_<mode>.py argv` would."""
    from r1v4.cli.run import main

    return main([*argv, "--no-progress"], mode=mode)


def read_jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in Path(path).read_bytes().splitlines() if line.strip()]


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


# -- viewer: a module defines `data_dir` (a folder holding result_a.jsonl); these build on it --


@pytest.fixture()
def app(data_dir: Path):
    """The viewer app over `data_dir/result_a.jsonl`, rooted at `data_dir`."""
    from r1v4.viewer import create_app

    return create_app(
        {
            "RESULT_FILES": [str(data_dir / "result_a.jsonl")],
            "ROOTS": [str(data_dir)],
            "CWD": str(data_dir),
        }
    )


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def fid(app) -> str:
    """The viewer's id of result_a.jsonl."""
    from r1v4.viewer import get_library

    return get_library(app).files()[0].fid
