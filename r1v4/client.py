"""Async OpenAI-compatible chat client on aiohttp: JSON and SSE, retries, replicas.

One ``ChatClient`` holds one ``aiohttp.ClientSession`` (connection pooling, per-phase
timeouts) for the whole run and closes it when its ``async with`` block ends::

    settings = EndpointSettings(["http://127.0.0.1:8000/v1"], api_key=None, model="m")
    async with ChatClient(settings, limiter=limiter) as client:
        warnings = await client.check()          # fatal EndpointError if nothing is usable
        done = await client.complete(messages, stream=True, on_delta=print)

Everything the model produced comes back folded into one text protocol (``r1v4.folding``).
Every attempt goes to the least-busy healthy replica (``r1v4.replicas``); what is retried and
how long to wait is ``r1v4.retry``'s call. Behaviour decisions:

- A stream that ends without ``[DONE]`` and without a finish reason, or whose connection breaks
  mid-body, is retried from the start (``on_restart()`` is called first so a live listener can
  drop the partial text). If it still breaks after every retry, ``complete`` raises an
  ``EndpointError`` with ``truncated=True`` and ``partial_text`` (the folded text received on
  the last attempt), so the runner can record the partial answer as a failure;
  ``allow_truncated=True`` returns a ``Completion(truncated=True)`` instead.
- The response's Content-Type decides how it is read: a JSON body to a streaming request (an
  error, or a server that ignored ``stream``) is read as JSON, and vice versa.
- ``latency_s``/``ttft_s``/``tpot_s`` are those of the successful attempt; ``total_s`` covers
  every attempt and backoff. The limiter is fed the time to first token for streams and the
  latency per output token for JSON answers (both show a loaded server without depending on
  the answer's length), and the status of every failed attempt.
- ``on_delta`` gets folded pieces as they arrive (a JSON answer: its whole text, once); the
  pieces of the successful attempt always concatenate to ``Completion.text``.
- A 401/403/404 from one replica while others are available benches that replica and moves
  on; it is fatal only when no other replica is left.
- Retries of a request with ``request_id`` send ``X-Request-Id: {request_id}-{attempt}`` so a
  server still running the dropped attempt does not see a duplicate id.
- The API key is never put in a message, repr or ``raw``: server text that echoes it is
  redacted before it is parsed.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson

from r1v4 import retry as _retry
from r1v4.folding import StreamFolder, fold_message
from r1v4.replicas import Replica, ReplicaPool
from r1v4.sse import SSEDecoder, SSEError

__all__ = ["ChatClient", "Completion", "EndpointError", "EndpointSettings"]

log = logging.getLogger(__name__)

_USER_AGENT = "r1v4-client/0.1"
_MAX_MESSAGE = 1000  # characters of a server's error message kept in ours
_REDACTED = "[redacted]"


@dataclass
class EndpointSettings:
    """Where and how to call the endpoint. ``api_key`` and ``extra_headers`` never print."""

    base_urls: list[str]
    api_key: str | None = field(repr=False)
    model: str
    timeout_s: float = 600.0
    connect_timeout_s: float = 10.0
    max_retries: int = 5
    extra_headers: dict[str, str] = field(default_factory=dict, repr=False)
    #: Longest silence allowed between bytes of a response; default: ``timeout_s``.
    read_timeout_s: float | None = None
    max_connections: int = 256
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    replica_fail_threshold: int = 3
    replica_cooldown_s: float = 30.0
    check_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        urls = self.base_urls
        if isinstance(urls, str):
            urls = [u for u in urls.split(",")]
        cleaned = []
        for u in urls:
            u = str(u).strip().rstrip("/")
            if not u:
                continue
            parts = urlsplit(u)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(
                    f"base URL {_display_url(u)!r} must start with http:// or https://"
                )
            if u.endswith("/chat/completions"):
                u = u[: -len("/chat/completions")]
            cleaned.append(u)
        if not cleaned:
            raise ValueError("no base URL given (e.g. http://127.0.0.1:8000/v1)")
        self.base_urls = cleaned
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.timeout_s <= 0 or self.connect_timeout_s <= 0:
            raise ValueError("timeouts must be positive")


@dataclass
class Completion:
    """One finished chat completion, folded into R1V4's text protocol."""

    text: str
    finish_reason: str | None
    stop_reason: str | int | None
    usage: dict | None
    raw: dict
    endpoint: str
    latency_s: float
    ttft_s: float | None
    tpot_s: float | None
    attempts: int
    truncated: bool = False
    total_s: float = 0.0
    tool_call_errors: list[str] = field(default_factory=list)


