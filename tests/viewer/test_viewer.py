"""The trajectory viewer through Flask's test client: what a user sees and what is refused."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from r1v4.cli.view import export_main, main
from r1v4.viewer import CSP, create_app, get_library
from r1v4.viewer.index import ResultIndex
from r1v4.viewer.paths import PathRefused, resolve_result_path
from tests.helpers import ROOT
from tests.helpers.viewer_records import (
    XSS_ANSWER,
    XSS_CODE,
    XSS_QUESTION,
    XSS_THINK,
    extra_record,
    png_bytes,
    write_result,
)


def post_form(client, url: str, **fields: str):
    """Submit a form of the home page as a browser would: with the page's own token."""
    token = re.search(r'name="token" value="([^"]+)"', page(client, "/")).group(1)
    origin = "http://localhost"
    return client.post(url, data={"token": token, **fields}, headers={"Origin": origin})


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write_result(root, "result_a.jsonl", "a")
    write_result(root, "result_b.jsonl", "b", invalid_line=False)
    return root


def page(client, url: str, status: int = 200) -> str:
    resp = client.get(url)
    assert resp.status_code == status, resp.get_data(as_text=True)[:2000]
    return resp.get_data(as_text=True)


def row_ids(html: str) -> list[str]:
    """Case ids in the run list table, in order."""
    return re.findall(r'<td class="col-id"><a href="[^"]*" title="([^"]*)"', html)


# ---- run list ---------------------------------------------------------------------------
def test_list_shows_every_case_with_totals(client, fid):
    html = page(client, f"/f/{fid}/")
    assert row_ids(html) == ["case-1", "case-2", "case-3", "line-4", "case-4", "case-5"]
    assert '<span class="num" data-total="total">6</span>' in html
    assert '<span class="num" data-total="succeeded">4</span>' in html
    assert '<span class="num" data-total="failed">1</span>' in html
    assert "invalid lines" in html and "line 4: invalid JSON" in html
    assert "code <b>5</b>" in html and "text_search <b>1</b>" in html  # tool mix
    assert "✓" in html and "✗" in html  # case-1 matches its truth, case-2 does not


def test_list_shows_categories_as_a_column_and_a_filter(client, fid):
    html = page(client, f"/f/{fid}/")
    assert '<th class="col-category">' in html
    assert '<td class="col-category"><span title="colour">colour</span></td>' in html
    assert '<select name="category">' in html and '<option value="colour">colour</option>' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=error", ["case-3"]),
        ("status=invalid", ["line-4"]),
        ("tool=text_search", ["case-2"]),
        ("rounds=2", ["case-1", "case-2"]),
        ("rounds=1%2B&tool=code", ["case-1", "case-3", "case-4", "case-5"]),
        ("answered=no", ["case-3", "line-4"]),
        ("score=correct", ["case-1"]),
        ("score=wrong", ["case-2", "case-4"]),
        ("q=PARIS", ["case-2"]),
        ("category=colour", ["case-1"]),
        ("q=colour+of+the+box", []),
        ("q=box+in+the+middle", ["case-1"]),
        ("sort=latency&order=desc", ["case-3", "case-2", "case-1", "case-5", "case-4", "line-4"]),
        ("sort=rounds&order=asc&status=ok", ["case-4", "case-5", "case-1", "case-2"]),
    ],
)
def test_list_filters_search_and_sort(client, fid, query, expected):
    html = page(client, f"/f/{fid}/?{query}")
    assert row_ids(html) == expected


def test_list_pages(client, fid):
    html = page(client, f"/f/{fid}/?size=25")
    assert "page 1 / 1" in html
    data = json.loads(page(client, f"/f/{fid}/cases.json?status=ok&sort=id&order=desc"))
    assert [c["id"] for c in data["cases"]] == ["case-5", "case-4", "case-2", "case-1"]
    assert data["totals"]["total"] == 6 and data["matching"] == 4


def test_list_pagination_over_many_cases(tmp_path):
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps(extra_record(f"c{i:03d}")) + "\n" for i in range(120)))
    app = create_app({"RESULT_FILES": [str(path)], "ROOTS": [str(tmp_path)], "INDEX_CACHE": None})
    client = app.test_client()
    fid = get_library(app).files()[0].fid
    html = page(client, f"/f/{fid}/?page=3")
    assert row_ids(html) == [f"c{i:03d}" for i in range(100, 120)]
    assert "page 3 / 3" in html and 'rel="prev"' in html and 'rel="next"' not in html


