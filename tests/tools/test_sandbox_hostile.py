"""Hostile code in the real sandbox: each attack is contained, the observation says what
happened, no process of the call survives it, and the very next call still works.

Runs against real fork-server subprocesses, once with the isolation this machine offers
("auto": bubblewrap where it works) and once with bubblewrap switched off (the fallback).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest

from r1v4.tools import ToolContext, ToolResult
from r1v4.tools.code import CodeSettings, CodeTool

# Real processes and sandboxes: part of the full run, not of `pytest -m "not slow"`.
pytestmark = pytest.mark.slow

SECRET = "sk-sandbox-test-secret-4711"
TIMEOUT_S = 2.0


class Harness:
    """A CodeTool driven from synchronous tests on its own event loop."""

    def __init__(self, settings: CodeSettings, ctx: ToolContext) -> None:
        self.loop = asyncio.new_event_loop()
        self.tool = CodeTool(settings)
        self.ctx = ctx

    def run(self, code: str) -> ToolResult:
        return self.loop.run_until_complete(self.tool.execute({"code": code}, self.ctx))

    def close(self) -> None:
        self.loop.run_until_complete(self.tool.aclose())
        self.loop.close()


def live_processes(uid_range: tuple[int, int] | None, marker: str | None = None) -> list[int]:
    """Host pids (zombies excluded) owned by a sandbox uid, or whose command line has marker."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("State", "").strip().startswith("Z"):
            continue
        uid = int(fields["Uid"].split()[0])
        in_range = uid_range is not None and uid_range[0] <= uid < uid_range[1]
        if in_range or (marker is not None and marker in cmdline):
            found.append(int(entry))
    return found


def assert_no_leftovers(h: Harness, marker: str | None = None) -> None:
    """Every process of the call is gone (allowing a moment for the kernel to reap). The
    children the worker forked ahead of time for the next calls go first: they are the
    worker's, run no code, and are killed by pid alone, so whatever else of a sandbox uid
    still runs is what the call left."""
    h.loop.run_until_complete(h.tool.server.drop_spares())
    deadline = time.monotonic() + 5
    left = live_processes(h.tool.server.uid_range, marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = live_processes(h.tool.server.uid_range, marker)
    assert not left, f"processes survived the call: {left}"


def assert_healthy(h: Harness) -> None:
    result = h.run("print(6 * 7)")
    assert result.error is None, result.text
    assert result.text.strip() == "42"
    assert_no_leftovers(h)


@pytest.fixture(scope="module", params=["auto", "off"])
def h(request, tmp_path_factory):
    """One warm sandbox per mode, started while R1V4_API_KEY is set in our environment."""
    if request.param == "off" and os.geteuid() != 0:
        pytest.skip("the no-bubblewrap fallback isolates calls only when run as root")
    folder = tmp_path_factory.mktemp("hostile")
    old = os.environ.get("R1V4_API_KEY")
    os.environ["R1V4_API_KEY"] = SECRET
    settings = CodeSettings(
        timeout_s=TIMEOUT_S, memory_mb=256, max_procs=32, disk_mb=128, use_bwrap=request.param
    )
    harness = Harness(settings, ToolContext(case_id="hostile", input_images=[]))
    harness.run("pass")  # start the worker while the secret is in the environment
    harness.folder = folder
    yield harness
    harness.close()
    if old is None:
        os.environ.pop("R1V4_API_KEY", None)
    else:
        os.environ["R1V4_API_KEY"] = old


def test_infinite_loop_times_out(h: Harness) -> None:
    result = h.run("while True:\n    pass")
    assert result.error == f"timed out after {TIMEOUT_S:g} s"
    assert "timed out after 2 s" in result.text and "processes were killed" in result.text
    assert_healthy(h)


def test_sigterm_ignoring_code_is_killed(h: Harness) -> None:
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ignoring SIGTERM', flush=True)\n"
        "while True:\n    time.sleep(0.05)\n"
    )
    result = h.run(code)
    assert "ignoring SIGTERM" in result.text
    assert result.error and result.error.startswith("timed out")
    assert_healthy(h)


@pytest.mark.parametrize(
    "code",
    [
        "x = bytearray(64 * 1024 ** 3)",
        "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))",
        "import numpy as np\na = np.ones((60000, 60000))",
    ],
    ids=["one-huge", "growing", "numpy"],
)
def test_memory_bomb_hits_the_limit(h: Harness, code: str) -> None:
    result = h.run(code)
    assert result.error == "memory limit of 256 MB reached"
    assert "MemoryError" in result.text and "memory limit of 256 MB" in result.text
    assert_healthy(h)


def test_fork_bomb_is_capped_and_cleaned_up(h: Harness) -> None:
    result = h.run("import os\nwhile True:\n    os.fork()")
    assert result.error is not None
    assert "BlockingIOError" in result.text or "timed out" in result.text
    assert_healthy(h)


def test_network_socket_cannot_reach_loopback_listener(h: Harness) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.3)
    port = listener.getsockname()[1]
    try:
        code = (
            "import socket\n"
            "try:\n"
            f"    s = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    s.sendall(b'hello')\n"
            "    print('CONNECTED')\n"
            "except OSError as exc:\n"
            "    print('BLOCKED', type(exc).__name__, exc)\n"
        )
        result = h.run(code)
        assert "BLOCKED" in result.text and "CONNECTED" not in result.text
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing from the sandbox ever arrived
    finally:
        listener.close()
    assert_healthy(h)


