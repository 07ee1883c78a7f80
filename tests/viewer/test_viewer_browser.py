"""The viewer in headless Chromium: pages load with their images, keys move between cases,
and payloads in model text never run. Skipped when /usr/bin/chromium is absent."""

from __future__ import annotations

import json
import time

import pytest

from r1v4.viewer import create_app, get_library
from tests.helpers import ARTIFACTS
from tests.helpers.browser import loopback_page, serving
from tests.helpers.viewer_records import (
    CHROMIUM,
    NO_CHROMIUM,
    PRIVATE_PNG,
    extra_record,
    launch_chromium,
    write_hostile,
    write_result,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=NO_CHROMIUM,
    ),
]


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """Index caches go to a folder of this module, never to the user's ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The viewer on 127.0.0.1:<free port> in a thread, over the fixture result files."""
    root = tmp_path_factory.mktemp("browser")
    a = write_result(root, "result_a.jsonl", "a")
    write_result(root, "result_b.jsonl", "b", invalid_line=False)
    write_hostile(root)  # hostile.jsonl, and ../host/private.png it tries to reach
    app = create_app(
        {"RESULT_FILES": [str(a)], "ROOTS": [str(root)], "CWD": str(root), "LIVE_POLL_MS": 300}
    )
    fid = get_library(app).files()[0].fid
    with serving(app) as base:
        yield {"base": base, "fid": fid, "root": root, "file": a, "app": app}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch_chromium(pw)
        yield b
        b.close()


@pytest.fixture()
def page(browser, served):
    with loopback_page(browser, served["base"], {"width": 1280, "height": 900}) as pg:
        yield pg


def test_open_file_from_home_go_to_case_images_load(page, served):
    page.goto(served["base"] + "/")
    page.fill('input[name="path"]', "result_b.jsonl")
    page.click('form.open-form button[type="submit"]')
    page.wait_for_selector("table.runs tbody tr")
    assert page.locator("table.runs tbody tr").count() == 5
    page.click("text=What colour is the box in the middle?")  # the whole row is a link
    page.wait_for_selector("section.round")
    assert page.locator("section.round").count() == 2
    page.wait_for_load_state("networkidle")
    widths = page.eval_on_selector_all("img", "els => els.map(e => e.complete && e.naturalWidth)")
    assert len(widths) == 3 and all(w and w > 0 for w in widths), widths
    assert page.locator("pre.code.highlight .kn").first.inner_text() == "from"
    # click to enlarge (fitted to the window), then zoom with the keyboard: the percentage
    # is image pixels per screen pixel, so "1" (1:1) shows 100%
    page.click("section.round a.zoomable >> nth=0")
    assert page.locator(".lightbox").is_visible()
    zoom = page.locator(".lightbox .lb-zoom")
    page.wait_for_function("() => document.querySelector('.lightbox .lb-caption')"
                           ".textContent.includes(' px')")  # fmt: skip
    fitted = float(zoom.inner_text().rstrip("%"))
    page.keyboard.press("+")
    assert abs(float(zoom.inner_text().rstrip("%")) - fitted * 1.25) <= 1
    page.keyboard.press("1")
    assert zoom.inner_text() == "100%"
    page.keyboard.press("Escape")
    assert not page.locator(".lightbox").is_visible()
    assert not [e for e in page.errors if "favicon" not in e], page.errors


def test_keyboard_moves_between_cases(page, served):
    base = f"{served['base']}/f/{served['fid']}"
    page.goto(f"{base}/case/0")
    page.keyboard.press("j")
    page.wait_for_url(f"{base}/case/1")
    assert "What is the capital of France?" in page.inner_text(".question")
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"{base}/case/2")
    page.keyboard.press("k")
    page.wait_for_url(f"{base}/case/1")
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(f"{base}/case/0")
    page.keyboard.press("u")
    page.wait_for_url(f"{base}/")


def test_payloads_do_not_execute_and_screenshot(page, served):
    base = f"{served['base']}/f/{served['fid']}"
    for url in (f"{base}/", f"{base}/case/4", f"{base}/case/4.json"):
        page.goto(url, wait_until="load")  # a list page keeps polling: never network-idle
        assert page.evaluate("() => window.__pwned === undefined"), url
        assert page.title() != "pwned"
    # the payloads are on the page, as text
    page.goto(f"{base}/case/4")
    think = page.locator("details.think .text").first.inner_text()
    assert "<script>window.__pwned = 'think'" in think
    answer = page.locator(".final .answer").inner_text()
    assert answer.startswith("<img src=x onerror=")
    code = page.locator("pre.code.highlight").first.inner_text()
    assert "onerror" in code
    assert page.locator("details.think .text script, .answer img, pre.code img").count() == 0
    # the case page a user looks at most: a clean one, saved as an artifact
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{base}/case/0")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(ARTIFACTS / "case_page.png"), full_page=True)
    assert (ARTIFACTS / "case_page.png").stat().st_size > 10_000


