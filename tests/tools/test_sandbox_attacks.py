"""Attacks on the sandbox boundary, through the real path: a scripted simulator plays the
model, the batch runs its code in the real sandbox (bubblewrap where it works), and the
host takes back what the sandbox returns. Each test asserts what a user would see: other
cases complete, the batch ends, no decoder process starts on the host, only PNG comes
back, nothing is left behind."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, write_jsonl
from tests.helpers import run_cli as run

pytestmark = pytest.mark.slow  # each runs a batch through the real sandbox

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EPS = (
    "%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
    "newpath 0 0 moveto 10 10 lineto stroke\nshowpage\n"
)
EPS_LOOP = "%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n{ 1 pop } loop\n"
CROP = (
    "from PIL import Image\n"
    "Image.open(image_path).crop((0, 0, 64, 48)).save('crop.png')\n"
    "print('cropped')\n"
)


def scripted(marker: str, code: str) -> dict:
    """A scripted model: one code call, then an answer once the observation is back."""
    call = json.dumps({"name": "code", "arguments": {"code": code}})
    return {
        "contains": marker,
        "turns": [
            f"<think>{marker}: run the code.</think>\n<tool_call>{call}</tool_call>",
            "<think>Seen the observation.</think>\n<answer>done</answer>",
        ],
    }


def observations(record: dict) -> list[dict]:
    """The JSON observations of a record's trajectory, in order."""
    text = record["response"]["full_response"]
    out = []
    for chunk in text.split("<observation>")[1:]:
        out.append(json.loads(chunk.split("</observation>")[0]))
    return out


def run_batch(workdir: Path, cases: list[dict], scripts: list[dict], *flags: str) -> dict:
    write_jsonl(workdir / "cases.jsonl", cases)
    with running_simulator(scripts=scripts) as sim:
        code = run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, *flags])
    records = {r["id"]: r for r in read_jsonl(workdir / "out.jsonl")}
    return {"code": code, "records": records}


def asset_files(workdir: Path) -> list[Path]:
    return sorted(p for p in (workdir / "out.jsonl.assets").rglob("*") if p.is_file())


def case(cid: str, marker: str) -> dict:
    return {"id": cid, "image": "./demo_image/demo_1.png", "question": f"{marker}: look"}


