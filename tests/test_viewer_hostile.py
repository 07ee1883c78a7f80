"""Crafted result files against the viewer and `export-html`: model text that names host
files, and images that must still be shown. (The browser half is in test_viewer_browser.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_viewer_fixtures import PRIVATE_PNG, write_hostile

from r1v4.viewer import create_app, get_library
from r1v4.viewer.cli import export_main


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Index caches go to a folder of this test, never to the user's ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture()
def hostile(tmp_path: Path):
    result, target = write_hostile(tmp_path / "run")
    app = create_app(
        {"RESULT_FILES": [str(result)], "ROOTS": [str(result.parent)], "CWD": str(tmp_path)}
    )
    return app.test_client(), get_library(app).files()[0].fid, result, target


def test_model_written_observation_cannot_make_the_viewer_serve_a_host_file(hostile):
    client, fid, _result, _target = hostile
    html = client.get(f"/f/{fid}/case/0").get_data(as_text=True)
    assert re.findall(r'<img src="([^"]+)"', html) == []  # no picture for any of the four
    assert html.count("outside the run&#39;s assets folder") == 4
    bodies = []
    for k in range(4):
        resp = client.get(f"/f/{fid}/case/0/img/{k}")
        assert resp.status_code == 404, k
        assert "outside the run's assets folder" in resp.get_data(as_text=True)
        bodies.append(resp.data)
    assert not any(PRIVATE_PNG in b for b in bodies)
    # the JSON twin carries the references as text, never the bytes
    assert PRIVATE_PNG not in client.get(f"/f/{fid}/case/0.json").data


def test_real_input_and_trajectory_images_are_still_shown(hostile):
    client, fid, _result, _target = hostile
    html = client.get(f"/f/{fid}/case/1").get_data(as_text=True)
    assert len(re.findall(r'<img src="([^"]+)"', html)) == 2
    for k in (0, 1):
        resp = client.get(f"/f/{fid}/case/1/img/{k}")
        assert resp.status_code == 200 and resp.data.startswith(b"\x89PNG")


def test_export_html_copies_nothing_a_model_named(hostile, tmp_path, capsys):
    _client, _fid, result, _target = hostile
    out = tmp_path / "site"
    assert export_main([str(result), str(out)]) == 0
    said = capsys.readouterr().out
    assert "2 images" in said and "4 images missing or refused" in said
    copied = list((out / "images").iterdir())
    assert len(copied) == 2
    assert not any(f.read_bytes() == PRIVATE_PNG for f in copied)
    page = (out / "cases" / "0.html").read_text()
    assert "<img" not in page and page.count("outside the run&#39;s assets folder") == 4


def test_export_names_input_images_taken_from_outside_the_result_folder(tmp_path, capsys):
    """Input images (the record's own `image` field) are allowed anywhere, as cases name
    them; copying one from elsewhere into an export is said, so a user can look first."""
    import json

    from test_viewer_fixtures import png_bytes

    elsewhere = tmp_path / "pictures" / "a.png"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(png_bytes("#123456"))
    run = tmp_path / "run"
    run.mkdir()
    rec = {"id": "c", "image": str(elsewhere), "question": "q", "response": {"full_response": ""}}
    (run / "r.jsonl").write_text(json.dumps(rec) + "\n")
    assert export_main([str(run / "r.jsonl"), str(tmp_path / "out")]) == 0
    assert "1 input images were copied from outside the result file's folder" in (
        capsys.readouterr().out
    )
