"""Serper and SearxNG adapters and the web fetcher, against real HTTP servers on 127.0.0.1.

The servers answer with the providers' documented response shapes (Serper: `organic` with
title/link/snippet/position, Lens `organic` with title/source/link/imageUrl/thumbnailUrl;
SearxNG: `results` with url/title/content/engine). Nothing leaves the loopback interface:
redirects towards other addresses are refused by the guard before any connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from PIL import Image

from r1v4.tools import ToolContext, ToolError, ToolRegistry
from r1v4.tools.search import SearchSettings, check_search_settings, make_search_tools
from r1v4.tools.search.web import WebFetcher

KEY = "test-key-123"


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on 127.0.0.1 (random port) and yield its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def fake_serper_app(log: list[dict]) -> web.Application:
    """A loopback stand-in for google.serper.dev speaking its documented JSON."""

    async def check_key(request: web.Request) -> web.Response | None:
        key = request.headers.get("X-API-KEY")
        if key == "quota":
            return web.json_response(
                {"message": "Too many requests", "statusCode": 429}, status=429
            )
        if key == "broke":
            return web.json_response(
                {"message": "Not enough credits", "statusCode": 400}, status=400
            )
        if key == "slow":
            await asyncio.sleep(3)
        if key not in (KEY, "slow"):
            return web.json_response({"message": "Unauthorized.", "statusCode": 403}, status=403)
        return None

    async def search(request: web.Request) -> web.Response:
        body = await request.json()
        log.append({"path": request.path, "body": body, "key": request.headers.get("X-API-KEY")})
        if (refusal := await check_key(request)) is not None:
            return refusal
        q = body["q"]
        return web.json_response(
            {
                "searchParameters": {"q": q, "type": "search", "engine": "google", "num": 10},
                "knowledgeGraph": {"title": "Lighthouse", "type": "Structure"},
                "organic": [
                    {
                        "title": f"{q} - Wikipedia",
                        "link": "https://en.wikipedia.org/wiki/Lighthouse",
                        "snippet": "A lighthouse is a tower ... designed to emit light.",
                        "sitelinks": [{"title": "History", "link": "https://x.example/h"}],
                        "position": 1,
                    },
                    {
                        "title": "Lighthouses of the world",
                        "link": "https://lights.example/list",
                        "snippet": "A list of   famous\nlighthouses.",
                        "date": "Mar 3, 2024",
                        "position": 2,
                    },
                ],
                "peopleAlsoAsk": [],
                "relatedSearches": [{"query": "lighthouse keeper"}],
                "credits": 1,
            }
        )

    async def lens(request: web.Request) -> web.Response:
        body = await request.json()
        log.append({"path": request.path, "body": body, "key": request.headers.get("X-API-KEY")})
        if (refusal := await check_key(request)) is not None:
            return refusal
        return web.json_response(
            {
                "searchParameters": {"url": body["url"], "type": "lens", "engine": "google"},
                "organic": [
                    {
                        "title": "Red and white lighthouse at dusk",
                        "source": "Example Photos",
                        "link": "https://photos.example/lighthouse",
                        "imageUrl": "https://photos.example/lighthouse.jpg",
                        "thumbnailUrl": "https://encrypted-tbn0.gstatic.com/images?q=tbn:x",
                    }
                ],
                "credits": 3,
            }
        )

    app = web.Application()
    app.router.add_post("/search", search)
    app.router.add_post("/lens", lens)
    return app


def fake_searxng_app(log: list[dict], json_enabled: bool = True) -> web.Application:
    async def search(request: web.Request) -> web.Response:
        log.append(dict(request.query))
        if request.query.get("format") != "json" or not json_enabled:
            return web.Response(status=403, text="Forbidden")
        q = request.query["q"]
        return web.json_response(
            {
                "query": q,
                "number_of_results": 0,
                "results": [
                    {
                        "url": "https://searx.example/a",
                        "title": f"About {q}",
                        "content": "First result content.",
                        "engine": "duckduckgo",
                        "parsed_url": ["https", "searx.example", "/a", "", "", ""],
                        "template": "default.html",
                        "engines": ["duckduckgo", "brave"],
                        "positions": [1, 2],
                        "score": 3.0,
                        "category": "general",
                    },
                    {
                        "url": "https://searx.example/a",
                        "title": "dup",
                        "content": "",
                        "engine": "x",
                    },
                    {
                        "url": "https://searx.example/b",
                        "title": "Second",
                        "content": "Second result.",
                        "engine": "brave",
                        "publishedDate": None,
                    },
                ],
                "answers": [],
                "corrections": [],
                "infoboxes": [],
                "suggestions": ["lighthouse history"],
                "unresponsive_engines": [],
            }
        )

    app = web.Application()
    app.router.add_get("/search", search)
    return app


ARTICLE = """<!doctype html><html><head><title>The Keeper's Log</title></head><body>
<nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<article><h1>The Keeper's Log</h1>
<p>The lamp was lit at dusk every evening for ninety-one years without a single miss, the
keeper wrote in the log that is now kept at the maritime museum.</p>
<p>Its lens was made of brass and glass and weighed four tonnes, turning on a bath of
mercury so that one person could rotate it by hand.</p></article>
<footer>Copyright the keepers</footer></body></html>"""


def web_app(hits: list[str]) -> web.Application:
    async def record(request: web.Request) -> None:
        hits.append(request.path)

    async def article(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(text=ARTICLE, content_type="text/html")

    async def plain(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(text="just text\nline two", content_type="text/plain")

    async def big(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(text="word " * 400_000, content_type="text/plain")

    async def binary(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(body=b"\x00\x01", content_type="application/octet-stream")

    async def redirect(request: web.Request) -> web.Response:
        await record(request)
        raise web.HTTPFound(request.query["to"])

    async def raw_redirect(request: web.Request) -> web.Response:
        await record(request)  # Location sent as given, not normalised by aiohttp's URL type
        return web.Response(status=302, headers={"Location": request.query["to"]})

    async def loop(request: web.Request) -> web.Response:
        await record(request)
        raise web.HTTPFound(f"/loop/{int(request.match_info['n']) + 1}")

    async def missing(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(status=404, text="nope")

    app = web.Application()
    app.router.add_get("/article", article)
    app.router.add_get("/plain", plain)
    app.router.add_get("/big", big)
    app.router.add_get("/binary", binary)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/raw-redirect", raw_redirect)
    app.router.add_get("/loop/{n}", loop)
    app.router.add_get("/missing", missing)
    return app


def run(coro):
    return asyncio.run(coro)


# -- Serper -------------------------------------------------------------------------------


def test_serper_text_search_sends_key_and_formats_organic_results(tmp_path: Path) -> None:
    log: list[dict] = []

    async def go():
        async with serve(fake_serper_app(log)) as base:
            settings = SearchSettings(backend="serper", serper_api_key=KEY, serper_base_url=base)
            async with ToolRegistry(make_search_tools(settings)) as reg:
                return await reg.call("text_search", {"query": "lighthouse"}, ToolContext("c", []))

    r = run(go())
    assert r.error is None
    assert log == [{"path": "/search", "body": {"q": "lighthouse", "num": 10}, "key": KEY}]
    assert r.text == (
        'Results for "lighthouse":\n'
        "1. lighthouse - Wikipedia\n"
        "   link: https://en.wikipedia.org/wiki/Lighthouse\n"
        "   A lighthouse is a tower ... designed to emit light.\n"
        "2. Lighthouses of the world\n"
        "   link: https://lights.example/list\n"
        "   A list of famous lighthouses."
    )
    assert [e["url"] for e in r.data] == [
        "https://en.wikipedia.org/wiki/Lighthouse",
        "https://lights.example/list",
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "key, expected",
    [
        ("wrong", "HTTP 403): the API key is missing, wrong or not allowed"),
        ("quota", "HTTP 429): rate limit or quota exhausted"),
        ("broke", "no search credits left"),
        ("slow", "timed out"),
        (None, "SERPER_API_KEY is not set"),
    ],
)
def test_serper_errors_become_actionable_error_observations(key: str | None, expected: str) -> None:
    async def go():
        async with serve(fake_serper_app([])) as base:
            settings = SearchSettings(
                backend="serper", serper_api_key=key, serper_base_url=base, search_timeout_s=0.5
            )
            async with ToolRegistry(make_search_tools(settings)) as reg:
                return await reg.call("text_search", {"queries": ["q"]}, ToolContext("c", []))

    r = run(go())
    assert r.error and expected in r.error, r.error


def test_serper_missing_key_is_reported_at_startup() -> None:
    warnings = check_search_settings(SearchSettings(backend="serper", serper_api_key=None))
    assert any("SERPER_API_KEY is not set" in w for w in warnings)
    assert any("public URL" in w for w in warnings)


def test_serper_lens_needs_a_public_url_and_uses_the_upload_folder(tmp_path: Path) -> None:
    img = tmp_path / "crop_1.png"
    Image.new("RGB", (64, 48), "red").save(img)
    ctx = ToolContext("c", [], intermediate_images=[img])
    log: list[dict] = []

    async def go():
        async with serve(fake_serper_app(log)) as base:
            plain = SearchSettings(backend="serper", serper_api_key=KEY, serper_base_url=base)
            upload = SearchSettings(
                backend="serper",
                serper_api_key=KEY,
                serper_base_url=base,
                image_upload_dir=tmp_path / "public",
                image_public_base_url="https://img.example/u/",
            )
            async with ToolRegistry(make_search_tools(plain)) as reg:
                refused = await reg.call("image_search", {"image_path": "crop_1.png"}, ctx)
            async with ToolRegistry(make_search_tools(upload)) as reg:
                found = await reg.call("image_search", {"image_path": "crop_1.png"}, ctx)
            return refused, found

    refused, found = run(go())
    assert refused.error and "needs a public URL" in refused.error
    assert len(log) == 1 and log[0]["path"] == "/lens"
    sent = log[0]["body"]["url"]
    assert sent.startswith("https://img.example/u/") and sent.endswith(".png")
    published = tmp_path / "public" / sent.rsplit("/", 1)[1]
    assert published.read_bytes() == img.read_bytes()
    assert found.text.startswith("Results for crop_1.png:\n1. Red and white lighthouse at dusk")
    assert "   image: https://photos.example/lighthouse.jpg" in found.text
    assert found.data[0]["url"] == "https://photos.example/lighthouse"


# -- SearxNG ------------------------------------------------------------------------------


def test_searxng_json_api_results_deduplicated() -> None:
    log: list[dict] = []

    async def go():
        async with serve(fake_searxng_app(log)) as base:
            settings = SearchSettings(backend="searxng", searxng_url=base + "/")
            async with ToolRegistry(make_search_tools(settings)) as reg:
                ctx = ToolContext("c", [])
                text = await reg.call("text_search", {"queries": ["lighthouse"]}, ctx)
                img = await reg.call("image_search", {"image_path": "x.png"}, ctx)
                return text, img

    text, img = run(go())
    assert log == [{"q": "lighthouse", "format": "json"}]
    assert [e["url"] for e in text.data] == ["https://searx.example/a", "https://searx.example/b"]
    assert "1. About lighthouse\n   link: https://searx.example/a\n   First result content." in (
        text.text
    )
    assert img.error  # no reverse image search; never a fake answer


def test_searxng_with_json_disabled_says_how_to_fix_it() -> None:
    async def go():
        async with serve(fake_searxng_app([], json_enabled=False)) as base:
            settings = SearchSettings(backend="searxng", searxng_url=base)
            async with ToolRegistry(make_search_tools(settings)) as reg:
                return await reg.call("text_search", {"query": "x"}, ToolContext("c", []))

    r = run(go())
    assert r.error and "search.formats" in r.error


# -- web fetcher --------------------------------------------------------------------------


def test_web_visit_extracts_main_text_when_private_urls_allowed() -> None:
    hits: list[str] = []

    async def go():
        async with serve(web_app(hits)) as base:
            settings = SearchSettings(
                backend="searxng", searxng_url=base, allow_private_urls=True, page_max_chars=2000
            )
            async with ToolRegistry(make_search_tools(settings)) as reg:
                ctx = ToolContext("c", [])
                page = await reg.call("web_visit", {"url": base + "/article"}, ctx)
                both = await reg.call(
                    "web_visit", {"urls": [base + "/plain", base + "/missing"]}, ctx
                )
                return base, page, both

    base, page, both = run(go())
    assert page.error is None
    assert page.text.startswith(f"Page: The Keeper's Log\nURL: {base}/article\n")
    assert "ninety-one years" in page.text and "bath of mercury" in page.text
    assert "Copyright the keepers" not in page.text  # boilerplate dropped by trafilatura
    assert both.error is None  # one page worked: the other failure is reported inline
    assert "just text\nline two" in both.text and "answered HTTP 404" in both.text
    assert [d.get("error") is not None for d in both.data] == [False, True]


def test_web_visit_refuses_loopback_without_the_flag_and_sends_nothing() -> None:
    hits: list[str] = []

    async def go():
        async with serve(web_app(hits)) as base:
            settings = SearchSettings(backend="searxng", searxng_url=base)
            async with ToolRegistry(make_search_tools(settings)) as reg:
                return await reg.call("web_visit", {"url": base + "/article"}, ToolContext("c", []))

    r = run(go())
    assert r.error and "127.0.0.1 is a loopback address" in r.error
    assert hits == []


def test_redirect_to_metadata_is_refused_without_connecting() -> None:
    """The loopback server is allowed by the flag; its redirect to the metadata address is not,
    and no request is made to it (the fetcher's log of requests shows only the first hop)."""
    hits: list[str] = []

    async def go():
        async with serve(web_app(hits)) as base:
            fetcher = WebFetcher(allow_private=True, timeout_s=5)
            try:
                for target in (
                    "http://169.254.169.254/latest/meta-data/",
                    "http://[fd00:ec2::254]/latest/",
                    "http://metadata.google.internal/",
                    "file:///etc/passwd",
                ):
                    with pytest.raises(ToolError) as err:
                        await fetcher.visit(f"{base}/redirect?to={target}")
                    assert "cannot be visited" in str(err.value)
                    assert fetcher.requested[-1].startswith(base + "/redirect")
                assert all(u.startswith(base) for u in fetcher.requested)
            finally:
                await fetcher.aclose()
            return base

    run(go())
    assert hits == ["/redirect"] * 4


def test_redirects_followed_by_hand_up_to_five() -> None:
    hits: list[str] = []

    async def go():
        async with serve(web_app(hits)) as base:
            fetcher = WebFetcher(allow_private=True, timeout_s=5)
            try:
                title, final, _ = await fetcher.visit(f"{base}/redirect?to=/article")
                with pytest.raises(ToolError, match="more than 5 times"):
                    await fetcher.visit(f"{base}/loop/0")
                return base, title, final
            finally:
                await fetcher.aclose()

    base, title, final = run(go())
    assert (title, final) == ("The Keeper's Log", base + "/article")
    assert hits.count("/article") == 1 and sum(h.startswith("/loop/") for h in hits) == 6


def test_size_cap_and_unsupported_types() -> None:
    async def go():
        async with serve(web_app([])) as base:
            fetcher = WebFetcher(allow_private=True, timeout_s=5, max_bytes=50_000)
            try:
                _, _, text = await fetcher.visit(base + "/big")
                with pytest.raises(ToolError, match="application/octet-stream, not a web page"):
                    await fetcher.visit(base + "/binary")
                return text
            finally:
                await fetcher.aclose()

    assert len(run(go())) == 50_000


def test_dns_answer_checked_again_at_connect_time() -> None:
    """DNS rebinding: the name looks public when checked, then resolves to loopback when the
    connector asks. The connector's resolver refuses it, so nothing is dialled at all (the
    public answer is only ever used for the check)."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    hits: list[str] = []

    async def go():
        async with serve(web_app(hits)) as base:
            port = base.rsplit(":", 1)[1]
            fetcher = WebFetcher(timeout_s=5, resolve=lambda host: next(answers))
            try:
                with pytest.raises(ToolError, match="loopback"):
                    await fetcher.visit(f"http://rebind.test:{port}/article")
            finally:
                await fetcher.aclose()

    run(go())
    assert hits == []


def test_unicode_digit_host_is_refused_even_where_loopback_is_allowed() -> None:
    """U+1FBF1-style digits become 127.0.0.1 in yarl; the guard judges that dialled host, and
    refuses a host that changes under normalisation, as a first URL or as a redirect."""
    hits: list[str] = []
    sneaky = "\U0001fbf1\U0001fbf2\U0001fbf7.0.0.1"

    async def go():
        async with serve(web_app(hits)) as base:
            port = base.rsplit(":", 1)[1]
            fetcher = WebFetcher(allow_private=True, timeout_s=5)
            try:
                with pytest.raises(ToolError, match="changes under normalisation"):
                    await fetcher.visit(f"http://{sneaky}:{port}/article")
                with pytest.raises(ToolError, match="changes under normalisation"):
                    await fetcher.visit(f"{base}/raw-redirect?to=http://{sneaky}:{port}/article")
            finally:
                await fetcher.aclose()

    run(go())
    assert hits == ["/raw-redirect"]


def test_every_connect_is_checked_even_when_the_url_check_is_bypassed(monkeypatch) -> None:
    """Defence in depth: with the per-URL check replaced by one that allows everything, the
    connector still refuses the IP literal (which aiohttp never sends to a resolver) at the
    socket it would open, so the loopback server sees nothing."""
    from r1v4.tools.search import web as web_module
    from r1v4.tools.search.urlguard import GuardDecision

    def check_url_allowing_everything_MOCK(url, resolve, *, allow_private=False):
        import yarl

        return GuardDecision(True, "ok (mock)", url=yarl.URL(url))

    monkeypatch.setattr(web_module, "check_url", check_url_allowing_everything_MOCK)
    hits: list[str] = []

    async def go():
        async with serve(web_app(hits)) as base:
            fetcher = WebFetcher(allow_private=False, timeout_s=5)
            try:
                with pytest.raises(ToolError, match="127.0.0.1 is a loopback address"):
                    await fetcher.visit(base + "/article")
                with pytest.raises(ToolError, match="loopback"):
                    await fetcher.visit(base.replace("127.0.0.1", "[::ffff:127.0.0.1]") + "/x")
            finally:
                await fetcher.aclose()

    run(go())
    assert hits == []


def test_socket_factory_decides_on_the_address_it_is_given() -> None:
    """The connect-time check on its own: decision only, no socket is connected."""
    import socket

    from r1v4.tools.search.web import AddressRefused, guarded_socket_factory

    factory = guarded_socket_factory(allow_private=False)
    for family, sockaddr in (
        (socket.AF_INET, ("127.0.0.1", 80)),
        (socket.AF_INET, ("192.0.0.8", 80)),
        (socket.AF_INET6, ("fec0::1", 80, 0, 0)),
        (socket.AF_INET6, ("::127.0.0.1", 80, 0, 0)),
        (socket.AF_INET, ("169.254.169.254", 80)),
    ):
        with pytest.raises(AddressRefused, match="refused"):
            factory((family, socket.SOCK_STREAM, 6, "", sockaddr))
    sock = factory((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443)))
    sock.close()  # created, never connected
    with pytest.raises(AddressRefused, match="metadata"):
        guarded_socket_factory(allow_private=True)(
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80))
        )


def test_named_host_resolved_through_guarded_resolver_when_allowed() -> None:
    hits: list[str] = []

    async def go():
        async with serve(web_app(hits)) as base:
            port = base.rsplit(":", 1)[1]
            fetcher = WebFetcher(allow_private=True, timeout_s=5, resolve=lambda h: ["127.0.0.1"])
            try:
                return await fetcher.visit(f"http://corpus.test:{port}/plain")
            finally:
                await fetcher.aclose()

    title, url, text = run(go())
    assert text == "just text\nline two" and hits == ["/plain"]


def test_settings_json_roundtrip_of_entries() -> None:
    """Entries are plain JSON (they go into result records)."""
    from r1v4.tools.search.format import entry

    e = entry("T", "https://a.example", "s", "https://a.example/i.png", distance=3)
    assert json.loads(json.dumps(e)) == e


def test_startup_warnings_for_each_backend() -> None:
    assert (
        "unknown search backend 'bing'" in check_search_settings(SearchSettings(backend="bing"))[0]
    )
    searx = check_search_settings(SearchSettings(backend="searxng"))
    assert any("--searxng-url" in w for w in searx)
    assert any("no reverse image search" in w for w in searx)
    assert "no corpus" in check_search_settings(SearchSettings())[0]
    private = SearchSettings(
        backend="searxng", searxng_url="http://127.0.0.1:1", allow_private_urls=True
    )
    assert any("private and loopback" in w for w in check_search_settings(private))