# ---- case page --------------------------------------------------------------------------
def test_case_page_shows_rounds_code_images_and_meta(client, fid):
    html = page(client, f"/f/{fid}/case/0")
    assert html.count('<section class="round') == 2
    assert "I should crop the centre." in html and "The box is red." in html
    assert '<pre class="code highlight">' in html and '<span class="kn">from</span>' in html
    imgs = re.findall(r'<img src="([^"]+)"', html)
    assert len(imgs) == 3  # input + two intermediate crops
    for url in imgs:
        resp = client.get(url)
        assert resp.status_code == 200 and resp.mimetype == "image/png"
        assert resp.data.startswith(b"\x89PNG")
    assert "r1v4-lite" in html and "Time to first token" in html and "1234" in html
    assert 'id="nav-next"' in html and f"/f/{fid}/case/1" in html
    assert "Raw JSON" in html


def test_case_page_search_results_and_links(client, fid):
    html = page(client, f"/f/{fid}/case/1")
    assert '<span class="query">capital of France</span>' in html
    link = '<a href="https://en.wikipedia.org/wiki/Paris" rel="noopener noreferrer nofollow"'
    assert link in html
    assert 'href="javascript:' not in html and "javascript:alert(1)" in html  # text only
    assert "Paris is the capital and largest city of France." in html
    assert "extracted: Paris" in html and "London" in html


def test_failed_case_shows_error_and_partial_trajectory(client, fid):
    html = page(client, f"/f/{fid}/case/2")
    assert "HTTP 500 from endpoint after 5 attempts" in html
    assert "partial trajectory" in html and "Start cropping." in html
    assert "incomplete" in html and "No answer" in html


def test_invalid_line_page_names_file_and_line(client, fid):
    html = page(client, f"/f/{fid}/case/3")
    assert "result_a.jsonl line 4: invalid JSON" in html
    assert 'id="nav-next"' in html  # keyboard navigation still works past it


def test_planner_steps_placeholders_and_data_url_image(client, fid):
    html = page(client, f"/f/{fid}/case/5")
    assert '<ol class="steps">' in html
    assert '<mark class="placeholder">[cropped image from step 1]</mark>' in html
    assert '<span class="tool tool-image_search">image_search</span>' in html
    assert "step 3 has no tool_name" in html
    imgs = re.findall(r'<img src="([^"]+)"', html)
    embedded = [u for u in imgs if client.get(u).status_code == 200]
    assert len(embedded) == 2  # the input and the data-URL observation image
    assert "data:image/png;base64," not in html.split("Raw JSON")[0]  # served, not inlined


def test_case_navigation_follows_the_filtered_list(client, fid):
    html = page(client, f"/f/{fid}/case/0?tool=code")
    nxt = re.search(r'<a href="([^"]+)" id="nav-next"', html).group(1)
    assert nxt == f"/f/{fid}/case/2?tool=code"
    html = page(client, nxt.replace("&amp;", "&"))
    assert f"/f/{fid}/case/4?tool=code" in html and "2 / 4" in html


def test_case_json_twin_and_raw_line(client, fid, data_dir):
    data = json.loads(page(client, f"/f/{fid}/case/0.json"))
    assert data["summary"]["id"] == "case-1" and len(data["parsed"]["rounds"]) == 2
    raw = client.get(f"/f/{fid}/case/0/raw.json").data
    assert raw == (data_dir / "result_a.jsonl").read_bytes().split(b"\n")[0]
    assert client.get(f"/f/{fid}/case/99").status_code == 404
    assert client.get(f"/f/{fid}/id/case-2").headers["Location"].endswith(f"/f/{fid}/case/1")


# ---- safety -----------------------------------------------------------------------------
def test_model_text_is_escaped_everywhere(client, fid):
    html = page(client, f"/f/{fid}/case/4")
    listing = page(client, f"/f/{fid}/")
    for doc in (html, listing):
        assert "<script>window.__pwned" not in doc
        assert "<img src=x" not in doc
        assert "<svg onload" not in doc
        assert "<b>this</b>" not in doc
    assert "&lt;script&gt;window.__pwned = &#39;think&#39;" in html
    assert "&lt;img src=x onerror=" in html  # the answer and the observation, as text
    assert "&lt;svg onload=" in html
    # every real <img> tag is one of ours, pointing at the image route
    for tag in re.findall(r"<img\b[^>]*>", html):
        assert re.fullmatch(
            r'<img src="/f/[0-9a-f]+/case/4/img/\d+" alt="[^"<>]*" loading="lazy">', tag
        )
    assert XSS_ANSWER not in html and XSS_THINK not in html and XSS_QUESTION not in html
    assert XSS_CODE not in html


