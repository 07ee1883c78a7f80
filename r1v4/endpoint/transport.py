"""`Transport`: the one HTTP session to an endpoint's replicas, and the rules every request
shares (headers, timeouts, redaction of the API key, failures turned into `EndpointError`).

`ChatClient` sends chat requests through it and `check` probes replicas through it, so the
probe needs no private member of the client. The API key is never put in a message, repr or
body a caller sees: server bytes that echo it are redacted before they are parsed.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from r1v4.endpoint.errors import EndpointError, connection_error, http_error
from r1v4.endpoint.types import EndpointSettings

__all__ = ["Transport"]

USER_AGENT = "r1v4-client/0.1"
REDACTED = "[redacted]"


class Transport:
    """One pooled `aiohttp.ClientSession` (opened by `open`, closed by `close`)."""

    def __init__(self, settings: EndpointSettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._headers: dict[bool, dict[str, str]] = {}  # by stream: see `headers`
        key = settings.api_key or ""
        self._key = key if len(key) >= 4 else ""  # redacting "" or "a" would mangle text
        self._key_bytes = self._key.encode()
        #: Longest silence allowed between bytes of a response (a streamed body is
        #: watched by `r1v4.endpoint.pacing.StreamPacer` instead of aiohttp). None when it
        #: is not shorter than the total timeout, which then always fires first: no timer
        #: is re-armed on every read of every response for nothing.
        read = settings.read_timeout_s
        self.read_timeout_s = read if read is not None and read < settings.timeout_s else None
        self.timeout = aiohttp.ClientTimeout(
            total=settings.timeout_s,
            sock_connect=settings.connect_timeout_s,
            sock_read=self.read_timeout_s,
        )

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The open session, None before `open` and after `close`."""
        return self._session

    def open(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.settings.max_connections, limit_per_host=0, ttl_dns_cache=300
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self.timeout,
            headers={"User-Agent": USER_AGENT},
        )

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("ChatClient is not open: use `async with ChatClient(...)`")
        return self._session

    # -- requests ------------------------------------------------------------------------

    def post(self, url: str, *, data: bytes, headers: dict[str, str], **kwargs: Any) -> Any:
        """`session.post(...)`: use as `async with transport.post(...) as resp`."""
        return self._open_session().post(url, data=data, headers=headers, **kwargs)

    def get(self, url: str, *, headers: dict[str, str], **kwargs: Any) -> Any:
        """`session.get(...)`: use as `async with transport.get(...) as resp`."""
        return self._open_session().get(url, headers=headers, **kwargs)

    def headers(self, stream: bool, request_id: str | None) -> dict[str, str]:
        """A request's headers: the same for every request of a mode (made once), then its
        id. A fresh dict each time: aiohttp is given its own."""
        base = self._headers.get(stream)
        if base is None:
            base = {
                "Content-Type": "application/json",
                "Accept": "text/event-stream" if stream else "application/json",
            }
            if self.settings.api_key:
                base["Authorization"] = f"Bearer {self.settings.api_key}"
            base.update(self.settings.extra_headers)
            self._headers[stream] = base
        h = dict(base)
        if request_id:
            h["X-Request-Id"] = request_id
        return h

    # -- redaction and failures ----------------------------------------------------------

    def redact(self, text: str) -> str:
        if self._key and self._key in text:
            return text.replace(self._key, REDACTED)
        return text

    def redact_bytes(self, data: bytes) -> bytes:
        if self._key_bytes and self._key_bytes in data:
            return data.replace(self._key_bytes, REDACTED.encode())
        return data

    def connection_error(self, exc: BaseException, url: str, during_body: bool) -> EndpointError:
        return connection_error(
            exc,
            url,
            during_body,
            connect_timeout_s=self.settings.connect_timeout_s,
            timeout_s=self.settings.timeout_s,
            redact=self.redact,
        )

    async def http_error(self, resp: aiohttp.ClientResponse, url: str) -> EndpointError:
        return await http_error(
            resp,
            url,
            redact=self.redact,
            redact_bytes=self.redact_bytes,
            key_given=bool(self.settings.api_key),
        )