class EndpointError(Exception):
    """A request that failed for good (or one attempt, inside the client).

    ``fatal`` means every further request would fail the same way (401/403/404, or no replica
    reachable at check time): the batch should stop. ``partial_text`` holds folded text that
    had arrived before a stream broke.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        fatal: bool = False,
        partial_text: str = "",
        truncated: bool = False,
        endpoint: str | None = None,
        attempts: int = 0,
        kind: str = "http",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.fatal = fatal
        self.partial_text = partial_text
        self.truncated = truncated
        self.endpoint = endpoint
        self.attempts = attempts
        self.kind = kind  # http | connect | timeout | stream | protocol

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"EndpointError({self.message!r}, status={self.status}, retryable={self.retryable})"


def _display_url(url: str) -> str:
    """The URL without any user:password part."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        parts = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])
    return urlunsplit(parts)


def _clean_message(text: str) -> str:
    text = " ".join(str(text).split())
    if text.endswith(" None"):  # vLLM/SGLang append a stray " None" to some messages
        text = text[: -len(" None")]
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + "…"
    return text


def _error_fields(obj: Any) -> tuple[str, Any, Any] | None:
    """(message, code, type) from any known error shape, or None if ``obj`` is not an error."""
    if not isinstance(obj, dict):
        return None
    err = obj.get("error")
    if err:
        if isinstance(err, dict):
            msg = err.get("message") or err.get("msg") or err.get("detail")
            if not msg:
                msg = orjson.dumps(err).decode()
            meta = err.get("metadata")
            if isinstance(meta, dict) and meta.get("raw"):  # OpenRouter's upstream body
                msg = f"{msg} (upstream: {str(meta['raw'])[:300]})"
            return str(msg), err.get("code"), err.get("type")
        return str(err), obj.get("code"), obj.get("type")
    if obj.get("object") == "error":  # older vLLM / SGLang: flat error body
        return str(obj.get("message") or obj), obj.get("code"), obj.get("type")
    return None


def _code_status(code: Any) -> int | None:
    if isinstance(code, bool):
        return None
    if isinstance(code, int) and 100 <= code <= 599:
        return code
    if isinstance(code, str) and code.isdigit() and 100 <= int(code) <= 599:
        return int(code)
    return None


_RETRYABLE_WORDS = ("server_error", "rate_limit", "overloaded", "timeout", "unavailable", "busy")


def _inline_error(fields: tuple[str, Any, Any], where: str, partial: str = "") -> EndpointError:
    """An error object sent with HTTP 200 (inside the stream, the body, or a choice)."""
    msg, code, etype = fields
    status = _code_status(code)
    words = f"{code} {etype}".lower()
    retryable = status is not None and (status == 429 or 500 <= status <= 599 and status != 501)
    retryable = retryable or any(w in words for w in _RETRYABLE_WORDS)
    detail = _clean_message(msg)
    if code is not None:
        detail += f" (code {code})"
    return EndpointError(
        f"error from {where}: {detail}",
        status=status,
        retryable=retryable,
        kind="stream",
        partial_text=partial,
    )


class _Emitter:
    """Collects folded pieces during one attempt and forwards them to ``on_delta``."""

    __slots__ = ("pieces", "emitted")

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.emitted = False

    def __call__(self, piece: str) -> None:
        self.pieces.append(piece)


async def _call(cb: Callable | None, *args: Any) -> None:
    if cb is None:
        return
    result = cb(*args)
    if inspect.isawaitable(result):
        await result