def test_security_headers(client, fid):
    for url in ("/", f"/f/{fid}/", f"/f/{fid}/case/0", f"/f/{fid}/case/0/img/0"):
        resp = client.get(url)
        assert resp.headers["Content-Security-Policy"] == CSP
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP


def test_pages_have_no_inline_script_or_style(client, fid):
    for url in ("/", f"/f/{fid}/", f"/f/{fid}/case/0", f"/f/{fid}/case/5"):
        html = page(client, url)
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
        assert " style=" not in html and "<style" not in html
        for tag in re.findall(r"<[a-zA-Z][^>]*>", html):  # no event-handler attributes
            names = re.sub(r'"[^"]*"', '""', tag)  # attribute values are escaped text
            assert not re.search(r"\son[a-z]+\s*=", names), tag


def test_foreign_host_header_is_refused(client, fid):
    assert client.get(f"/f/{fid}/", headers={"Host": "evil.example"}).status_code == 400
    assert client.get(f"/f/{fid}/", headers={"Host": "127.0.0.1:8080"}).status_code == 200


def test_images_only_when_referenced_and_raster(client, fid, data_dir):
    # case-4's observation names secret.txt and the result file itself: both refused
    html = page(client, f"/f/{fid}/case/4")
    assert len(re.findall(r'<img src="([^"]+)"', html)) == 1  # the input image only
    assert "outside the run&#39;s assets folder: secret.txt" in html  # said, no broken picture
    urls = [f"/f/{fid}/case/4/img/{k}" for k in range(3)]
    assert [client.get(u).status_code for u in urls] == [200, 404, 404]
    assert b"not an image: a secret" not in b"".join(client.get(u).data for u in urls)
    assert client.get(f"/f/{fid}/case/0/img/9").status_code == 404
    assert client.get(f"/f/{fid}/case/0/img/-1").status_code == 404
    assert client.get("/f/000000000000/case/0/img/0").status_code == 404


def test_open_typed_path_under_root(client, data_dir):
    resp = post_form(client, "/open", path="result_b.jsonl")
    assert resp.status_code == 302
    html = page(client, resp.headers["Location"])
    assert "result_b.jsonl" in html and len(row_ids(html)) == 5


@pytest.mark.parametrize(
    "typed",
    [
        "../outside.jsonl",
        "sub/../../outside.jsonl",
        "OUTSIDE_ABS",
        "link_out.jsonl",
        "linkdir/outside.jsonl",
        "/etc/passwd",
        "notes.txt",
        "",
    ],
)
def test_refused_paths(client, data_dir, typed):
    outside = data_dir.parent / "outside.jsonl"
    write_result(data_dir.parent, "outside.jsonl")
    (data_dir / "link_out.jsonl").symlink_to(outside)
    (data_dir / "linkdir").symlink_to(data_dir.parent, target_is_directory=True)
    (data_dir / "sub").mkdir()
    (data_dir / "notes.txt").write_text("{}\n")
    typed = typed.replace("OUTSIDE_ABS", str(outside))
    resp = post_form(client, "/open", path=typed)
    assert resp.status_code == 403, resp.get_data(as_text=True)
    assert "Refused" in resp.get_data(as_text=True)
    assert len(get_library(client.application).files()) == 1


def test_path_guard_reasons(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "ok.jsonl").write_text("")
    (tmp_path / "x.jsonl").write_text("")
    (tmp_path / "r" / "out.jsonl").symlink_to(tmp_path / "x.jsonl")
    roots = [tmp_path / "r"]
    assert resolve_result_path("ok.jsonl", roots=roots) == (tmp_path / "r" / "ok.jsonl")
    with pytest.raises(PathRefused, match="'..' is not allowed"):
        resolve_result_path("../x.jsonl", roots=roots)
    with pytest.raises(PathRefused, match="symlink"):
        resolve_result_path("out.jsonl", roots=roots)
    with pytest.raises(PathRefused, match="outside the allowed folders"):
        resolve_result_path(str(tmp_path / "x.jsonl"), roots=roots)
    # a file given at start is allowed wherever it is
    assert resolve_result_path(
        str(tmp_path / "x.jsonl"), roots=roots, allowed_files=[tmp_path / "x.jsonl"]
    ) == (tmp_path / "x.jsonl")


