"""Calls answered while their process is still exiting: a one-shot call that changed no
file gets its reply as soon as its child has reported how the code ended and is exiting
(tearing the fork down takes milliseconds); the child is reaped, its uid checked and its
folder discarded right after, always before that uid serves another call."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from r1v4.tools import ToolContext
from r1v4.tools.code import CodeSettings, CodeTool
from r1v4.tools.sandbox import runrequest as runrequest_module
from r1v4.tools.sandbox import server as server_module

# Real processes and sandboxes: part of the full run, not of `pytest -m "not slow"`.
pytestmark = pytest.mark.slow

# 128 MB written: the process takes a while to tear down after its last status, so the
# worker sees that status while the process is still exiting, however busy the machine
SLOW_EXIT = "_ballast = bytearray(128 << 20)\n"

OTHERS_OF_MY_UID = SLOW_EXIT + (
    "import os\n"
    "me, uid, others = os.getpid(), os.getuid(), []\n"
    "for p in os.listdir('/proc'):\n"
    "    if p.isdigit() and int(p) != me:\n"
    "        try:\n"
    "            status = open(f'/proc/{p}/status').read()\n"
    "        except OSError:\n"
    "            continue\n"
    "        if f'Uid:\\t{uid}\\t' in status:\n"
    "            others.append(p)\n"
    "print(uid, len(others))\n"
)


def make_tool(request, **settings) -> CodeTool:
    if request.param == "off" and os.geteuid() != 0:
        pytest.skip("the no-bubblewrap fallback gives calls their own uid only as root")
    tool = CodeTool(CodeSettings(timeout_s=30, use_bwrap=request.param, **settings))
    # a child that reported is waited for until it exits, not 2 ms: on a busy machine
    # it may not have begun to exit by then, and the call would end at the exit instead
    tool.server.exit_wait_s = 5.0
    tool.loop = asyncio.new_event_loop()
    return tool


def close(tool: CodeTool) -> None:
    tool.loop.run_until_complete(tool.aclose())
    tool.loop.close()


@pytest.fixture(params=["auto", "off"])
def tool(request):
    tool = make_tool(request)
    yield tool
    close(tool)


@pytest.fixture(params=["auto", "off"])
def two_uids(request):
    """A tool with two uids only, so each is lent again two calls later."""
    tool = make_tool(request, max_concurrency=1, max_sessions=1)
    yield tool
    close(tool)


def outcomes(monkeypatch: pytest.MonkeyPatch) -> list:
    """The worker's outcomes of one-shot calls, recorded as they come back."""
    seen: list = []
    real = server_module.SandboxServer.run

    async def recording(self, *args, **kwargs):
        outcome = await real(self, *args, **kwargs)
        seen.append(outcome)
        return outcome

    monkeypatch.setattr(server_module.SandboxServer, "run", recording)
    return seen


def run(tool: CodeTool, code: str):
    ctx = ToolContext(case_id="early", input_images=[])
    return tool.loop.run_until_complete(tool.execute({"code": code}, ctx))


def early_here(tool: CodeTool) -> bool:
    """Calls are answered early where each has its own uid and memory group."""
    iso = tool.server.isolation
    return iso.own_uid and bool(iso.memory_cgroup) and iso.tmpfs_per_call


def test_a_quiet_call_answered_early_keeps_its_whole_output_and_exit_code(
    tool: CodeTool, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = outcomes(monkeypatch)
    run(tool, "pass")
    code = SLOW_EXIT + "import sys\nfor i in range(3000):\n    print('line', i)\nsys.exit(3)"
    for _ in range(3):
        result = run(tool, code)
        assert result.error == "exit code 3"
        assert "line 0" in result.text and "line 2999" in result.text
        plain = run(tool, SLOW_EXIT + "print(6 * 7)")
        assert plain.error is None and plain.text.strip() == "42"
    assert [o.exit_code for o in seen[1:]] == [3, 0] * 3
    if early_here(tool):
        assert any(o.early for o in seen[1:]), "no call was answered while exiting"


def test_a_call_that_fakes_its_last_status_and_runs_on_is_waited_for(tool: CodeTool) -> None:
    run(tool, "pass")
    code = (
        "import os, time\n"
        'os.write(3, b\'{"exit": 0, "changed": false}\\n\')\n'
        "time.sleep(0.3)\n"
        "print('after the fake report')\n"
        "raise SystemExit(5)\n"
    )
    result = run(tool, code)
    assert "after the fake report" in result.text
    assert result.error == "exit code 5"  # its last status counts, not the fake


def test_a_call_that_makes_an_image_waits_for_its_exit_and_gets_it(
    tool: CodeTool, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = outcomes(monkeypatch)
    run(tool, "pass")
    result = run(tool, "from PIL import Image\nImage.new('RGB', (8, 6), 'red').save('out.png')")
    assert result.error is None, result.text
    assert [i.name for i in result.images] == ["out.png"]
    assert not seen[-1].early


def test_a_uid_lent_again_finds_nothing_of_its_last_call(
    two_uids: CodeTool, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = outcomes(monkeypatch)
    uids = []
    for _ in range(8):  # back to back, so a uid comes back while its last call may be exiting
        result = run(two_uids, OTHERS_OF_MY_UID)
        assert result.error is None, result.text
        uid, others = result.text.split()
        assert others == "0", result.text
        uids.append(uid)
    if two_uids.server.isolation.own_uid:
        assert len(set(uids)) == 2 and uids[0] != uids[1]
    if early_here(two_uids):
        assert any(o.early for o in seen[1:]), "no call was answered while exiting"


def test_folders_of_calls_answered_early_are_all_discarded(tool: CodeTool) -> None:
    for i in range(6):
        assert run(tool, f"print({i})").text.strip() == str(i)
    tool.loop.run_until_complete(tool.server.drop_spares())
    left = [p.name for p in tool.server.host_root.iterdir() if not p.name.startswith(".")]
    assert left == []


def test_a_cancelled_call_is_killed_and_its_uid_comes_back_after(tool: CodeTool) -> None:
    async def cancel_midway() -> None:
        ctx = ToolContext(case_id="early", input_images=[])
        task = asyncio.ensure_future(
            tool.execute({"code": "import time\nprint('started', flush=True)\ntime.sleep(20)"}, ctx)
        )
        await asyncio.sleep(0.5)  # the code is running (or about to): cancel it there
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    tool.loop.run_until_complete(cancel_midway())
    after = run(tool, "print('next')")
    assert after.error is None and after.text.strip() == "next"
    tool.loop.run_until_complete(tool.server.drop_spares())
    left = [p.name for p in tool.server.host_root.iterdir() if not p.name.startswith(".")]
    assert left == []  # the cancelled call's folder went once the worker had killed it


def test_a_hung_worker_is_restarted_and_the_call_run_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs the worker's own pid: the no-bubblewrap fallback, as root")
    monkeypatch.setattr(runrequest_module, "REPLY_GRACE_S", 0.5)
    tool = CodeTool(CodeSettings(timeout_s=1, collect_timeout_s=1, use_bwrap="off"))
    tool.loop = asyncio.new_event_loop()
    try:
        assert run(tool, "print(1)").text.strip() == "1"
        pid = tool.server.worker_pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # alive, but answers nothing
        result = run(tool, "print(2)")
        assert result.error is None, result.text
        assert result.text.startswith("2")
        assert "the sandbox restarted during this call" in result.text
        assert tool.server.worker_pid != pid
    finally:
        close(tool)
