"""Image downloads for benchmark imports, through the web fetcher's URL guard.

The benchmark readers (evals) may not import the tools layer, so the command line gives
them this: a synchronous `download(url) -> bytes` backed by one `WebFetcher` (the same
guard, redirect checks, size and time limits as `web_visit`) on an event loop in a
background thread.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from r1v4.tools.search.web import WebFetcher

__all__ = ["GuardedDownloader"]

#: An image larger than this is refused (benchmark images are a few MB).
MAX_IMAGE_BYTES = 50_000_000


class GuardedDownloader:
    """`with GuardedDownloader(allow_private) as download: data = download(url)`."""

    def __init__(self, allow_private: bool = False, timeout_s: float = 60.0) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._fetcher: WebFetcher | None = None
        self._allow_private = allow_private
        self._timeout_s = timeout_s

    def __enter__(self) -> GuardedDownloader:
        self._thread.start()

        async def make() -> WebFetcher:
            return WebFetcher(allow_private=self._allow_private, timeout_s=self._timeout_s,
                              max_bytes=MAX_IMAGE_BYTES)  # fmt: skip

        self._fetcher = asyncio.run_coroutine_threadsafe(make(), self._loop).result()
        return self

    def __call__(self, url: str) -> bytes:
        assert self._fetcher is not None, "use GuardedDownloader as a context manager"
        return asyncio.run_coroutine_threadsafe(self._fetcher.download(url), self._loop).result()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        try:
            if self._fetcher is not None:
                asyncio.run_coroutine_threadsafe(self._fetcher.aclose(), self._loop).result()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
