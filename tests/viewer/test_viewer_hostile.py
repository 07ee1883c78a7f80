"""Crafted result files against the viewer and `export-html`: model text that names host
files, and images that must still be shown. (The browser half is in test_viewer_browser.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from r1v4.cli.view import export_main
from r1v4.cli.view import main as view_main
from r1v4.viewer import create_app, get_library
from tests.helpers.viewer_records import PRIVATE_PNG, write_hostile


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

    from tests.helpers.viewer_records import png_bytes

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


# ---- opening a file: POST from the viewer's own page only -------------------------------
@pytest.fixture()
def two_files(tmp_path: Path):
    from tests.helpers.viewer_records import write_result

    root = tmp_path / "data"
    a = write_result(root, "result_a.jsonl", "a")
    write_result(root, "result_b.jsonl", "b", invalid_line=False)
    app = create_app({"RESULT_FILES": [str(a)], "ROOTS": [str(root)], "CWD": str(root)})
    return app, root


def _token(client) -> str:
    html = client.get("/").get_data(as_text=True)
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


def _opened(app) -> list[str]:
    return sorted(f.path.name for f in get_library(app).files())


@pytest.mark.parametrize(
    "headers, with_token",
    [
        ({"Origin": "http://evil.example"}, True),  # another site, even with a stolen token
        ({"Origin": "null"}, True),  # sandboxed frame or file: page
        ({"Origin": "http://localhost:9999"}, True),  # another port is another origin
        ({"Sec-Fetch-Site": "cross-site"}, True),
        ({"Sec-Fetch-Site": "same-site"}, True),
        ({"Origin": "http://localhost"}, False),  # same origin but no token: not our form
        ({}, False),
    ],
)
def test_cross_origin_or_tokenless_post_cannot_open_a_file(two_files, headers, with_token):
    app, root = two_files
    client = app.test_client()
    before = sorted(p.name for p in root.iterdir())
    data = {"path": "result_b.jsonl"}
    if with_token:
        data["token"] = _token(client)
    resp = client.post("/open", data=data, headers=headers)
    assert resp.status_code == 403
    assert "Not opened" in resp.get_data(as_text=True)
    pair = {**data, "pa": "result_b.jsonl", "pb": "result_b.jsonl"}
    assert client.post("/compare", data=pair, headers=headers).status_code == 403
    assert _opened(app) == ["result_a.jsonl"]
    assert sorted(p.name for p in root.iterdir()) == before


def test_get_never_opens_a_file(two_files):
    app, _root = two_files
    client = app.test_client()
    resp = client.get("/open?path=result_b.jsonl")
    assert resp.status_code == 302 and resp.headers["Location"] == "/?path=result_b.jsonl"
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'value="result_b.jsonl"' in html  # only put in the box, for the user to submit
    resp = client.get("/compare?pa=result_b.jsonl&pb=result_a.jsonl")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/?")
    assert _opened(app) == ["result_a.jsonl"]


def test_own_form_opens_and_a_client_without_origin_needs_the_token(two_files):
    app, _root = two_files
    client = app.test_client()
    token = _token(client)
    resp = client.post(
        "/open",
        data={"path": "result_b.jsonl", "token": token},
        headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
    )
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/f/")
    assert _opened(app) == ["result_a.jsonl", "result_b.jsonl"]
    other = create_app({"ROOTS": [str(_root)], "CWD": str(_root)})  # a restart: a new token
    stale = other.test_client().post("/open", data={"path": "result_b.jsonl", "token": token})
    assert stale.status_code == 403 and "reload" in stale.get_data(as_text=True)


def test_viewing_writes_nothing_beside_the_result_file(two_files, user_cache):
    app, root = two_files
    client = app.test_client()
    before = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    fid = get_library(app).files()[0].fid
    for url in (
        "/",
        f"/f/{fid}/",
        f"/f/{fid}/cases.json",
        f"/f/{fid}/live.json",
        f"/f/{fid}/case/0",
        f"/f/{fid}/case/0.json",
        f"/f/{fid}/case/0/raw.json",
        f"/f/{fid}/case/0/img/0",
        f"/f/{fid}/inflight.json",
    ):
        assert client.get(url).status_code == 200, url
    token = _token(client)
    client.post("/open", data={"path": "result_b.jsonl", "token": token})
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == before
    caches = sorted((user_cache / "r1v4" / "index").iterdir())
    assert [c.name.split(".")[0] for c in caches] == ["result_a", "result_b"]


def test_index_caches_are_keyed_by_real_path_and_beside_only_when_asked(tmp_path, user_cache):
    import json

    from r1v4.viewer.index import ResultIndex
    from tests.helpers.viewer_records import extra_record

    one, two = tmp_path / "one" / "out.jsonl", tmp_path / "two" / "out.jsonl"
    for path, cid in ((one, "first"), (two, "second")):
        path.parent.mkdir()
        path.write_text(json.dumps(extra_record(cid)) + "\n")
    a, b = ResultIndex(one), ResultIndex(two)
    assert a.cache_path() != b.cache_path()
    assert a.cache_path().parent == b.cache_path().parent == user_cache / "r1v4" / "index"
    assert [e["id"] for e in ResultIndex(two).entries] == ["second"]
    assert ResultIndex(two).loaded_from_cache
    beside = ResultIndex(one, cache="beside")
    assert beside.cache_path() == tmp_path / "one" / "out.jsonl.idx"
    assert beside.cache_path().is_file()


# ---- a case too large to show -----------------------------------------------------------
LIMIT = 4 << 20  # a small limit, so a modest line is "too large" in these tests
HUGE = 40 << 20


@pytest.fixture()
def huge_file(tmp_path: Path) -> tuple[Path, bytes]:
    import json

    from tests.helpers.viewer_records import extra_record

    huge = (
        b'{"id": "huge \\"one\\"", "question": "big", "response": {"full_response": "'
        + b"x" * HUGE
        + b'"}}'
    )
    path = tmp_path / "big.jsonl"
    with open(path, "wb") as fh:
        fh.write(json.dumps(extra_record("before")).encode() + b"\n")
        fh.write(huge + b"\n")
        fh.write(json.dumps(extra_record("after")).encode() + b"\n")
    return path, huge


def _bytes_read_by_this_process() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc")
def test_indexing_a_huge_line_is_one_pass_with_bounded_memory(huge_file):
    import tracemalloc

    from r1v4.viewer.index import CHUNK_BYTES, ResultIndex

    path, huge = huge_file
    size = path.stat().st_size
    read_before = _bytes_read_by_this_process()
    tracemalloc.start()
    try:
        index = ResultIndex(path, cache=None, max_case_bytes=LIMIT)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    read = _bytes_read_by_this_process() - read_before
    assert [e["id"] for e in index.entries] == ["before", 'huge "one"', "after"]
    big = index.entries[1]
    assert big["status"] == "too_large" and big["length"] == len(huge)
    assert "over the viewer's limit" in big["error"]
    assert index.read_record(2)["id"] == "after"  # offsets after the huge line are right
    # bounded: one chunk plus a line under the limit (and its joined copy), measured two ways
    assert index.max_held_bytes <= 2 * LIMIT + CHUNK_BYTES
    assert peak < 3 * LIMIT + 2 * CHUNK_BYTES < HUGE // 2, peak
    # one pass: each byte of the file read once (plus the two 4 KiB check blocks)
    assert size <= read < size + (1 << 20), (read, size)


def test_too_large_case_page_offers_the_raw_line(huge_file):
    path, huge = huge_file
    app = create_app(
        {"RESULT_FILES": [str(path)], "CWD": str(path.parent), "MAX_CASE_BYTES": LIMIT}
    )
    client = app.test_client()
    fid = get_library(app).files()[0].fid
    get_library(app).files()[0].index.wait()  # over 32 MB: the rest is read in the background
    listing = client.get(f"/f/{fid}/").get_data(as_text=True)
    assert "too large to show" in listing and "too large" in listing
    html = client.get(f"/f/{fid}/case/1").get_data(as_text=True)
    assert "Too large to show (40.0 MiB)" in html
    assert f'href="/f/{fid}/case/1/raw.json" download' in html
    assert len(html) < 100_000  # the record is not on the page
    raw = client.get(f"/f/{fid}/case/1/raw.json")
    assert raw.status_code == 200 and raw.headers["Content-Length"] == str(len(huge))
    assert raw.headers["Content-Disposition"] == 'attachment; filename="huge_one_.json"'
    assert raw.data == huge
    assert client.get(f"/f/{fid}/case/1/img/0").status_code == 404
    assert client.get(f"/f/{fid}/case/1.json").get_json()["summary"]["status"] == "too_large"
    assert "late answer" in client.get(f"/f/{fid}/case/2").get_data(as_text=True)


def test_a_file_that_is_not_a_result_file_is_refused_where_it_is_named(two_files, tmp_path, capsys):
    """A README or a case file given to the viewer or export-html is not turned into
    hundreds of empty "cases" with exit 0: the command stops with the line that shows it."""
    app, root = two_files
    readme = root / "README.md"
    readme.write_text("# notes\n\nnot a result file\n", encoding="utf-8")
    cases = root / "cases.jsonl"
    cases.write_text('{"image": "", "question": "q"}\n', encoding="utf-8")
    out = tmp_path / "report"
    assert export_main([str(readme), str(out)]) == 2
    assert "README.md:1: not a JSON line" in capsys.readouterr().err
    assert not out.exists()
    assert view_main([str(cases), "--get", "/"]) == 2
    assert "cases.jsonl:1: not a result record" in capsys.readouterr().err
    client = app.test_client()
    resp = client.post("/open", data={"path": "cases.jsonl", "token": _token(client)})
    assert resp.status_code == 403 and "not a result record" in resp.get_data(as_text=True)
    assert _opened(app) == ["result_a.jsonl"]


def test_an_empty_result_file_is_a_run_to_come_and_opens(tmp_path):
    empty = tmp_path / "result_new.jsonl"
    empty.write_bytes(b"")
    assert view_main([str(empty), "--get", "/"]) == 0