class ChatClient:
    """Async client for ``POST {base}/chat/completions`` over one pooled session."""

    def __init__(self, settings: EndpointSettings, limiter: Any | None = None) -> None:
        self.settings = settings
        self.limiter = limiter
        self.pool = ReplicaPool(
            settings.base_urls,
            fail_threshold=settings.replica_fail_threshold,
            cooldown_s=settings.replica_cooldown_s,
        )
        self.policy = _retry.RetryPolicy(
            max_retries=settings.max_retries,
            base_s=settings.backoff_base_s,
            cap_s=settings.backoff_cap_s,
        )
        self.warnings: list[str] = []
        self._session: aiohttp.ClientSession | None = None
        key = settings.api_key or ""
        self._key = key if len(key) >= 4 else ""  # redacting "" or "a" would mangle text
        self._key_bytes = self._key.encode()
        self._timeout = aiohttp.ClientTimeout(
            total=settings.timeout_s,
            sock_connect=settings.connect_timeout_s,
            sock_read=settings.read_timeout_s or settings.timeout_s,
        )

    def __repr__(self) -> str:
        urls = ", ".join(_display_url(u) for u in self.settings.base_urls)
        return f"ChatClient([{urls}], model={self.settings.model!r})"

    async def __aenter__(self) -> ChatClient:
        connector = aiohttp.TCPConnector(
            limit=self.settings.max_connections, limit_per_host=0, ttl_dns_cache=300
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            headers={"User-Agent": _USER_AGENT},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # -- helpers -------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        if self._key and self._key in text:
            return text.replace(self._key, _REDACTED)
        return text

    def _redact_bytes(self, data: bytes) -> bytes:
        if self._key_bytes and self._key_bytes in data:
            return data.replace(self._key_bytes, _REDACTED.encode())
        return data

    def _headers(self, stream: bool, request_id: str | None) -> dict[str, str]:
        h = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
        }
        if self.settings.api_key:
            h["Authorization"] = f"Bearer {self.settings.api_key}"
        h.update(self.settings.extra_headers)
        if request_id:
            h["X-Request-Id"] = request_id
        return h

    def replica_stats(self) -> list[dict]:
        """Per replica: base_url, requests, failures, in_flight, benched (+ times_benched)."""
        out = self.pool.stats()
        for row in out:
            row["base_url"] = _display_url(row["base_url"])
            row["last_error"] = self._redact(row["last_error"])
        return out

    def _connection_error(self, exc: BaseException, url: str, during_body: bool) -> EndpointError:
        where = _display_url(url)
        if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                secs = self.settings.connect_timeout_s
                msg = f"cannot reach {where}: connect timed out after {secs}s"
                kind = "connect"
            elif during_body:
                msg = f"response from {where} stalled (read timeout)"
                kind = "timeout"
            else:
                msg = f"no response from {where} within {self.settings.timeout_s}s"
                kind = "timeout"
            return EndpointError(msg, retryable=True, kind=kind)
        if isinstance(exc, aiohttp.ClientConnectorError):
            os_err = getattr(exc, "os_error", None)
            code = getattr(os_err, "errno", None)
            if code == errno.ECONNREFUSED or "refused" in str(os_err or "").lower():
                reason = "connection refused"
            elif isinstance(exc, getattr(aiohttp, "ClientConnectorDNSError", ())):
                reason = "host name not resolved"
            else:
                reason = getattr(os_err, "strerror", None) or exc.__class__.__name__
            return EndpointError(f"cannot reach {where}: {reason}", retryable=True, kind="connect")
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            msg = f"{where} closed the connection" + (" mid-response" if during_body else "")
            return EndpointError(msg, retryable=True, kind="stream" if during_body else "connect")
        if isinstance(exc, aiohttp.ClientPayloadError):
            msg = f"response from {where} was cut off"
            return EndpointError(msg, retryable=True, kind="stream")
        text = self._redact(str(exc)) or exc.__class__.__name__
        return EndpointError(f"request to {where} failed: {text}", retryable=True, kind="connect")

    async def _http_error(self, resp: aiohttp.ClientResponse, url: str) -> EndpointError:
        status = resp.status
        try:
            raw = self._redact_bytes(await resp.read())
        except (TimeoutError, aiohttp.ClientError):
            raw = b""
        detail = ""
        try:
            fields = _error_fields(orjson.loads(raw)) if raw else None
            if fields is None and raw:
                body = orjson.loads(raw)
                detail = str(body.get("detail") or body) if isinstance(body, dict) else str(body)
            elif fields is not None:
                detail = fields[0]
        except orjson.JSONDecodeError:
            detail = raw.decode("utf-8", errors="replace")
        detail = _clean_message(self._redact(detail)) or (resp.reason or "")
        retry_after = _retry.parse_retry_after(resp.headers)
        msg = f"HTTP {status} from {_display_url(url)}: {detail}"
        if status == 401 and not self.settings.api_key:
            msg += " (no API key was given: set --api-key or R1V4_API_KEY)"
        return EndpointError(
            msg,
            status=status,
            retryable=_retry.is_retryable_status(status),
            retry_after=retry_after,
            fatal=_retry.is_fatal_status(status),
            kind="http",
        )

    # -- the public calls ----------------------------------------------------------------

    async def complete(
        self,
        messages: list[dict],
        *,
        stream: bool,
        stop: str | list[str] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        extra_body: dict | None = None,
        request_id: str | None = None,
        on_delta: Callable[[str], Any] | None = None,
        on_restart: Callable[[], Any] | None = None,
        allow_truncated: bool = False,
    ) -> Completion:
        """Send one chat completion (with retries) and return it folded into text.

        Raises ``EndpointError`` when it fails for good: a non-retryable status, or retries
        exhausted (``attempts`` tells how many were made).
        """
        if self._session is None:
            raise RuntimeError("ChatClient is not open: use `async with ChatClient(...)`")
        if not isinstance(messages, list):
            raise TypeError(f"messages must be a list of dicts, got {type(messages).__name__}")
        body: dict[str, Any] = {"model": self.settings.model, "messages": messages}
        body["stream"] = bool(stream)
        if stream:
            body["stream_options"] = {"include_usage": True}
        if stop is not None:
            body["stop"] = stop
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if temperature is not None:
            body["temperature"] = temperature
        if extra_body:
            body.update(extra_body)
        payload = orjson.dumps(body)

        started = time.perf_counter()
        attempts = 0
        last: EndpointError | None = None
        previous: Replica | None = None
        for attempt in range(1, self.settings.max_retries + 2):
            attempts = attempt
            replica = self.pool.pick(avoid=previous)
            rid = request_id if attempt == 1 or not request_id else f"{request_id}-{attempt}"
            emitter = _Emitter()
            t0 = time.perf_counter()
            try:
                with self.pool.track(replica):
                    done = await self._attempt(
                        replica.base_url, payload, stream, rid, emitter, on_delta, t0
                    )
            except EndpointError as exc:
                exc.attempts = attempts
                exc.endpoint = _display_url(replica.base_url)
                last = exc
                self._observe(exc.status, time.perf_counter() - t0)
                if exc.kind != "http" or exc.status is None or exc.status >= 500 or exc.fatal:
                    self.pool.failure(replica, exc.message)
                if exc.fatal and self.pool.has_alternative(replica):
                    # This replica refuses us (key, path, model); others may not: set it aside.
                    self.pool.bench(replica, self.settings.replica_cooldown_s, exc.message)
                    previous = replica
                    if attempt <= self.settings.max_retries:
                        continue
                if not exc.retryable or attempt > self.settings.max_retries:
                    break
                if emitter.emitted:
                    await _call(on_restart)
                previous = replica
                if exc.kind == "connect" and self.pool.has_alternative(replica):
                    wait = 0.0  # another replica can take it now
                else:
                    wait = self.policy.delay(attempt, exc.retry_after)
                log.debug(
                    "attempt %d failed (%s); retrying in %.2fs", attempt, exc.message, wait
                )  # messages never hold the key: server text is redacted when read
                if wait > 0:
                    await asyncio.sleep(wait)
                continue
            self.pool.success(replica)
            if not emitter.emitted and done.text:
                await _call(on_delta, done.text)  # a JSON answer arrives as one piece
            self._observe(200, _load_signal(done))
            done.attempts = attempts
            done.total_s = time.perf_counter() - started
            return done
        assert last is not None
        if last.truncated and allow_truncated:
            return Completion(
                text=last.partial_text,
                finish_reason=None,
                stop_reason=None,
                usage=None,
                raw={"error": last.message},
                endpoint=last.endpoint or "",
                latency_s=time.perf_counter() - started,
                ttft_s=None,
                tpot_s=None,
                attempts=attempts,
                truncated=True,
                total_s=time.perf_counter() - started,
            )
        if attempts > 1 and last.retryable:
            last.message = f"{last.message} (gave up after {attempts} attempts)"
            last.args = (last.message,)
        raise last

    def _observe(self, status: int | None, latency_s: float) -> None:
        if self.limiter is not None:
            self.limiter.observe(status, latency_s)

    async def _attempt(
        self,
        base: str,
        payload: bytes,
        stream: bool,
        request_id: str | None,
        emitter: _Emitter,
        on_delta: Callable | None,
        t0: float,
    ) -> Completion:
        assert self._session is not None
        url = base + "/chat/completions"
        headers = self._headers(stream, request_id)
        in_body = False
        folder: StreamFolder | None = None
        try:
            async with self._session.post(url, data=payload, headers=headers) as resp:
                if not 200 <= resp.status < 300:
                    raise await self._http_error(resp, url)
                in_body = True
                ctype = resp.headers.get("Content-Type", "").lower()
                if "text/event-stream" in ctype or (stream and "json" not in ctype):
                    folder = StreamFolder(emitter)
                    return await self._read_stream(resp, url, base, folder, emitter, on_delta, t0)
                raw = self._redact_bytes(await resp.read())
                return self._read_json(raw, url, base, t0)
        except EndpointError as exc:
            if folder is not None and not exc.partial_text:
                exc.partial_text = folder.partial()
            raise
        except (TimeoutError, aiohttp.ClientError, SSEError) as exc:
            if isinstance(exc, SSEError):
                err = EndpointError(f"bad stream from {_display_url(url)}: {exc}", retryable=True)
            else:
                err = self._connection_error(exc, url, in_body)
            if folder is not None:
                err.partial_text = folder.partial()
                err.truncated = True
            raise err from None

    def _read_json(self, raw: bytes, url: str, base: str, t0: float) -> Completion:
        latency = time.perf_counter() - t0
        where = _display_url(url)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            snippet = _clean_message(raw[:200].decode("utf-8", errors="replace"))
            raise EndpointError(
                f"200 from {where} but the body is not JSON: {snippet!r}",
                retryable=True,
                kind="protocol",
            ) from None
        fields = _error_fields(body)
        if fields is not None:
            raise _inline_error(fields, where)
        if not isinstance(body, dict):
            raise EndpointError(f"200 from {where} but the body is not an object", kind="protocol")
        choices = body.get("choices")
        choice = None
        if isinstance(choices, list):
            choice = next((c for c in choices if isinstance(c, dict)), None)
        if choice is None:
            raise EndpointError(
                f"200 from {where} but the response has no choices", kind="protocol"
            )
        fields = _error_fields(choice)
        finish = choice.get("finish_reason") or None
        if fields is not None or finish == "error":
            raise _inline_error(fields or ("finish_reason is 'error'", None, None), where)
        if finish == "abort":
            raise EndpointError(
                f"{where} aborted the request (finish_reason 'abort')",
                retryable=True,
                kind="stream",
            )
        message = choice.get("message")
        if isinstance(message, dict):
            text, errors = fold_message(message)
        else:
            text, errors = (choice.get("text") or "", [])  # a completions-style choice
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
        return Completion(
            text=text,
            finish_reason=finish,
            stop_reason=_stop_reason(choice),
            usage=usage,
            raw=body,
            endpoint=_display_url(base),
            latency_s=latency,
            ttft_s=None,
            tpot_s=None,
            attempts=1,
            tool_call_errors=errors,
        )

    async def _read_stream(
        self,
        resp: aiohttp.ClientResponse,
        url: str,
        base: str,
        folder: StreamFolder,
        emitter: _Emitter,
        on_delta: Callable | None,
        t0: float,
    ) -> Completion:
        where = _display_url(url)
        decoder = SSEDecoder()
        meta: dict[str, Any] = {}
        usage: dict | None = None
        finish: str | None = None
        stop_reason: Any = None
        ttft: float | None = None
        done = False
        eof = False
        key = self._key_bytes
        content = resp.content
        while not done:
            chunk = await content.readany()
            if not chunk:
                eof = True
                events, _ = decoder.close()
            else:
                if key and key in chunk:
                    chunk = chunk.replace(key, _REDACTED.encode())
                events = decoder.feed(chunk)
            for ev in events:
                data = ev.data
                if data == "[DONE]":
                    done = True
                    break
                if not data.strip():
                    continue
                for obj in _load_event(data, where):
                    fields = _error_fields(obj)
                    if fields is not None:
                        raise _inline_error(fields, where, folder.partial())
                    if not meta:
                        for k in ("id", "object", "created", "model", "system_fingerprint"):
                            if obj.get(k) is not None:
                                meta[k] = obj[k]
                    u = obj.get("usage")
                    if isinstance(u, dict):
                        usage = u
                    choices = obj.get("choices")
                    if not isinstance(choices, list):
                        continue
                    for ch in choices:
                        if not isinstance(ch, dict) or ch.get("index", 0) not in (0, None):
                            continue  # n > 1 is not supported: the first choice is the answer
                        fields = _error_fields(ch)
                        fr = ch.get("finish_reason") or None
                        if fields is not None or fr == "error":
                            raise _inline_error(
                                fields or ("finish_reason is 'error'", None, None),
                                where,
                                folder.partial(),
                            )
                        delta = ch.get("delta")
                        if delta is None and isinstance(ch.get("message"), dict):
                            delta = ch["message"]
                        if delta:
                            folder.add_delta(delta)
                            if ttft is None and folder.saw_token:
                                ttft = time.perf_counter() - t0
                        if fr is not None:
                            finish = fr
                        sr = _stop_reason(ch)
                        if sr is not None:
                            stop_reason = sr
            if emitter.pieces:
                await self._flush(emitter, on_delta)
            if eof:
                break
        latency = time.perf_counter() - t0
        if done and not content.at_eof():
            # Read the chunked terminator so the connection can be reused; a server that
            # holds the stream open after [DONE] just loses its keep-alive.
            try:
                await asyncio.wait_for(content.read(), 0.5)
            except (TimeoutError, aiohttp.ClientError):
                pass
        if not done and finish is None:
            raise EndpointError(
                f"stream from {where} ended without [DONE] or a finish reason (truncated)",
                retryable=True,
                truncated=True,
                kind="stream",
                partial_text=folder.partial(),
            )
        if finish == "abort":
            raise EndpointError(
                f"{where} aborted the request (finish_reason 'abort')",
                retryable=True,
                kind="stream",
                partial_text=folder.partial(),
            )
        text = folder.finish()
        await self._flush(emitter, on_delta)
        tokens = (usage or {}).get("completion_tokens")
        tpot = None
        if ttft is not None and isinstance(tokens, int) and tokens > 1:
            tpot = (latency - ttft) / (tokens - 1)
        raw = dict(meta)
        raw["object"] = "chat.completion"
        message = folder.message()
        choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish}
        if stop_reason is not None:
            choice["stop_reason"] = stop_reason
        raw["choices"] = [choice]
        raw["usage"] = usage
        return Completion(
            text=text,
            finish_reason=finish,
            stop_reason=stop_reason,
            usage=usage,
            raw=raw,
            endpoint=_display_url(base),
            latency_s=latency,
            ttft_s=ttft,
            tpot_s=tpot,
            attempts=1,
            tool_call_errors=list(folder.errors),
        )

    async def _flush(self, emitter: _Emitter, on_delta: Callable | None) -> None:
        pieces = emitter.pieces
        if not pieces:
            return
        emitter.pieces = []
        emitter.emitted = True
        if on_delta is not None:
            for piece in pieces:
                await _call(on_delta, piece)

    async def check(self) -> list[str]:
        """Probe every replica (``GET {base}/models``) before a batch.

        Raises a fatal ``EndpointError`` with one clear message when no replica is usable
        because of configuration (refused connection, unknown host, 401/403, wrong path).
        Replicas that answer but are busy (5xx, timeouts) do not stop the batch. Returns the
        warnings (also kept in ``self.warnings``), e.g. a model name the server does not list.
        """
        if self._session is None:
            raise RuntimeError("ChatClient is not open: use `async with ChatClient(...)`")
        results = await asyncio.gather(*(self._probe(r) for r in self.pool.replicas))
        usable = [r for r in results if r[0] == "ok"]
        fatal = [r for r in results if r[0] == "fatal"]
        warnings = [w for r in results for w in r[2]]
        for replica, (state, problem, _w, _s) in zip(self.pool.replicas, results, strict=True):
            if state != "ok" and usable:
                self.pool.bench(replica, self.settings.replica_cooldown_s, problem)
                warnings.append(f"replica set aside for now: {problem}")
        self.warnings = warnings
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

    async def _probe(self, replica: Replica) -> tuple[str, str, list[str], int | None]:
        """(state, problem, warnings, status); state is ok | fatal | transient."""
        assert self._session is not None
        base = replica.base_url
        timeout = aiohttp.ClientTimeout(
            total=self.settings.check_timeout_s,
            sock_connect=min(self.settings.connect_timeout_s, self.settings.check_timeout_s),
        )
        headers = {"Accept": "application/json", **self._headers(False, None)}
        headers.pop("Content-Type", None)
        url = base + "/models"
        try:
            async with self._session.get(url, headers=headers, timeout=timeout) as resp:
                if resp.status in (404, 405):
                    return await self._probe_chat(base, timeout)
                if resp.status != 200:
                    err = await self._http_error(resp, url)
                    state = "fatal" if resp.status in (401, 403) else "transient"
                    return state, err.message, [], resp.status
                raw = self._redact_bytes(await resp.read())
        except (TimeoutError, aiohttp.ClientError) as exc:
            err = self._connection_error(exc, base, False)
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
        if ids and self.settings.model not in ids:
            shown = ", ".join(str(i) for i in ids[:10])
            warnings.append(
                f"model {self.settings.model!r} is not listed by {_display_url(base)} "
                f"(it lists: {shown}); trying anyway"
            )
        return "ok", "", warnings, 200

    async def _probe_chat(self, base: str, timeout: aiohttp.ClientTimeout):
        """No /models route: an empty chat request tells a wrong path (404) from a server
        that merely lacks /models (400/422), without generating anything."""
        assert self._session is not None
        url = base + "/chat/completions"
        try:
            async with self._session.post(
                url, data=b"{}", headers=self._headers(False, None), timeout=timeout
            ) as resp:
                if resp.status in (404, 405, 401, 403):
                    err = await self._http_error(resp, url)
                    hint = ""
                    if resp.status in (404, 405):
                        hint = " (does the base URL end in /v1?)"
                    return "fatal", err.message + hint, [], resp.status
                await resp.read()
                return "ok", "", [f"{_display_url(base)} has no /models route"], resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            err = self._connection_error(exc, base, False)
            return ("fatal" if err.kind == "connect" else "transient"), err.message, [], None


