"""EndpointError and the rules that turn every way a request can fail into one.

The client, its response readers and its check all raise the same ``EndpointError``; the
rules that read a server's error body (the shapes vLLM, SGLang, OpenAI and OpenRouter send,
with HTTP errors or inline with a 200), name a broken connection, and decide what is
retryable or fatal live here, apart from the request loop, so every caller classifies a
failure the same way. How long to wait before a retry is ``r1v4.endpoint.retry``'s call.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson

from r1v4.endpoint import retry as _retry
from r1v4.protocol.errors import R1V4Error

__all__ = [
    "ContextOverflow",
    "EndpointError",
    "ErrorKind",
    "context_overflow",
    "is_image_limit",
    "clean_message",
    "connection_error",
    "display_url",
    "error_fields",
    "http_error",
    "inline_error",
]

_MAX_MESSAGE = 1000  # characters of a server's error message kept in ours


#: What failed: an HTTP status (``http``, ``image_limit`` for a 400 that says the request
#: carries more images than the server takes, ``context_length`` for one that says the
#: prompt and completion exceed the context window), reaching the server (``connect``),
#: waiting for it (``timeout``), the body of a stream (``stream``), a 200 whose content is
#: not a chat completion (``protocol``), or the pre-batch probe (``check``).
ErrorKind = Literal[
    "http", "image_limit", "context_length", "connect", "timeout", "stream", "protocol", "check"
]


class EndpointError(R1V4Error):
    """A request that failed for good (or one attempt, inside the client).

    ``fatal`` means every further request would fail the same way (401/403/404, or no replica
    reachable at check time): the batch should stop. ``partial_text`` holds folded text that
    had arrived before a stream broke. A request given up for good carries ``attempts``, the
    ``endpoint`` of the last one and ``elapsed_s`` (every attempt and wait), so its failure
    record can say what was tried. Immutable once built: the client derives copies
    (``with_attempt``, ``replace``) instead of changing an error that was raised.
    """

    message: str
    status: int | None
    retryable: bool
    retry_after: float | None
    fatal: bool
    partial_text: str
    truncated: bool
    endpoint: str | None
    attempts: int
    kind: ErrorKind
    elapsed_s: float | None

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
        kind: ErrorKind = "http",
        elapsed_s: float | None = None,
    ) -> None:
        super().__init__(message)
        fields = {
            "message": message,
            "status": status,
            "retryable": retryable,
            "retry_after": retry_after,
            "fatal": fatal,
            "partial_text": partial_text,
            "truncated": truncated,
            "endpoint": endpoint,
            "attempts": attempts,
            "kind": kind,
            "elapsed_s": elapsed_s,
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("__"):  # __traceback__, __cause__, __notes__: Python's own
            object.__setattr__(self, name, value)
            return
        raise AttributeError(f"EndpointError is immutable; use .replace({name}=...)")

    def replace(self, **changes: Any) -> EndpointError:
        """A copy with some fields changed (the message too: ``args`` follows it)."""
        fields = {name: getattr(self, name) for name in _FIELDS} | changes
        return EndpointError(fields.pop("message"), **fields)

    def with_attempt(self, attempts: int, endpoint: str) -> EndpointError:
        """A copy saying which attempt failed, at which (displayable) endpoint."""
        return self.replace(attempts=attempts, endpoint=endpoint)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"EndpointError({self.message!r}, status={self.status}, retryable={self.retryable})"


_FIELDS = tuple(EndpointError.__annotations__)


def is_image_limit(status: int | None, message: str) -> bool:
    """A 400 saying the request holds more images than the server allows per prompt (vLLM:
    "At most N image(s) may be provided in one prompt")."""
    return status == 400 and "At most" in message and "image" in message


# vLLM's two wordings of a request that does not fit max_model_len (MODELS.md 2.6): the chat
# preprocessing's, and the V1 engine's (also "The decoder prompt (length N) is longer …").
_CONTEXT_CHAT = re.compile(
    r"maximum context length is (\d+) tokens\. However, you requested (\d+) tokens"
    r"(?: \((\d+) in the messages, (\d+) in the completion\))?"
)
_CONTEXT_ENGINE = re.compile(
    r"(?:Prompt length of|decoder prompt \(length) (\d+)\)? is longer than the maximum "
    r"model length of (\d+)"
)


@dataclass(frozen=True)
class ContextOverflow:
    """What a context-length 400 says: the window, and the prompt's and completion's share
    when the server names them (None when it does not)."""

    max_model_len: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def context_overflow(status: int | None, message: str) -> ContextOverflow | None:
    """The numbers of a 400 saying the request exceeds the context window, in either vLLM
    wording; None for any other error."""
    if status != 400:
        return None
    m = _CONTEXT_CHAT.search(message)
    if m:
        prompt = int(m.group(3)) if m.group(3) else None
        completion = int(m.group(4)) if m.group(4) else None
        return ContextOverflow(int(m.group(1)), prompt, completion)
    m = _CONTEXT_ENGINE.search(message)
    if m:
        return ContextOverflow(int(m.group(2)), int(m.group(1)))
    return None


@functools.lru_cache(maxsize=256)
def display_url(url: str) -> str:
    """The URL without any user:password part (cached: every request names its replica's
    URL, and parsing it twice per request showed in the streaming profile)."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        parts = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])
    return urlunsplit(parts)