def test_writing_outside_the_working_folder_fails(h: Harness) -> None:
    outside = h.folder / "outside"
    outside.mkdir(exist_ok=True)
    targets = [outside / "evil.txt", h.tool.server.work_root / "evil.txt"]
    code = "import os\n"
    for target in targets:
        code += (
            "try:\n"
            f"    open({str(target)!r}, 'w').write('pwned')\n"
            f"    print('WROTE', {str(target)!r})\n"
            "except OSError as exc:\n"
            "    print('REFUSED', type(exc).__name__)\n"
        )
    result = h.run(code)
    assert "WROTE" not in result.text
    assert result.text.count("REFUSED") == len(targets)
    for target in targets:
        assert not target.exists(), f"sandboxed code created {target}"
    assert_healthy(h)


def test_api_key_is_not_visible(h: Harness) -> None:
    assert os.environ["R1V4_API_KEY"] == SECRET  # it is there for us...
    code = (
        "import os, glob\n"
        "print('ENV', sorted(os.environ))\n"
        "print('KEY', os.environ.get('R1V4_API_KEY'))\n"
        f"needle = {SECRET!r}.encode()\n"
        "for path in glob.glob('/proc/*/environ') + glob.glob('/proc/*/cmdline'):\n"
        "    try:\n"
        "        if needle in open(path, 'rb').read():\n"
        "            print('LEAK', path)\n"
        "    except OSError:\n"
        "        pass\n"
    )
    result = h.run(code)
    assert "KEY None" in result.text  # ...and not for the code
    assert SECRET not in result.text and "LEAK" not in result.text
    assert "R1V4" not in result.text
    assert_healthy(h)


def test_printing_100_mb_is_capped(h: Harness) -> None:
    code = "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1_000_000)\nprint('END')"
    h.tool.settings.timeout_s = 20.0  # writing 100 MB may take a while on a loaded machine
    try:
        result = h.run(code)
    finally:
        h.tool.settings.timeout_s = TIMEOUT_S
    assert result.error is None
    assert len(result.text) < h.tool.settings.max_output_chars + 500
    assert result.text.startswith("xxxx")
    assert "END" in result.text  # the tail is kept
    assert "output was 100000004 bytes" in result.text
    assert_healthy(h)


def test_saving_1000_images_returns_the_cap(h: Harness) -> None:
    code = (
        "from PIL import Image\n"
        "for i in range(1000):\n"
        "    Image.new('RGB', (8, 8), (i % 256, 0, 0)).save(f'img_{i:04d}.png')\n"
    )
    result = h.run(code)
    assert len(result.images) == h.tool.settings.max_images == 8
    assert "1000 new image file(s) found; returned 8, dropped 992" in result.text
    assert_healthy(h)


def test_os_exit_reports_the_code(h: Harness) -> None:
    result = h.run("import os\nprint('before', flush=True)\nos._exit(3)")
    assert result.text.startswith("before")
    assert result.error == "exit code 3"
    assert "exited with code 3" in result.text
    assert_healthy(h)


def test_segfault_is_reported(h: Harness) -> None:
    result = h.run("import ctypes\nctypes.string_at(0)")
    assert result.error == "crashed with SIGSEGV"
    assert "segmentation fault" in result.text
    assert_healthy(h)


def test_child_processes_left_behind_are_killed(h: Harness) -> None:
    marker = "4242.4242"
    code = (
        "import os, subprocess, time\n"
        f"subprocess.Popen(['sleep', '{marker}'])\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"  # escape the process group, like a daemon
        "    if os.fork() == 0:\n"
        f"        os.execvp('sleep', ['sleep', '{marker}'])\n"
        "    os._exit(0)\n"
        "time.sleep(0.2)\n"
        "print('spawned')\n"
    )
    result = h.run(code)
    assert "spawned" in result.text and result.error is None
    assert_no_leftovers(h, marker)
    assert_healthy(h)


def test_filling_the_disk_stops_at_the_work_tmpfs(h: Harness) -> None:
    code = (
        "n = 0\n"
        "try:\n"
        "    while True:\n"
        "        with open(f'blob{n}', 'wb') as fh:\n"
        "            fh.write(b'x' * (16 * 1024 * 1024))\n"
        "        n += 1\n"
        "except OSError as exc:\n"
        "    print('STOPPED', exc.strerror)\n"
    )
    result = h.run(code)
    assert "STOPPED No space left on device" in result.text
    assert list(h.tool.server.work_root.iterdir()) == []  # nothing reached the host's disk
    assert_healthy(h)


def test_inode_use_is_bounded_per_call(h: Harness) -> None:
    """Empty files cost no bytes but an inode each: the call's folder caps their number."""
    if not h.tool.server.isolation.tmpfs_per_call:
        pytest.skip("no tmpfs per call here (not root): inodes are the host disk's")
    code = (
        "import os\n"
        "n = 0\n"
        "try:\n"
        "    while True:\n"
        "        open(f'f{n}', 'w').close()\n"
        "        n += 1\n"
        "except OSError as exc:\n"
        "    print('STOPPED', exc.strerror, n < 20000)\n"
    )
    result = h.run(code)
    assert "STOPPED No space left on device True" in result.text, result.text
    assert_healthy(h)
