"""The offline search backend over the demo corpus: text, crops of images, page visits, and
the three tools as the agent loop calls them through the registry."""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from r1v4.cli.index import main as index_main
from r1v4.demo.corpus import BASE_URL, DEMO, SCENE_POSTER_BOX, make_demo_corpus
from r1v4.tools import ToolContext, ToolRegistry
from r1v4.tools.search import SearchSettings, check_search_settings, make_search_tools
from r1v4.tools.search.corpus import CorpusError, read_corpus
from r1v4.tools.search.local import LocalIndex, build_index, fts_query
from tests.helpers import ROOT


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_corpus(tmp_path_factory.mktemp("search") / "corpus")


@pytest.fixture(scope="module")
def index(corpus: Path) -> LocalIndex:
    stats = build_index(corpus)
    assert (stats.pages, stats.images) == (11, 7)
    return LocalIndex(stats.path)


def png(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, fmt, **({"quality": 70} if fmt == "JPEG" else {}))
    return buf.getvalue()


def titles(entries: list[dict]) -> list[str]:
    return [e["title"] for e in entries]


@pytest.mark.slow
def test_committed_demo_corpus_matches_its_generator(corpus: Path) -> None:
    """demo_corpus/ in the repo is what make_demo_corpus writes (pages byte for byte)."""
    for page in sorted(corpus.glob("*.md")) + sorted(corpus.glob("*.html")):
        assert (ROOT / "demo_corpus" / page.name).read_text() == page.read_text(), page.name
    for img in sorted((corpus / "images").glob("*.png")) + [corpus / "scene.png"]:
        rel = img.relative_to(corpus)
        a, b = Image.open(img), Image.open(ROOT / "demo_corpus" / rel)
        assert a.size == b.size and a.tobytes() == b.convert(a.mode).tobytes(), rel


@pytest.mark.slow
@pytest.mark.parametrize(
    "query, expected",
    [
        ("striped lighthouse on the breakwater", "Harbor Lantern Tower"),
        ("Odile Varnay architect", "Odile Varnay (architect)"),
        ("which town has salt mines", "Kessmark"),
        ("observatory refractor telescope", "Quillmere Observatory"),
        ("kites with glass foil", "Festival of Glass Kites"),
        ("lantern restored in 1987", "Restoring the Harbor Lantern Tower"),  # the HTML page
    ],
)
def test_text_search_ranks_the_right_page_first(
    index: LocalIndex, query: str, expected: str
) -> None:
    results = index.text_search(query, 5)
    assert titles(results)[0] == expected
    assert results[0]["url"].startswith(BASE_URL)
    assert results[0]["snippet"]


def test_text_search_is_safe_against_fts_syntax_and_finds_nothing_for_unknown_words(
    index: LocalIndex,
) -> None:
    # FTS5 operators and quotes are plain words, never syntax (no error, same ranking)
    assert index.text_search('"ferry AND (NEAR OR', 5) == index.text_search("ferry and near or", 5)
    assert index.text_search("zyxwvut qqqq", 5) == []
    assert index.text_search("   ", 5) == []
    assert fts_query('a "b" c') == '"a" OR "b" OR "c"'


