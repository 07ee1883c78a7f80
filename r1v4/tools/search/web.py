"""`web_visit` with a real provider: fetch a page over HTTP and extract its main text.

Safety and limits, because the model picks the URL:
- every hop is checked by `urlguard.check_url` before it is requested, and the request is made
  with the very `yarl.URL` the check judged; redirects are followed by hand (at most 5), each
  Location checked like the first URL;
- the connector's resolver checks again the addresses it is about to dial, so a DNS answer that
  changes between check and connect (rebinding) is still refused;
- the connector's socket factory checks the address of every socket it is asked to connect,
  so IP literals (for which aiohttp skips the resolver) and any connection the per-hop check
  did not foresee go through the same rule;
- at most `max_bytes` are read and the whole fetch has a deadline;
- HTML goes through trafilatura (main text, no navigation or boilerplate); plain text is kept.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import AbstractResolver

from r1v4.tools import ToolError
from r1v4.tools.search.corpus import html_to_text
from r1v4.tools.search.http import SessionHolder
from r1v4.tools.search.urlguard import Resolver, address_refusal, check_url, system_resolve

#: What aiohttp hands a socket factory: (family, type, proto, canonname, sockaddr).
AddrInfo = tuple[Any, Any, int, str, tuple]

REDIRECTS = (301, 302, 303, 307, 308)
TEXT_TYPES = ("text/plain", "text/markdown", "application/json", "text/csv")
HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")


class AddressRefused(OSError):
    """Raised inside the connector when a resolved address may not be dialled."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EACCES, message)

    def __str__(self) -> str:
        return str(self.strerror)


def guarded_socket_factory(allow_private: bool) -> Callable[[AddrInfo], socket.socket]:
    """A socket factory for `aiohttp.TCPConnector` that refuses to create a socket for an
    address the guard refuses; it sees every connect, IP literals and redirects included."""

    def factory(addr_info: AddrInfo) -> socket.socket:
        family, type_, proto, _canon, sockaddr = addr_info
        host = str(sockaddr[0])
        try:
            addr = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            raise AddressRefused(f"refused {host}: not an IP address") from None
        why = address_refusal(addr, allow_private)
        if why:
            raise AddressRefused(f"refused {host}: {why}")
        return socket.socket(family=family, type=type_, proto=proto)

    return factory


def guarded_connector(
    allow_private: bool, resolve: Resolver = system_resolve, **kwargs: Any
) -> aiohttp.TCPConnector:
    """A connector whose every DNS answer and every socket goes through the URL guard."""
    return aiohttp.TCPConnector(
        resolver=GuardedResolver(allow_private, resolve),
        socket_factory=guarded_socket_factory(allow_private),
        **kwargs,
    )


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that refuses to hand the connector any forbidden address."""

    def __init__(self, allow_private: bool, resolve: Resolver = system_resolve) -> None:
        self.allow_private = allow_private
        self._resolve = resolve

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[dict[str, Any]]:
        addresses = await asyncio.to_thread(self._resolve, host)
        out = []
        for text in addresses:
            addr = ipaddress.ip_address(text.split("%", 1)[0])
            why = address_refusal(addr, self.allow_private)
            if why:
                raise AddressRefused(f"refused {host}: {why}")
            out.append(
                {
                    "hostname": host,
                    "host": text,
                    "port": port,
                    "family": socket.AF_INET6 if addr.version == 6 else socket.AF_INET,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        return out

    async def close(self) -> None:
        return None


def _refused(exc: BaseException | None) -> bool:
    """True for the guard's refusal, also when happy-eyeballs folded several into one error."""
    return isinstance(exc, AddressRefused) or (
        isinstance(exc, OSError) and exc.errno == errno.EACCES and "refused " in str(exc)
    )


