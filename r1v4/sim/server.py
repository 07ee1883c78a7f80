"""The simulator's aiohttp application: GET /health, GET /v1/models, POST /v1/chat/completions
(JSON and SSE) speaking the protocol the way vLLM does, plus GET /sim/stats for counters.

All state lives on the app (SimState under STATE, in state.py), none in module globals, so
several simulators can run in one process (aiohttp "No Singletons Please").

This module keeps the handlers, the fault and hang plumbing and the factory; request checks
live in validate.py, the answers in respond_json.py and respond_stream.py."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
import uuid
from typing import Any

import orjson
from aiohttp import web

from r1v4.sim.connection import abort, sleep_until
from r1v4.sim.faults import Decision, FaultInjector
from r1v4.sim.policy import Reply, choose_reply
from r1v4.sim.render import render
from r1v4.sim.request import request_id
from r1v4.sim.respond_json import FINGERPRINT, json_response, respond_json
from r1v4.sim.respond_stream import respond_stream
from r1v4.sim.scripts import load_scripts
from r1v4.sim.settings import SimSettings
from r1v4.sim.state import STATE, SimState
from r1v4.sim.validate import (
    BadRequest,
    check_auth,
    check_context,
    error_response,
    validate,
)

__all__ = ["OWNER", "create_app"]

OWNER = "r1v4-simulator"


# ------------------------------------------------------------------------------------- helpers


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


# ------------------------------------------------------------------------------------ handlers


async def health(request: web.Request) -> web.Response:
    return web.Response(status=200)


async def stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    with state.lock:
        n = len(state.requests)
    return json_response({"simulator": True, "counters": state.counters(), "requests_recorded": n})


async def models(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        check_auth(request, state.settings)
    except BadRequest as exc:
        state.faults.count("unauthorized")
        return error_response(state.settings, exc.status, exc.message, exc.kind, exc.param)
    s = state.settings
    name = s.model_id
    return json_response(
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
                    **({"max_model_len": s.max_model_len} if s.report_max_model_len else {}),
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
        knobs["prompt_tokens"] = check_context(body, knobs, s)
    except BadRequest as exc:
        state.faults.count({401: "unauthorized", 404: "not_found"}.get(exc.status, "bad_request"))
        return error_response(s, exc.status, exc.message, exc.kind, exc.param)

    headers = {k.lower(): v for k, v in request.headers.items()}
    reply = choose_reply(body, headers, state.scripts)
    if reply.script is not None:
        state.note_match(reply.script)
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
        structured_tool_calls=s.structured_tool_calls or (s.tool_parser and knobs["tools"]),
        stop=knobs["stops"],
        include_stop_str_in_output=knobs["include_stop"],
        max_tokens=knobs["max_tokens"],
        include_reasoning=knobs["include_reasoning"],
        enable_thinking=knobs["enable_thinking"],
        new_tool_id=lambda: "chatcmpl-tool-" + state.hex_id(32),
        answer_in_reasoning=s.has("answer_in_reasoning"),
        stop_in_reasoning=s.has("stop_in_reasoning"),
    )
    if knobs["named_tool_choice"] and rendered.finish_reason == "tool_calls":
        rendered.finish_reason = "stop"  # vLLM: a named tool_choice finishes with "stop"
    if s.has("no_stop_reason"):
        rendered.stop_reason = None
    if s.has("stop_reason_token_id") and rendered.stop_reason is None:
        rendered.stop_reason = 151645  # <|im_end|> of Qwen models: plain EOS
    meta = {
        "id": _completion_id(state, request_id(body, request.headers)),
        "created": int(time.time()),
        "model": body.get("model") or s.model_id,
        "prompt_tokens": knobs["prompt_tokens"],
    }
    if knobs["stream"]:
        return await respond_stream(request, state, rendered, meta, knobs, decision, arrived)
    return await respond_json(request, state, rendered, meta, decision, arrived, reply)


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
        await sleep_until(arrived + s.latency_s)
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
        return abort(request)
    return None


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
            throttle_rate=settings.throttle_rate,
            throttle_retry_after_s=settings.throttle_retry_after_s,
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
