"""What every judge of a batch holds open: one HTTP client to the judge's endpoint and one
verdict cache, opened together and closed together (`Judge`, `ConsistencyJudge`).

The cache is opened first, so a bad cache path fails before any socket; a client that
cannot start closes the cache it would have used.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol, Self

__all__ = ["JudgeClient"]


class _Closable(Protocol):
    def close(self) -> None: ...


class JudgeClient:
    """Base of an open judge: `settings` carry base_url (one or several), api_key, model,
    timeout_s, max_retries and cache_path; a subclass says which cache (`open_cache`)."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._client: Any = None
        self._cache: Any = None

    def open_cache(self, path: str) -> _Closable:
        """The subclass's verdict cache at `path`."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        # Imported here so scoring without a judge never needs the HTTP stack.
        from r1v4.endpoint.client import ChatClient, EndpointSettings

        s = self.settings
        urls = [s.base_url] if isinstance(s.base_url, str) else list(s.base_url)
        endpoint = EndpointSettings(
            base_urls=urls,
            api_key=s.api_key,
            model=s.model,
            timeout_s=s.timeout_s,
            max_retries=s.max_retries,
        )
        if s.cache_path:
            self._cache = self.open_cache(s.cache_path)
        try:
            self._client = await ChatClient(endpoint).__aenter__()
        except BaseException:
            self._close_cache()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._client is not None:
                await self._client.__aexit__(exc_type, exc, tb)
        finally:
            self._client = None
            self._close_cache()

    def _close_cache(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None
