"""Reading one 200 response into a ``Completion``: a JSON body, or an SSE stream.

``ChatClient._attempt`` sends the request and picks the reader by Content-Type; these
functions only read. The stream reader decodes events (``r1v4.endpoint.sse``), folds deltas
(``r1v4.endpoint.folding``), hands folded pieces to ``on_delta`` as they arrive, and tells a
clean end (``[DONE]`` or a finish reason) from a truncated one. Inline errors (sent with
HTTP 200) are raised as ``EndpointError`` through ``r1v4.endpoint.errors``.

The stream's state lives in one small accumulator (`_StreamState`), fed one decoded event
object at a time; events stay bytes from the socket to `orjson.loads` (no text is decoded
per token).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from r1v4.endpoint.errors import (
    EndpointError,
    clean_message,
    display_url,
    error_fields,
    inline_error,
)
from r1v4.endpoint.folding import StreamFolder, fold_message
from r1v4.endpoint.pacing import StreamPacer
from r1v4.endpoint.sse import SSEDecoder
from r1v4.endpoint.types import Completion

__all__ = ["Emitter", "invoke", "read_json", "read_stream"]


class Emitter:
    """Whether an attempt handed any folded piece to ``on_delta`` (then a retry must call
    ``on_restart`` first, and a JSON answer is not handed over again as one piece)."""

    __slots__ = ("emitted",)

    def __init__(self) -> None:
        self.emitted = False


async def invoke(cb: Callable | None, *args: Any) -> None:
    """Call a callback that may be sync or async (``on_delta``, ``on_restart``)."""
    if cb is None:
        return
    result = cb(*args)
    if result is not None and inspect.isawaitable(result):
        await result


def read_json(raw: bytes, url: str, base: str, t0: float) -> Completion:
    """A whole JSON body (already redacted) as a ``Completion``; inline errors raise."""
    latency = time.perf_counter() - t0
    where = display_url(url)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        snippet = clean_message(raw[:200].decode("utf-8", errors="replace"))
        raise EndpointError(
            f"200 from {where} but the body is not JSON: {snippet!r}",
            retryable=True,
            kind="protocol",
        ) from None
    fields = error_fields(body)
    if fields is not None:
        raise inline_error(fields, where)
    if not isinstance(body, dict):
        raise EndpointError(f"200 from {where} but the body is not an object", kind="protocol")
    choices = body.get("choices")
    choice = None
    if isinstance(choices, list):
        choice = next((c for c in choices if isinstance(c, dict)), None)
    if choice is None:
        raise EndpointError(f"200 from {where} but the response has no choices", kind="protocol")
    fields = error_fields(choice)
    finish = choice.get("finish_reason") or None
    if fields is not None or finish == "error":
        raise inline_error(fields or ("finish_reason is 'error'", None, None), where)
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
        endpoint=display_url(base),
        latency_s=latency,
        ttft_s=None,
        tpot_s=None,
        attempts=1,
        tool_call_errors=errors,
    )


class _StreamState:
    """What a stream has said so far, taken one decoded event object at a time."""

    __slots__ = ("folder", "where", "t0", "meta", "usage", "finish", "stop_reason", "ttft")

    def __init__(self, folder: StreamFolder, where: str, t0: float) -> None:
        self.folder = folder
        self.where = where
        self.t0 = t0
        self.meta: dict[str, Any] = {}
        self.usage: dict | None = None
        self.finish: str | None = None
        self.stop_reason: Any = None
        self.ttft: float | None = None

    def take_events(self, events: list[bytes]) -> bool:
        """The data of the events one read brought; True once `[DONE]` is among them (what
        follows it is not read)."""
        loads, take_token, take = orjson.loads, self.take_token, self.take
        for raw in events:
            if raw == b"[DONE]":
                return True
            try:
                obj = loads(raw)
            except orjson.JSONDecodeError:  # not one JSON value: the slow, lenient reading
                for item in _load_event(raw, self.where):
                    take(item)
                continue
            if type(obj) is dict and not take_token(obj):
                take(obj)
        return False

    def take_token(self, obj: dict) -> bool:
        """The usual chunk, one token of content and nothing else (no error, no finish,
        no usage, no stop reason, after the first chunk), taken in a few lookups; False
        for any other chunk, which `take` reads in full. A delta's other fields may be
        null (SGLang sends `role`, `reasoning_content` and `tool_calls` as null)."""
        choices = obj.get("choices")
        if type(choices) is not list or len(choices) != 1 or not self.meta:
            return False
        ch = choices[0]
        delta = ch.get("delta") if type(ch) is dict else None
        if type(delta) is not dict:
            return False
        text = delta.get("content")
        if type(text) is not str or not text:
            return False
        if len(delta) != 1 and any(v is not None for v in delta.values() if v is not text):
            return False
        if (
            ch.get("finish_reason")
            or ch.get("stop_reason") is not None
            or ch.get("matched_stop") is not None
            or ch.get("error")
            or ch.get("index", 0) not in (0, None)
            or obj.get("usage") is not None
            or obj.get("error")
            or obj.get("object") == "error"
        ):
            return False
        self.folder.add_content(text)
        if self.ttft is None:
            self.ttft = time.perf_counter() - self.t0
        return True

    def take(self, obj: dict) -> None:
        """One chunk object: inline errors raise, the first choice's delta is folded."""
        if obj.get("error") or obj.get("object") == "error":
            fields = error_fields(obj)
            if fields is not None:
                raise inline_error(fields, self.where, self.folder.partial())
        if not self.meta:
            for k in ("id", "object", "created", "model", "system_fingerprint"):
                if obj.get(k) is not None:
                    self.meta[k] = obj[k]
        u = obj.get("usage")
        if isinstance(u, dict):
            self.usage = u
        choices = obj.get("choices")
        if not isinstance(choices, list):
            return
        for ch in choices:
            if not isinstance(ch, dict) or ch.get("index", 0) not in (0, None):
                continue  # n > 1 is not supported: the first choice is the answer
            self._choice(ch)

    def _choice(self, ch: dict) -> None:
        fr = ch.get("finish_reason") or None
        if ch.get("error") or ch.get("object") == "error" or fr == "error":
            raise inline_error(
                error_fields(ch) or ("finish_reason is 'error'", None, None),
                self.where,
                self.folder.partial(),
            )
        delta = ch.get("delta")
        if delta is None and isinstance(ch.get("message"), dict):
            delta = ch["message"]
        if delta:
            self.folder.add_delta(delta)
            if self.ttft is None and self.folder.saw_token:
                self.ttft = time.perf_counter() - self.t0
        if fr is not None:
            self.finish = fr
        sr = _stop_reason(ch)
        if sr is not None:
            self.stop_reason = sr

    def completion(self, base: str, latency: float) -> Completion:
        """The whole stream as one completion (the tool calls emitted at its end)."""
        folder = self.folder
        text = folder.finish()
        tokens = (self.usage or {}).get("completion_tokens")
        tpot = None
        if self.ttft is not None and isinstance(tokens, int) and tokens > 1:
            tpot = (latency - self.ttft) / (tokens - 1)
        raw = dict(self.meta)
        raw["object"] = "chat.completion"
        choice: dict[str, Any] = {
            "index": 0,
            "message": folder.message(),
            "finish_reason": self.finish,
        }
        if self.stop_reason is not None:
            choice["stop_reason"] = self.stop_reason
        raw["choices"] = [choice]
        raw["usage"] = self.usage
        return Completion(
            text=text,
            finish_reason=self.finish,
            stop_reason=self.stop_reason,
            usage=self.usage,
            raw=raw,
            endpoint=display_url(base),
            latency_s=latency,
            ttft_s=self.ttft,
            tpot_s=tpot,
            attempts=1,
            tool_call_errors=list(folder.errors),
        )


