"""The viewer's CSS, script and icon come from memory: the right type, revalidated by ETag,
nothing else reachable under /static/."""

from __future__ import annotations

from r1v4.viewer import CSP, create_app
from r1v4.viewer.static_files import STATIC_DIR


def test_static_files_are_served_with_their_type_and_revalidate() -> None:
    client = create_app({"INDEX_CACHE": None}).test_client()
    resp = client.get("/static/viewer.css")
    assert resp.status_code == 200 and resp.mimetype == "text/css"
    assert resp.data == (STATIC_DIR / "viewer.css").read_bytes()
    assert resp.headers["Content-Security-Policy"] == CSP
    etag = resp.headers["ETag"]
    again = client.get("/static/viewer.css", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.get("/static/favicon.svg").mimetype == "image/svg+xml"


def test_nothing_outside_the_static_files_is_served() -> None:
    client = create_app({"INDEX_CACHE": None}).test_client()
    for path in ("/static/nope.css", "/static/../__init__.py", "/static/%2e%2e/__init__.py"):
        assert client.get(path).status_code == 404, path
