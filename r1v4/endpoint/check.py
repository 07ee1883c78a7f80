"""The replica probing behind ``ChatClient.check``: is each replica usable before a batch?

``GET {base}/models`` on every replica at once; a server without that route gets an empty
chat request instead, which tells a wrong path (404) from a missing route (400/422) without
generating anything. A replica refused for configuration (connection refused, unknown host,
401/403, wrong path) is fatal only when no replica is usable; busy ones (5xx, timeouts) and
an unlisted model name only give warnings. Functions of the open client, which keeps the
public ``check()``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aiohttp
import orjson

from r1v4.endpoint.errors import EndpointError, _display_url
from r1v4.endpoint.replicas import Replica

if TYPE_CHECKING:
    from r1v4.endpoint.client import ChatClient

__all__ = ["check"]


async def check(client: ChatClient) -> list[str]:
    """Probe every replica of an open ``client``; see ``ChatClient.check``."""
    results = await asyncio.gather(*(_probe(client, r) for r in client.pool.replicas))
    usable = [r for r in results if r[0] == "ok"]
    fatal = [r for r in results if r[0] == "fatal"]
    warnings = [w for r in results for w in r[2]]
    for replica, (state, problem, _w, _s) in zip(client.pool.replicas, results, strict=True):
        if state != "ok" and usable:
            client.pool.bench(replica, client.settings.replica_cooldown_s, problem)
            warnings.append(f"replica set aside for now: {problem}")
    client.warnings = warnings
    if not usable and len(fatal) == len(results):
        problems = "; ".join(r[1] for r in fatal)
        status = None
        for r in fatal:
            if r[3] is not None:
                status = r[3]
        raise EndpointError(problems, status=status, fatal=True, kind="check")
    if not usable:
        warnings.append(
            "no replica answered the check cleanly: "
            + "; ".join(r[1] for r in results)
            + " — going on, requests will be retried"
        )
    return warnings


async def _probe(client: ChatClient, replica: Replica) -> tuple[str, str, list[str], int | None]:
    """(state, problem, warnings, status); state is ok | fatal | transient."""
    assert client._session is not None
    base = replica.base_url
    timeout = aiohttp.ClientTimeout(
        total=client.settings.check_timeout_s,
        sock_connect=min(client.settings.connect_timeout_s, client.settings.check_timeout_s),
    )
    headers = {"Accept": "application/json", **client._headers(False, None)}
    headers.pop("Content-Type", None)
    url = base + "/models"
    try:
        async with client._session.get(url, headers=headers, timeout=timeout) as resp:
            if resp.status in (404, 405):
                return await _probe_chat(client, base, timeout)
            if resp.status != 200:
                err = await client._http_error(resp, url)
                state = "fatal" if resp.status in (401, 403) else "transient"
                return state, err.message, [], resp.status
            raw = client._redact_bytes(await resp.read())
    except (TimeoutError, aiohttp.ClientError) as exc:
        err = client._connection_error(exc, base, False)
        state = "fatal" if err.kind == "connect" else "transient"
        return state, err.message, [], None
    warnings: list[str] = []
    try:
        listed = orjson.loads(raw)
        data = listed.get("data") if isinstance(listed, dict) else None
        data = data if isinstance(data, list) else []
        ids = [m.get("id") for m in data if isinstance(m, dict)]
    except orjson.JSONDecodeError:
        ids = []
    if ids and client.settings.model not in ids:
        shown = ", ".join(str(i) for i in ids[:10])
        warnings.append(
            f"model {client.settings.model!r} is not listed by {_display_url(base)} "
            f"(it lists: {shown}); trying anyway"
        )
    return "ok", "", warnings, 200


async def _probe_chat(client: ChatClient, base: str, timeout: aiohttp.ClientTimeout):
    """No /models route: an empty chat request tells a wrong path (404) from a server
    that merely lacks /models (400/422), without generating anything."""
    assert client._session is not None
    url = base + "/chat/completions"
    try:
        async with client._session.post(
            url, data=b"{}", headers=client._headers(False, None), timeout=timeout
        ) as resp:
            if resp.status in (404, 405, 401, 403):
                err = await client._http_error(resp, url)
                hint = ""
                if resp.status in (404, 405):
                    hint = " (does the base URL end in /v1?)"
                return "fatal", err.message + hint, [], resp.status
            await resp.read()
            return "ok", "", [f"{_display_url(base)} has no /models route"], resp.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        err = client._connection_error(exc, base, False)
        return ("fatal" if err.kind == "connect" else "transient"), err.message, [], None