async def read_stream(
    resp: aiohttp.ClientResponse,
    url: str,
    base: str,
    folder: StreamFolder,
    emitter: Emitter,
    on_delta: Callable | None,
    t0: float,
    redact_bytes: Callable[[bytes], bytes],
    pacer: StreamPacer | None = None,
) -> Completion:
    """An SSE stream as a ``Completion``, handing folded pieces to ``on_delta`` as they come.

    Raises a retryable, truncated ``EndpointError`` (with the partial text) when the stream
    ends without ``[DONE]`` or a finish reason; ``redact_bytes`` takes the key out of each
    chunk before it is parsed. Events stay bytes from the socket to ``orjson.loads``. With a
    ``pacer``, reads after the first token are paced (``r1v4.endpoint.pacing``) and what one
    read brought reaches ``on_delta`` as one piece."""
    where = display_url(url)
    decoder = SSEDecoder()
    state = _StreamState(folder, where, t0)
    done = eof = False
    sent = 0  # folded pieces handed to on_delta so far
    pieces = folder.pieces
    content = resp.content
    try:
        while not (done or eof):
            chunk = await content.readany()
            if chunk:
                done = state.take_events(decoder.feed_data(redact_bytes(chunk)))
            else:
                eof = True
                done = state.take_events([ev.raw for ev in decoder.close()[0]])
            if len(pieces) > sent:
                sent = await _deliver(pieces, sent, emitter, on_delta)
            if pacer is not None and state.ttft is not None and not (done or eof):
                pacer.pace()
    finally:
        if pacer is not None:
            pacer.stop()
    latency = time.perf_counter() - t0
    if done and not content.at_eof():
        # Read the chunked terminator so the connection can be reused; a server that
        # holds the stream open after [DONE] just loses its keep-alive.
        try:
            await asyncio.wait_for(content.read(), 0.5)
        except (TimeoutError, aiohttp.ClientError):
            pass
    _check_end(state, done, where)
    done_stream = state.completion(base, latency)
    await _deliver(pieces, sent, emitter, on_delta)
    return done_stream


