"""The code tool on the real sandbox: crops come back as images, output is captured, the
predefined variables name the staged files, calls run concurrently, a killed worker is
replaced, and failures read as clear observations."""

from __future__ import annotations

import ast
import asyncio
import io
import os
from pathlib import Path

import pytest
from PIL import Image

from r1v4.tools import ToolContext, ToolError, ToolRegistry, ToolSpec
from r1v4.tools.code import CodeSettings, make_code_tool, sandbox_status
from r1v4.tools.sandbox.bwrap import bwrap_works
from r1v4.tools.sandbox.pyenv import worker_python
from tests.helpers.code_harness import CodeHarness


@pytest.fixture(scope="module")
def h():
    harness = CodeHarness(CodeSettings(timeout_s=10, memory_mb=1024))
    yield harness
    harness.close()


@pytest.fixture()
def images(tmp_path: Path) -> list[Path]:
    """Two case images and one earlier intermediate image, owned by the test."""
    a = tmp_path / "case photo.png"  # a space: names are made safe in the folder
    Image.new("RGB", (400, 300), (200, 30, 30)).save(a)
    b = tmp_path / "second.jpg"
    Image.new("RGB", (64, 48), (0, 90, 200)).save(b)
    c = tmp_path / "crop_round1.png"
    Image.new("RGB", (20, 10), (0, 0, 0)).save(c)
    return [a, b, c]


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def test_crop_comes_back_as_an_image_of_the_right_size(h: CodeHarness, images: list[Path]) -> None:
    ctx = ToolContext(case_id="c", input_images=[images[0]])
    code = (
        "from PIL import Image\n"
        "img = Image.open(image_path)\n"
        "print('size', img.size)\n"
        "img.crop((10, 20, 110, 70)).resize((200, 100)).save('zoom.png')\n"
    )
    result = h.run(code, ctx)
    assert result.error is None, result.text
    assert result.tool == "code"
    assert "size (400, 300)" in result.text
    assert len(result.images) == 1
    image = result.images[0]
    assert image.ext == "png" and image.name == "zoom.png"
    pic = decode(image.data)
    assert pic.size == (200, 100)
    assert pic.getpixel((5, 5)) == (200, 30, 30)
    assert images[0].stat().st_size > 0  # the case's own file is untouched


def test_image_path_and_image_paths_name_the_staged_files(
    h: CodeHarness, images: list[Path]
) -> None:
    ctx = ToolContext(case_id="c", input_images=images[:2], intermediate_images=[images[2]])
    code = (
        "import os\n"
        "print('FIRST', image_path)\n"
        "print('ALL', image_paths)\n"
        "print('HERE', all(os.path.exists(p) for p in image_paths))\n"
    )
    result = h.run(code, ctx)
    assert result.error is None, result.text
    assert "FIRST case_photo.png" in result.text
    assert "ALL ['case_photo.png', 'second.jpg', 'crop_round1.png']" in result.text
    assert "HERE True" in result.text
    assert result.images == []  # staged images are not returned as new ones


def test_text_only_case_has_no_image_path(h: CodeHarness) -> None:
    result = h.run("print(image_path, image_paths)", ToolContext(case_id="t", input_images=[]))
    assert result.text.strip() == "None []"


def test_printed_paths_and_subfolders(h: CodeHarness, images: list[Path]) -> None:
    ctx = ToolContext(case_id="c", input_images=[images[0]])
    code = (
        "import os\n"
        "from PIL import Image\n"
        "os.makedirs('out', exist_ok=True)\n"
        "Image.open(image_path).rotate(90, expand=True).save('out/turned.jpg', quality=90)\n"
        "print('saved to', os.path.abspath('out/turned.jpg'))\n"
        "print('see also /etc/not_here.png and missing.png')\n"
    )
    result = h.run(code, ctx)
    assert result.error is None
    # returned under the name it was saved as, re-encoded as PNG inside the jail
    assert [(i.name, i.ext) for i in result.images] == [("out/turned.jpg", "png")]
    assert result.images[0].data.startswith(b"\x89PNG\r\n\x1a\n")
    assert decode(result.images[0].data).size == (300, 400)
    assert "/etc/not_here.png is outside the working folder" in result.text
    assert "missing.png does not exist in the working folder" in result.text


def test_output_is_captured_in_order_with_stderr(h: CodeHarness) -> None:
    code = "import sys\nprint('one')\nprint('two', file=sys.stderr)\nprint('three')"
    result = h.run(code, ToolContext(case_id="c", input_images=[]))
    assert result.text.splitlines() == ["one", "two", "three"]


