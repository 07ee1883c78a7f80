"""Cases still running, as the viewer shows them: the run list's "In flight" panel, its JSON,
the in-flight case page, its image guard, and the switch to the finished case."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path

import pytest

from r1v4.viewer import create_app, get_library
from r1v4.viewer.inflight import list_snapshots
from tests.helpers import ARTIFACTS
from tests.helpers.browser import loopback_page, serving
from tests.helpers.viewer_records import (
    CHROMIUM,
    NO_CHROMIUM,
    XSS_ANSWER,
    XSS_THINK,
    extra_record,
    launch_chromium,
    observation,
    png_bytes,
    tool_call,
    write_result,
)

ASSETS = "result_a.jsonl.assets"


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write_result(root, "result_a.jsonl", "a")
    crop = root / ASSETS / "run-1" / "c0ffee.png"
    crop.parent.mkdir(parents=True)
    crop.write_bytes(png_bytes("#3070e0", (90, 60), "live"))
    return root


def write_snapshot(data_dir: Path, case_id: str, full_response: str, **fields) -> Path:
    """A snapshot file as the runner writes it (atomically: temporary file, then rename)."""
    folder = data_dir / "result_a.jsonl.inflight"
    folder.mkdir(exist_ok=True)
    now = time.time()
    body = {
        "id": case_id,
        "question": f"Question of {case_id}",
        "image": "imgs/input.png",
        "images": ["imgs/input.png"],
        "mode": "stream",
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": now - 30,
        "updated_at": now - 2,
        "turns": 2,
        "full_response": full_response,
        **fields,
    }
    path = folder / f"{fields.pop('file_name', case_id)}.json"
    tmp = folder / f".{path.name}.tmp"
    tmp.write_text(json.dumps(body), encoding="utf-8")
    os.replace(tmp, path)
    return path


# A trajectory cut in the middle of its second tool call: the closing tag has not arrived.
PARTIAL = (
    "<think>Crop the blue part first.</think>"
    + tool_call("code", code="img.crop((0, 0, 40, 40)).save('crop.png')")
    + observation("code", "saved crop.png", [f"{ASSETS}/run-1/c0ffee.png"])
    + "<think>Now zoom into the crop.</think>"
    + '<tool_call>{"name": "code", "arguments": {"code": "zoom_into_the_crop(4'
)


def get_json(client, url: str) -> dict:
    resp = client.get(url)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:1000]
    return resp.get_json()


def test_running_case_listed_in_json_and_on_the_list_page(client, fid, data_dir):
    write_snapshot(data_dir, "run-1", PARTIAL)
    data = get_json(client, f"/f/{fid}/inflight.json")
    assert data["count"] == 1
    row = data["cases"][0]
    assert row["id"] == "run-1"
    assert row["question"] == "Question of run-1"
    assert row["turns"] == 2 and row["stale"] is False
    assert 1 <= row["age_s"] < 30
    assert row["event"]["kind"] == "tool_call"
    assert row["event"]["text"].startswith("code (being written): zoom_into_the_crop(4")
    assert row["url"] == f"/f/{fid}/inflight/run-1"
    # the runner replaces the file as the case goes on: the next poll sees the new state
    write_snapshot(data_dir, "run-1", PARTIAL + '))"}}</tool_call>', turns=3)
    row = get_json(client, f"/f/{fid}/inflight.json")["cases"][0]
    assert row["turns"] == 3 and row["event"]["text"] == "code: zoom_into_the_crop(4))"
    write_snapshot(data_dir, "run-1", PARTIAL.split("<think>Now")[0])
    event = get_json(client, f"/f/{fid}/inflight.json")["cases"][0]["event"]
    assert event == {"kind": "observation", "label": "observation", "text": "code: saved crop.png"}
    write_snapshot(data_dir, "run-1", PARTIAL)
    # the live poller's answer carries the same rows
    live = get_json(client, f"/f/{fid}/live.json?since=5")
    assert [r["id"] for r in live["inflight"]] == ["run-1"]
    html = client.get(f"/f/{fid}/").get_data(as_text=True)
    panel = html.split('id="inflight"', 1)[1].split("</section>", 1)[0]
    assert 'In flight (<span id="inflight-count">1</span>)' in panel
    assert f'href="/f/{fid}/inflight/run-1"' in panel
    assert "Question of run-1" in panel and ">tool call</span>" in panel


def test_no_snapshots_means_a_hidden_empty_panel(client, fid):
    assert get_json(client, f"/f/{fid}/inflight.json") == {
        "count": 0,
        "stale_after_s": 120.0,
        "cases": [],
    }
    html = client.get(f"/f/{fid}/").get_data(as_text=True)
    assert 'id="inflight" hidden' in html


def test_finished_ids_are_excluded_and_their_page_redirects(client, fid, data_dir):
    write_snapshot(data_dir, "case-1", "<think>old</think>")  # case-1 has an ok record
    write_snapshot(data_dir, "run-1", PARTIAL)
    ids = [r["id"] for r in get_json(client, f"/f/{fid}/inflight.json")["cases"]]
    assert ids == ["run-1"]
    resp = client.get(f"/f/{fid}/inflight/case-1")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/f/{fid}/case/0")
    assert get_json(client, f"/f/{fid}/inflight/case-1/state.json")["state"] == "finished"
    assert client.get(f"/f/{fid}/inflight/nobody").status_code == 404
    assert get_json(client, f"/f/{fid}/inflight/nobody/state.json") == {"state": "gone"}


def test_failed_id_rerun_by_retry_errors_stays_listed(client, fid, data_dir, dead_pid):
    # case-3 has a failed record; a live snapshot of it is a retry in progress
    write_snapshot(data_dir, "case-3", "<think>retrying</think>")
    assert [r["id"] for r in get_json(client, f"/f/{fid}/inflight.json")["cases"]] == ["case-3"]
    write_snapshot(data_dir, "case-3", "<think>retrying</think>", pid=dead_pid)
    assert get_json(client, f"/f/{fid}/inflight.json")["cases"] == []


def test_stale_snapshots_are_marked(client, fid, data_dir, dead_pid):
    write_snapshot(data_dir, "dead", "<think>x</think>", pid=dead_pid)
    # From another machine only the clock can tell; on this one the live process is the truth,
    # so a long non-streaming turn that wrote nothing for minutes is still running.
    old = time.time() - 600
    write_snapshot(data_dir, "old", "<think>y</think>", updated_at=old, host="elsewhere")
    write_snapshot(data_dir, "long-turn", "<think>w</think>", updated_at=old)
    write_snapshot(data_dir, "fresh", "<think>z</think>")
    rows = {r["id"]: r for r in get_json(client, f"/f/{fid}/inflight.json")["cases"]}
    assert rows["dead"]["stale"] and f"process {dead_pid}" in rows["dead"]["stale_reason"]
    assert rows["old"]["stale"] and "no update for 600 s" in rows["old"]["stale_reason"]
    assert rows["long-turn"]["stale"] is False
    assert rows["fresh"]["stale"] is False
    html = client.get(f"/f/{fid}/").get_data(as_text=True)
    assert html.count('<tr class="stale"') == 2 and html.count('<tr class="running"') == 2
    page = client.get(f"/f/{fid}/inflight/dead").get_data(as_text=True)
    assert "inflight-banner stale" in page and "is not running on this host" in page


def test_partial_rounds_rendered_with_an_unclosed_tool_call(client, fid, data_dir):
    write_snapshot(data_dir, "run-1", PARTIAL)
    resp = client.get(f"/f/{fid}/inflight/run-1")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'id="inflight-banner"' in html
    assert re.search(r'updated <span id="inflight-age">\d s</span> ago', html)
    assert html.count('<section class="round') == 2
    assert "Crop the blue part first." in html and "saved crop.png" in html
    second = html.split('id="round-2"', 1)[1].split("</section>", 1)[0]
    assert "in progress" in second and '<span class="tool tool-code">code</span>' in second
    assert "still being written: no &lt;/tool_call&gt; yet" in second
    assert "zoom_into_the_crop(4" in second
    assert "No observation yet." in second
    assert "No answer yet: the case is still running." in html
    assert f'data-state-url="/f/{fid}/inflight/run-1/state.json"' in html
    # the crop of round 1 (in the sidecar folder) and the input image are served
    first = html.split('id="round-1"', 1)[1].split("</section>", 1)[0]
    assert f'src="/f/{fid}/inflight/run-1/img/1"' in first
    for k in (0, 1):
        img = client.get(f"/f/{fid}/inflight/run-1/img/{k}")
        assert img.status_code == 200 and img.mimetype == "image/png"
    assert client.get(f"/f/{fid}/inflight/run-1/img/2").status_code == 404
    state = get_json(client, f"/f/{fid}/inflight/run-1/state.json")
    assert state["state"] == "running" and state["turns"] == 2


def test_snapshot_payloads_are_escaped(client, fid, data_dir):
    write_snapshot(
        data_dir,
        "x<script>alert(1)</script>",
        f"<think>{XSS_THINK}</think>" + tool_call("code", code="print(1)"),
        question=XSS_ANSWER,
        file_name="xss",
    )
    listing = client.get(f"/f/{fid}/").get_data(as_text=True)
    resp = client.get(f"/f/{fid}/inflight/x<script>alert(1)</script>")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "x&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for html in (listing, page):
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;img src=x onerror=" in html
    assert "<script>window.__pwned" not in page
    assert "&lt;script&gt;window.__pwned" in page


def test_image_outside_the_sidecar_folder_is_not_served(client, fid, data_dir, tmp_path):
    outside = tmp_path / "outside.png"
    outside.write_bytes(png_bytes("#ff00ff"))
    (data_dir / "escape.png").symlink_to(outside)
    refs = ["imgs/input.png", "../outside.png", str(outside), "escape.png"]
    write_snapshot(
        data_dir,
        "sneaky",
        "<think>look</think>" + tool_call("code", code="1") + observation("code", "ok", refs),
    )
    html = client.get(f"/f/{fid}/inflight/sneaky").get_data(as_text=True)
    # k = 0 is the case's input image (allowed where inputs live); 1.. are the round's
    assert client.get(f"/f/{fid}/inflight/sneaky/img/0").status_code == 200
    for k in range(1, 5):
        resp = client.get(f"/f/{fid}/inflight/sneaky/img/{k}")
        assert resp.status_code == 404, k
        assert "outside the run's assets folder" in resp.get_data(as_text=True)
    assert f"/f/{fid}/inflight/sneaky/img/1" not in html
    assert html.count("image outside the run&#39;s assets folder") == 4
    # a record naming the same file is still served by the case page's route (unchanged)
    assert client.get(f"/f/{fid}/case/0/img/0").status_code == 200


def test_symlinked_or_oversized_snapshots_are_ignored(client, fid, data_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(
        json.dumps({"id": "linked", "pid": os.getpid(), "updated_at": time.time()}),
        encoding="utf-8",
    )
    folder = data_dir / "result_a.jsonl.inflight"
    folder.mkdir()
    (folder / "linked.json").symlink_to(elsewhere)
    (folder / "bad.json").write_text("{not json", encoding="utf-8")
    (folder / "list.json").write_text("[1, 2]", encoding="utf-8")
    (folder / "sub.json").mkdir()
    write_snapshot(data_dir, "big", "x" * 100, full_padding="y" * (5 << 20))
    write_snapshot(data_dir, "run-1", PARTIAL)
    ids = [r["id"] for r in get_json(client, f"/f/{fid}/inflight.json")["cases"]]
    assert ids == ["run-1"]
    assert client.get(f"/f/{fid}/inflight/linked").status_code == 404


def test_symlinked_inflight_folder_is_ignored(data_dir, tmp_path):
    real = tmp_path / "real_inflight"
    real.mkdir()
    (real / "x.json").write_text(json.dumps({"id": "x", "pid": os.getpid()}), encoding="utf-8")
    (data_dir / "result_a.jsonl.inflight").symlink_to(real)
    assert list_snapshots(data_dir / "result_a.jsonl") == []


def test_finished_case_leaves_the_panel(client, fid, data_dir):
    snap = write_snapshot(data_dir, "run-9", "<think>almost</think>")
    assert get_json(client, f"/f/{fid}/live.json?since=5")["inflight"][0]["id"] == "run-9"
    with open(data_dir / "result_a.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(extra_record("run-9", answer="done now")) + "\n")
    snap.unlink()
    live = get_json(client, f"/f/{fid}/live.json?since=6")  # 5 cases + 1 invalid line
    assert live["inflight"] == [] and [r["url"] for r in live["rows"]] == [f"/f/{fid}/case/6"]
    state = get_json(client, f"/f/{fid}/inflight/run-9/state.json")
    assert state == {"state": "finished", "finished_url": f"/f/{fid}/case/6"}


# ---- in a real browser -------------------------------------------------------------------


@pytest.fixture()
def served(data_dir: Path):
    """The viewer on 127.0.0.1:<free port> in a thread, polling fast."""
    app = create_app(
        {
            "RESULT_FILES": [str(data_dir / "result_a.jsonl")],
            "ROOTS": [str(data_dir)],
            "CWD": str(data_dir),
            "LIVE_POLL_MS": 300,
        }
    )
    fid = get_library(app).files()[0].fid
    with serving(app) as base:
        yield base, f"/f/{fid}"


def wait_until(page, check, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(150)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)
def test_browser_panel_follows_a_case_from_start_to_finish(served, data_dir):
    from playwright.sync_api import sync_playwright

    origin, path = served
    served = origin + path
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        with loopback_page(browser, origin, {"width": 1280, "height": 900}) as page:
            page.goto(served + "/", wait_until="load")
            page.evaluate("() => { window.__same_page = true; }")
            panel = page.locator("#inflight")
            runs = page.locator("table.runs tbody tr")
            before = runs.count()
            assert not panel.is_visible()

            snap = write_snapshot(data_dir, "run-1", PARTIAL)
            wait_until(page, panel.is_visible, "the in-flight panel")
            row = page.locator("#inflight-rows tr")
            assert row.count() == 1
            text = row.inner_text().lower()
            assert "run-1" in text and "tool call" in text and "code (being written)" in text
            assert page.locator("#inflight-count").inner_text() == "1"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "inflight_list.png"), full_page=True)

            # the in-flight page, in a second tab: rounds so far, and it switches when done
            live = page.context.new_page()  # the context aborts requests outside the origin
            live.goto(f"{served}/inflight/run-1", wait_until="load")
            assert live.locator("section.round").count() == 2
            assert "Running" in live.locator("#inflight-banner").inner_text()
            live.screenshot(path=str(ARTIFACTS / "inflight_page.png"), full_page=True)

            with open(data_dir / "result_a.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(extra_record("run-1", answer="finished live")) + "\n")
            snap.unlink()
            wait_until(page, lambda: not panel.is_visible(), "the panel to empty")
            wait_until(page, lambda: runs.count() == before + 1, "the new row")
            assert "finished live" in runs.last.inner_text()
            assert page.evaluate("() => window.__same_page === true")  # never reloaded
            live.wait_for_url(f"{served}/case/6", timeout=10_000)
            assert "finished live" in live.locator(".final .answer").inner_text()
            assert not [e for e in page.errors if "favicon" not in e], page.errors
        browser.close()
