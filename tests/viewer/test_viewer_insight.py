"""The viewer's insight into a run, over two real runs of the flag cases: the run header,
the flags column, filter and summary, the stop-reason and category filters, the charts, the
crop boxes on the case page, the compare page's flip filters, landing on the one file
opened, and export-html of several files with an index."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from r1v4.viewer import create_app, get_library
from tests.helpers.insight_runs import make_runs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("insight")
    a, b = make_runs(root)
    return {"root": root, "a": a, "b": b}


@pytest.fixture()
def client(runs: dict):
    app = create_app(
        {
            "RESULT_FILES": [str(runs["a"]), str(runs["b"])],
            "ROOTS": [str(runs["root"])],
            "CWD": str(runs["root"]),
            "INDEX_CACHE": None,
        }
    )
    client = app.test_client()
    client.fids = [f.fid for f in get_library(app).files()]
    return client


def html(client, url: str) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    return resp.get_data(as_text=True)


def rows(page: str) -> list[str]:
    """The case ids of the run list's rows, in order."""
    return re.findall(r'<td class="col-id"><a href="[^"]+" title="([^"]+)"', page)


def test_the_run_header_names_model_endpoint_dialect_date_and_options(client) -> None:
    page = html(client, f"/f/{client.fids[0]}/")
    header = page.split('<section class="run-header"')[1].split("</section>")[0]
    for label in ("Model", "Endpoint", "Dialect", "Mode", "Date", "Judges", "Flag thresholds"):
        assert f'<span class="k">{label}</span>' in header, label
    assert "Skywork/R1V4" in header and "consistency: vlm" in header
    assert "recrop_iou 0.5" in header
    assert "1 batch run wrote this file" in header and "--consistency-judge-base-url" in header


def test_flags_summary_column_and_filter(client) -> None:
    fid = client.fids[0]
    page = html(client, f"/f/{fid}/")
    summary = page.split('id="flag-summary"')[1].split("</section>")[0]
    assert re.search(r'href="[^"]*flag=recrop[^"]*">recrop <b>1</b>', summary)
    assert "flagged (of 11 checked)" in page and '<span class="num">10</span>' in page
    assert '<span class="badge flag" title="round 2 (second.png) crops much the same' in page
    assert rows(html(client, f"/f/{fid}/?flag=recrop")) == ["recrop"]
    assert rows(html(client, f"/f/{fid}/?flag=none")) == ["clean"]
    assert len(rows(html(client, f"/f/{fid}/?flag=any"))) == 10
    assert rows(html(client, f"/f/{fid}/?flag=unchecked")) == []
    ordered = rows(html(client, f"/f/{fid}/?sort=flags&order=desc"))
    assert ordered[0] == "no_answer"  # two flags (format, no_answer), the most


def test_stop_reason_and_category_columns_and_filters(client) -> None:
    fid = client.fids[0]
    page = html(client, f"/f/{fid}/")
    assert '<th class="col-stop">' in page and '<th class="col-category">' in page
    assert rows(html(client, f"/f/{fid}/?stop=no_tool_call")) == ["no_answer"]
    charts = rows(html(client, f"/f/{fid}/?category=charts"))  # every third case
    assert sorted(charts) == ["answer_not_in_think", "clean", "huge_crop", "recrop"]
    options = page.split('name="stop"')[1].split("</select>")[0]
    assert '<option value="answer">' in options and '<option value="no_tool_call">' in options


def test_charts_are_inline_svg_drawn_from_the_data(client) -> None:
    page = html(client, f"/f/{client.fids[0]}/")
    charts = page.split('<details class="charts"')[1].split("</details>")[0]
    assert charts.count("<svg") == 4  # accuracy per category, rounds, tool calls, latency
    assert "Accuracy % per category (95% Wilson interval)" in charts
    assert "all (n=11)" in charts and "charts (n=4)" in charts
    assert "Rounds per case (n=11, median 1, max 2)" in charts
    assert "<script" not in charts and "style=" not in charts
    # the charts follow the list's filters
    filtered = html(client, f"/f/{client.fids[0]}/?category=signs")
    assert "(the cases shown)" in filtered and "all (n=" not in filtered


def test_the_case_page_draws_each_crop_on_its_input_image(client) -> None:
    fid = client.fids[0]
    n = next(
        i for i, cid in enumerate(rows(html(client, f"/f/{fid}/?size=200"))) if cid == "recrop"
    )
    page = html(client, f"/f/{fid}/case/{n}")
    svg = page.split('<svg class="regions"')[1].split("</svg>")[0]
    assert 'viewBox="0 0 400 300"' in svg
    boxes = re.findall(r'data-target="(img-r\d+-\d+)" data-round="(\d+)">.*?<rect x="([\d.]+)" '
                       r'y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"', svg)  # fmt: skip
    assert [(t, r, float(x), float(y), float(w), float(h)) for t, r, x, y, w, h in boxes] == [
        ("img-r1-0", "1", 20.0, 20.0, 160.0, 160.0),
        ("img-r2-0", "2", 30.0, 25.0, 160.0, 160.0),
    ]
    assert 'id="img-r1-0"' in page and 'id="img-r2-0"' in page  # the crops they point at
    assert "first.png" in page and "scene.png [20, 20, 180, 180] · crop" in page
    assert "Quality flags" in page and "IoU 0.83" in page


def test_compare_filters_cases_flipped_to_correct_or_wrong(client) -> None:
    a, b = client.fids
    page = html(client, f"/compare?a={a}&b={b}")
    assert "Flipped to correct (1)" in page and "Flipped to wrong (1)" in page
    to_correct = html(client, f"/compare?a={a}&b={b}&show=to_correct")
    body = to_correct.split("<tbody>")[1]
    assert "wrong_answer" in body and "clean" not in body and "now correct" in body
    to_wrong = client.get(f"/compare.json?a={a}&b={b}&show=to_wrong").get_json()
    assert [c["id"] for c in to_wrong["cases"]] == ["clean"]
    assert to_wrong["cases"][0]["flip"] == "to_wrong"


def test_one_file_opened_lands_on_its_run_list(runs: dict, capsys) -> None:
    from r1v4.cli.view import main

    assert main([str(runs["a"]), "--get", "/", "--cache-dir", "off"]) == 0
    landed = capsys.readouterr().out
    assert '<section class="run-header"' in landed and "a.jsonl" in landed
    assert main([str(runs["a"]), "--get", "/?home=1", "--cache-dir", "off"]) == 0
    assert "Open a result file" in capsys.readouterr().out


def test_export_html_of_several_files_writes_an_index(runs: dict, tmp_path: Path, capsys) -> None:
    from r1v4.cli.view import export_main

    out = tmp_path / "report"
    assert export_main([str(runs["a"]), str(runs["b"]), str(out)]) == 0
    assert "2 runs: wrote 22 case pages" in capsys.readouterr().out
    index = (out / "index.html").read_text()
    assert 'href="1-a.jsonl/index.html"' in index and 'href="2-b.jsonl/index.html"' in index
    assert "81.8% (9/11)" in index and "10 / 11" in index
    assert (out / "1-a.jsonl" / "index.html").is_file() and (out / "static" / "viewer.js").is_file()
    run_page = (out / "2-b.jsonl" / "index.html").read_text()
    assert run_page.count("<svg") >= 4 and "../static/viewer.css" not in run_page
