"""--code-session: one sandboxed interpreter per trajectory, on the real fork server.

Variables persist between calls of one trajectory and never leak into another; a session
that dies (timeout, os._exit, killed between calls) is replaced with a clear note;
between calls nothing of the session runs (a faked "done" marker or a background thread
cannot run on); end_trajectory ends it.
"""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path

import pytest
from PIL import Image

from r1v4.tools import ToolContext
from r1v4.tools.code import SESSION_KEY, CodeSettings
from tests.helpers.code_harness import CodeHarness


@pytest.fixture(scope="module")
def h():
    harness = CodeHarness(CodeSettings(timeout_s=2, memory_mb=1024, session=True))
    yield harness
    harness.close()


def test_variables_persist_within_a_trajectory_only(h: CodeHarness) -> None:
    one = ToolContext(case_id="one", input_images=[])
    two = ToolContext(case_id="two", input_images=[])
    assert h.run("x = 41\nimport numpy as np\narr = np.arange(3)", one).error is None
    assert h.run("print(x + 1, arr.sum())", one).text.strip() == "42 3"
    other = h.run("print(x)", two)
    assert other.error == "NameError raised" and "name 'x' is not defined" in other.text
    h.end(one)
    h.end(two)
    fresh = h.run("print(x)", one)  # after end_trajectory the context starts over
    assert fresh.error == "NameError raised"
    h.end(one)


def test_session_images_only_new_ones_come_back(h: CodeHarness, tmp_path: Path) -> None:
    src = tmp_path / "case.png"
    Image.new("RGB", (120, 80), (10, 200, 10)).save(src)
    ctx = ToolContext(case_id="imgs", input_images=[src])
    code = "from PIL import Image\nimg = Image.open(image_path)\n"
    code += "img.crop((0, 0, 60, 40)).save('a.png')"
    first = h.run(code, ctx)
    assert [i.name for i in first.images] == ["a.png"]
    crop = tmp_path / "round1.png"
    crop.write_bytes(first.images[0].data)
    ctx.intermediate_images.append(crop)  # the agent records round 1's image
    second = h.run("print(image_paths)\nimg.resize((240, 160)).save('b.png')", ctx)
    assert "['case.png', 'round1.png']" in second.text
    assert [i.name for i in second.images] == ["b.png"]
    big = Image.open(io.BytesIO(second.images[0].data))
    assert big.size == (240, 160)
    h.end(ctx)


@pytest.mark.slow
def test_dead_session_is_replaced_with_a_note(h: CodeHarness) -> None:
    ctx = ToolContext(case_id="dies", input_images=[])
    h.run("kept = 'value'", ctx)
    looped = h.run("while True:\n    pass", ctx)
    assert looped.error == "timed out after 2 s"
    assert "session ended with this call" in looped.text
    after = h.run("print(globals().get('kept'))", ctx)
    assert after.error is None and after.text.strip() == "None"
    exited = h.run("import os\nos._exit(0)", ctx)
    assert "session ended" in exited.text
    assert h.run("print('alive')", ctx).text.strip() == "alive"
    h.end(ctx)


def test_system_exit_keeps_the_session(h: CodeHarness) -> None:
    ctx = ToolContext(case_id="exit", input_images=[])
    h.run("y = 5", ctx)
    result = h.run("import sys\nsys.exit(2)", ctx)
    assert result.error == "exit code 2"
    assert h.run("print(y)", ctx).text.strip() == "5"
    h.end(ctx)