async def _deliver(
    pieces: list[str], sent: int, emitter: Emitter, on_delta: Callable | None
) -> int:
    """Hand `on_delta` the folded pieces from `sent` on, joined into one; returns how many
    pieces are handed (a listener needs their text in order, not their boundaries)."""
    if len(pieces) <= sent:
        return sent
    emitter.emitted = True
    if on_delta is not None:
        result = on_delta(pieces[sent] if len(pieces) == sent + 1 else "".join(pieces[sent:]))
        if result is not None and inspect.isawaitable(result):
            await result
    return len(pieces)


def _check_end(state: _StreamState, done: bool, where: str) -> None:
    """A stream that ended without [DONE] or a finish reason was cut; one that finished
    with `abort` was given up by the server: both are retried."""
    folder = state.folder
    if not done and state.finish is None:
        raise EndpointError(
            f"stream from {where} ended without [DONE] or a finish reason (truncated)",
            retryable=True,
            truncated=True,
            kind="stream",
            partial_text=folder.partial(),
        )
    if state.finish == "abort":
        raise EndpointError(
            f"{where} aborted the request (finish_reason 'abort')",
            retryable=True,
            kind="stream",
            partial_text=folder.partial(),
        )


def _stop_reason(choice: dict) -> Any:
    sr = choice.get("stop_reason")
    if sr is None:
        sr = choice.get("matched_stop")  # SGLang
    return sr


def _load_event(data: bytes, where: str) -> list[dict]:
    """JSON objects in one event's data (bytes, straight from the decoder). Invalid UTF-8 is
    read as U+FFFD, as text would be. Falls back to one object per line for servers that
    separate events with a single newline (they get joined into one multi-line event)."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        if not data.strip():
            return []
        text = data.decode("utf-8", errors="replace")
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            return _load_lines(text, where)
    return [obj] if isinstance(obj, dict) else []


def _load_lines(data: str, where: str) -> list[dict]:
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
    snippet = clean_message(data[:200])
    raise EndpointError(
        f"bad SSE data from {where}: {snippet!r}", retryable=True, kind="protocol"
    ) from None
