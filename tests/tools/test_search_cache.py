"""Tool-result cache: hits return the same observation without touching the backend, errors
are not stored, image keys follow content not names, and concurrent callers are safe."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from r1v4.demo.corpus import make_demo_corpus
from r1v4.tools import ToolContext, ToolError, ToolRegistry, ToolResult
from r1v4.tools.cache import ToolCache, cache_key
from r1v4.tools.search import SearchSettings, make_search_tools
from r1v4.tools.search.local import LocalBackend, build_index


@pytest.fixture(scope="module")
def demo_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = make_demo_corpus(tmp_path_factory.mktemp("cache") / "corpus")
    return build_index(corpus).path


class CountingLocalBackend(LocalBackend):
    """The real local backend, counting how often each method is reached."""

    def __init__(self, index_path: Path, fail_first: int = 0, delay_s: float = 0.0) -> None:
        super().__init__(index_path)
        self.calls = {"text": 0, "image": 0, "visit": 0}
        self.fail_first = fail_first
        self.delay_s = delay_s

    async def text_search(self, query: str, limit: int) -> list[dict]:
        self.calls["text"] += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.calls["text"] <= self.fail_first:
            raise ToolError("provider timed out (injected)")
        return await super().text_search(query, limit)

    async def image_search(self, image_bytes: bytes, name: str, limit: int) -> list[dict]:
        self.calls["image"] += 1
        return await super().image_search(image_bytes, name, limit)

    async def visit(self, url: str) -> tuple[str, str, str]:
        self.calls["visit"] += 1
        return await super().visit(url)


def settings(tmp_path: Path, index: Path) -> SearchSettings:
    return SearchSettings(index_path=index, cache_path=tmp_path / "cache.sqlite")


@pytest.mark.slow
def test_hit_returns_same_observation_without_calling_backend(
    tmp_path: Path, demo_index: Path
) -> None:
    backend = CountingLocalBackend(demo_index)
    ctx = ToolContext("c", [])

    async def go():
        async with ToolRegistry(
            make_search_tools(settings(tmp_path, demo_index), backend=backend)
        ) as reg:
            first = await reg.call("text_search", {"queries": ["Odile Varnay"]}, ctx)
            # same call written differently: singular alias, extra whitespace
            second = await reg.call("text_search", {"query": "  Odile Varnay "}, ctx)
            page1 = await reg.call(
                "web_visit", {"url": "https://veloria.example/wiki/kessmark"}, ctx
            )
            page2 = await reg.call(
                "web_visit", {"urls": ["https://veloria.example/wiki/kessmark"]}, ctx
            )
            other = await reg.call("text_search", {"query": "Kessmark"}, ctx)
            return first, second, page1, page2, other

    first, second, page1, page2, other = asyncio.run(go())
    assert backend.calls == {"text": 2, "image": 0, "visit": 1}
    assert (second.text, second.data) == (first.text, first.data)
    assert (page2.text, page2.data) == (page1.text, page1.data)
    assert other.text != first.text


@pytest.mark.slow
def test_cache_survives_a_new_run_and_is_per_backend(tmp_path: Path, demo_index: Path) -> None:
    ctx = ToolContext("c", [])

    async def once(backend) -> ToolResult:
        async with ToolRegistry(
            make_search_tools(settings(tmp_path, demo_index), backend=backend)
        ) as reg:
            return await reg.call("text_search", {"query": "tram"}, ctx)

    b1, b2 = CountingLocalBackend(demo_index), CountingLocalBackend(demo_index)
    r1, r2 = asyncio.run(once(b1)), asyncio.run(once(b2))
    assert (b1.calls["text"], b2.calls["text"]) == (1, 0)
    assert r1.text == r2.text
    b3 = CountingLocalBackend(demo_index)
    b3.name = "serper"  # another backend's answers are never served from this key
    asyncio.run(once(b3))
    assert b3.calls["text"] == 1
    rows = (
        sqlite3.connect(tmp_path / "cache.sqlite")
        .execute("SELECT tool, backend, args, hits FROM tool_cache ORDER BY backend")
        .fetchall()
    )
    assert [r[:2] for r in rows] == [("text_search", "local"), ("text_search", "serper")]
    assert '"queries": ["tram"]' in rows[0][2] and rows[0][3] == 1


def test_errors_are_not_cached(tmp_path: Path, demo_index: Path) -> None:
    backend = CountingLocalBackend(demo_index, fail_first=1)
    ctx = ToolContext("c", [])

    async def go():
        async with ToolRegistry(
            make_search_tools(settings(tmp_path, demo_index), backend=backend)
        ) as reg:
            failed = await reg.call("text_search", {"query": "bridge"}, ctx)
            ok = await reg.call("text_search", {"query": "bridge"}, ctx)
            again = await reg.call("text_search", {"query": "bridge"}, ctx)
            missing = await reg.call("web_visit", {"url": "https://nowhere.example/"}, ctx)
            missing2 = await reg.call("web_visit", {"url": "https://nowhere.example/"}, ctx)
            return failed, ok, again, missing, missing2

    failed, ok, again, missing, missing2 = asyncio.run(go())
    assert failed.error and "timed out" in failed.error
    assert ok.error is None and again.text == ok.text
    assert backend.calls["text"] == 2
    assert missing.error and missing2.error and backend.calls["visit"] == 2


def test_image_key_is_the_content_not_the_name(tmp_path: Path, demo_index: Path) -> None:
    corpus_img = Path(demo_index).parent / "images" / "observatory.png"
    a = tmp_path / "a" / "crop_1.png"
    b = tmp_path / "b" / "crop_1.png"
    c = tmp_path / "c" / "other_name.png"
    for p in (a, b, c):
        p.parent.mkdir()
    Image.open(corpus_img).save(a)
    Image.open(corpus_img).rotate(180).save(b)  # same name, different pixels
    c.write_bytes(a.read_bytes())  # different name, same pixels
    backend = CountingLocalBackend(demo_index)

    async def go():
        async with ToolRegistry(
            make_search_tools(settings(tmp_path, demo_index), backend=backend)
        ) as reg:
            ra = await reg.call("image_search", {"image_path": "crop_1.png"}, ToolContext("1", [a]))
            rb = await reg.call("image_search", {"image_path": "crop_1.png"}, ToolContext("2", [b]))
            rc = await reg.call(
                "image_search", {"image_path": "other_name.png"}, ToolContext("3", [c])
            )
            return ra, rb, rc

    ra, rb, rc = asyncio.run(go())
    assert backend.calls["image"] == 2  # a and b searched; c served from a's entry
    assert ra.data[0]["title"] == "Quillmere Observatory"
    assert rb.text != ra.text
    assert rc.data == ra.data


def test_concurrent_identical_and_distinct_calls(tmp_path: Path, demo_index: Path) -> None:
    """200 coroutines over 10 distinct queries: each query reaches the backend once, every
    caller gets its own query's answer, and the file holds exactly 10 rows."""
    backend = CountingLocalBackend(demo_index, delay_s=0.02)
    queries = [
        "tower", "bridge", "ferry", "tram", "kite", "observatory", "Kessmark", "Varnay",
        "clock", "harbour",
    ]  # fmt: skip
    ctx = ToolContext("c", [])

    async def go():
        async with ToolRegistry(
            make_search_tools(settings(tmp_path, demo_index), backend=backend)
        ) as reg:
            calls = [queries[i % 10] for i in range(200)]
            results = await asyncio.gather(
                *(reg.call("text_search", {"query": q}, ctx) for q in calls)
            )
            return calls, results

    calls, results = asyncio.run(go())
    assert backend.calls["text"] == 10
    by_query: dict[str, str] = {}
    for q, r in zip(calls, results, strict=True):
        assert r.error is None and f'"{q}"' in r.text
        assert by_query.setdefault(q, r.text) == r.text
    assert sqlite3.connect(tmp_path / "cache.sqlite").execute(
        "SELECT count(*) FROM tool_cache"
    ).fetchone() == (10,)


