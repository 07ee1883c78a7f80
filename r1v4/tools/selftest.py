"""The code sandbox's start-up self-test: one real call, before anything depends on it.

A sandbox that cannot import Pillow fails every `code` call of every case, and each case
still "succeeds" with a tool error in its trajectory. So before the first case the batch
runs one real call through the real tool — open an image with PIL, crop it, turn it into a
NumPy array, save a PNG — and checks that the crop comes back as an image of the right
size and colour (and, as a note that does not stop the batch, that the crop was traced to
its region of the input, which the viewer draws). If not, the batch stops before any case
with one message saying what failed and how to fix it: which interpreter and import path
the sandbox used, which module it could not import. `python -m r1v4 check` runs the same test.

A model family's code may import more as a matter of course (Thyme writes OpenCV, PyVision
shows matplotlib figures: `CodeProfile.requires`). The same call then imports those too, and
a missing one stops the batch the same way, naming the dialect and the package to install.
"""

from __future__ import annotations

import asyncio
import io
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from r1v4.tools import (
    SandboxSelfTestFailed,
    ToolContext,
    ToolError,
    ToolRegistry,
    ToolResult,
)
from r1v4.tools.code import CodeSettings, CodeTool
from r1v4.tools.code_profile import Requirement
from r1v4.tools.sandbox.pyenv import worker_python

CROP_BOX = (8, 8, 40, 40)
COLOUR = (201, 47, 13)
SELF_TEST_CODE = f"""
import sys
try:
    import numpy
    from PIL import Image
except ImportError as exc:
    print("R1V4-SELFTEST-IMPORT|" + type(exc).__name__ + ": " + str(exc))
    raise
img = Image.open(image_path)
crop = img.crop({CROP_BOX})
array = numpy.asarray(crop)
print("R1V4-SELFTEST-ARRAY", array.shape, array.dtype)
crop.save("self_test_crop.png")
"""
REQUIRES_LINE = re.compile(r"R1V4-SELFTEST-REQUIRES\|([\w.]+)\|(.*)")
UNTRACED = (
    "the crop came back without its region of the input image: the viewer will draw no crop "
    "boxes and the crop flags cannot judge crops (the sandbox could not follow Pillow here)"
)
IMPORT_LINE = re.compile(r"R1V4-SELFTEST-IMPORT\|(.*)")
MISSING = re.compile(r"No module named '([^']+)'|cannot import name '([^']+)' from '([^']+)'")


def _modules(requires: Sequence[Requirement]) -> tuple[str, ...]:
    """The modules of `requires`, each once (two dialects may need the same one)."""
    return tuple(dict.fromkeys(r.module for r in requires))


def requirements_code(requires: Sequence[Requirement]) -> str:
    """The self-test's imports of `requires`, after its crop: each failure is one line."""
    names = _modules(requires)
    if not names:
        return ""
    return (
        f"for _name in {names!r}:\n"
        "    try:\n"
        "        __import__(_name)\n"
        "    except Exception as exc:\n"
        '        print("R1V4-SELFTEST-REQUIRES|" + _name + "|" + type(exc).__name__ + ": "'
        " + str(exc))\n"
    )


@dataclass
class SelfTestResult:
    """Whether the sandbox really ran a crop; `message` says what failed and what to do."""

    ok: bool
    detail: str  # one line: what was seen
    message: str = ""  # the full explanation when not ok
    advice: str = ""  # what to do, one line
    note: str = ""  # a lesser problem: the code runs, but something the viewer shows will not

    def __str__(self) -> str:
        return self.detail if self.ok else self.message


def _test_image(folder: Path) -> Path:
    path = folder / "self_test.png"
    img = Image.new("RGB", (64, 64), (0, 0, 0))
    img.paste(COLOUR, (0, 0, 48, 48))
    img.save(path)
    return path