def test_home_lists_files_under_root_and_offers_a_path_box(client, data_dir):
    html = page(client, "/")
    assert 'name="path"' in html
    assert "result_a.jsonl" in html
    # a found file is opened by a POST form (a button), never by a GET link
    assert '<input type="hidden" name="path" value="result_b.jsonl">' in html
    assert "/open?" not in html


# ---- compare ----------------------------------------------------------------------------
def test_compare_lists_differing_answers(client, data_dir):
    resp = post_form(client, "/compare", pa="result_a.jsonl", pb="result_b.jsonl")
    assert resp.status_code == 302
    html = page(client, resp.headers["Location"])
    ids = re.findall(r'<td><a href="[^"]+">([^<]+)</a></td>', html)
    assert ids == ["case-5"]  # the only case answered differently (1 vs 2)
    assert "Answers differ (1)" in html and "Only in A (1)" in html
    case_url = re.search(r'<td><a href="([^"]+)">case-5</a>', html).group(1)
    side = page(client, case_url.replace("&amp;", "&"))
    assert side.count('<article class="case"') == 2
    assert "A: result_a.jsonl" in side and "B: result_b.jsonl" in side
    answers = re.findall(r'<div class="answer text">([^<]*)</div>', side)
    assert answers == ["1", "2"]


def test_compare_all_and_only_a(client, data_dir):
    loc = post_form(client, "/compare", pa="result_a.jsonl", pb="result_b.jsonl").headers[
        "Location"
    ]
    data = json.loads(page(client, loc.replace("/compare?", "/compare.json?")))
    assert [c["id"] for c in data["cases"]] == ["case-5"] and data["counts"]["both"] == 5
    assert [s["answer"] for s in data["cases"][0]["sides"]] == ["1", "2"]
    html = page(client, loc + "&show=only_a")
    assert re.findall(r'<td><a href="[^"]+">([^<]+)</a></td>', html) == ["line-4"]
    html = page(client, loc + "&show=all")
    assert len(re.findall(r'<td><a href="[^"]+">([^<]+)</a></td>', html)) == 6


# ---- live and the index -----------------------------------------------------------------
def test_live_append_is_picked_up_without_restart(client, fid, data_dir):
    path = data_dir / "result_a.jsonl"
    html = page(client, f"/f/{fid}/")
    assert 'data-live-url="/f/' in html and 'data-count="6"' in html
    first = get_library(client.application).files()[0].index.entries[0]
    with open(path, "a") as fh:
        fh.write(json.dumps(extra_record("case-new"))[:30])  # a line still being written
    live = json.loads(page(client, f"/f/{fid}/live.json?since=6"))
    assert live["count"] == 6 and live["rows"] == []
    with open(path, "a") as fh:
        fh.write(json.dumps(extra_record("case-new"))[30:] + "\n")
    live = json.loads(page(client, f"/f/{fid}/live.json?since=6"))
    assert live["count"] == 7 and live["totals"]["total"] == 7
    assert [c["raw"] for c in live["rows"][0]["cells"] if c["key"] == "id"] == ["case-new"]
    assert "case-new" in row_ids(page(client, f"/f/{fid}/"))
    assert "late answer" in page(client, f"/f/{fid}/case/6")
    # only the new tail was read: the old summaries are the very same objects
    assert get_library(client.application).files()[0].index.entries[0] is first


def test_index_cache_reused_extended_and_invalidated(tmp_path, user_cache):
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(extra_record(f"c{i}")) + "\n" for i in range(5)))
    first = ResultIndex(path)
    assert len(first) == 5 and not first.loaded_from_cache
    assert first.cache_path().parent == user_cache / "r1v4" / "index"
    assert first.cache_path().is_file() and not (tmp_path / "r.jsonl.idx").exists()
    again = ResultIndex(path)
    assert again.loaded_from_cache and [e["id"] for e in again.entries] == [
        f"c{i}" for i in range(5)
    ]
    with open(path, "a") as fh:  # grown: only the tail is read, old entries kept
        fh.write(json.dumps(extra_record("c5")) + "\n")
    grown = ResultIndex(path)
    assert grown.loaded_from_cache and len(grown) == 6
    assert grown.read_record(5)["id"] == "c5"
    path.write_text(json.dumps(extra_record("other")) + "\n")  # rewritten: rebuilt
    rebuilt = ResultIndex(path)
    assert [e["id"] for e in rebuilt.entries] == ["other"]