def test_live_list_shows_appended_cases(page, served):
    page.goto(f"{served['base']}/f/{served['fid']}/")
    rows = page.locator("table.runs tbody tr")
    before = rows.count()
    with open(served["file"], "a") as fh:
        fh.write(json.dumps(extra_record("case-live", answer="arrived live")) + "\n")
    deadline = time.monotonic() + 10
    while rows.count() == before and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert rows.count() == before + 1
    assert "arrived live" in rows.last.inner_text()
    assert page.locator('[data-total="total"]').inner_text() == str(before + 1)
    assert "new case" in page.locator("#live-note").inner_text()


def test_live_list_marks_a_case_whose_tool_calls_all_failed(page, served):
    """The row the live poller adds carries the tool-error badge, and the header total."""
    page.goto(f"{served['base']}/f/{served['fid']}/")
    rows = page.locator("table.runs tbody tr")
    before = rows.count()
    record = extra_record("case-tool-failed", answer="guessed")
    record["response"]["full_response"] = (
        '<tool_call>{"name": "code", "arguments": {"code": "1/0"}}</tool_call>'
        '<observation>{"type": "code", "result": "ZeroDivisionError", "images": [],'
        ' "error": "ZeroDivisionError raised"}</observation><answer>guessed</answer>'
    )
    with open(served["file"], "a") as fh:
        fh.write(json.dumps(record) + "\n")
    deadline = time.monotonic() + 10
    while rows.count() == before and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert rows.count() == before + 1
    badge = rows.last.locator(".col-tools .badge")
    assert badge.inner_text() == "all tools failed" and "bad" in badge.get_attribute("class")
    assert int(page.locator('[data-total="tool_errors"]').inner_text()) >= 1


def test_fake_observation_naming_a_host_image_shows_nothing_in_the_browser(page, served):
    """A crafted result file opened through the page's own form: its model-written
    observations name a host image four ways; the browser receives none of its bytes."""
    received: list[bytes] = []

    def keep_image_bodies(response):
        if "/img/" in response.url:
            received.append(response.body())

    page.on("response", keep_image_bodies)
    page.goto(served["base"] + "/")
    page.fill('input[name="path"]', "hostile.jsonl")
    page.click('form.open-form button[type="submit"]')
    page.wait_for_selector("table.runs tbody tr")
    page.click("text=Show me something")
    page.wait_for_selector("section.round")
    page.wait_for_load_state("networkidle")
    assert page.locator("img").count() == 0
    missing = page.locator(".missing").all_inner_texts()
    assert len(missing) == 4 and all("outside the run's assets folder" in m for m in missing)
    base = page.url.rsplit("/case/", 1)[0]
    for k in range(4):  # asking directly does not help either
        resp = page.request.get(f"{base}/case/0/img/{k}")
        assert resp.status == 404 and PRIVATE_PNG not in resp.body()
    # the real case of the same file still shows its input and trajectory images
    page.goto(f"{base}/case/1")
    page.wait_for_load_state("networkidle")
    widths = page.eval_on_selector_all("img", "els => els.map(e => e.complete && e.naturalWidth)")
    assert len(widths) == 2 and all(w and w > 0 for w in widths), widths
    assert received and not any(PRIVATE_PNG in body for body in received)


ATTACKER = "http://attacker.test"


def test_another_site_cannot_make_the_viewer_open_a_file(page, served):
    """A page on another origin submits a form to the viewer's /open, and tries GET forms
    of it through a fetch and an image: the viewer opens nothing."""
    app = served["app"]
    opened_before = sorted(f.path.name for f in get_library(app).files())
    target = f"{served['base']}/open"
    attack = f"""<!doctype html><html><body>
<form id="f" method="post" action="{target}">
  <input name="path" value="result_b.jsonl"><input name="token" value="guessed">
</form>
<img src="{target}?path=result_b.jsonl">
<script>
  fetch("{target}", {{method: "POST", mode: "no-cors",
    headers: {{"Content-Type": "application/x-www-form-urlencoded"}},
    body: "path=result_b.jsonl"}}).catch(() => {{}});
  fetch("{target}?path=result_b.jsonl", {{mode: "no-cors"}}).catch(() => {{}});
  setTimeout(() => document.getElementById("f").submit(), 300);
</script></body></html>"""
    page.route(
        f"{ATTACKER}/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body=attack),
    )
    statuses: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda r: statuses.append((r.request.method, r.status)) if "/open" in r.url else None,
    )
    page.goto(f"{ATTACKER}/page.html")
    page.wait_for_url(f"{served['base']}/open", timeout=10_000)  # the form went through
    assert "Not opened" in page.inner_text("main")
    assert ("POST", 403) in statuses
    assert sorted(f.path.name for f in get_library(app).files()) == opened_before
