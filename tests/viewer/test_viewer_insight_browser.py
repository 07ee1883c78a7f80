"""The viewer's insight pages in headless Chromium, over two real runs of the flag cases:
each crop's box sits on its region of the input image and lights up with its crop, the
lightbox is true to the pixel and steps through the images, the run page draws its charts,
the compare page filters flips. Screenshots go to tests/artifacts/ for a human to look at.
Skipped when /usr/bin/chromium is absent."""

from __future__ import annotations

import pytest

from r1v4.viewer import create_app, get_library
from tests.helpers import ARTIFACTS
from tests.helpers.browser import loopback_page, serving
from tests.helpers.insight_runs import make_runs
from tests.helpers.viewer_records import CHROMIUM, NO_CHROMIUM, launch_chromium

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("insight-browser")
    a, b = make_runs(root)
    app = create_app(
        {
            "RESULT_FILES": [str(a), str(b)],
            "ROOTS": [str(root)],
            "CWD": str(root),
            "LIVE_POLL_MS": 0,
            "INDEX_CACHE": None,
        }
    )
    fa, fb = (f.fid for f in get_library(app).files())
    with serving(app) as base:
        yield {"base": base, "a": fa, "b": fb}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch_chromium(pw)
        yield b
        b.close()


@pytest.fixture()
def page(browser, served):
    with loopback_page(browser, served["base"], {"width": 1400, "height": 1000}) as pg:
        yield pg
    assert not [e for e in pg.errors if "favicon" not in e], pg.errors


def open_case(page, served, case_id: str) -> None:
    page.goto(f"{served['base']}/f/{served['a']}/id/{case_id}")
    page.wait_for_selector("section.round")
    page.wait_for_load_state("networkidle")


def test_each_crop_box_sits_on_its_region_and_lights_up_with_its_crop(page, served):
    open_case(page, served, "recrop")
    img = page.locator(".inputs-block img").first.bounding_box()
    boxes = page.locator("svg.regions g.region rect")
    assert boxes.count() == 2
    # the crops of rounds 1 and 2: (20, 20, 180, 180) and (30, 25, 190, 185) of 400 x 300
    for i, (x0, y0, x1, y1) in enumerate([(20, 20, 180, 180), (30, 25, 190, 185)]):
        r = boxes.nth(i).bounding_box()
        # a 2.5 px stroke that does not scale widens the box by half its width on each side
        tol = 3
        assert abs((r["x"] - img["x"]) - x0 / 400 * img["width"]) <= tol, (i, r, img)
        assert abs((r["y"] - img["y"]) - y0 / 300 * img["height"]) <= tol, (i, r, img)
        assert abs(r["width"] - (x1 - x0) / 400 * img["width"]) <= 2 * tol, (i, r, img)
        assert abs(r["height"] - (y1 - y0) / 300 * img["height"]) <= 2 * tol, (i, r, img)
    labels = page.locator("svg.regions g.region text").all_text_contents()
    assert labels == ["1", "2"]
    # hovering a box lights its crop, hovering a crop lights its box
    boxes.nth(1).hover()
    assert "linked" in page.locator("#img-r2-0").get_attribute("class")
    page.locator("#img-r1-0 img").hover()
    assert "active" in page.locator("svg.regions g.region").nth(0).get_attribute("class")
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    boxes.nth(0).hover(position={"x": 4, "y": 4})  # its corner: box 2 lies over the rest
    page.screenshot(path=str(ARTIFACTS / "insight_case_crop_boxes.png"), full_page=True)


def test_the_lightbox_is_true_to_the_pixel_and_steps_through_the_images(page, served):
    open_case(page, served, "recrop")
    page.click("#img-r1-0 a.zoomable")
    caption = page.locator(".lightbox .lb-caption")
    page.wait_for_function(
        "() => document.querySelector('.lightbox .lb-caption').textContent.includes(' px')"
    )
    assert "round 1 · first.png · 160×160 px" in caption.inner_text()
    page.keyboard.press("1")
    assert page.locator(".lightbox .lb-zoom").inner_text() == "100%"
    shown = page.locator(".lightbox img").bounding_box()
    dpr = page.evaluate("() => window.devicePixelRatio")
    assert abs(shown["width"] * dpr - 160) < 0.5 and abs(shown["height"] * dpr - 160) < 0.5
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "() => document.querySelector('.lightbox .lb-caption').textContent.includes('second')"
    )
    assert "round 2 · second.png · 160×160 px" in caption.inner_text()
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(
        "() => document.querySelector('.lightbox .lb-caption').textContent.includes('first')"
    )
    page.keyboard.press("Escape")
    assert not page.locator(".lightbox").is_visible()
    # each thumbnail is captioned with its name and size
    assert "first.png · 160×160" in page.locator("#img-r1-0 figcaption").inner_text()


def test_the_run_page_draws_its_charts(page, served):
    page.goto(f"{served['base']}/f/{served['a']}/")
    page.wait_for_load_state("networkidle")
    charts = page.locator("details.charts figure.chart svg")
    assert charts.count() == 4
    assert all(charts.nth(i).bounding_box()["height"] > 50 for i in range(4))
    bars = page.locator("figure.chart-accuracy svg rect")
    assert bars.count() == 4  # all, and three categories
    assert page.locator("#flag-summary a.badge.flag").count() == 10
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "insight_run_page.png"), full_page=True)


def test_the_compare_page_filters_flips(page, served):
    page.goto(f"{served['base']}/compare?a={served['a']}&b={served['b']}")
    page.click("text=Flipped to wrong (1)")
    page.wait_for_url("**show=to_wrong**")
    rows = page.locator("table.compare tbody tr")
    assert rows.count() == 1 and "clean" in rows.first.inner_text()
    assert "now wrong" in rows.first.inner_text()
    page.click("text=Flipped to correct (1)")
    page.wait_for_url("**show=to_correct**")
    assert "wrong_answer" in page.locator("table.compare tbody tr").first.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "insight_compare_flips.png"), full_page=True)
