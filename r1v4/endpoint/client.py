"""Async OpenAI-compatible chat client on aiohttp: JSON and SSE, retries, replicas.

One ``ChatClient`` holds one ``aiohttp.ClientSession`` (connection pooling, per-phase
timeouts) for the whole run and closes it when its ``async with`` block ends::

    settings = EndpointSettings(["http://127.0.0.1:8000/v1"], api_key=None, model="m")
    async with ChatClient(settings, limiter=limiter) as client:
        warnings = await client.check()          # fatal EndpointError if nothing is usable
        done = await client.complete(messages, stream=True, on_delta=print)

Everything the model produced comes back folded into one text protocol
(``r1v4.endpoint.folding``). Every attempt goes to the least-busy healthy replica
(``r1v4.endpoint.replicas``); what is retried and how long to wait is
``r1v4.endpoint.retry``'s call. This module holds the request loop (retries,
failover, redaction); failures become ``EndpointError`` in ``r1v4.endpoint.errors``, 200
responses are read in ``r1v4.endpoint.read``, ``check()`` probes through ``r1v4.endpoint.check``,
and ``EndpointSettings``/``Completion`` live in ``r1v4.endpoint.types`` (all four public names
are re-exported here). Behaviour decisions:

- A stream that ends without ``[DONE]`` and without a finish reason, or whose connection breaks
  mid-body, is retried from the start (``on_restart()`` is called first so a live listener can
  drop the partial text). If it still breaks after every retry, ``complete`` raises an
  ``EndpointError`` with ``truncated=True`` and ``partial_text`` (the folded text received on
  the last attempt), so the runner can record the partial answer as a failure;
  ``allow_truncated=True`` returns a ``Completion(truncated=True)`` instead.
- A 429 or 503 that names its wait (Retry-After) is the server pacing us: it is retried
  after that wait without spending ``max_retries``, within ``retry_budget_s`` of wall-clock
  time per request (``r1v4.endpoint.retry.RetryTracker``). A request given up for good
  raises an ``EndpointError`` carrying ``attempts``, the last ``endpoint`` and
  ``elapsed_s``, so the failure record can say what was tried.
- The response's Content-Type decides how it is read: a JSON body to a streaming request (an
  error, or a server that ignored ``stream``) is read as JSON, and vice versa.
- ``latency_s``/``ttft_s``/``tpot_s`` are those of the successful attempt; ``total_s`` covers
  every attempt and backoff. The limiter is fed the time to first token for streams and the
  latency per output token for JSON answers (both show a loaded server without depending on
  the answer's length), and the status of every failed attempt.
- ``on_delta`` gets folded pieces as they arrive (a JSON answer: its whole text, once); the
  pieces of the successful attempt always concatenate to ``Completion.text``. Once a
  stream's tokens flow it is read every ``stream_read_interval_s`` (0.05 s), and what one
  read brought is one piece (``r1v4.endpoint.pacing``: the kernel gathers the packets, so
  the CPU per token is a fraction; a stream's end is seen up to one interval late).
- A 401/403/404 from one replica while others are available benches that replica and moves
  on; it is fatal only when no other replica is left.
- Retries of a request with ``request_id`` send ``X-Request-Id: {request_id}-{attempt}`` so a
  server still running the dropped attempt does not see a duplicate id.
- The API key is never put in a message, repr or ``raw``: server text that echoes it is
  redacted before it is parsed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from r1v4.endpoint import retry as _retry
from r1v4.endpoint.check import check
from r1v4.endpoint.errors import EndpointError, display_url
from r1v4.endpoint.folding import StreamFolder
from r1v4.endpoint.pacing import StreamPacer
from r1v4.endpoint.read import Emitter, invoke, read_json, read_stream
from r1v4.endpoint.replicas import Replica, ReplicaPool
from r1v4.endpoint.sse import SSEError
from r1v4.endpoint.transport import Transport
from r1v4.endpoint.types import Completion, EndpointSettings

__all__ = ["ChatClient", "Completion", "EndpointError", "EndpointSettings"]

log = logging.getLogger(__name__)


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
            budget_s=settings.retry_budget_s,
        )
        self.warnings: list[str] = []
        self.transport = Transport(settings)
        #: What ``check()`` learnt of the model: ``max_model_len`` when a server lists it.
        self.model_info: dict[str, Any] = {}

    def __repr__(self) -> str:
        urls = ", ".join(display_url(u) for u in self.settings.base_urls)
        return f"ChatClient([{urls}], model={self.settings.model!r})"

    async def __aenter__(self) -> ChatClient:
        self.transport.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.transport.close()

    def replica_stats(self) -> list[dict]:
        """Per replica: base_url, requests, failures, in_flight, benched (+ times_benched)."""
        out = self.pool.stats()
        for row in out:
            row["base_url"] = display_url(row["base_url"])
            row["last_error"] = self.transport.redact(row["last_error"])
        return out

    def simulators(self) -> list[str]:
        """The replicas that declared themselves simulators at check time (their
        ``X-Simulator`` header), as displayable URLs."""
        return [display_url(r.base_url) for r in self.pool.replicas if r.simulator]

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
        self._check_open(messages)
        payload = self._payload(messages, stream, stop, max_tokens, temperature, extra_body)
        started = time.perf_counter()
        tracker = self.policy.tracker()
        last: EndpointError | None = None
        previous: Replica | None = None
        attempt = 0
        while True:
            attempt += 1
            replica = self.pool.pick(avoid=previous)
            rid = request_id if attempt == 1 or not request_id else f"{request_id}-{attempt}"
            emitter = Emitter()
            t0 = time.perf_counter()
            self.pool.started(replica)
            try:
                try:
                    done = await self._attempt(
                        replica.base_url, payload, stream, rid, emitter, on_delta, t0
                    )
                finally:
                    self.pool.ended(replica)
            except EndpointError as failed:
                last = failed.with_attempt(attempt, display_url(replica.base_url))
                self._observe(last.status, time.perf_counter() - t0)
                if not await self._retrying(last, replica, tracker, emitter.emitted, on_restart):
                    break
                previous = replica
                continue
            self.pool.success(replica)
            return await self._succeeded(done, emitter, on_delta, attempt, started)
        assert last is not None
        if last.truncated and allow_truncated:
            return _truncated(last, started)
        raise _given_up(last, tracker, attempt, started)

    async def _retrying(
        self,
        last: EndpointError,
        replica: Replica,
        tracker: _retry.RetryTracker,
        emitted: bool,
        on_restart: Callable[[], Any] | None,
    ) -> bool:
        """After a failed attempt: False to give up, else True once the wait before the next
        attempt is over (a listener that saw part of this one was told to start again)."""
        wait = self._decide(last, replica, tracker)
        if wait is None:
            return False
        if emitted:
            await invoke(on_restart)
        log.debug(
            "attempt %d failed (%s); retrying in %.2fs", last.attempts, last.message, wait
        )  # messages never hold the key: server text is redacted when read
        if wait > 0:
            await asyncio.sleep(wait)
        return True

    def _check_open(self, messages: Any) -> None:
        """Misuse by the caller, not endpoint behaviour: raised at once."""
        if self.transport.session is None:
            raise RuntimeError("ChatClient is not open: use `async with ChatClient(...)`")
        if not isinstance(messages, list):
            raise TypeError(f"messages must be a list of dicts, got {type(messages).__name__}")

    async def _succeeded(
        self,
        done: Completion,
        emitter: Emitter,
        on_delta: Callable[[str], Any] | None,
        attempt: int,
        started: float,
    ) -> Completion:
        if on_delta is not None and not emitter.emitted and done.text:
            await invoke(on_delta, done.text)  # a JSON answer arrives as one piece
        self._observe(200, _load_signal(done))
        done.attempts = attempt
        done.total_s = time.perf_counter() - started
        return done

    def _payload(
        self,
        messages: list[dict],
        stream: bool,
        stop: str | list[str] | None,
        max_tokens: int | None,
        temperature: float | None,
        extra_body: dict | None,
    ) -> bytes:
        """The request body: what the toolkit sets, then ``extra_body`` on top."""
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
        return orjson.dumps(body)

    def _decide(
        self, exc: EndpointError, replica: Replica, tracker: _retry.RetryTracker
    ) -> float | None:
        """After a failed attempt: seconds to wait before the next one, or None to give up.
        What is retryable is the error's call (``r1v4.endpoint.errors``); how long to wait
        and when to give up is the tracker's (``r1v4.endpoint.retry``: real failures spend
        ``max_retries``, waits a pacing server names spend the wall-clock budget). This
        counts the failure against the replica when it is the replica's fault, and sets
        aside one that refuses us while others may not."""
        http = exc.kind in ("http", "image_limit", "context_length")
        if not http or exc.status is None or exc.status >= 500 or exc.fatal:
            self.pool.failure(replica, exc.message)
        elsewhere = self.pool.has_alternative(replica)
        if exc.fatal and elsewhere:
            # This replica refuses us (key, path, model); others may not: set it aside.
            self.pool.bench(replica, self.settings.replica_cooldown_s, exc.message)
        return tracker.next_wait(
            retryable=exc.retryable or (exc.fatal and elsewhere),
            status=exc.status,
            retry_after=exc.retry_after,
            failover=elsewhere and (exc.fatal or exc.kind == "connect"),
        )

    def _observe(self, status: int | None, latency_s: float) -> None:
        if self.limiter is not None:
            self.limiter.observe(status, latency_s)

    async def _attempt(
        self,
        base: str,
        payload: bytes,
        stream: bool,
        request_id: str | None,
        emitter: Emitter,
        on_delta: Callable | None,
        t0: float,
    ) -> Completion:
        url = base + "/chat/completions"
        headers = self.transport.headers(stream, request_id)
        in_body = False
        folder: StreamFolder | None = None
        try:
            async with self.transport.post(url, data=payload, headers=headers) as resp:
                if not 200 <= resp.status < 300:
                    raise await self.transport.http_error(resp, url)
                in_body = True
                ctype = resp.headers.get("Content-Type", "").lower()
                if "text/event-stream" in ctype or (stream and "json" not in ctype):
                    folder = StreamFolder()
                    interval = self.settings.stream_read_interval_s
                    pacer = (
                        StreamPacer(resp, self.transport.read_timeout_s, interval)
                        if interval > 0
                        else None
                    )
                    return await read_stream(
                        resp,
                        url,
                        base,
                        folder,
                        emitter,
                        on_delta,
                        t0,
                        self.transport.redact_bytes,
                        pacer,
                    )
                raw = self.transport.redact_bytes(await resp.read())
                return read_json(raw, url, base, t0)
        except EndpointError as exc:
            if folder is not None and not exc.partial_text:
                raise exc.replace(partial_text=folder.partial()) from None
            raise
        except (TimeoutError, aiohttp.ClientError, SSEError) as exc:
            if isinstance(exc, SSEError):
                err = EndpointError(f"bad stream from {display_url(url)}: {exc}", retryable=True)
            else:
                err = self.transport.connection_error(exc, url, in_body)
            if folder is not None:
                err = err.replace(partial_text=folder.partial(), truncated=True)
            raise err from None

    async def check(self) -> list[str]:
        """Probe every replica (``GET {base}/models``) before a batch.

        Raises a fatal ``EndpointError`` with one clear message when no replica is usable
        because of configuration (refused connection, unknown host, 401/403, wrong path).
        Replicas that answer but are busy (5xx, timeouts) do not stop the batch. Returns the
        warnings (also kept in ``self.warnings``), e.g. a model name the server does not list.
        """
        if self.transport.session is None:
            raise RuntimeError("ChatClient is not open: use `async with ChatClient(...)`")
        self.warnings = await check(self.transport, self.pool, self.settings, self.model_info)
        return self.warnings


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


def _given_up(
    last: EndpointError, tracker: _retry.RetryTracker, attempts: int, started: float
) -> EndpointError:
    """The error a request given up for good raises: the last attempt's, saying why it was
    given up and how long all attempts and waits took."""
    if attempts > 1 and tracker.gave_up:
        last = last.replace(message=f"{last.message} ({tracker.describe(attempts)})")
    return last.replace(elapsed_s=time.perf_counter() - started)


def _truncated(last: EndpointError, started: float) -> Completion:
    """A stream that kept breaking, as a ``Completion(truncated=True)`` of its partial text
    (``complete(..., allow_truncated=True)``)."""
    elapsed = time.perf_counter() - started
    return Completion(
        text=last.partial_text,
        finish_reason=None,
        stop_reason=None,
        usage=None,
        raw={"error": last.message},
        endpoint=last.endpoint or "",
        latency_s=elapsed,
        ttft_s=None,
        tpot_s=None,
        attempts=last.attempts,
        truncated=True,
        total_s=elapsed,
    )
