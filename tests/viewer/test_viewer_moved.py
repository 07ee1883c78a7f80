"""Result files moved to another folder, or merged into one: the viewer still finds the case's
images, or says plainly which file it looked for and where."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from r1v4.viewer import create_app, get_library
from tests.helpers.viewer_records import observation, png_bytes, tool_call


def make_run(folder: Path, *, input_file: str | None = None) -> Path:
    """A run as the batch leaves it: the input file and its image, the result file beside
    them, and one trajectory image in the result's sidecar folder."""
    (folder / "imgs").mkdir(parents=True)
    (folder / "imgs" / "cat.png").write_bytes(png_bytes("#c08040", (90, 60), "cat"))
    (folder / "cases.jsonl").write_text('{"image": "imgs/cat.png", "question": "q"}\n')
    asset = "out.jsonl.assets/c1/crop.png"
    (folder / asset).parent.mkdir(parents=True)
    (folder / asset).write_bytes(png_bytes("#4080c0", (40, 30), "crop"))
    record = {
        "id": "c1",
        "image": "imgs/cat.png",
        "question": "What animal?",
        "response": {
            "full_response": "<think>crop</think>"
            + tool_call("code", code="crop()")
            + observation("code", "saved", [asset])
            + "<answer>cat</answer>"
        },
        "assets": [asset],
        "meta": {"mode": "nonstream", "rounds": 1},
    }
    if input_file is not None:
        record["meta"]["input_file"] = input_file
    (folder / "out.jsonl").write_text(json.dumps(record) + "\n")
    return folder / "out.jsonl"


def viewer(result: Path, cwd: Path):
    app = create_app({"RESULT_FILES": [str(result)], "ROOTS": [str(cwd)], "CWD": str(cwd)})
    return app.test_client(), get_library(app).files()[0].fid


def shown(client, fid: str) -> tuple[str, list[int]]:
    html = client.get(f"/f/{fid}/case/0").get_data(as_text=True)
    codes = [client.get(f"/f/{fid}/case/0/img/{k}").status_code for k in range(2)]
    return html, codes


def test_result_moved_with_its_images_opened_from_elsewhere(tmp_path):
    make_run(tmp_path / "a" / "run")
    moved = tmp_path / "b" / "archive"
    moved.parent.mkdir()
    shutil.move(tmp_path / "a" / "run", moved)
    elsewhere = tmp_path / "c"
    elsewhere.mkdir()
    client, fid = viewer(moved / "out.jsonl", cwd=elsewhere)
    html, codes = shown(client, fid)
    assert codes == [200, 200]
    assert len(re.findall(r'<img src="([^"]+)"', html)) == 2


def test_result_moved_without_its_inputs_says_where_it_looked(tmp_path):
    make_run(tmp_path / "run")
    lone = tmp_path / "elsewhere"
    lone.mkdir()
    shutil.move(tmp_path / "run" / "out.jsonl", lone / "out.jsonl")
    shutil.move(tmp_path / "run" / "out.jsonl.assets", lone / "out.jsonl.assets")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    client, fid = viewer(lone / "out.jsonl", cwd=cwd)
    html, codes = shown(client, fid)
    assert codes == [404, 200]  # the input is gone; the trajectory image moved with the file
    assert f"input image not found: imgs/cat.png, looked in {lone}, {cwd}" in html
    resp = client.get(f"/f/{fid}/case/0/img/0")
    assert f"input image not found: imgs/cat.png, looked in {lone}, {cwd}" in resp.text


def test_recorded_input_file_folder_is_searched(tmp_path):
    run = tmp_path / "run"
    make_run(run, input_file=str(run / "cases.jsonl"))
    lone = tmp_path / "moved"
    lone.mkdir()
    shutil.move(run / "out.jsonl", lone / "out.jsonl")
    shutil.move(run / "out.jsonl.assets", lone / "out.jsonl.assets")
    client, fid = viewer(lone / "out.jsonl", cwd=tmp_path)
    assert shown(client, fid)[1] == [200, 200]


@pytest.mark.parametrize("recorded", [True, False])
def test_merged_into_another_folder(tmp_path, recorded):
    """`merge` copies trajectory images into the output's assets folder; inputs are found through
    the recorded input file, and without it the page says where it looked."""
    from r1v4.batch.merge import merge_files  # the merge command's library function

    run = tmp_path / "shard"
    part = make_run(run, input_file=str(run / "cases.jsonl") if recorded else None)
    merged_dir = tmp_path / "merged"
    merged_dir.mkdir()
    merge_files([part], merged_dir / "all.jsonl")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    client, fid = viewer(merged_dir / "all.jsonl", cwd=cwd)
    html, codes = shown(client, fid)
    if recorded:
        assert codes == [200, 200]
    else:
        assert codes == [404, 200]
        assert f"input image not found: imgs/cat.png, looked in {merged_dir}, {cwd}" in html


def test_a_batch_records_its_input_file_so_a_moved_result_finds_its_inputs(tmp_path, monkeypatch):
    """End to end: the runner writes `meta.input_file`, the result file alone is moved to a
    folder with no inputs, and the viewer (run from a third folder) still shows the input."""
    from r1v4.sim import running_simulator
    from tests.helpers import run_cli, write_jsonl

    inputs = tmp_path / "inputs"
    (inputs / "imgs").mkdir(parents=True)
    (inputs / "imgs" / "cat.png").write_bytes(png_bytes("#c08040", (90, 60), "cat"))
    write_jsonl(inputs / "cases.jsonl", [{"id": "c1", "image": "imgs/cat.png", "question": "q"}])
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with running_simulator(scripts=[{"question": "q", "turns": ["<answer>cat</answer>"]}]) as sim:
        assert run_cli([str(inputs / "cases.jsonl"), "out.jsonl", "--base-url", sim.base_url]) == 0
    record = json.loads((work / "out.jsonl").read_text())
    assert record["meta"]["input_file"] == str((inputs / "cases.jsonl").resolve())
    moved = tmp_path / "archive"
    moved.mkdir()
    shutil.move(work / "out.jsonl", moved / "out.jsonl")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    client, fid = viewer(moved / "out.jsonl", cwd=elsewhere)
    resp = client.get(f"/f/{fid}/case/0/img/0")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