def test_exception_shows_traceback_and_sets_error(h: CodeHarness) -> None:
    result = h.run("x = 1\ny = x / 0", ToolContext(case_id="c", input_images=[]))
    assert result.error == "ZeroDivisionError raised"
    assert 'File "<code>", line 2' in result.text and "y = x / 0" in result.text
    assert "ZeroDivisionError: division by zero" in result.text


def test_syntax_error_is_reported(h: CodeHarness) -> None:
    result = h.run("def broken(:\n  pass", ToolContext(case_id="c", input_images=[]))
    assert result.error == "SyntaxError raised"
    assert "SyntaxError" in result.text


def test_silent_success_says_so(h: CodeHarness) -> None:
    result = h.run("x = 1", ToolContext(case_id="c", input_images=[]))
    assert result.error is None and result.text == "(no output)"


def test_bad_arguments_are_tool_errors(h: CodeHarness) -> None:
    ctx = ToolContext(case_id="c", input_images=[])
    for args, needle in [({}, 'argument "code"'), ({"code": 5}, "must be a string")]:
        with pytest.raises(ToolError, match=needle):
            h.loop.run_until_complete(h.tool.execute(args, ctx))


def test_missing_case_image_is_a_clear_tool_error(h: CodeHarness, tmp_path: Path) -> None:
    ctx = ToolContext(case_id="c", input_images=[tmp_path / "gone.png"])
    with pytest.raises(ToolError, match="gone.png"):
        h.run("print(1)", ctx)


@pytest.mark.slow
def test_calls_run_concurrently(h: CodeHarness) -> None:
    code = (
        "import time\nstart = time.monotonic()\ntime.sleep(0.8)\nprint(start, time.monotonic())\n"
    )
    ctxs = [ToolContext(case_id=f"c{i}", input_images=[]) for i in range(6)]

    async def many():
        return await asyncio.gather(*(h.tool.execute({"code": code}, c) for c in ctxs))

    results = h.loop.run_until_complete(many())
    spans = [tuple(map(float, r.text.split())) for r in results]
    assert max(s for s, _ in spans) < min(e for _, e in spans), "calls did not overlap"


def test_killed_worker_is_restarted_transparently(h: CodeHarness) -> None:
    ctx = ToolContext(case_id="c", input_images=[])
    assert h.run("print('warm')", ctx).text.strip() == "warm"
    first_generation = h.tool.server.generation
    h.tool.server.kill_worker_for_test()
    h.loop.run_until_complete(h.tool.server.wait_worker_exit())
    result = h.run("print('again')", ctx)
    assert result.text.strip() == "again", result.text
    assert h.tool.server.generation == first_generation + 1


@pytest.mark.slow
def test_worker_lost_mid_call_reruns_the_call_with_a_note(h: CodeHarness) -> None:
    ctx = ToolContext(case_id="c", input_images=[])
    code = "import time\nprint('started', flush=True)\ntime.sleep(1.5)\nprint('finished')"

    async def scenario():
        task = asyncio.create_task(h.tool.execute({"code": code}, ctx))
        await asyncio.sleep(0.7)
        h.tool.server.kill_worker_for_test()
        return await task

    generation = h.tool.server.generation
    result = h.loop.run_until_complete(scenario())
    assert h.tool.server.generation == generation + 1
    assert result.error is None, result.text
    assert result.text.splitlines()[:2] == ["started", "finished"]
    assert "the sandbox restarted during this call; the code was run again" in result.text


@pytest.mark.slow
def test_registry_call_and_status(tmp_path: Path) -> None:
    """Through the public factory and the registry, as the agent loop uses it."""
    spec = make_code_tool(CodeSettings(timeout_s=5, work_dir=str(tmp_path / "work")))
    assert isinstance(spec, ToolSpec) and spec.name == "code"
    assert "image_path" in spec.description

    async def scenario():
        async with ToolRegistry([spec]) as registry:
            ctx = ToolContext(case_id="r", input_images=[])
            ok = await registry.call("code", {"code": "print(sum(range(10)))"}, ctx)
            bad = await registry.call("code", {"code": ["not", "text"]}, ctx)
            await registry.end_trajectory(ctx)
            return ok, bad

    ok, bad = asyncio.run(scenario())
    assert ok.text.strip() == "45" and ok.error is None
    assert bad.error and "must be a string" in bad.error
    status = sandbox_status()
    works, why = bwrap_works()
    if works:
        assert status == "bubblewrap: filesystem and network isolated"
    else:
        assert status.startswith("no bubblewrap") and why in status


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="use_bwrap"):
        CodeSettings(use_bwrap="maybe")
    with pytest.raises(ValueError, match="timeout_s"):
        CodeSettings(timeout_s=0)