@pytest.mark.parametrize("image", sorted(DEMO_IMAGES := [
    "lantern_tower.png", "observatory.png", "saffron_bridge.png", "kite_poster.png",
    "ferry_logo.png", "copperleaf_tram.png", "clock_tower.png",
]))  # fmt: skip
def test_image_search_finds_page_from_crop_resize_and_jpeg(
    corpus: Path, index: LocalIndex, image: str
) -> None:
    original = Image.open(corpus / "images" / image)
    w, h = original.size
    page = next(e for e in index.text_search(image.split(".")[0].replace("_", " "), 20))
    variants = {
        "central 50%": original.crop((w // 4, h // 4, 3 * w // 4, 3 * h // 4)),
        "top-left quadrant": original.crop((0, 0, w // 2, h // 2)),
        "resized to a third": original.resize((w // 3, h // 3)),
        "jpeg": Image.open(io.BytesIO(png(original, "JPEG"))),
        "central 60%": original.crop((w // 5, h // 5, 4 * w // 5, 4 * h // 5)),
    }
    for label, variant in variants.items():
        found = index.image_search(png(variant), 3)
        assert found, f"{image}: {label} found nothing"
        assert found[0]["image"].endswith(f"images/{image}"), (label, found[0])
    assert page  # the page exists in the text index too


@pytest.mark.slow
def test_image_search_returns_nothing_for_unrelated_or_flat_images(index: LocalIndex) -> None:
    rng = random.Random(1234)
    for _ in range(25):
        img = Image.new("RGB", (400, 300), tuple(rng.randrange(256) for _ in range(3)))
        d = ImageDraw.Draw(img)
        for _ in range(rng.randrange(3, 30)):
            x, y, r = rng.randrange(400), rng.randrange(300), rng.randrange(5, 80)
            d.ellipse(
                (x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3))
            )
        assert index.image_search(png(img), 3) == []
    assert index.image_search(png(Image.new("RGB", (300, 300), "white")), 3) == []
    with pytest.raises(ValueError, match="not a readable image"):
        index.image_search(b"not an image", 3)


@pytest.mark.slow
def test_scene_crop_finds_the_poster_page_even_with_a_margin(
    corpus: Path, index: LocalIndex
) -> None:
    scene = Image.open(corpus / "scene.png")
    assert index.image_search(png(scene), 3) == []  # the whole street is not a corpus image
    left, top, right, bottom = SCENE_POSTER_BOX
    for margin in (0, 10, 25):
        crop = scene.crop((left - margin, top - margin, right + margin, bottom + margin))
        found = index.image_search(png(crop), 3)
        assert titles(found)[:1] == ["Harbor Lantern Tower"], margin


def test_get_page_by_url_ignores_trailing_slash_and_fragment(index: LocalIndex) -> None:
    title, url, text = index.get_page(BASE_URL + "odile-varnay/#early-life")
    assert title == "Odile Varnay (architect)" and url == BASE_URL + "odile-varnay"
    assert "born in Kessmark" in text
    assert index.get_page("https://veloria.example/wiki/missing") is None


def test_corpus_errors_name_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "ok.md").write_text("---\ntitle: A\nurl: https://a.example/\n---\nbody\n")
    (tmp_path / "nourl.md").write_text("---\ntitle: B\n---\nbody\n")
    (tmp_path / "open.md").write_text("---\ntitle: C\n")
    (tmp_path / "badline.md").write_text("---\ntitle: D\nnot a pair\n---\n")
    (tmp_path / "img.md").write_text("---\nurl: https://d.example/\n---\n![x](../escape.png)\n")
    with pytest.raises(CorpusError) as err:
        read_corpus(tmp_path)
    msg = str(err.value)
    assert "nourl.md: no url" in msg
    assert "open.md:1: front matter" in msg
    assert "badline.md:3:" in msg
    assert "img.md: image '../escape.png' is outside the corpus folder" in msg


def test_manifest_gives_titles_urls_and_image_pages(tmp_path: Path) -> None:
    (tmp_path / "page.txt").write_text("Plain text about the moonstone quarry.")
    src = ROOT / "demo_corpus" / "images" / "ferry_logo.png"
    (tmp_path / "logo.png").write_bytes(src.read_bytes())
    manifest = {
        "pages": [{"path": "page.txt", "title": "Moonstone", "url": "https://m.example/q"}],
        "images": [{"path": "logo.png", "page_url": "https://m.example/q"}],
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    stats = build_index(tmp_path, tmp_path / "out" / "ix.sqlite")
    ix = LocalIndex(stats.path)
    assert titles(ix.text_search("moonstone", 3)) == ["Moonstone"]
    hit = ix.image_search(src.read_bytes(), 3)
    assert (
        hit[0]["url"] == "https://m.example/q" and hit[0]["image"] == "https://m.example/logo.png"
    )


def test_index_command_builds_default_index_and_reports_bad_corpus(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.sqlite"
    assert index_main([str(corpus), "--out", str(out)]) == 0
    assert "indexed 11 pages and 7 images" in capsys.readouterr().out
    assert LocalIndex(out).counts() == {"pages": 11, "images": 7}
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "p.md").write_text("no front matter\n")
    assert index_main([str(bad)]) == 1
    assert "p.md: no url" in capsys.readouterr().err
    assert not (bad / ".r1v4-index.sqlite").exists()


def _children(pid: int) -> list[int]:
    """Pids whose parent is `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a reaped or unreaped dead process)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def many_images_corpus(corpus: Path) -> Path:
    """A one-page corpus with enough images for the index to use its process pool."""
    import numpy as np

    from r1v4.tools.search.local import POOL_MIN_IMAGES

    (corpus / "img").mkdir(parents=True)
    rng = np.random.default_rng(7)
    n = POOL_MIN_IMAGES + 100
    for i in range(n):
        blocks = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(blocks).resize((256, 256), Image.NEAREST).save(corpus / "img" / f"{i}.png")
    links = "\n".join(f"![image {i}](img/{i}.png)" for i in range(n))
    (corpus / "page.md").write_text(f"---\ntitle: Many\nurl: https://many.example/\n---\n{links}\n")
    return corpus


@pytest.mark.slow
def test_worker_pool_hashes_a_large_corpus(tmp_path: Path) -> None:
    corpus = many_images_corpus(tmp_path / "big")
    stats = build_index(corpus, workers=2)
    assert stats.images == len(list((corpus / "img").iterdir()))
    hit = LocalIndex(stats.path).image_search((corpus / "img" / "123.png").read_bytes(), 1)
    assert hit and hit[0]["image"].endswith("/img/123.png")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_killed_index_command_leaves_no_worker_running(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    """SIGKILL `python -m r1v4 index` while its hashing pool works: every process it started
    ends by itself (before the fix they waited on the pool's queue forever)."""
    import signal
    import subprocess
    import sys
    import time

    corpus = many_images_corpus(tmp_path / "big")
    proc = subprocess.Popen(
        [sys.executable, "-m", "r1v4", "index", str(corpus), "--workers", "2"],
        cwd=ROOT,
        env=subprocess_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None:
            kids = _children(proc.pid)
            started.update(kids)
            workers = [k for k in kids if _running(k) and b"resource_tracker" not in _cmdline(k)]
            if len(workers) >= 2:
                break
            time.sleep(0.02)
        assert len(workers) >= 2, "the index command never started its worker pool"
        started.update(_children(proc.pid))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_running(p) for p in started):
            time.sleep(0.1)
        assert not [p for p in started if _running(p)], "workers outlived the killed command"
        assert not (corpus / ".r1v4-index.sqlite").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for pid in started:  # processes this test caused, by their own id
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


# -- the tools through the registry, as the agent loop uses them ---------------------------


def run(coro):
    return asyncio.run(coro)


@pytest.mark.slow
def test_demo_chain_through_the_registry(corpus: Path, tmp_path: Path) -> None:
    """crop -> image_search -> text_search -> web_visit, with the singular argument forms."""
    settings = SearchSettings(corpus_dir=corpus, index_path=tmp_path / "ix.sqlite")
    assert check_search_settings(settings) == [
        f"note: search index {tmp_path / 'ix.sqlite'} is built now (first use)"
    ]
    Image.open(corpus / "scene.png").crop(DEMO["crop_box"]).save(tmp_path / "crop_1.png")
    ctx = ToolContext("demo", [corpus / "scene.png"], intermediate_images=[tmp_path / "crop_1.png"])

    async def chain():
        async with ToolRegistry(make_search_tools(settings)) as reg:
            img = await reg.call("image_search", {"image_path": "crop_1.png"}, ctx)
            txt = await reg.call("text_search", {"query": DEMO["text_query"]}, ctx)
            page = await reg.call("web_visit", {"url": DEMO["visit"]}, ctx)
            missing = await reg.call("web_visit", {"urls": ["https://else.example/"]}, ctx)
            return img, txt, page, missing

    img, txt, page, missing = run(chain())
    assert img.error is None
    assert img.text.startswith("Results for crop_1.png:\n1. Harbor Lantern Tower\n   link: ")
    assert "   image: https://veloria.example/wiki/images/lantern_tower.png" in img.text
    assert img.data[0]["url"] == DEMO["image_search_finds"]
    assert "Odile Varnay" in img.data[0]["snippet"]
    assert txt.data[0]["url"] == DEMO["visit"]
    assert "born in Kessmark" in page.text and page.data[0]["title"] == "Odile Varnay (architect)"
    assert missing.error and "not in the offline corpus" in missing.error


def test_image_search_reads_only_trajectory_images(corpus: Path, tmp_path: Path) -> None:
    settings = SearchSettings(corpus_dir=corpus, index_path=tmp_path / "ix.sqlite")
    secret = tmp_path / "secret.png"
    Image.open(corpus / "images" / "observatory.png").save(secret)
    ctx = ToolContext("c", [corpus / "images" / "kite_poster.png"])

    async def calls():
        async with ToolRegistry(make_search_tools(settings)) as reg:
            return [
                await reg.call("image_search", {"image_paths": [str(secret)]}, ctx),
                await reg.call("image_search", {"image_path": "../secret.png"}, ctx),
                await reg.call("image_search", {"image_path": "image_1.png"}, ctx),
                await reg.call("image_search", {"image_paths": "/tmp/x/kite_poster.png"}, ctx),
                await reg.call("image_search", {"image_paths": []}, ctx),
                await reg.call("text_search", {"queries": [""]}, ctx),
            ]

    refused, dotdot, alias, by_name, empty, blank = run(calls())
    assert refused.error and "not an image of this conversation" in refused.error
    assert "known images: kite_poster.png" in refused.error
    assert dotdot.error
    assert alias.data[0]["title"] == "Festival of Glass Kites"  # image_1 = first input
    assert by_name.data[0]["title"] == "Festival of Glass Kites"  # directories ignored
    assert empty.error and '{"image_paths": ["crop_1.png"]}' in empty.error
    assert blank.error and "non-empty string" in blank.error


def test_missing_index_is_a_startup_warning_and_an_error_observation(tmp_path: Path) -> None:
    settings = SearchSettings(index_path=tmp_path / "none.sqlite")
    assert "does not exist" in check_search_settings(settings)[0]
    ctx = ToolContext("c", [])

    async def call():
        async with ToolRegistry(make_search_tools(settings)) as reg:
            return await reg.call("text_search", {"query": "x"}, ctx)

    result = run(call())
    assert result.error and "python -m r1v4 index" in result.error


def test_multiple_queries_and_caps(corpus: Path, tmp_path: Path) -> None:
    settings = SearchSettings(
        corpus_dir=corpus, index_path=tmp_path / "ix.sqlite", max_results=2, max_chars=300
    )
    ctx = ToolContext("c", [])

    async def call():
        async with ToolRegistry(make_search_tools(settings)) as reg:
            return await reg.call(
                "text_search", {"queries": ["tram", "bridge", "zzzqqq"], "query": "ferry"}, ctx
            )

    r = run(call())
    assert len(r.text) <= 300 and r.text.endswith("[… truncated]")
    assert {e["query"] for e in r.data} == {"tram", "bridge", "ferry"}
    assert all(sum(e["query"] == q for e in r.data) <= 2 for q in ("tram", "bridge", "ferry"))
