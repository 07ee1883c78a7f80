"""The simulator's aiohttp application: GET /health, GET /v1/models, POST /v1/chat/completions
(JSON and SSE) speaking the protocol the way vLLM does, plus GET /sim/stats for counters.

All state lives on the app (SimState under STATE), none in module globals, so several simulators
can run in one process (aiohttp "No Singletons Please")."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from r1v4.sim.faults import Decision, FaultInjector
from r1v4.sim.policy import (
    Reply,
    Script,
    choose_reply,
    image_info,
    image_urls,
    load_scripts,
    message_text,
    request_id,
)
from r1v4.sim.render import Rendered, count_tokens, image_tokens, render
from r1v4.sim.settings import SimSettings
from r1v4.sim.sse import SSEWriter

FINGERPRINT = "r1v4-simulator"
OWNER = "r1v4-simulator"
_ROLES = {"system", "user", "assistant", "tool", "developer", "function"}


@dataclass
class SimState:
    """Everything a running simulator holds. `requests` and `faults.counters` are read by the
    test handle from another thread: appends and Counter updates happen under locks."""

    settings: SimSettings
    scripts: list[Script]
    rng: random.Random
    faults: FaultInjector
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    attempts: Counter = field(default_factory=Counter)  # (script, turn) -> requests seen
    # Ids come from their own stream, so the fault draws (from `rng`) depend only on the order
    # of requests, not on how many ids or tool-call ids earlier answers used.
    id_rng: random.Random = field(default_factory=random.Random)
    shutdown: asyncio.Event | None = None
    slots: asyncio.Semaphore | None = None  # max_num_seqs
    in_flight: int = 0
    hanging: set = field(default_factory=set)

    def counters(self) -> dict[str, int]:
        return self.faults.snapshot()

    def hex_id(self, n: int = 32) -> str:
        with self.lock:
            return f"{self.id_rng.getrandbits(n * 4):0{n}x}"


STATE = web.AppKey("r1v4_sim_state", SimState)


class BadRequest(Exception):
    """A request the server refuses; carries the HTTP status, message and the offending field."""

    def __init__(self, status: int, message: str, param: str | None = None, kind: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param
        self.kind = kind or {
            400: "BadRequestError",
            401: "AuthenticationError",
            404: "NotFoundError",
            413: "BadRequestError",
        }.get(status, "BadRequestError")


# ------------------------------------------------------------------------------------- helpers


def error_body(settings: SimSettings, status: int, message: str, kind: str, param=None) -> dict:
    """vLLM >= 0.10.1 error shape, or the older flat one / a string code under quirks."""
    code: int | str = str(status) if settings.has("string_error_code") else status
    if settings.has("flat_error"):
        return {"object": "error", "message": message, "type": kind, "param": param, "code": code}
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(
    settings: SimSettings, status: int, message: str, kind: str, param=None, headers=None
) -> web.Response:
    return web.json_response(
        error_body(settings, status, message, kind, param),
        status=status,
        headers=headers,
        dumps=lambda o: orjson.dumps(o).decode(),
    )


def _json(obj: Any, status: int = 200, headers=None) -> web.Response:
    return web.Response(
        body=orjson.dumps(obj), status=status, content_type="application/json", headers=headers
    )


def check_auth(request: web.Request, settings: SimSettings) -> None:
    if settings.api_key is None:
        return
    if request.headers.get("Authorization", "") != f"Bearer {settings.api_key}":
        raise BadRequest(
            401,
            "Unauthorized: the Authorization header lacks the expected bearer token",
            None,
            "AuthenticationError",
        )


def _want_type(value: Any, types: tuple, name: str, what: str) -> None:
    if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
        raise BadRequest(400, f"'{name}' must be {what}, got {type(value).__name__}", name)


def validate(body: Any, settings: SimSettings) -> dict[str, Any]:
    """Check the request as vLLM's protocol models do; raise BadRequest naming the field.
    Returns the normalised knobs the renderer needs."""
    if not isinstance(body, dict):
        raise BadRequest(400, "request body must be a JSON object", None)
    messages = body.get("messages")
    if messages is None:
        raise BadRequest(400, "'messages' is required", "messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest(400, "'messages' must be a non-empty list", "messages")
    n_images = 0
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise BadRequest(400, f"'{where}' must be an object", where)
        role = m.get("role")
        if role not in _ROLES:
            raise BadRequest(
                400,
                f"'{where}.role' must be one of {sorted(_ROLES)}, got {role!r}",
                f"{where}.role",
            )
        content = m.get("content")
        if content is None:
            if role != "assistant":
                raise BadRequest(400, f"'{where}.content' is required", f"{where}.content")
            continue
        if isinstance(content, str):
            continue
        if not isinstance(content, list):
            raise BadRequest(
                400, f"'{where}.content' must be a string or a list of parts", f"{where}.content"
            )
        for j, part in enumerate(content):
            pw = f"{where}.content[{j}]"
            if not isinstance(part, dict):
                raise BadRequest(400, f"'{pw}' must be an object", pw)
            ptype = part.get("type")
            if ptype == "text":
                if not isinstance(part.get("text"), str):
                    raise BadRequest(400, f"'{pw}.text' must be a string", f"{pw}.text")
            elif ptype == "image_url":
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, dict) else None
                if not isinstance(url, str):
                    raise BadRequest(
                        400, f"'{pw}.image_url.url' must be a string", f"{pw}.image_url.url"
                    )
                if not url.startswith("data:"):
                    raise BadRequest(
                        400,
                        f"'{pw}.image_url.url': the simulator accepts only base64 data: URLs "
                        "(it never fetches remote images)",
                        f"{pw}.image_url.url",
                    )
                try:
                    image_info(url)
                except ValueError as exc:
                    raise BadRequest(
                        400, f"'{pw}.image_url.url': {exc}", f"{pw}.image_url.url"
                    ) from exc
                n_images += 1
            else:
                raise BadRequest(
                    400, f"'{pw}.type' must be 'text' or 'image_url', got {ptype!r}", f"{pw}.type"
                )
    limit = settings.max_images_per_prompt
    if limit is not None and n_images > limit:
        raise BadRequest(400, f"At most {limit} image(s) may be provided in one prompt.", None)

    model = body.get("model")
    _want_type(model, (str,), "model", "a string")
    if settings.model is not None and model is not None and model != settings.model:
        raise BadRequest(404, f"The model `{model}` does not exist.", "model", "NotFoundError")

    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise BadRequest(400, "'stream' must be a boolean", "stream")
    options = body.get("stream_options")
    if options is not None:
        if not stream:
            raise BadRequest(
                400, "Stream options can only be defined when `stream=True`.", "stream_options"
            )
        if not isinstance(options, dict):
            raise BadRequest(400, "'stream_options' must be an object", "stream_options")
    options = options or {}

    stop = body.get("stop")
    if stop is None:
        stops: list[str] = []
    elif isinstance(stop, str):
        stops = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        stops = list(stop)
    else:
        raise BadRequest(400, "'stop' must be a string or a list of strings", "stop")

    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise BadRequest(400, f"'{name}' must be a positive integer", name)
    for key in ("temperature", "top_p"):
        _want_type(body.get(key), (int, float), key, "a number")
    n = body.get("n", 1)
    if n not in (1, None):
        raise BadRequest(400, "'n' other than 1 is not supported by the simulator", "n")
    if "tools" in body and body["tools"] is not None:
        if not isinstance(body["tools"], list) or not body["tools"]:
            raise BadRequest(400, "'tools' must be a non-empty list when given", "tools")
    elif body.get("tool_choice") not in (None, "none"):
        raise BadRequest(400, "When using `tool_choice`, `tools` must be set.", "tool_choice")
    if body.get("continue_final_message") and body.get("add_generation_prompt", True):
        raise BadRequest(
            400,
            "Cannot set both `continue_final_message` and `add_generation_prompt` to True.",
            "continue_final_message",
        )
    if stream and body.get("prompt_logprobs") is not None:
        raise BadRequest(
            400, "`prompt_logprobs` are not available when `stream=True`.", "prompt_logprobs"
        )
    if body.get("chat_template") is not None:
        raise BadRequest(
            400,
            "Chat template is passed with request, but --trust-request-chat-template is not set. "
            "Refused request with untrusted chat template.",
            "chat_template",
        )
    kwargs = body.get("chat_template_kwargs") or {}
    return {
        "stream": stream,
        "include_usage": bool(options.get("include_usage")),
        "continuous_usage": bool(options.get("continuous_usage_stats")),
        "stops": stops,
        "max_tokens": max_tokens,
        "include_stop": bool(body.get("include_stop_str_in_output")),
        "include_reasoning": body.get("include_reasoning", True) is not False,
        "named_tool_choice": isinstance(body.get("tool_choice"), dict),
        "enable_thinking": not (
            isinstance(kwargs, dict) and kwargs.get("enable_thinking") is False
        ),
    }


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """Estimated prompt size: text tokens, 4 per message for the template, image patches."""
    total = 0
    for m in messages:
        total += 4 + count_tokens(message_text(m))
        for url in image_urls(m):
            try:
                info = image_info(url)
                total += image_tokens(info.width, info.height)
            except ValueError:
                total += 256
    return total


def _completion_id(state: SimState, request_id: str | None) -> str:
    """vLLM's id: "chatcmpl-" + the X-Request-Id header (or the body's request_id) when the
    client sent one, else random hex; the id_* quirks give other servers' forms."""
    s = state.settings
    if s.has("id_hex16"):
        return "chatcmpl-" + state.hex_id(16)
    if s.has("id_uuid"):
        return "chatcmpl-" + str(uuid.UUID(state.hex_id(32)))
    if s.has("id_bare_hex"):
        return state.hex_id(32)
    if s.has("id_gen"):
        return f"gen-{int(time.time())}-{state.hex_id(20)}"
    return "chatcmpl-" + (request_id or state.hex_id(32))