def clean_message(text: str) -> str:
    text = " ".join(str(text).split())
    if text.endswith(" None"):  # vLLM/SGLang append a stray " None" to some messages
        text = text[: -len(" None")]
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + "…"
    return text


def error_fields(obj: Any) -> tuple[str, Any, Any] | None:
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


def inline_error(fields: tuple[str, Any, Any], where: str, partial: str = "") -> EndpointError:
    """An error object sent with HTTP 200 (inside the stream, the body, or a choice)."""
    msg, code, etype = fields
    status = _code_status(code)
    words = f"{code} {etype}".lower()
    retryable = status is not None and (status == 429 or 500 <= status <= 599 and status != 501)
    retryable = retryable or any(w in words for w in _RETRYABLE_WORDS)
    detail = clean_message(msg)
    if code is not None:
        detail += f" (code {code})"
    return EndpointError(
        f"error from {where}: {detail}",
        status=status,
        retryable=retryable,
        kind="stream",
        partial_text=partial,
    )


def connection_error(
    exc: BaseException,
    url: str,
    during_body: bool,
    *,
    connect_timeout_s: float,
    timeout_s: float,
    redact: Callable[[str], str],
) -> EndpointError:
    """A timeout or aiohttp connection failure as a retryable ``EndpointError`` whose ``kind``
    tells connect, timeout and mid-body breaks apart (the check treats them differently)."""
    where = display_url(url)
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            secs = connect_timeout_s
            msg = f"cannot reach {where}: connect timed out after {secs}s"
            kind = "connect"
        elif during_body and isinstance(exc, aiohttp.ServerTimeoutError):  # no byte for a while
            msg = f"response from {where} stalled (read timeout)"
            kind = "timeout"
        elif during_body:  # the total timeout, in the middle of the body
            msg = f"response from {where} did not finish within {timeout_s}s"
            kind = "timeout"
        else:
            msg = f"no response from {where} within {timeout_s}s"
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
    text = redact(str(exc)) or exc.__class__.__name__
    return EndpointError(f"request to {where} failed: {text}", retryable=True, kind="connect")


async def http_error(
    resp: aiohttp.ClientResponse,
    url: str,
    *,
    redact: Callable[[str], str],
    redact_bytes: Callable[[bytes], bytes],
    key_given: bool,
) -> EndpointError:
    """A non-2xx response as an ``EndpointError``: the server's message (redacted), whether
    it is retryable or fatal, and any ``Retry-After``."""
    status = resp.status
    try:
        raw = redact_bytes(await resp.read())
    except (TimeoutError, aiohttp.ClientError):
        raw = b""
    detail = ""
    try:
        fields = error_fields(orjson.loads(raw)) if raw else None
        if fields is None and raw:
            body = orjson.loads(raw)
            detail = str(body.get("detail") or body) if isinstance(body, dict) else str(body)
        elif fields is not None:
            detail = fields[0]
    except orjson.JSONDecodeError:
        detail = raw.decode("utf-8", errors="replace")
    detail = clean_message(redact(detail)) or (resp.reason or "")
    retry_after = _retry.parse_retry_after(resp.headers)
    msg = f"HTTP {status} from {display_url(url)}: {detail}"
    if status == 401 and not key_given:
        msg += " (no API key was given: set --api-key or R1V4_API_KEY)"
    return EndpointError(
        msg,
        status=status,
        retryable=_retry.is_retryable_status(status),
        retry_after=retry_after,
        fatal=_retry.is_fatal_status(status),
        kind=_http_kind(status, msg),
    )


def _http_kind(status: int, message: str) -> ErrorKind:
    if is_image_limit(status, message):
        return "image_limit"
    if context_overflow(status, message) is not None:
        return "context_length"
    return "http"
