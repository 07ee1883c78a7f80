"""The replica probing behind ``ChatClient.check``: is each replica usable before a batch?

``GET {base}/models`` on every replica at once; a server without that route gets an empty
chat request instead, which tells a wrong path (404) from a missing route (400/422) without
generating anything. A replica refused for configuration (connection refused, unknown host,
401/403, wrong path) is fatal only when no replica is usable; busy ones (5xx, timeouts) and
an unlisted model name only give warnings. It works on the client's ``Transport`` and
``ReplicaPool`` (``ChatClient.check()`` passes its own), never on the client itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

from r1v4.endpoint.errors import EndpointError, display_url
from r1v4.endpoint.replicas import Replica, ReplicaPool
from r1v4.endpoint.transport import Transport
from r1v4.endpoint.types import EndpointSettings

__all__ = ["SIMULATOR_HEADER", "check"]

#: The header a simulated endpoint answers with (the r1v4 simulator sends it on every reply).
SIMULATOR_HEADER = "X-Simulator"


async def check(
    transport: Transport,
    pool: ReplicaPool,
    settings: EndpointSettings,
    info: dict[str, Any] | None = None,
) -> list[str]:
    """Probe every replica of ``pool`` over an open ``transport``; returns the warnings. A
    replica that fails while others answer is benched; see ``ChatClient.check``. ``info``
    receives what the servers say of the model: ``max_model_len`` (the smallest any replica
    lists for it, vLLM's ``/v1/models`` field), when one does."""
    probe = _Probe(transport, settings, info if info is not None else {})
    results = await asyncio.gather(*(probe.replica(r) for r in pool.replicas))
    usable = [r for r in results if r[0] == "ok"]
    fatal = [r for r in results if r[0] == "fatal"]
    warnings = [w for r in results for w in r[2]]
    for replica, (state, problem, _w, _s) in zip(pool.replicas, results, strict=True):
        if state != "ok" and usable:
            pool.bench(replica, settings.replica_cooldown_s, problem)
            warnings.append(f"replica set aside for now: {problem}")
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


class _Probe:
    """The probes of one check: a replica's /models, else an empty chat request."""

    def __init__(
        self, transport: Transport, settings: EndpointSettings, info: dict[str, Any]
    ) -> None:
        self.transport = transport
        self.settings = settings
        self.info = info

    async def replica(self, replica: Replica) -> tuple[str, str, list[str], int | None]:
        """(state, problem, warnings, status); state is ok | fatal | transient."""
        base = replica.base_url
        timeout = aiohttp.ClientTimeout(
            total=self.settings.check_timeout_s,
            sock_connect=min(self.settings.connect_timeout_s, self.settings.check_timeout_s),
        )
        headers = {"Accept": "application/json", **self.transport.headers(False, None)}
        headers.pop("Content-Type", None)
        url = base + "/models"
        try:
            async with self.transport.get(url, headers=headers, timeout=timeout) as resp:
                if resp.status in (404, 405):
                    return await self.chat(base, timeout)
                if resp.status != 200:
                    err = await self.transport.http_error(resp, url)
                    state = "fatal" if resp.status in (401, 403) else "transient"
                    return state, err.message, [], resp.status
                raw = self.transport.redact_bytes(await resp.read())
                replica.simulator = resp.headers.get(SIMULATOR_HEADER, "")
        except (TimeoutError, aiohttp.ClientError) as exc:
            err = self.transport.connection_error(exc, base, False)
            state = "fatal" if err.kind == "connect" else "transient"
            return state, err.message, [], None
        warnings: list[str] = []
        try:
            listed = orjson.loads(raw)
            data = listed.get("data") if isinstance(listed, dict) else None
            data = data if isinstance(data, list) else []
            ids = [m.get("id") for m in data if isinstance(m, dict)]
        except orjson.JSONDecodeError:
            ids, data = [], []
        self._note_length(data)
        if ids and self.settings.model not in ids:
            shown = ", ".join(str(i) for i in ids[:10])
            warnings.append(
                f"model {self.settings.model!r} is not listed by {display_url(base)} "
                f"(it lists: {shown}); trying anyway"
            )
        return "ok", "", warnings, 200

    def _note_length(self, data: list[Any]) -> None:
        """Keep the model's max_model_len (the listed model's, else the only model's)."""
        models = [m for m in data if isinstance(m, dict)]
        match = [m for m in models if m.get("id") == self.settings.model] or models[:1]
        length = match[0].get("max_model_len") if match else None
        if isinstance(length, int) and not isinstance(length, bool) and length > 0:
            known = self.info.get("max_model_len")
            self.info["max_model_len"] = length if known is None else min(known, length)

    async def chat(
        self, base: str, timeout: aiohttp.ClientTimeout
    ) -> tuple[str, str, list[str], int | None]:
        """No /models route: an empty chat request tells a wrong path (404) from a server
        that merely lacks /models (400/422), without generating anything."""
        url = base + "/chat/completions"
        try:
            async with self.transport.post(
                url, data=b"{}", headers=self.transport.headers(False, None), timeout=timeout
            ) as resp:
                if resp.status in (404, 405, 401, 403):
                    err = await self.transport.http_error(resp, url)
                    hint = ""
                    if resp.status in (404, 405):
                        hint = " (does the base URL end in /v1?)"
                    return "fatal", err.message + hint, [], resp.status
                await resp.read()
                return "ok", "", [f"{display_url(base)} has no /models route"], resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            err = self.transport.connection_error(exc, base, False)
            return ("fatal" if err.kind == "connect" else "transient"), err.message, [], None