def _usage(prompt: int, completion: int, settings: SimSettings) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
        "prompt_tokens_details": None,
    }
    if settings.has("extra_fields"):
        usage["reasoning_tokens"] = 0
        usage["cost"] = 0.0
        usage["is_byok"] = False
    return usage


# ------------------------------------------------------------------------------------ handlers


async def health(request: web.Request) -> web.Response:
    return web.Response(status=200)


async def stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    with state.lock:
        n = len(state.requests)
    return _json({"simulator": True, "counters": state.counters(), "requests_recorded": n})


async def models(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        check_auth(request, state.settings)
    except BadRequest as exc:
        state.faults.count("unauthorized")
        return error_response(state.settings, exc.status, exc.message, exc.kind, exc.param)
    s = state.settings
    name = s.model_id
    return _json(
        {
            "object": "list",
            "data": [
                {
                    "id": name,
                    "object": "model",
                    "created": int(time.time()),
                    "owned_by": OWNER,
                    "root": name,
                    "parent": None,
                    "max_model_len": 131072,
                    "permission": [],
                }
            ],
        }
    )


async def chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    s = state.settings
    arrived = time.monotonic()
    state.faults.count("requests")
    try:
        check_auth(request, s)
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise BadRequest(413, f"request body too large (limit {s.max_body_mb} MB)") from exc
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(400, f"Invalid JSON body: {exc}", None) from exc
        if s.record_requests and isinstance(body, dict):
            with state.lock:
                state.requests.append(body)
        knobs = validate(body, s)
    except BadRequest as exc:
        state.faults.count({401: "unauthorized", 404: "not_found"}.get(exc.status, "bad_request"))
        return error_response(s, exc.status, exc.message, exc.kind, exc.param)

    headers = {k.lower(): v for k, v in request.headers.items()}
    reply = choose_reply(body, headers, state.scripts)
    forced = None
    if reply.script is not None and reply.script.faults:
        key = (reply.script.where, reply.turn)
        with state.lock:
            attempt = state.attempts[key]
            state.attempts[key] += 1
        if attempt < len(reply.script.faults):
            forced = reply.script.faults[attempt] or "ok"
    with state.lock:
        decision = state.faults.decide(forced)
    pre = await _inject_http_fault(request, state, decision, arrived)
    if pre is not None:
        return pre
    async with _generating(state, arrived) as started:
        return await _answer(request, state, body, knobs, reply, decision, started)


@contextlib.asynccontextmanager
async def _generating(state: SimState, arrived: float):
    """One request generating: waits for a free sequence slot (max_num_seqs) and tracks how
    many run at once. Yields the time generation starts (arrival, or the end of the wait)."""
    if state.slots is not None:
        await state.slots.acquire()
    with state.lock:
        state.in_flight += 1
        now = state.in_flight
    state.faults.high_water("max_in_flight", now)
    try:
        yield arrived if state.slots is None else time.monotonic()
    finally:
        with state.lock:
            state.in_flight -= 1
        if state.slots is not None:
            state.slots.release()


async def _answer(
    request: web.Request,
    state: SimState,
    body: dict[str, Any],
    knobs: dict[str, Any],
    reply: Reply,
    decision: Decision,
    arrived: float,
) -> web.StreamResponse:
    """Render the chosen turn and send it as JSON or SSE."""
    s = state.settings
    rendered = render(
        reply.text,
        reasoning_field=s.reasoning_field,
        structured_tool_calls=s.structured_tool_calls,
        stop=knobs["stops"],
        include_stop_str_in_output=knobs["include_stop"],
        max_tokens=knobs["max_tokens"],
        include_reasoning=knobs["include_reasoning"],
        enable_thinking=knobs["enable_thinking"],
        new_tool_id=lambda: "chatcmpl-tool-" + state.hex_id(32),
        answer_in_reasoning=s.has("answer_in_reasoning"),
    )
    if knobs["named_tool_choice"] and rendered.finish_reason == "tool_calls":
        rendered.finish_reason = "stop"  # vLLM: a named tool_choice finishes with "stop"
    if s.has("stop_reason_token_id") and rendered.stop_reason is None:
        rendered.stop_reason = 151645  # <|im_end|> of Qwen models: plain EOS
    meta = {
        "id": _completion_id(state, request_id(body, request.headers)),
        "created": int(time.time()),
        "model": body.get("model") or s.model_id,
        "prompt_tokens": prompt_tokens(body["messages"]),
    }
    if knobs["stream"]:
        return await _stream(request, state, rendered, meta, knobs, decision, arrived)
    return await _respond_json(request, state, rendered, meta, decision, arrived, reply)


async def _inject_http_fault(
    request: web.Request, state: SimState, d: Decision, arrived: float
) -> web.StreamResponse | None:
    """Answer the faults that happen before any body: 429, 5xx, and hangs."""
    s = state.settings
    if d.fault == "429":
        headers = {"Retry-After": str(int(d.retry_after_s or 1))}
        if d.retry_after_ms:
            headers["retry-after-ms"] = str(d.retry_after_ms)
        limit = f" ({s.rate_limit:g} requests/s)" if s.rate_limit else ""
        return error_response(
            s,
            429,
            f"Rate limit exceeded{limit}; retry after {headers['Retry-After']} s",
            "RateLimitError",
            None,
            headers,
        )
    if d.fault in ("500", "502", "503"):
        await _sleep_until(arrived + s.latency_s)
        status = int(d.fault)
        kind, msg = {
            500: ("InternalServerError", "Simulated internal server error"),
            502: ("BadGateway", "Simulated bad gateway: upstream connection failed"),
            503: ("ServiceUnavailableError", "Simulated overload: the server is not ready"),
        }[status]
        headers = None
        if d.retry_after_s:  # whole seconds in the header, the exact wait in retry-after-ms
            headers = {
                "Retry-After": str(max(1, math.ceil(d.retry_after_s))),
                "retry-after-ms": str(round(d.retry_after_s * 1000)),
            }
        return error_response(s, status, msg, kind, None, headers)
    if d.fault == "hang":
        await _hang(request, state)
        return _abort(request)
    return None


async def _sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def _hang(request: web.Request, state: SimState) -> None:
    """Never answer: wait until the client goes away, the app shuts down or the cap passes.
    Polls the transport, so an abandoned hang ends soon and never blocks other requests."""
    deadline = time.monotonic() + state.settings.hang_cap_s
    task = asyncio.current_task()
    state.hanging.add(task)
    try:
        while time.monotonic() < deadline:
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            assert state.shutdown is not None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(state.shutdown.wait(), 0.25)
            if state.shutdown.is_set():
                return
    finally:
        state.hanging.discard(task)


def _abort(request: web.Request) -> web.StreamResponse:
    """Cut the connection without a response (or mid-body): what a crashed server looks like."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    # aiohttp needs a response object; it cannot be written to a closed transport.
    raise asyncio.CancelledError


def _message(rendered: Rendered, settings: SimSettings) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant"}
    if rendered.tool_calls:
        content: str | None = rendered.content
        if not content.strip() and not settings.has("empty_string_content"):
            content = None
        msg["content"] = content
    elif settings.has("answer_in_reasoning") and not rendered.content:
        msg["content"] = None
    else:
        msg["content"] = rendered.content
    if rendered.reasoning is not None:
        mode = settings.reasoning_field
        if mode in ("reasoning_content", "both"):
            msg["reasoning_content"] = rendered.reasoning
        if mode in ("reasoning", "both"):
            msg["reasoning"] = rendered.reasoning
    if rendered.tool_calls:
        msg["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in rendered.tool_calls
        ]
    elif settings.has("tool_calls_empty_list"):
        msg["tool_calls"] = []
    return msg


def _finish(rendered: Rendered, settings: SimSettings) -> str:
    if rendered.finish_reason == "tool_calls" and settings.has("tools_finish_stop"):
        return "stop"
    return rendered.finish_reason


async def _respond_json(
    request: web.Request,
    state: SimState,
    rendered: Rendered,
    meta: dict[str, Any],
    d: Decision,
    arrived: float,
    reply: Reply,
) -> web.StreamResponse:
    s = state.settings
    total = s.latency_s + s.ttft_s
    if s.tokens_per_s > 0:
        total += rendered.completion_tokens / s.tokens_per_s
    await _sleep_until(arrived + total)
    if d.fault == "drop":
        return _abort(request)
    if d.fault in ("stream_error", "stream_error_no_done"):
        return error_response(
            s, 500, "Simulated internal error during generation", "InternalServerError"
        )
    choice: dict[str, Any] = {
        "index": 0,
        "message": _message(rendered, s),
        "logprobs": None,
        "finish_reason": _finish(rendered, s),
        "stop_reason": rendered.stop_reason,
    }
    if d.fault == "choice_error":
        choice["finish_reason"] = "error"
        choice["error"] = {"message": "Simulated upstream provider error", "code": 502}
    body = {
        "id": meta["id"],
        "object": "chat.completion",
        "created": meta["created"],
        "model": meta["model"],
        "system_fingerprint": None if s.has("null_fingerprint") else FINGERPRINT,
        "choices": [choice],
        "usage": _usage(meta["prompt_tokens"], rendered.completion_tokens, s),
        "prompt_logprobs": None,
    }
    if s.has("extra_fields"):
        _add_extra_fields(body, choice)
    state.faults.count("completed")
    return _json(body)


def _add_extra_fields(obj: dict[str, Any], choice: dict[str, Any] | None) -> None:
    """Fields real servers add that a client must ignore (ENDPOINTS.md §8)."""
    obj.update(
        {
            "kv_transfer_params": None,
            "metrics": {"simulated": True},
            "timings": {"predicted_ms": 1.0},
            "provider": "r1v4-simulator",
            "metadata": {"weight_version": "sim"},
            "prompt_token_ids": None,
        }
    )
    if choice is not None:
        choice.update(
            {
                "matched_stop": choice.get("stop_reason"),
                "native_finish_reason": choice.get("finish_reason"),
                "token_ids": None,
            }
        )


class _Chunks:
    """Builds `chat.completion.chunk` objects for one stream, with the chosen quirks."""

    def __init__(self, s: SimSettings, rendered: Rendered, meta: dict[str, Any], knobs: dict):
        self.s, self.rendered, self.meta = s, rendered, meta
        self.include_usage = knobs["include_usage"] or s.has("force_usage")
        self.continuous = knobs["continuous_usage"] or s.has("continuous_usage")
        self.fingerprint = None if s.has("null_fingerprint") else FINGERPRINT
        self.done_tokens = 0  # tokens sent so far (continuous usage)

    def _head(self) -> dict[str, Any]:
        return {
            "id": self.meta["id"],
            "object": "chat.completion.chunk",
            "created": self.meta["created"],
            "model": self.meta["model"],
            "system_fingerprint": self.fingerprint,
        }

    def delta(self, delta: dict[str, Any], finish: str | None = None, last: bool = False) -> dict:
        s = self.s
        if s.has("repeat_role"):
            delta = {"role": "assistant", **delta}
        if s.has("sglang_nulls") and "tool_calls" not in delta:
            delta["tool_calls"] = None
        choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None}
        if last:
            choice["finish_reason"] = finish
            choice["stop_reason"] = self.rendered.stop_reason
        elif s.has("empty_finish_reason"):
            choice["finish_reason"] = ""
        elif not s.has("omit_finish_reason"):
            choice["finish_reason"] = None
        obj = self._head() | {"choices": [choice]}
        if self.continuous:
            obj["usage"] = _usage(self.meta["prompt_tokens"], self.done_tokens, s)
        elif self.include_usage and s.has("usage_null"):
            obj["usage"] = None
        if s.has("extra_fields"):
            _add_extra_fields(obj, choice)
            delta.setdefault("obfuscation", "sim")
        return obj

    def usage(self) -> dict[str, Any]:
        usage = _usage(self.meta["prompt_tokens"], self.rendered.completion_tokens, self.s)
        return self._head() | {"choices": [], "usage": usage}


def _delta_events(rendered: Rendered, s: SimSettings) -> list[tuple[dict[str, Any], int]]:
    """The deltas of a stream after the role chunk, each with the simulated tokens it stands
    for (for pacing): reasoning, then content, then tool calls (first delta with id, type and
    name and "" arguments, then argument fragments carrying only index and arguments)."""
    events: list[tuple[dict[str, Any], int]] = []
    per_chunk, mode, pieces = s.tokens_per_chunk, s.reasoning_field, rendered.pieces
    i = 0
    while i < len(pieces):
        kind = pieces[i][0]
        j = i
        while j < len(pieces) and j - i < per_chunk and pieces[j][0] == kind:
            j += 1
        text = "".join(p[1] for p in pieces[i:j])
        if kind == "reasoning":
            delta = {}
            if mode in ("reasoning_content", "both"):
                delta["reasoning_content"] = text
            if mode in ("reasoning", "both"):
                delta["reasoning"] = text
        else:
            delta = {"content": text}
        events.append((delta, j - i))
        i = j
    for index, call in enumerate(rendered.tool_calls):
        first = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        events.append(({"tool_calls": [first]}, 1))
        for frag in _fragments(call.arguments, per_chunk):
            later: dict[str, Any] = {"index": index, "function": {"arguments": frag}}
            if s.has("sglang_nulls"):
                later.update({"id": None, "type": None})
                later["function"]["name"] = None
            events.append(({"tool_calls": [later]}, 1))
    return events


async def _stream(
    request: web.Request,
    state: SimState,
    rendered: Rendered,
    meta: dict[str, Any],
    knobs: dict[str, Any],
    d: Decision,
    arrived: float,
) -> web.StreamResponse:
    """Send the answer as SSE, paced by the latency model, ending as the fault says."""
    s = state.settings
    resp = web.StreamResponse(
        status=200,
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"},
    )
    await resp.prepare(request)
    writer = SSEWriter(
        resp,
        rng=random.Random(meta["id"]),
        crlf=s.has("crlf"),
        multiline=s.has("multiline_data"),
        keepalive=s.has("keepalive"),
        split_writes=s.has("split_writes"),
    )
    chunks = _Chunks(s, rendered, meta, knobs)
    events = _delta_events(rendered, s)
    cut_after = None
    if d.fault in ("drop", "stream_error", "stream_error_no_done", "choice_error"):
        # Where to cut: seeded by the completion id, so it never shifts later fault draws.
        cut_after = random.Random(meta["id"]).randint(0, max(0, len(events) // 2))

    if s.has("empty_choices_first"):
        writer.event(
            {
                "id": "",
                "object": "",
                "created": 0,
                "model": "",
                "choices": [],
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
            }
        )
    t_first = arrived + s.latency_s + s.ttft_s
    try:
        await writer.flush()
        await _sleep_until(t_first)
        writer.event(chunks.delta({"role": "assistant", "content": ""}))
        for n, (delta, ntok) in enumerate(events):
            if cut_after is not None and n >= cut_after:
                break
            if s.tokens_per_s > 0:
                target = t_first + chunks.done_tokens / s.tokens_per_s
                if target > time.monotonic() + 0.0005:
                    await writer.flush()
                    await _sleep_until(target)
            chunks.done_tokens += ntok
            writer.event(chunks.delta(delta))
        if cut_after is not None:
            await _end_with_fault(request, writer, state, d, chunks.delta)
            return resp
        final_delta: dict[str, Any] = {}
        if s.has("trailing_args") and rendered.tool_calls:
            final_delta = {"tool_calls": [{"index": 0, "function": {"arguments": ""}}]}
        writer.event(chunks.delta(final_delta, _finish(rendered, s), last=True))
        if chunks.include_usage:
            writer.event(chunks.usage())
        writer.done()
        await writer.flush()
        await resp.write_eof()
    except ConnectionError:
        return resp  # the client went away: nothing more to send
    state.faults.count("completed")
    return resp


async def _end_with_fault(request, writer: SSEWriter, state: SimState, d: Decision, chunk) -> None:
    """End a stream the faulty way chosen for it."""
    s = state.settings
    if d.fault == "drop":
        await writer.flush()
        _abort(request)
    err = error_body(s, 500, "Simulated internal error during generation", "InternalServerError")
    if "error" not in err:  # flat shape: still sent under "error" inside a stream
        err = {"error": err}
    if d.fault == "choice_error":
        obj = chunk({}, "error", last=True)
        obj["error"] = {"message": "Simulated upstream provider error", "code": 502}
        writer.event(obj)
    else:
        writer.event(err)
        if d.fault == "stream_error":
            writer.done()
    await writer.flush()
    await writer.resp.write_eof()


def _fragments(text: str, per_chunk: int) -> list[str]:
    from r1v4.sim.render import tokenize

    toks = tokenize(text)
    if not toks:
        return [text] if text else []
    return ["".join(toks[i : i + per_chunk]) for i in range(0, len(toks), per_chunk)]


# ------------------------------------------------------------------------------------ factory


async def _lifecycle(app: web.Application):
    """Cleanup context: the shutdown event that ends hanging requests promptly."""
    state = app[STATE]
    state.shutdown = asyncio.Event()
    if state.settings.max_num_seqs:
        state.slots = asyncio.Semaphore(state.settings.max_num_seqs)
    yield
    state.shutdown.set()
    for task in list(state.hanging):
        task.cancel()


async def _label(request: web.Request, response: web.StreamResponse) -> None:
    """Every response says it comes from a simulator."""
    response.headers["X-Simulator"] = FINGERPRINT


async def _on_shutdown(app: web.Application) -> None:
    state = app[STATE]
    if state.shutdown is not None:
        state.shutdown.set()


def create_app(settings: SimSettings | None = None) -> web.Application:
    """A fresh simulator app: its own state, scripts loaded (ScriptError on a bad file)."""
    settings = settings or SimSettings()
    rng = random.Random(settings.seed)
    state = SimState(
        settings=settings,
        scripts=load_scripts(settings.scripts),
        rng=rng,
        id_rng=random.Random(f"ids-{settings.seed}"),
        faults=FaultInjector(
            rng=rng,
            error_rate=settings.error_rate,
            drop_rate=settings.drop_rate,
            hang_rate=settings.hang_rate,
            rate_limit=settings.rate_limit,
            plan=settings.fault_plan,
            error_retry_after_s=settings.error_retry_after_s,
        ),
    )
    app = web.Application(client_max_size=int(settings.max_body_mb * 1024 * 1024))
    app[STATE] = state
    app.router.add_get("/health", health)
    app.router.add_get("/sim/stats", stats)
    for prefix in ("/v1", "/api/v1"):
        app.router.add_get(prefix + "/models", models)
        app.router.add_post(prefix + "/chat/completions", chat_completions)
    app.on_response_prepare.append(_label)
    app.cleanup_ctx.append(_lifecycle)
    app.on_shutdown.append(_on_shutdown)
    return app