def test_last_line_without_newline(tmp_path):
    path = tmp_path / "r.jsonl"
    whole = json.dumps(extra_record("a")) + "\n" + json.dumps(extra_record("b"))
    path.write_text(whole)  # a finished file may lack its final newline
    assert [e["id"] for e in ResultIndex(path, cache=None).entries] == ["a", "b"]
    path.write_text(whole[:-5])  # but a cut-off line is not a case yet
    assert [e["id"] for e in ResultIndex(path, cache=None).entries] == ["a"]


def test_index_reads_only_the_offsets(tmp_path):
    path = tmp_path / "r.jsonl"
    recs = [extra_record(f"c{i}", answer="x" * (i * 1000)) for i in range(4)]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    index = ResultIndex(path, cache=None)
    for i, entry in enumerate(index.entries):
        with open(path, "rb") as fh:
            fh.seek(entry["offset"])
            assert json.loads(fh.read(entry["length"]))["id"] == f"c{i}"
    assert index.entries[3]["answer"] == "x" * 1000  # kept for search, capped


# ---- command line and export ------------------------------------------------------------
def test_cli_get_renders_a_page(data_dir, capsys, monkeypatch):
    monkeypatch.chdir(data_dir)
    assert main(["8080", "result_a.jsonl", "--get", "/", "--cache-dir", "off"]) == 0
    assert "result_a.jsonl" in capsys.readouterr().out
    assert main(["--get", "/f/nope/"]) == 1
    assert main(["missing.jsonl", "--get", "/"]) == 2
    assert "no such result file" in capsys.readouterr().err


def test_export_html_is_self_contained(data_dir, tmp_path, capsys):
    out = tmp_path / "report"
    assert export_main([str(data_dir / "result_a.jsonl"), str(out)]) == 0
    assert "6 case pages" in capsys.readouterr().out
    index = (out / "index.html").read_text()
    assert 'href="cases/0.html"' in index and "static/viewer.css" in index
    case = (out / "cases" / "0.html").read_text()
    srcs = re.findall(r'<img src="([^"]+)"', case)
    assert len(srcs) == 3
    for src in srcs:
        assert (out / "cases" / src).resolve().read_bytes().startswith(b"\x89PNG")
    assert 'href="1.html"' in case.replace("../cases/", "")
    assert (out / "static" / "viewer.js").is_file()
    # nothing points at the server or outside the folder
    for html in [index, case, (out / "cases" / "4.html").read_text()]:
        assert 'src="/' not in html and 'href="/' not in html and 'src="http' not in html
    assert not list((out / "images").glob("*.txt"))
    assert "&lt;img src=x onerror=" in (out / "cases" / "4.html").read_text()


def test_input_image_relative_to_cwd_when_not_next_to_file(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.png").write_bytes(png_bytes("#123456"))
    rec = extra_record("c")
    rec["image"] = "pics/a.png"  # as the runner wrote it, relative to where it ran
    path = tmp_path / "run" / "r.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    app = create_app({"RESULT_FILES": [str(path)], "CWD": str(tmp_path), "INDEX_CACHE": None})
    client = app.test_client()
    fid = get_library(app).files()[0].fid
    assert client.get(f"/f/{fid}/case/0/img/0").status_code == 200
    assert os.path.exists(path)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_visual_py_serves_on_loopback_only(data_dir, subprocess_env):
    """The seed's command line, `python3 visual.py PORT`, as a real server process."""
    import subprocess
    import sys
    import time
    import urllib.request

    root = ROOT
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(root / "visual.py"), str(port), "result_a.jsonl"],
        cwd=data_dir,
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    body = resp.read().decode()
                    csp = resp.headers["Content-Security-Policy"]
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.1)
        assert body is not None and "result_a.jsonl" in body and csp == CSP
        import socket

        listening = subprocess.run(
            ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=False
        ).stdout
        if listening.strip():  # `ss` present: the socket is bound to loopback only
            local = [line.split()[3] for line in listening.strip().splitlines()]
            assert local == [f"127.0.0.1:{port}"], listening
        assert socket.gethostbyname("localhost").startswith("127.")
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


@pytest.mark.slow
def test_python_m_r1v4_export_html(data_dir, tmp_path, subprocess_env):
    import subprocess
    import sys

    out = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "r1v4", "export-html", str(data_dir / "result_b.jsonl"), str(out)],
        cwd=ROOT,
        env=subprocess_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "5 case pages" in done.stdout
    assert len(list((out / "cases").glob("*.html"))) == 5
