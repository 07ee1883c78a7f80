"""Calls made ready ahead of time: the child of the next one-shot call is forked and
confined while the model generates, and nothing of one call reaches the next."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from PIL import Image

from r1v4.tools import ToolContext
from r1v4.tools.code import CodeSettings, CodeTool
from r1v4.tools.sandbox import server as server_module

# Real processes and sandboxes: part of the full run, not of `pytest -m "not slow"`.
pytestmark = pytest.mark.slow


@pytest.fixture(params=["auto", "off"])
def tool(request):
    if request.param == "off" and os.geteuid() != 0:
        pytest.skip("the no-bubblewrap fallback gives calls their own uid only as root")
    loop = asyncio.new_event_loop()
    tool = CodeTool(CodeSettings(timeout_s=30, use_bwrap=request.param))
    tool.loop = loop
    yield tool
    loop.run_until_complete(tool.aclose())
    loop.close()


def run(tool: CodeTool, code: str, ctx: ToolContext | None = None):
    ctx = ctx or ToolContext(case_id="spares", input_images=[])
    return tool.loop.run_until_complete(tool.execute({"code": code}, ctx))


def folder_names(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the folders the worker hands out, recorded as calls prepare them."""
    names: list[str] = []
    real = server_module.SandboxServer.prepare

    async def recording(self, *args, **kwargs):
        folder = await real(self, *args, **kwargs)
        names.append(folder.name)
        return folder

    monkeypatch.setattr(server_module.SandboxServer, "prepare", recording)
    return names


def test_calls_after_the_first_run_in_children_made_ready_and_stay_apart(
    tool: CodeTool, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = folder_names(monkeypatch)
    first = run(tool, "import os\nopen('left.txt', 'w').write('x')\nSECRET = 1\nprint(os.getuid())")
    assert first.error is None, first.text
    uids = {first.text.strip()}
    for _ in range(4):
        again = run(
            tool,
            "import os\nprint(os.getuid(), os.path.exists('left.txt'), 'SECRET' in globals())",
        )
        assert again.error is None, again.text
        uid, left, secret = again.text.split()
        assert (left, secret) == ("False", "False")  # a fresh folder, a fresh interpreter
        uids.add(uid)
    assert any(n.startswith("spare-") for n in names[1:]), names  # made ahead of time
    if tool.server.isolation.own_uid:
        assert len(uids) == 5  # the uids still rotate: each call has one of its own


def test_a_call_that_changes_no_file_skips_the_collector_and_one_that_does_not(
    tool: CodeTool, tmp_path: Path
) -> None:
    src = tmp_path / "in.png"
    Image.new("RGB", (30, 20), "red").save(src)
    ctx = ToolContext(case_id="spares", input_images=[src])
    run(tool, "pass", ctx)
    quiet = run(tool, "print('nothing made')", ctx)
    assert quiet.text.strip() == "nothing made" and quiet.images == []
    rotated = run(
        tool,
        "from PIL import Image\nImage.open(image_path).rotate(90, expand=True).save(image_path)",
        ctx,
    )
    assert [img.name for img in rotated.images] == ["in.png"]  # changed in place: collected
    named = run(tool, "print('see missing.png')", ctx)
    assert "missing.png" in named.text and "[sandbox]" in named.text  # named: looked for


def test_a_call_with_other_limits_gets_a_child_confined_with_them(tool: CodeTool) -> None:
    run(tool, "pass")
    tool.settings.memory_mb = 300  # the spare was confined with the old limits
    out = run(tool, "import resource\nprint(resource.getrlimit(resource.RLIMIT_AS)[0] >> 20)")
    assert out.error is None and out.text.strip() == "300", out.text
