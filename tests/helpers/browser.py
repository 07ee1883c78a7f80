"""A viewer app served on loopback for a real browser, and a page that may reach only it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """`app` on 127.0.0.1 (an ephemeral port, threaded, no request log); yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@contextlib.contextmanager
def loopback_page(browser: Any, base: str, viewport: dict[str, int]) -> Iterator[Any]:
    """A fresh page whose requests outside `base` are aborted (any would be a bug, and the
    network is closed anyway), as are those of any other page opened in its context
    (`page.context.new_page()`); script errors and console errors of this page collect in
    `page.errors`."""
    context = browser.new_context(viewport=viewport)
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(base) else route.abort(),
    )
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.errors = errors
    try:
        yield pg
    finally:
        context.close()