def test_two_cache_objects_on_one_file_in_threads(tmp_path: Path) -> None:
    """Two runs sharing a cache file (WAL) from separate threads write and read safely."""
    path = tmp_path / "shared.sqlite"
    calls = {"n": 0}

    async def worker(tag: int) -> list[str]:
        cache = ToolCache(path)
        out = []
        try:
            for i in range(40):

                async def call(i=i) -> ToolResult:
                    calls["n"] += 1
                    return ToolResult("text_search", f"result {i}", data=[{"i": i}])

                r = await cache.get_or_call("text_search", "local", {"queries": [f"q{i}"]}, call)
                out.append(r.text)
        finally:
            cache.close()
        return out

    import threading

    results: dict[int, list[str]] = {}
    threads = [
        threading.Thread(target=lambda t=t: results.__setitem__(t, asyncio.run(worker(t))))
        for t in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] == results[1] == [f"result {i}" for i in range(40)]
    assert 40 <= calls["n"] <= 80  # racing misses may both compute; never a wrong answer
    assert len(ToolCache(path)) == 40


def test_key_normalisation() -> None:
    k1, _ = cache_key("t", {"b": [" x "], "a": 1}, "local")
    k2, _ = cache_key("t", {"a": 1, "b": ["x"]}, "local")
    k3, _ = cache_key("t", {"a": 1, "b": ["x"]}, "serper")
    k4, _ = cache_key("u", {"a": 1, "b": ["x"]}, "local")
    assert k1 == k2 and len({k2, k3, k4}) == 3
