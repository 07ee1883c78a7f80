"""Installed, it works anywhere: `pip install .` gives an `r1v4` command, and `r1v4 run
--demo` run from an empty folder finds every demo file (images, cases, corpus, scripts) in
the installed package and writes its results in that folder.

The project is installed from a copy of what a wheel is built from (pyproject.toml,
README.md, r1v4/), so nothing outside the package can help the demo, and the checkout
gets no build/ or egg-info. The throwaway venv sees the running environment's packages
through a .pth file (the point is packaging, not dependency isolation, which the sandbox's
venv test covers), so the install runs offline: `--no-deps --no-build-isolation`.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import venv
from pathlib import Path

import pytest

from tests.helpers import ROOT, read_jsonl

pytestmark = pytest.mark.slow  # a venv, a package build and a demo batch: some seconds


def installed_venv(tmp_path: Path) -> Path:
    """A venv holding an install of this project, seeing this environment's packages."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "r1v4",
        source / "r1v4",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".r1v4-index*"),
    )
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    here = [p for p in [*site.getsitepackages(), site.getusersitepackages()] if os.path.isdir(p)]
    Path(purelib, "outer-environment.pth").write_text("\n".join(here) + "\n")
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--ignore-installed", "--no-index", "-q", str(source)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return env_dir


def test_r1v4_run_demo_works_from_an_empty_folder_after_pip_install(tmp_path: Path) -> None:
    env_dir = installed_venv(tmp_path)
    empty = tmp_path / "anywhere"
    empty.mkdir()
    env = {
        "PATH": f"{env_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    where = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c",
         "import json, r1v4, r1v4.demo as d; print(json.dumps([r1v4.__file__, str(d.DATA_DIR)]))"],
        capture_output=True, text=True, cwd=empty, env=env, check=True,
    )  # fmt: skip
    package_file, data_dir = json.loads(where.stdout)
    assert package_file.startswith(str(env_dir)), package_file  # the install, not the checkout
    done = subprocess.run(
        [str(env_dir / "bin" / "r1v4"), "run", "--demo", "--no-progress"],
        capture_output=True,
        text=True,
        cwd=empty,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cases: 4  succeeded: 4  failed: 0" in done.stdout
    assert "accuracy: 2/2" in done.stdout
    assert "r1v4 view 8080 result_nonstream.jsonl" in done.stdout  # the installed command
    records = read_jsonl(empty / "result_nonstream.jsonl")
    assert len(records) == 4 and all("error" not in r["response"] for r in records)
    for record in records:
        for ref in record.get("assets", []):  # intermediate images, beside the results
            assert (empty / ref).is_file(), ref
        for image in record["images"]:  # inputs, from the installed package's demo data
            assert (Path(data_dir) / image).is_file(), image
    assert any(record.get("assets") for record in records)
    assert sorted(p.name for p in empty.iterdir()) == [
        "result_nonstream.jsonl",
        "result_nonstream.jsonl.assets",
        "result_nonstream.jsonl.inflight",
        "result_nonstream.jsonl.runs.jsonl",  # the runs log (DESIGN.md, "Runs log")
        "result_nonstream.jsonl.toolcache.sqlite",
    ]
    assert not list(Path(data_dir).rglob(".r1v4-index*"))  # nothing written into the package