def test_planted_symlink_cannot_redirect_staging(h: CodeHarness, tmp_path: Path) -> None:
    """The code plants a symlink under the name the next staged image will get; staging
    must not write through it (as root, that would overwrite any host file)."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    ctx = ToolContext(case_id="plant", input_images=[])
    plant = f"import os\nos.symlink({str(victim)!r}, 'round1.png')\nprint('planted')"
    assert h.run(plant, ctx).text.strip() == "planted"
    crop = tmp_path / "round1.png"
    Image.new("RGB", (30, 20), (1, 2, 3)).save(crop)
    ctx.intermediate_images.append(crop)
    result = h.run(
        "from PIL import Image\nprint(image_paths, Image.open(image_paths[0]).size)", ctx
    )
    assert victim.read_text() == "precious"
    assert "['round1_2.png'] (30, 20)" in result.text
    h.end(ctx)


def _wait_gone(pids_of, timeout_s: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    left = pids_of()
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = pids_of()
    return left


def _pids_with(uid: int | None = None, needle: str | None = None) -> list[int]:
    """Live host processes owned by uid, or whose command line holds needle."""
    from r1v4.tools.sandbox.privileges import process_ids

    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        ids = process_ids(int(entry))
        if ids is None:
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if (uid is not None and ids[0] == uid) or (needle is not None and needle in cmdline):
            found.append(int(entry))
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="sessions have a uid of their own only as root")
@pytest.mark.slow
def test_session_that_died_between_calls_is_restarted_and_runs_the_code(h: CodeHarness) -> None:
    ctx = ToolContext(case_id="killed", input_images=[])
    assert h.run("kept = 'value'", ctx).error is None
    session = ctx.state[SESSION_KEY]
    uid = session.slot.uid
    assert _pids_with(uid), "the session's interpreter should be alive between calls"
    for pid in _pids_with(uid):  # as the OOM killer or an operator would
        os.kill(pid, signal.SIGKILL)
    assert _wait_gone(lambda: _pids_with(uid)) == []
    after = h.run("print('kept' in globals())\nprint('ran')", ctx)
    assert after.error is None, after.text
    assert after.text.splitlines()[:2] == ["False", "ran"]
    assert "restarted" in after.text
    assert h.run("print('still here')", ctx).text.strip() == "still here"
    h.end(ctx)


@pytest.mark.slow
def test_faked_done_marker_does_not_let_code_run_on(h: CodeHarness) -> None:
    """The code writes the worker's "done" status itself and keeps going: the call returns,
    and nothing of it runs until the trajectory's next call."""
    ctx = ToolContext(case_id="fake-done", input_images=[])
    code = (
        "import os, time\n"
        'os.write(3, b\'{"done": true, "exit": 0}\\n\')\n'
        "time.sleep(0.3)\n"
        "open('late.txt', 'w').write('ran on after the call returned')\n"
    )
    h.run(code, ctx)
    folder = ctx.state[SESSION_KEY].folder.host_path
    time.sleep(1.5)  # ample time for the planted code to run on, were it not stopped
    assert not (folder / "late.txt").exists()
    h.end(ctx)


@pytest.mark.slow
def test_threads_and_processes_do_not_outlive_their_call(h: CodeHarness) -> None:
    ctx = ToolContext(case_id="background", input_images=[])
    marker = "4343.4343"
    code = (
        "import subprocess, threading, time\n"
        f"subprocess.Popen(['sleep', '{marker}'])\n"
        "def tick():\n"
        "    while True:\n"
        "        with open('ticks.txt', 'a') as fh:\n"
        "            fh.write('x')\n"
        "        time.sleep(0.02)\n"
        "threading.Thread(target=tick, daemon=True).start()\n"
        "time.sleep(0.2)\n"
        "print('started')\n"
    )
    assert h.run(code, ctx).text.strip() == "started"
    assert _wait_gone(lambda: _pids_with(needle=marker)) == []
    ticks = ctx.state[SESSION_KEY].folder.host_path / "ticks.txt"
    before = ticks.stat().st_size
    time.sleep(1.0)
    assert ticks.stat().st_size == before  # the thread is frozen between calls
    h.end(ctx)


def test_sessions_that_end_leave_no_folder_behind(h: CodeHarness) -> None:
    ctx = ToolContext(case_id="ends", input_images=[])
    h.run("open('data.bin', 'wb').write(b'x' * 1_000_000)", ctx)
    assert "session ended" in h.run("import os\nos._exit(0)", ctx).text
    h.run("open('more.bin', 'wb').write(b'y')", ctx)
    h.end(ctx)
    left = [n for n in os.listdir(h.tool.server.host_root) if n.startswith("session-")]
    assert left == [], "a session's folder outlived it"