def _load_signal(done: Completion) -> float:
    """What the adaptive limiter watches: time to first token for a stream (queueing and
    prefill, whatever the answer's length); for a JSON answer, latency per output token, so
    long answers do not look like a slow server."""
    if done.ttft_s is not None:
        return done.ttft_s
    tokens = (done.usage or {}).get("completion_tokens")
    if isinstance(tokens, int) and tokens > 0:
        return done.latency_s / tokens
    return done.latency_s


def _stop_reason(choice: dict) -> Any:
    sr = choice.get("stop_reason")
    if sr is None:
        sr = choice.get("matched_stop")  # SGLang
    return sr


def _load_event(data: str, where: str) -> list[dict]:
    """JSON objects in one event's data. Falls back to one object per line for servers that
    separate events with a single newline (they get joined into one multi-line event)."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        if "\n" in data:
            out = []
            for line in data.split("\n"):
                line = line.strip()
                if not line or line == "[DONE]":
                    continue
                try:
                    item = orjson.loads(line)
                except orjson.JSONDecodeError:
                    break
                if isinstance(item, dict):
                    out.append(item)
            else:
                return out
        snippet = _clean_message(data[:200])
        raise EndpointError(
            f"bad SSE data from {where}: {snippet!r}", retryable=True, kind="protocol"
        ) from None
    return [obj] if isinstance(obj, dict) else []