class WebFetcher:
    """Fetches pages for web_visit; `requested` lists every URL actually sent (for tests/logs)."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        timeout_s: float = 20.0,
        max_bytes: int = 3_000_000,
        max_redirects: int = 5,
        resolve: Resolver = system_resolve,
    ) -> None:
        self.allow_private = allow_private
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self._resolve = resolve
        self.requested: list[str] = []
        self._http = SessionHolder(
            timeout_s,
            connector_factory=lambda: guarded_connector(allow_private, resolve, limit=32),
        )

    async def visit(self, url: str) -> tuple[str, str, str]:
        """(title, final URL, text) of the page, or ToolError saying why not."""
        final, ctype, body, charset, _ = await self._fetch_in_time(url)
        return await self._extract(final, ctype, body, charset)

    async def download(self, url: str) -> bytes:
        """The bytes at `url` (an image for a benchmark import), through the same guard and
        limits as a page; ToolError when refused, failed, or larger than `max_bytes`."""
        final, _ctype, body, _charset, truncated = await self._fetch_in_time(url)
        if truncated:
            raise ToolError(f"{final} is larger than {self.max_bytes} bytes")
        return body

    async def _fetch_in_time(self, url: str) -> tuple[str, str, bytes, str, bool]:
        try:
            return await asyncio.wait_for(self._fetch(url), self.timeout_s)
        except TimeoutError as exc:
            raise ToolError(f"web_visit: {url} timed out after {self.timeout_s:g}s") from exc

    async def _fetch(self, url: str) -> tuple[str, str, bytes, str, bool]:
        """(final URL, content type, body, charset, truncated) after the guarded redirects."""
        session = await self._http.get()
        current = url.strip()
        for _ in range(self.max_redirects + 1):
            decision = await asyncio.to_thread(
                check_url, current, self._resolve, allow_private=self.allow_private
            )
            if not decision.allowed:
                raise ToolError(f"web_visit: {current} cannot be visited: {decision.reason}")
            self.requested.append(current)
            try:
                async with session.get(decision.url, allow_redirects=False) as resp:
                    if resp.status in REDIRECTS:
                        location = resp.headers.get("Location")
                        if not location:
                            raise ToolError(f"web_visit: {current} redirected without a Location")
                        current = urljoin(current, location)
                        continue
                    if resp.status >= 400:
                        raise ToolError(f"web_visit: {current} answered HTTP {resp.status}")
                    ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
                    body, truncated = await self._read_capped(resp)
                    charset = resp.charset or "utf-8"
            except AddressRefused as exc:
                raise ToolError(f"web_visit: {current} cannot be visited: {exc}") from exc
            except aiohttp.ClientConnectorError as exc:
                if _refused(exc.os_error):
                    raise ToolError(
                        f"web_visit: {current} cannot be visited: {exc.os_error}"
                    ) from exc
                raise ToolError(f"web_visit: cannot connect to {current}") from exc
            except aiohttp.ClientError as exc:
                raise ToolError(f"web_visit: {current} failed: {exc.__class__.__name__}") from exc
            return current, ctype, body, charset, truncated
        raise ToolError(f"web_visit: {url} redirected more than {self.max_redirects} times")

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> tuple[bytes, bool]:
        """At most `max_bytes` of the body, and whether there was more."""
        chunks: list[bytes] = []
        total = 0
        async for chunk in resp.content.iter_chunked(65536):
            chunks.append(chunk)
            total += len(chunk)
            if total > self.max_bytes:
                break  # keep what we have: the start of a page carries its main text
        return b"".join(chunks)[: self.max_bytes], total > self.max_bytes

    async def _extract(
        self, url: str, ctype: str, body: bytes, charset: str
    ) -> tuple[str, str, str]:
        try:
            text = body.decode(charset, errors="replace")
        except LookupError:
            text = body.decode("utf-8", errors="replace")
        if ctype in HTML_TYPES or (not ctype and text.lstrip()[:1] == "<"):
            title, main = await asyncio.to_thread(html_to_text, text, url)
            if not main.strip():
                raise ToolError(f"web_visit: {url} has no readable text")
            return title, url, main
        if ctype.startswith("text/") or ctype in TEXT_TYPES:
            return "", url, text
        raise ToolError(f"web_visit: {url} is {ctype or 'an unknown type'}, not a web page")

    async def aclose(self) -> None:
        await self._http.aclose()
