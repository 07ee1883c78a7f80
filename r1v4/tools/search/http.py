"""Shared HTTP plumbing for the provider backends: one lazily opened aiohttp session, and
provider failures translated into ToolErrors the model (and the operator) can act on."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from r1v4.tools import ToolError

USER_AGENT = "r1v4-toolkit/0.1 (+https://github.com/SkyworkAI/Skywork-R1V)"


def provider_error(provider: str, status: int, body: str) -> ToolError:
    """A ToolError whose message says what happened and what to do about it."""
    detail = " ".join(body.split())[:200]
    if status in (401, 403):
        hint = "the API key is missing, wrong or not allowed; search is unavailable for this run"
    elif status == 429:
        hint = "rate limit or quota exhausted; try fewer searches or continue without searching"
    elif status == 400 and "credit" in detail.lower():
        hint = "the account has no search credits left; continue without searching"
    elif status >= 500:
        hint = "the provider had a server error; retrying later may work"
    else:
        hint = "the request was refused"
    return ToolError(f"{provider} search failed (HTTP {status}): {hint}. {detail}".strip())


class SessionHolder:
    """One ClientSession per backend, opened on first use inside the running loop."""

    def __init__(self, timeout_s: float, connector_factory: Any = None) -> None:
        self._timeout_s = timeout_s
        self._connector_factory = connector_factory
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            async with self._lock:
                if self._session is None or self._session.closed:
                    connector = self._connector_factory() if self._connector_factory else None
                    self._session = aiohttp.ClientSession(
                        connector=connector,
                        timeout=aiohttp.ClientTimeout(total=self._timeout_s, connect=10.0),
                        headers={"User-Agent": USER_AGENT},
                    )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


async def request_json(
    holder: SessionHolder,
    provider: str,
    method: str,
    url: str,
    **kwargs: Any,
) -> Any:
    """One JSON request; every failure becomes a ToolError naming the provider."""
    session = await holder.get()
    try:
        async with session.request(method, url, **kwargs) as resp:
            body = await resp.text()
            if resp.status >= 400:
                raise provider_error(provider, resp.status, body)
            try:
                return await resp.json(content_type=None)
            except ValueError as exc:
                raise ToolError(f"{provider} search returned something that is not JSON") from exc
    except TimeoutError as exc:
        raise ToolError(f"{provider} search timed out; try again or continue without it") from exc
    except aiohttp.ClientError as exc:
        raise ToolError(f"{provider} search is unreachable: {exc.__class__.__name__}") from exc