def judge(
    result: ToolResult, tool: CodeTool | None, requires: Sequence[Requirement] = ()
) -> SelfTestResult:
    """Read one call's result: did the crop come back as a 32x32 image of the right colour,
    and did every module in `requires` import?"""
    python = tool.server.python if tool is not None and tool.server.python else worker_python()
    where = f"the sandbox ran {python.describe()}"
    if result.error is None and len(result.images) == 1:
        try:
            with Image.open(io.BytesIO(result.images[0].data), formats=["PNG"]) as img:
                size, pixel = img.size, img.convert("RGB").getpixel((4, 4))
        except Exception as exc:  # noqa: BLE001 - any failure to read it is a failed test
            size, pixel = None, f"unreadable ({type(exc).__name__})"
        width, height = CROP_BOX[2] - CROP_BOX[0], CROP_BOX[3] - CROP_BOX[1]
        if size == (width, height) and pixel == COLOUR and "(32, 32, 3) uint8" in result.text:
            isolation = tool.server.isolation if tool is not None else None
            how = f"; {isolation.resources()}" if isolation is not None else ""
            failed = _missing_requirement(result, requires, where, _import_path(tool, python))
            if failed is not None:
                return failed
            note = "" if result.images[0].region is not None else UNTRACED
            names = ", ".join(_modules(requires))
            imports = f"; imports {names}" if names else ""
            return SelfTestResult(
                True, f"crop returned as a {width}x{height} PNG{imports} ({where}{how})", note=note
            )
        what = f"the crop came back wrong (size {size}, pixel {pixel})"
    elif result.error is None:
        what = f"the crop did not come back as an image ({len(result.images)} images returned)"
    else:
        what = f"the call failed: {result.error}"
    found = IMPORT_LINE.search(result.text)
    if found:
        missing = MISSING.search(found.group(1))
        if missing is None:
            module = found.group(1)
        elif missing.group(1):
            module = missing.group(1)
        else:
            module = f"{missing.group(3)}.{missing.group(2)}"
        path = _import_path(tool, python)
        message = (
            f"code sandbox self-test failed: the sandbox cannot import {module} "
            f"({found.group(1)}); {where} with the import path {path}. "
            f"Install Pillow and NumPy into the environment that runs r1v4 "
            f"({sys.executable} -m pip install -r requirements.txt), or run r1v4 with the "
            "interpreter that has them. If they are installed there but live outside those "
            "folders (e.g. symlinked in from elsewhere), the jail cannot see them: install "
            "them as plain files, or use --sandbox off."
        )
        advice = f"{sys.executable} -m pip install -r requirements.txt"
        return SelfTestResult(False, f"cannot import {module}", message, advice)
    tail = result.text.strip().splitlines()[-6:]
    message = (
        f"code sandbox self-test failed: {what}; {where}. Its output ends with:\n  "
        + "\n  ".join(tail or ["(no output)"])
        + "\nFix the sandbox (see the message above), or run with --tools none or --sandbox off."
    )
    return SelfTestResult(False, what, message, "see the output above; --sandbox off to compare")


def _import_path(tool: CodeTool | None, python: Any) -> list[str]:
    """The import path the sandbox's worker reported (else its interpreter's own)."""
    info = tool.server.worker_info if tool is not None else {}
    return info.get("sys_path") or list(python.sys_path)


def _missing_requirement(
    result: ToolResult, requires: Sequence[Requirement], where: str, path: list[str]
) -> SelfTestResult | None:
    """The failed result for the first module of `requires` the sandbox could not import."""
    for found in REQUIRES_LINE.finditer(result.text):
        module, error = found.group(1), found.group(2)
        req = next((r for r in requires if r.module == module), None)
        if req is None:
            continue
        advice = f"{sys.executable} -m pip install {req.package}"
        message = (
            f"code sandbox self-test failed: the sandbox cannot import {module} ({error}), "
            f"which {req.needed_by}'s code imports: most of its code calls would fail. "
            f"{where.capitalize()} with the import path {path}. Install it into the "
            f"environment that runs r1v4 ({advice}), or run r1v4 with the interpreter that "
            "has it."
        )
        return SelfTestResult(False, f"cannot import {module}", message, advice)
    return None


async def run_self_test(tool: CodeTool, requires: Sequence[Requirement] = ()) -> SelfTestResult:
    """One real crop through `tool` (the very tool a batch will use), then the imports of
    `requires`."""
    code = SELF_TEST_CODE + requirements_code(requires)
    with tempfile.TemporaryDirectory(prefix="r1v4-selftest-") as tmp:
        image = await asyncio.to_thread(_test_image, Path(tmp))
        ctx = ToolContext(case_id="r1v4-self-test", input_images=[image])
        try:
            result = await tool.execute({"code": code}, ctx)
        except ToolError as exc:
            result = ToolResult(tool="code", text=str(exc), error=str(exc))
        finally:
            await tool.end_trajectory(ctx)
    # decodes the crop: not on the loop
    return await asyncio.to_thread(judge, result, tool, requires)


async def sandbox_self_test(
    settings: CodeSettings | None = None, requires: Sequence[Requirement] = ()
) -> SelfTestResult:
    """The self-test on a sandbox of its own (for `check`): started, used once, closed."""
    tool = CodeTool(settings or CodeSettings())
    try:
        return await run_self_test(tool, requires)
    finally:
        await tool.aclose()


async def registry_self_test(
    registry: ToolRegistry | None, requires: Sequence[Requirement] = ()
) -> SelfTestResult | None:
    """The self-test through a batch's own code tool; None when it has none."""
    spec = registry.get("code") if registry is not None else None
    tool: Any = getattr(spec.execute, "__self__", None) if spec is not None else None
    if not isinstance(tool, CodeTool):
        return None
    return await run_self_test(tool, requires)


async def check_sandbox(
    registry: ToolRegistry | None, requires: Sequence[Requirement] = ()
) -> SelfTestResult | None:
    """For the batch runner: run the self-test through the batch's code tool (and the
    imports its dialects' code needs); raise SandboxSelfTestFailed (before any case) when it
    fails. None: no code tool."""
    result = await registry_self_test(registry, requires)
    if result is not None and not result.ok:
        raise SandboxSelfTestFailed(result.message)
    return result


__all__ = [
    "SandboxSelfTestFailed",
    "SelfTestResult",
    "check_sandbox",
    "registry_self_test",
    "run_self_test",
    "sandbox_self_test",
]