@pytest.fixture()
def gs_trap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake `gs` first on PATH that records any run of it in a marker file."""
    bin_dir = tmp_path / "trap-bin"
    bin_dir.mkdir()
    marker = tmp_path / "gs-ran.txt"
    gs = bin_dir / "gs"
    gs.write_text(f'#!/bin/sh\necho "$@" >> {marker}\nexit 1\n')
    gs.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return marker


def test_the_gs_trap_catches_a_host_side_eps_decode(gs_trap: Path, tmp_path: Path) -> None:
    """The detector is real: Pillow opening the EPS-as-.png on the host runs our fake gs."""
    fake = tmp_path / "x.png"
    fake.write_text(EPS)
    probe = "from PIL import Image\ntry:\n    Image.open(__import__('sys').argv[1]).load()\n"
    probe += "except Exception:\n    pass\n"
    subprocess.run([sys.executable, "-c", probe, str(fake)], env=dict(os.environ), timeout=60)
    assert gs_trap.exists(), "Pillow did not run gs: the trap would prove nothing"


def test_disguised_files_never_reach_a_host_decoder(workdir: Path, gs_trap: Path) -> None:
    """EPS (also an endless PostScript loop) saved as .png, and TGA/PCX/PPM bytes under
    .png: refused inside the jail, never decoded on the host; the real crop comes back, as
    PNG, and the batch and the other case finish."""
    attack = (
        f"open('eps.png', 'w').write({EPS!r})\n"
        f"open('loop.png', 'w').write({EPS_LOOP!r})\n"
        "from PIL import Image\n"
        "img = Image.open(image_path)\n"
        "for fmt in ('TGA', 'PCX', 'PPM'):\n"
        "    img.crop((0, 0, 16, 16)).save(fmt.lower() + '.png', format=fmt)\n"
        "img.crop((0, 0, 40, 30)).save('real.jpg', quality=90)\n"
        "print('planted')\n"
    )
    out = run_batch(
        workdir,
        [case("attack", "ATTACK-DISGUISE"), case("bystander", "BYSTANDER")],
        [scripted("ATTACK-DISGUISE", attack), scripted("BYSTANDER", CROP)],
        "--concurrency",
        "2",
    )
    assert out["code"] == 0
    records = out["records"]
    assert set(records) == {"attack", "bystander"}
    assert all("error" not in r["response"] for r in records.values())
    obs = observations(records["attack"])[0]
    assert "planted" in obs["result"]
    assert "6 new image file(s) found; returned 1, dropped 5" in obs["result"]
    assert "not a PNG, JPEG, WebP, GIF, BMP or TIFF file" in obs["result"]
    assert len(obs["images"]) == 1 and obs["images"][0].endswith(".png")
    assert len(observations(records["bystander"])[0]["images"]) == 1
    files = asset_files(workdir)
    assert len(files) == 2  # the real crop of each case, nothing else
    for path in files:
        assert path.suffix == ".png" and path.read_bytes().startswith(PNG_MAGIC), path
    assert not gs_trap.exists(), f"a gs process ran on the host: {gs_trap.read_text()}"


def test_a_thousand_deep_tree_is_reclaimed_and_later_cases_succeed(workdir: Path) -> None:
    deep = (
        "import os\n"
        "from PIL import Image\n"
        "Image.open(image_path).crop((0, 0, 32, 32)).save('top.png')\n"
        "for i in range(1000):\n"
        "    os.mkdir('d')\n"
        "    os.chdir('d')\n"
        "    open('f.png', 'wb').write(b'junk')\n"
        "print('depth', os.getcwd().count('/d'))\n"
    )
    cases = [case("deep", "ATTACK-DEEP")] + [case(f"later{i}", f"LATER{i}") for i in range(3)]
    scripts = [scripted("ATTACK-DEEP", deep)] + [scripted(f"LATER{i}", CROP) for i in range(3)]
    out = run_batch(workdir, cases, scripts, "--concurrency", "1")
    assert out["code"] == 0
    records = out["records"]
    assert all("error" not in r["response"] for r in records.values())
    obs = observations(records["deep"])[0]
    assert "depth 1000" in obs["result"]
    assert len(obs["images"]) == 1  # the top-level crop; the walk stops at its depth bound
    assert "folders nested too deep" in obs["result"]
    for i in range(3):
        later = observations(records[f"later{i}"])[0]
        assert "cropped" in later["result"] and len(later["images"]) == 1
    mine = glob.glob(f"/tmp/r1v4-sandbox-{os.getpid()}-*") + glob.glob(
        f"/tmp/r1v4-case-{os.getpid()}-*"
    )
    assert mine == [], "work folders were left behind"


def test_a_call_that_fills_its_disk_fails_alone(workdir: Path) -> None:
    fill = (
        "import time\n"
        "chunk = b'x' * (16 * 1024 * 1024)\n"
        "n = 0\n"
        "try:\n"
        "    while True:\n"
        "        with open(f'blob{n}', 'wb') as fh:\n"
        "            fh.write(chunk)\n"
        "        n += 1\n"
        "except OSError:\n"
        "    time.sleep(1.5)  # keep the disk full while the other case works\n"
        "    raise\n"
    )
    neighbour = (
        "import time\n"
        "time.sleep(0.5)\n"
        "open('scratch.bin', 'wb').write(b'y' * (20 * 1024 * 1024))\n" + CROP
    )
    out = run_batch(
        workdir,
        [case("filler", "ATTACK-FILL"), case("neighbour", "NEIGHBOUR")],
        [scripted("ATTACK-FILL", fill), scripted("NEIGHBOUR", neighbour)],
        "--concurrency",
        "2",
    )
    assert out["code"] == 0
    records = out["records"]
    filler = observations(records["filler"])[0]
    assert filler.get("error") == "OSError raised"
    assert "No space left on device" in filler["result"]
    nb = observations(records["neighbour"])[0]
    assert "error" not in nb and "cropped" in nb["result"] and len(nb["images"]) == 1
    assert all("error" not in r["response"] for r in records.values())


def _memory_cgroup_here() -> bool:
    from r1v4.tools.sandbox import cgroups

    group, _why = cgroups.create_parent()
    if group is None:
        return False
    cgroups.remove_group(group.path)
    return True


@pytest.mark.skipif(
    not _memory_cgroup_here(), reason="no memory cgroup here: the bound is per process"
)
def test_a_multi_process_memory_hog_is_bounded_as_a_whole(workdir: Path) -> None:
    """Four processes of 150 MB each fit the per-process limit of 300 MB, not the call's."""
    hog = (
        "import os, time\n"
        "kids = []\n"
        "for i in range(4):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        block = b'x' * (150 * 1024 * 1024)\n"
        "        time.sleep(3)\n"
        "        os._exit(0)\n"
        "    kids.append(pid)\n"
        "codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in kids]\n"
        "print('children', codes)\n"
    )
    out = run_batch(
        workdir,
        [case("hog", "ATTACK-HOG"), case("calm", "CALM")],
        [scripted("ATTACK-HOG", hog), scripted("CALM", CROP)],
        "--concurrency",
        "2",
        "--code-memory-mb",
        "300",
    )
    assert out["code"] == 0
    records = out["records"]
    obs = observations(records["hog"])[0]
    assert obs.get("error") == "memory limit of 300 MB reached"
    assert "for the whole call" in obs["result"]
    assert "-9" in obs["result"]  # the kernel killed at least one of the four
    calm = observations(records["calm"])[0]
    assert "error" not in calm and len(calm["images"]) == 1