def test_work_folders_are_removed(h: CodeHarness) -> None:
    code = "import os\nopen('scratch.txt', 'w').write('x')\nprint(os.listdir('.'))"
    result = h.run(code, ToolContext(case_id="c", input_images=[]))
    # an environment living under /tmp is shown, read-only, in the call's /tmp as well
    exposed = {p.split("/")[2] for p in worker_python().binds() if p.startswith("/tmp/")}
    listing = ast.literal_eval(result.text.strip())
    assert [name for name in listing if name not in exposed] == ["scratch.txt"]
    for root in {h.tool.server.host_root, h.tool.server.work_root}:
        assert [p for p in os.listdir(root) if p.startswith("call-")] == []


@pytest.mark.slow
def test_concurrent_calls_cannot_talk_over_loopback(h: CodeHarness) -> None:
    """Each call has its own network namespace: a listener in one call is unreachable from
    another call running at the same time."""
    listen = (
        "import socket\n"
        "try:\n"
        "    s = socket.socket()\n"
        "    s.bind(('127.0.0.1', 47011))\n"
        "    s.listen(1)\n"
        "    s.settimeout(1.5)\n"
        "    s.accept()\n"
        "    print('ACCEPTED')\n"
        "except OSError as exc:\n"
        "    print('no connection:', type(exc).__name__)\n"
    )
    connect = (
        "import socket, time\n"
        "time.sleep(0.3)\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', 47011), timeout=1)\n"
        "    print('CONNECTED')\n"
        "except OSError as exc:\n"
        "    print('refused:', type(exc).__name__)\n"
    )

    async def both():
        a = ToolContext(case_id="a", input_images=[])
        b = ToolContext(case_id="b", input_images=[])
        return await asyncio.gather(
            h.tool.execute({"code": listen}, a), h.tool.execute({"code": connect}, b)
        )

    first, second = h.loop.run_until_complete(both())
    assert "ACCEPTED" not in first.text and "CONNECTED" not in second.text
    assert "refused:" in second.text


def test_weakest_fallback_child_blocks_sockets_and_clears_env(tmp_path: Path) -> None:
    """The child path used when neither bubblewrap nor root is available: no namespaces,
    no uid of its own; sockets are refused by an audit hook and the environment is empty."""
    from r1v4.tools.sandbox import child

    os.environ["R1V4_API_KEY"] = "sk-fallback-secret"
    out_r, out_w = os.pipe()
    st_r, st_w = os.pipe()
    req = {
        "dir": str(tmp_path),
        "limits": {"memory_mb": 1024, "cpu_s": 5, "max_procs": 16},
        "code": (
            "import os, socket\n"
            "print('KEY', os.environ.get('R1V4_API_KEY'))\n"
            "try:\n"
            "    socket.socket()\n"
            "    print('SOCKET MADE')\n"
            "except PermissionError as exc:\n"
            "    print('refused:', exc)\n"
        ),
    }
    pid = os.fork()
    if pid == 0:  # the forked test process becomes the sandboxed child
        try:
            os.close(out_r)
            os.close(st_r)
            mode = child.Mode(own_uid=False, private_tmp=False, block_network=True)
            child.run_once(req, mode, out_w, st_w)
        finally:
            os._exit(99)
    os.close(out_w)
    os.close(st_w)
    try:
        with os.fdopen(out_r, "rb") as fh:
            output = fh.read().decode()
        with os.fdopen(st_r, "rb") as fh:
            status = fh.read().decode()
        _, wait_status = os.waitpid(pid, 0)
    finally:
        del os.environ["R1V4_API_KEY"]
    assert os.waitstatus_to_exitcode(wait_status) == 0, (output, status)
    assert "KEY None" in output
    assert "refused: network access is disabled in this sandbox" in output
    assert "SOCKET MADE" not in output


def test_subprocesses_and_multiprocessing_work_inside(h: CodeHarness) -> None:
    code = (
        "import multiprocessing as mp, subprocess, sys\n"
        "with mp.Pool(2) as pool:\n"
        "    print(pool.map(abs, [-1, -2, -3]))\n"
        "print(subprocess.run([sys.executable, '-c', 'print(7)'], capture_output=True,"
        " text=True).stdout.strip())\n"
    )
    result = h.run(code, ToolContext(case_id="mp", input_images=[]))
    assert result.error is None, result.text
    assert result.text.splitlines() == ["[1, 2, 3]", "7"]
