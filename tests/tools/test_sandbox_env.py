"""The sandbox imports what the user installed, where they installed it.

The slow test builds a throwaway virtualenv from a base interpreter (one without Pillow
where the machine has one), installs the project into it from its own files, and runs a
crop through the real sandbox with bubblewrap on and off: the crop comes back as an
image, and the sandboxed code's Pillow is the venv's. The other test builds a layout the
jail cannot see (Pillow in a symlink farm pointing into /tmp) and shows the start-up
self-test stopping the batch before any case, with a message that says why.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from r1v4.sim import running_simulator
from r1v4.tools.sandbox.bwrap import bwrap_works
from tests.helpers import ROOT, read_jsonl, write_jsonl

VENV_PROBE = textwrap.dedent(
    """
    import asyncio, io, json, sys
    from pathlib import Path
    from PIL import Image
    from r1v4.tools import ToolContext
    from r1v4.tools.code import CodeSettings, CodeTool

    CODE = (
        "import PIL, numpy\\n"
        "from PIL import Image\\n"
        "print('PIL_FILE', PIL.__file__)\\n"
        "print('ARRAY', numpy.asarray(Image.open(image_path)).shape)\\n"
        "Image.open(image_path).crop((0, 0, 30, 20)).save('crop.png')\\n"
    )

    async def one(mode, image):
        tool = CodeTool(CodeSettings(use_bwrap=mode, timeout_s=60))
        try:
            ctx = ToolContext(case_id="venv", input_images=[image])
            result = await tool.execute({"code": CODE}, ctx)
            sizes = [Image.open(io.BytesIO(i.data)).size for i in result.images]
            return {"mode": mode, "text": result.text, "error": result.error, "sizes": sizes,
                    "exts": [i.ext for i in result.images],
                    "isolation": tool.server.isolation.describe()}
        finally:
            await tool.aclose()

    image = Path(sys.argv[1])
    Image.new("RGB", (64, 48), (9, 99, 199)).save(image)
    modes = sys.argv[2].split(",")
    print(json.dumps([asyncio.run(one(m, image)) for m in modes]))
    """
)


def base_interpreter() -> tuple[str, bool]:
    """A base interpreter (>= 3.11, with venv) to build from; True when it lacks Pillow."""
    candidates = ["/usr/bin/python3", getattr(sys, "_base_executable", ""), sys.executable]
    usable: list[tuple[str, bool]] = []
    for exe in dict.fromkeys(c for c in candidates if c and os.path.exists(c)):
        probe = (
            "import sys, ensurepip, venv\n"
            "assert sys.version_info >= (3, 11)\n"
            "try:\n    import PIL\n    print('has-pil')\nexcept ImportError:\n"
            "    print('no-pil')\n"
        )
        done = subprocess.run([exe, "-c", probe], capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            usable.append((exe, "no-pil" in done.stdout))
    usable.sort(key=lambda u: not u[1])  # a base without Pillow first
    if not usable:
        pytest.fail(f"no base interpreter >= 3.11 with venv among {candidates}")
    return usable[0]


@pytest.mark.slow
def test_sandbox_in_a_fresh_virtualenv_imports_the_venvs_pillow(tmp_path: Path) -> None:
    base, lacks_pillow = base_interpreter()
    venv = tmp_path / "venv"
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    lock = ROOT / "constraints.txt"
    if lock.exists():
        install += ["-c", str(lock)]
    done = subprocess.run(
        [*install, str(ROOT)], capture_output=True, text=True, timeout=900, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    script = tmp_path / "probe.py"
    script.write_text(VENV_PROBE)
    modes = ["off"] + (["on"] if bwrap_works()[0] else [])
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    done = subprocess.run(
        [str(python), str(script), str(tmp_path / "case.png"), ",".join(modes)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # not the checkout: the installed package is what runs
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert [r["mode"] for r in results] == modes
    venv_real = os.path.realpath(venv)
    for result in results:
        assert result["error"] is None, result
        assert result["sizes"] == [[30, 20]] and result["exts"] == ["png"], result
        assert "ARRAY (48, 64, 3)" in result["text"]
        pil_file = result["text"].split("PIL_FILE ", 1)[1].split()[0]
        assert pil_file.startswith(venv_real + "/"), (pil_file, venv_real)
    if "on" in modes:
        assert results[-1]["isolation"].startswith("bubblewrap")
    if not lacks_pillow:  # still discriminating: Pillow came from the venv, not the base
        print(f"note: base {base} has Pillow too; checked PIL.__file__ instead")


def symlink_farm(tmp_path: Path) -> Path:
    """A path folder where every package links to this environment's site-packages, except
    Pillow: a real folder of per-file links into a copy under /tmp, which the bubblewrap
    jail (its own /tmp) cannot see, while this host imports it fine."""
    import PIL

    site = Path(PIL.__file__).resolve().parent.parent
    hidden = tmp_path / "hidden"
    farm = tmp_path / "farm"
    hidden.mkdir()
    farm.mkdir()
    shutil.copytree(site / "PIL", hidden / "PIL", ignore=shutil.ignore_patterns("__pycache__"))
    if (site / "pillow.libs").is_dir():
        shutil.copytree(site / "pillow.libs", hidden / "pillow.libs")
        (farm / "pillow.libs").symlink_to(hidden / "pillow.libs")
    for entry in site.iterdir():
        if entry.name not in ("PIL", "pillow.libs", "__pycache__"):
            (farm / entry.name).symlink_to(entry)
    (farm / "PIL").mkdir()
    for entry in (hidden / "PIL").iterdir():
        (farm / "PIL" / entry.name).symlink_to(entry)
    return farm


def run_batch_in(
    env: dict[str, str], workdir: Path, *args: str
) -> tuple[subprocess.CompletedProcess[str], list]:
    """`batch_nonstream.py cases.jsonl out.jsonl` under `python -S` in `env`, against the
    simulator: the finished process and the chat request bodies the simulator received."""
    with running_simulator() as sim:
        done = subprocess.run(
            [sys.executable, "-S", str(ROOT / "batch_nonstream.py"), "cases.jsonl", "out.jsonl"]
            + ["--base-url", sim.base_url, "--no-progress", *args],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return done, list(sim.requests)


@pytest.mark.skipif(not bwrap_works()[0], reason="needs bubblewrap (its private /tmp)")
@pytest.mark.slow
def test_self_test_stops_a_batch_whose_sandbox_cannot_import_pil(
    workdir: Path, tmp_path: Path
) -> None:
    farm = symlink_farm(tmp_path)
    write_jsonl(workdir / "cases.jsonl", [{"id": "q", "image": "", "question": "hello"}])
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": f"{farm}{os.pathsep}{ROOT}",
        "HOME": str(tmp_path),
    }
    host_ok = subprocess.run(
        [sys.executable, "-S", "-c", "from PIL import Image; print(Image.__name__)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert host_ok.stdout.strip() == "PIL.Image", host_ok.stderr  # the host is fine
    done, chats = run_batch_in(env, workdir)
    assert done.returncode == 2, done.stdout + done.stderr
    err = done.stderr
    assert "code sandbox self-test failed: the sandbox cannot import PIL.Image" in err
    assert os.path.realpath(sys.executable) in err  # which interpreter
    assert str(farm) in err  # with which import path
    assert "pip install" in err
    assert "to resume" not in done.stdout + err
    assert chats == []  # stopped before any case reached the model
    out = workdir / "out.jsonl"
    assert not out.exists() or read_jsonl(out) == []


def test_worker_import_path_is_the_environment_not_the_working_folder(tmp_path: Path) -> None:
    """The working folder and plain folders in it stay out of the jail; package folders in
    it (installed distributions, a project .venv's site-packages) and the environment's
    own folders are in."""
    project = tmp_path / "project"
    for sub in ("tests", "src", "deps/foo-1.0.dist-info", ".venv/lib/site-packages"):
        (project / sub).mkdir(parents=True)
    (project / ".env").write_text("SECRET=1")
    (project / "r1v4.egg-info").mkdir()  # what `pip install .` leaves in a checkout
    entries = [".", "tests", "src", "deps", ".venv/lib/site-packages"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*(str(project / e) for e in entries)]))
    probe = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from r1v4.tools.sandbox.pyenv import worker_python\n"
        "w = worker_python()\n"
        "print(json.dumps({'path': w.sys_path, 'binds': w.binds()}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=project, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    real = os.path.realpath(project)
    assert f"{real}/deps" in got["path"] and f"{real}/.venv/lib/site-packages" in got["path"]
    for left_out in (real, f"{real}/tests", f"{real}/src"):
        assert left_out not in got["path"]
    assert not any(real == b or real.startswith(b + "/") for b in got["binds"])  # not .env
    import PIL

    assert any(os.path.dirname(os.path.realpath(PIL.__file__)).startswith(p) for p in got["path"])


def test_check_reports_the_sandbox_self_test(capsys: pytest.CaptureFixture[str]) -> None:
    from r1v4.cli import main

    with running_simulator() as sim:
        code = main(["check", "--base-url", sim.base_url, "--model", "r1v4-sim"])
    out = capsys.readouterr().out
    assert code == 0, out
    line = next(line for line in out.splitlines() if " sandbox " in line)
    assert line.startswith("ok ") and "crop returned as a 32x32 PNG" in line
    assert os.path.realpath(sys.executable) in line  # which interpreter the sandbox ran
    assert "warning" not in line  # the crop was traced to its region of the input


def test_a_crop_without_its_region_is_a_warning_not_a_failure() -> None:
    from r1v4.tools import ToolImage, ToolResult
    from r1v4.tools.selftest import COLOUR, CROP_BOX, UNTRACED, judge

    size = (CROP_BOX[2] - CROP_BOX[0], CROP_BOX[3] - CROP_BOX[1])
    buf = io.BytesIO()
    Image.new("RGB", size, COLOUR).save(buf, format="PNG")
    text = "R1V4-SELFTEST-ARRAY (32, 32, 3) uint8\n"
    result = judge(ToolResult("code", text, [ToolImage(buf.getvalue())]), None)
    assert result.ok and result.note == UNTRACED


def farm_without(tmp_path: Path, *names: str) -> Path:
    """A path folder linking to every entry of this environment's site-packages except the
    ones starting with `names`: an environment where those were never installed."""
    import PIL

    site = Path(PIL.__file__).resolve().parent.parent
    farm = tmp_path / "farm"
    farm.mkdir()
    for entry in site.iterdir():
        if not entry.name.startswith(names) and entry.name != "__pycache__":
            (farm / entry.name).symlink_to(entry)
    return farm


@pytest.mark.slow
@pytest.mark.parametrize("how", ["--dialect", "case field"])
def test_a_thyme_batch_without_opencv_stops_before_any_case(
    workdir: Path, tmp_path: Path, how: str
) -> None:
    """Thyme's model writes OpenCV code: in an environment without OpenCV (installed from
    requirements.txt alone) each of its calls would fail, and each case still "succeed".
    The self-test imports cv2 first and stops the batch, naming the package. (Sandbox off:
    what is checked is the dialect's import, not the jail's view of the farm under /tmp.)"""
    pytest.importorskip("cv2")
    farm = farm_without(tmp_path, "cv2", "opencv")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": f"{farm}{os.pathsep}{ROOT}",
        "HOME": str(tmp_path),
    }
    case = {"id": "q", "image": "", "question": "hello"}
    if how == "case field":
        case["dialect"] = "thyme"
    write_jsonl(workdir / "cases.jsonl", [case])
    args = ["--sandbox", "off"] + (["--dialect", "thyme"] if how == "--dialect" else [])
    done, chats = run_batch_in(env, workdir, "--model", "r1v4-sim", *args)
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "code sandbox self-test failed: the sandbox cannot import cv2" in out
    assert "the thyme dialect's code imports" in out
    assert "pip install opencv-python-headless" in out
    assert chats == []  # stopped before any case reached the model
    assert not (workdir / "out.jsonl").exists() or read_jsonl(workdir / "out.jsonl") == []
    if how == "--dialect":  # the demo too, and it does not point at an empty result file
        demo = subprocess.run(
            [sys.executable, "-S", str(ROOT / "batch_nonstream.py"), "--demo"]
            + ["--dialect", "thyme", "--sandbox", "off", "--no-progress"],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert demo.returncode == 2, demo.stdout + demo.stderr
        assert "cannot import cv2" in demo.stderr and "visual.py" not in demo.stdout
    # The same environment runs a dialect whose code needs nothing more.
    write_jsonl(workdir / "cases.jsonl", [{"id": "q", "image": "", "question": "hello"}])
    done, chats = run_batch_in(env, workdir, "--model", "r1v4-sim", "--sandbox", "off")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "code sandbox self-test: ok" in out and "imports cv2" not in out
    assert len(chats) == 1