def _leftovers_of(pid: int) -> list[str]:
    from r1v4.tools.sandbox import cgroups

    found = glob.glob(f"/tmp/r1v4-sandbox-{pid}-*") + glob.glob(f"/tmp/r1v4-case-{pid}-*")
    version, where = cgroups.memory_base()
    if version is not None:
        found += glob.glob(os.path.join(where, f"r1v4-sandbox-{pid}-*"))
    return sorted(found)


def test_leftovers_of_a_killed_run_are_removed_at_the_next_start(workdir: Path, start_batch):
    """SIGKILL a batch while its code runs: its case folder, sandbox root and memory group
    stay behind; the next run removes them (and leaves a live run's folders alone)."""
    import time

    sleeper = "import time\nprint('sleeping', flush=True)\ntime.sleep(60)\n"
    write_jsonl(workdir / "cases.jsonl", [case("slow", "KILLED-RUN")])
    live = Path(f"/tmp/r1v4-case-{os.getpid()}-live-test")
    live.mkdir(exist_ok=True)
    with running_simulator(scripts=[scripted("KILLED-RUN", sleeper)]) as sim:
        proc = start_batch(
            "batch_nonstream.py", "cases.jsonl", "a.jsonl", "--base-url", sim.base_url
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            found = _leftovers_of(proc.pid)
            if any("r1v4-case-" in p for p in found) and any(
                "/tmp/r1v4-sandbox-" in p for p in found
            ):
                break
            time.sleep(0.1)
        proc.kill()
        proc.wait(timeout=30)
        left = _leftovers_of(proc.pid)
        assert any("r1v4-case-" in p for p in left), left
        assert any(p.startswith("/tmp/r1v4-sandbox-") for p in left), left
        if _memory_cgroup_here():
            assert any(p.startswith("/sys/fs/cgroup") for p in left), left
        write_jsonl(workdir / "next.jsonl", [{"id": "t", "image": "", "question": "hello"}])
        assert run(["next.jsonl", "b.jsonl", "--base-url", sim.base_url]) == 0
    try:
        assert _leftovers_of(proc.pid) == []
        assert live.is_dir()  # ours: alive, untouched
    finally:
        live.rmdir()
