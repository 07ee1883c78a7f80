"""ChatClient against `canned_endpoint`: a real aiohttp server on 127.0.0.1 that answers with
scripted bytes, for the ENDPOINTS.md cases the simulator does not produce (or not on demand)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from r1v4.endpoint.client import ChatClient, Completion, EndpointError, EndpointSettings

KEY = "sk-test-SECRET-0123456789"
MSGS = [{"role": "user", "content": "hi"}]


@dataclass
class Reply:
    """One scripted answer: status, headers, body pieces written as separate writes."""

    chunks: list[bytes] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/event-stream"})
    drop: bool = False  # close the connection after the chunks, mid-body
    hang_s: float = 0.0  # then say nothing for this long


@dataclass
class Canned:
    base_url: str
    seen: list[dict] = field(default_factory=list)


def sse(*objs: Any, done: bool = True, eol: str = "\n") -> list[bytes]:
    out = [f"data: {json.dumps(o)}{eol}{eol}".encode() for o in objs]
    if done:
        out.append(f"data: [DONE]{eol}{eol}".encode())
    return out


def chunk(delta: dict | None = None, finish: str | None = None, **extra: Any) -> dict:
    choice: dict[str, Any] = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [choice], **extra}


def json_reply(obj: Any, status: int = 200, **headers: str) -> Reply:
    return Reply(
        chunks=[json.dumps(obj).encode()],
        status=status,
        headers={"Content-Type": "application/json", **headers},
    )


def ok_stream(text: str = "fine") -> Reply:
    return Reply(sse(chunk({"role": "assistant", "content": text}), chunk({}, "stop")))


@contextlib.asynccontextmanager
async def canned_endpoint(
    replies: list[Reply] | Callable[[int], Reply], models: list[str] | None = None
) -> AsyncIterator[Canned]:
    """Serve scripted replies in order (the last one repeats) on a free loopback port."""
    handle = Canned(base_url="")

    async def chat(request: web.Request) -> web.StreamResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        handle.seen.append({"headers": headers, "body": await request.json()})
        n = len(handle.seen) - 1
        reply = replies(n) if callable(replies) else replies[min(n, len(replies) - 1)]
        resp = web.StreamResponse(status=reply.status, headers=reply.headers)
        await resp.prepare(request)
        for piece in reply.chunks:
            await resp.write(piece)
            await asyncio.sleep(0.002)  # separate reads on the client side
        if reply.hang_s:
            await asyncio.sleep(reply.hang_s)
        if reply.drop:
            assert request.transport is not None
            request.transport.close()
            return resp
        await resp.write_eof()
        return resp

    async def list_models(request: web.Request) -> web.Response:
        sent = request.headers.get("Authorization", "")
        if sent != f"Bearer {KEY}":
            msg = f"Incorrect API key provided: {sent[7:]}"  # echoes the key, as OpenAI does
            err = {"message": msg, "type": "invalid_request_error", "code": 401}
            return web.json_response({"error": err}, status=401)
        return web.json_response({"data": [{"id": m} for m in (models or ["m"])]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", list_models)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    handle.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield handle
    finally:
        await runner.cleanup()


def settings(*urls: str, key: str | None = KEY, **kw: Any) -> EndpointSettings:
    kw.setdefault("timeout_s", 5.0)
    kw.setdefault("max_retries", 3)
    return EndpointSettings(list(urls), api_key=key, model="m", **kw)


async def run_one(
    replies: list[Reply], *, stream: bool = True, **kw: Any
) -> tuple[Completion, Canned, list[str], int]:
    """Complete once; return the result, the server handle, deltas seen and restarts."""
    pieces: list[str] = []
    restarts = 0

    def on_restart() -> None:
        nonlocal restarts
        restarts += 1
        pieces.clear()

    async with canned_endpoint(replies) as srv:
        async with ChatClient(settings(srv.base_url)) as client:
            done = await client.complete(
                MSGS, stream=stream, on_delta=pieces.append, on_restart=on_restart, **kw
            )
    return done, srv, pieces, restarts


async def fail_one(replies: list[Reply], *, stream: bool = True, **kw: Any):
    async with canned_endpoint(replies) as srv:
        async with ChatClient(settings(srv.base_url)) as client:
            with pytest.raises(EndpointError) as info:
                await client.complete(MSGS, stream=stream, **kw)
    return info.value, srv


def no_key_anywhere(*things: Any) -> None:
    for thing in things:
        text = thing if isinstance(thing, str) else json.dumps(thing, default=repr)
        assert KEY not in text


# -- framing and chunk shapes -----------------------------------------------------------


def test_comments_crlf_multiline_data_split_json_and_usage_chunk() -> None:
    first = chunk({"role": "assistant", "content": ""}, usage=None)
    body = (
        b": OPENROUTER PROCESSING\r\n\r\n"
        + f"data: {json.dumps(first)}\r\n\r\n".encode()
        + b'data: {"id": "chatcmpl-1", "choices": [{"index": 0,\r\n'
        + 'data: "delta": {"content": "héllo 世界"}, "finish_reason": null}],\r\n'.encode()
        + b'data: "usage": null}\r\n\r\n'
        + b": keep-alive\r\n\r\n"
        + f"data: {json.dumps(chunk({'content': '!'}, 'stop', usage=None))}\r\n\r\n".encode()
        + b'data: {"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 3, '
        + b'"completion_tokens": 5, "total_tokens": 8}}\r\n\r\n'
        + b"data: [DONE]\r\n\r\n"
    )
    # Cut the bytes inside JSON, inside CRLF and inside a multi-byte character.
    cuts = [7, 40, 41, 120, body.index("世".encode()) + 1, len(body) - 3]
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    done, srv, deltas, restarts = asyncio.run(run_one([Reply(pieces)]))
    assert done.text == "héllo 世界!"
    assert "".join(deltas) == done.text
    assert done.usage == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    assert done.finish_reason == "stop" and not done.truncated and restarts == 0
    assert done.ttft_s is not None and done.tpot_s is not None
    assert done.raw["choices"][0]["message"]["content"] == "héllo 世界!"
    assert done.raw["usage"]["completion_tokens"] == 5


@pytest.mark.slow
@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_paced_and_unpaced_reads_agree_on_a_stream_cut_anywhere(eol: str) -> None:
    """With reads paced (the kernel gathering packets between reads) or not, a stream cut
    every 7 bytes (inside lines, CRLFs and UTF-8 characters) gives the same text, and the
    pieces a listener got join to it."""
    words = [f"w{i}é→ " for i in range(12)]
    events = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning_content": "ü "}),
        *(chunk({"content": w}) for w in words),
        chunk({}, "stop"),
        eol=eol,
    )
    body = b"".join(events)
    cut = Reply([body[i : i + 7] for i in range(0, len(body), 7)])

    async def main(interval: float) -> tuple[Completion, list[str]]:
        async with canned_endpoint([cut]) as srv:
            s = settings(srv.base_url, stream_read_interval_s=interval)
            pieces: list[str] = []
            async with ChatClient(s) as client:
                done = await client.complete(MSGS, stream=True, on_delta=pieces.append)
        return done, pieces

    for interval in (0.0, 0.05):
        done, pieces = asyncio.run(main(interval))
        assert done.text == "<think>ü </think>" + "".join(words), interval
        assert "".join(pieces) == done.text and done.finish_reason == "stop"


def test_request_shape_headers_and_extra_body() -> None:
    async def main() -> Canned:
        async with canned_endpoint([ok_stream(), json_reply(_message("x"))]) as srv:
            async with ChatClient(settings(srv.base_url)) as client:
                await client.complete(
                    MSGS,
                    stream=True,
                    stop=["</tool_call>"],
                    max_tokens=64,
                    temperature=0.2,
                    extra_body={"enable_search": True},
                    request_id="case-7",
                )
                await client.complete(MSGS, stream=False)
        return srv

    srv = asyncio.run(main())
    s, n = srv.seen
    assert s["body"]["stream"] is True
    assert s["body"]["stream_options"] == {"include_usage": True}
    assert s["body"]["stop"] == ["</tool_call>"] and s["body"]["max_tokens"] == 64
    assert s["body"]["temperature"] == 0.2 and s["body"]["enable_search"] is True
    assert s["body"]["model"] == "m" and s["body"]["messages"] == MSGS
    assert s["headers"]["x-request-id"] == "case-7"
    assert s["headers"]["authorization"] == f"Bearer {KEY}"
    assert s["headers"]["accept"] == "text/event-stream"
    # stream_options without stream:true is a 400 on vLLM: never sent.
    assert n["body"]["stream"] is False and "stream_options" not in n["body"]
    assert "stop" not in n["body"] and "x-request-id" not in n["headers"]


def test_empty_choices_extra_fields_unknown_finish_reason_missing_keys() -> None:
    chunks = sse(
        {"choices": [], "prompt_filter_results": [{"x": 1}]},  # Azure's first chunk
        {"choices": [{"delta": {"content": "a"}}]},  # no index, no finish_reason
        {"choices": [{"index": 0, "delta": {"content": "b", "role": "assistant"},
                      "finish_reason": "", "token_ids": [1], "matched_stop": None}],
         "obfuscation": "zz", "system_fingerprint": None},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "end_turn",
                      "stop_reason": 128008}]},
    )  # fmt: skip
    done, *_ = asyncio.run(run_one([Reply(chunks)]))
    assert done.text == "ab"
    assert done.finish_reason == "end_turn" and done.stop_reason == 128008
    assert done.usage is None


def test_json_body_to_a_stream_request_is_read_as_json() -> None:
    done, _, deltas, _ = asyncio.run(run_one([json_reply(_message("plain"))], stream=True))
    assert done.text == "plain" and done.finish_reason == "stop" and deltas == ["plain"]
    done, _, deltas, _ = asyncio.run(run_one([json_reply(_message("whole"))], stream=False))
    assert deltas == ["whole"] and done.ttft_s is None and done.raw["id"] == "chatcmpl-x"


# -- reasoning and tool calls -----------------------------------------------------------


def test_both_reasoning_fields_are_counted_once() -> None:
    chunks = sse(
        chunk({"reasoning": "think ", "reasoning_content": "think "}),
        chunk({"reasoning": "more", "reasoning_content": "more"}),
        chunk({"content": "answer"}),
        chunk({}, "stop"),
    )
    done, _, deltas, _ = asyncio.run(run_one([Reply(chunks)]))
    assert done.text == "<think>think more</think>answer"
    assert "".join(deltas) == done.text
    msg = {"reasoning": "r", "reasoning_content": "r", "content": "c"}
    done2, *_ = asyncio.run(run_one([json_reply(_message(msg))], stream=False))
    assert done2.text == "<think>r</think>c"


def test_reasoning_content_only_and_content_with_own_think_tag() -> None:
    msg = {"reasoning_content": "r", "content": "<think>r</think>c"}
    done, *_ = asyncio.run(run_one([json_reply(_message(msg))], stream=False))
    assert done.text == "<think>r</think>c"  # not wrapped twice
    chunks = sse(chunk({"content": "<think>x</think>"}), chunk({"reasoning": "x"}),
                 chunk({"content": "y"}, "stop"))  # fmt: skip
    done, _, deltas, _ = asyncio.run(run_one([Reply(chunks)]))
    assert done.text == "<think>x</think>y" and "".join(deltas) == done.text


def test_sglang_tool_call_deltas_fold_into_one_valid_call() -> None:
    tc = lambda **kw: {"tool_calls": [{"index": 0, **kw}]}  # noqa: E731
    chunks = sse(
        chunk({"role": "assistant", "content": "", "reasoning_content": "crop it",
               "tool_calls": None}),
        chunk(tc(id="call_1", type="function", function={"name": "code", "arguments": ""})),
        chunk(tc(id=None, function={"name": None, "arguments": '{"code": "print('})),
        chunk(tc(id="", function={"name": "", "arguments": '1)"}'})),
        chunk(tc(function={"arguments": ""}), "tool_calls"),  # vLLM's trailing ""
    )  # fmt: skip
    done, _, deltas, _ = asyncio.run(run_one([Reply(chunks)]))
    assert done.text == (
        '<think>crop it</think><tool_call>{"name": "code", "arguments": {"code": "print(1)"}}'
        "</tool_call>"
    )
    assert "".join(deltas) == done.text
    call = done.raw["choices"][0]["message"]["tool_calls"][0]
    assert call["id"] == "call_1" and call["function"]["name"] == "code"
    assert done.tool_call_errors == []


def test_sglang_null_delta_fields_and_reasoning_beside_content_fold_in_order() -> None:
    """SGLang sends every delta field, the unused ones null: such a token is plain content,
    while a delta that carries reasoning beside its content folds both, reasoning first."""
    nulls = {"role": None, "reasoning_content": None, "tool_calls": None}
    chunks = sse(
        chunk({"role": "assistant", "content": "", "reasoning_content": None}),
        chunk({**nulls, "content": None, "reasoning_content": "look "}),
        chunk({**nulls, "content": "A"}),
        chunk({**nulls, "content": "B", "reasoning_content": "again"}),
        chunk({**nulls, "content": "C"}, "stop", matched_stop=None),
    )
    done, _, deltas, _ = asyncio.run(run_one([Reply(chunks)]))
    assert done.text == "<think>look </think>A<think>again</think>BC"
    assert "".join(deltas) == done.text and done.finish_reason == "stop"


def test_two_tool_calls_by_index_and_empty_args_and_nonstream_shapes() -> None:
    chunks = sse(
        chunk({"tool_calls": [{"index": 1, "id": "b", "function": {"name": "text_search",
                                                                 "arguments": '{"queries"'}}]}),
        chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "web_visit"}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": ': ["q"]}'}}]}, "stop"),
    )  # fmt: skip
    done, *_ = asyncio.run(run_one([Reply(chunks)]))
    assert done.text == (
        '<tool_call>{"name": "web_visit", "arguments": {}}</tool_call>'
        '<tool_call>{"name": "text_search", "arguments": {"queries": ["q"]}}</tool_call>'
    )
    for calls in ([], None):
        msg = {"content": "", "tool_calls": calls}
        d, *_ = asyncio.run(run_one([json_reply(_message(msg))], stream=False))
        assert d.text == ""


def test_broken_tool_arguments_are_kept_verbatim_and_reported() -> None:
    msg = {"content": None, "tool_calls": [{"id": "functions.code:0", "type": "function",
           "function": {"name": "code", "arguments": '{"code": "x = 1",}'}}]}  # fmt: skip
    done, *_ = asyncio.run(run_one([json_reply(_message(msg))], stream=False))
    assert done.text == '<tool_call>{"name": "code", "arguments": {"code": "x = 1",}}</tool_call>'
    assert done.tool_call_errors and "code" in done.tool_call_errors[0]


# -- truncation, drops and in-stream errors ---------------------------------------------


def test_stream_without_done_or_finish_is_retried_from_the_start() -> None:
    cut = Reply(sse(chunk({"content": "partial "}), done=False))
    done, srv, deltas, restarts = asyncio.run(run_one([cut, ok_stream("whole")]))
    assert done.text == "whole"  # never glued to "partial "
    assert "".join(deltas) == "whole" and restarts == 1
    assert done.attempts == 2 and len(srv.seen) == 2


def test_finish_reason_without_done_is_complete() -> None:
    done, srv, *_ = asyncio.run(
        run_one([Reply(sse(chunk({"content": "ok"}), chunk({}, "length"), done=False))])
    )
    assert done.text == "ok" and done.finish_reason == "length" and len(srv.seen) == 1


def test_connection_dropped_mid_body_is_retried() -> None:
    drop = Reply(sse(chunk({"content": "half"}), done=False), drop=True)
    done, srv, deltas, restarts = asyncio.run(run_one([drop, ok_stream("full")]))
    assert done.text == "full" and restarts == 1 and len(srv.seen) == 2


def test_stream_that_keeps_dropping_raises_with_partial_text() -> None:
    cut = Reply(sse(chunk({"reasoning": "so far"}), done=False))
    err, srv = asyncio.run(fail_one([cut]))
    assert err.truncated and err.retryable and err.partial_text == "<think>so far"
    assert err.attempts == 4 and len(srv.seen) == 4  # 1 + max_retries
    assert "without [DONE]" in err.message and "4 attempts" in err.message
    done, *_ = asyncio.run(run_one([cut], allow_truncated=True))
    assert done.truncated and done.text == "<think>so far"


@pytest.mark.parametrize(
    "bad",
    [
        # vLLM: error event, then [DONE]
        sse(chunk({"content": "x"}), {"error": {"message": "engine died", "type":
            "InternalServerError", "code": 500}}),
        # OpenAI: error object, no [DONE]
        sse({"error": {"message": "engine died", "type": "server_error"}}, done=False),
        # OpenRouter: top-level error plus finish_reason "error"
        sse({"error": {"code": 502, "message": "engine died"}, "choices": [{"index": 0,
            "delta": {"content": ""}, "finish_reason": "error"}]}),
        # OpenRouter: error inside the choice
        sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "error",
            "error": {"code": 503, "message": "engine died"}}]}),
    ],
    ids=["vllm", "openai", "openrouter-top", "openrouter-choice"],
)  # fmt: skip
def test_errors_inside_a_200_stream_are_retried(bad: list[bytes]) -> None:
    done, srv, deltas, _ = asyncio.run(run_one([Reply(bad), ok_stream("recovered")]))
    assert done.text == "recovered" and len(srv.seen) == 2 and "".join(deltas) == "recovered"


def test_client_error_inside_stream_is_not_retried_and_keeps_server_message() -> None:
    bad = sse({"error": {"message": "At most 1 image(s) may be provided in one prompt.",
                         "type": "BadRequestError", "code": 400}})  # fmt: skip
    err, srv = asyncio.run(fail_one([Reply(bad)]))
    assert not err.retryable and len(srv.seen) == 1
    assert "At most 1 image(s)" in err.message


# -- HTTP errors ------------------------------------------------------------------------


def test_an_image_limit_400_is_its_own_kind_and_the_error_cannot_be_changed() -> None:
    """vLLM refuses too many images with a 400; the endpoint layer names that, so callers
    need not read the English of the message, and an error once raised stays as it was."""
    body = {"error": {"message": "At most 1 image(s) may be provided in one prompt.",
                      "type": "BadRequestError", "code": 400}}  # fmt: skip
    err, srv = asyncio.run(fail_one([json_reply(body, status=400)]))
    assert err.kind == "image_limit" and err.status == 400 and not err.retryable
    assert err.attempts == 1 and len(srv.seen) == 1
    with pytest.raises(AttributeError):
        err.attempts = 5  # type: ignore[misc]
    copy = err.with_attempt(2, "http://elsewhere/v1")
    assert (copy.attempts, copy.endpoint, copy.message) == (2, "http://elsewhere/v1", err.message)
    assert err.attempts == 1


def test_flat_error_body_with_python_repr_is_reported_not_retried() -> None:
    body = {"object": "error", "message": "[{'type': 'missing', 'loc': ('body', 'model')}] None",
            "type": "BadRequestError", "param": None, "code": 400}  # fmt: skip
    err, srv = asyncio.run(fail_one([json_reply(body, status=400)]))
    assert err.status == 400 and not err.retryable and not err.fatal
    assert "HTTP 400" in err.message and "'loc': ('body', 'model')" in err.message
    assert not err.message.endswith("None")
    assert len(srv.seen) == 1


def test_401_is_fatal_not_retried_and_the_key_is_redacted() -> None:
    body = {"error": {"message": f"Incorrect API key provided: {KEY}", "type":
            "invalid_request_error", "code": "invalid_api_key"}}  # fmt: skip
    err, srv = asyncio.run(fail_one([json_reply(body, status=401)]))
    assert err.status == 401 and err.fatal and not err.retryable and len(srv.seen) == 1
    assert "Incorrect API key provided" in err.message
    no_key_anywhere(err.message, str(err), repr(err), err.args)


def test_503_then_success_and_500_html_body() -> None:
    html = Reply([b"<html>Bad gateway</html>"], status=502, headers={"Content-Type": "text/html"})
    done, srv, *_ = asyncio.run(
        run_one([json_reply({"error": "busy"}, status=503), html, ok_stream("yes")])
    )
    assert done.text == "yes" and done.attempts == 3


def test_key_never_in_raw_or_text_even_when_the_server_echoes_it() -> None:
    echo = _message(f"your key is {KEY}")
    done, *_ = asyncio.run(run_one([json_reply(echo)], stream=False))
    no_key_anywhere(done.raw, done.text, repr(done))
    done, *_ = asyncio.run(run_one([Reply(sse(chunk({"content": KEY}, "stop")))]))
    no_key_anywhere(done.raw, done.text)
    s = settings("http://127.0.0.1:1/v1")
    no_key_anywhere(repr(s), str(s))


def test_sse_without_content_type_and_sglang_abort_is_retried() -> None:
    bare = Reply(sse(chunk({"content": "bare"}, "stop")), headers={})
    done, *_ = asyncio.run(run_one([bare]))
    assert done.text == "bare"
    abort = Reply(sse(chunk({"content": "x"}), chunk({}, "abort")))
    done, srv, deltas, restarts = asyncio.run(run_one([abort, ok_stream("again")]))
    assert done.text == "again" and restarts == 1 and len(srv.seen) == 2
    aborted = _message("x")
    aborted["choices"][0]["finish_reason"] = "abort"
    done, srv, *_ = asyncio.run(
        run_one([json_reply(aborted), json_reply(_message("y"))], stream=False)
    )
    assert done.text == "y" and len(srv.seen) == 2


def test_non_json_200_and_no_choices() -> None:
    junk = Reply([b"not json"], headers={"Content-Type": "application/json"})
    done, srv, *_ = asyncio.run(run_one([junk, json_reply(_message("ok"))], stream=False))
    assert done.text == "ok" and len(srv.seen) == 2
    err, srv = asyncio.run(fail_one([json_reply({"id": "x", "choices": []})], stream=False))
    assert "no choices" in err.message and len(srv.seen) == 1


# -- timeouts, replicas, check ----------------------------------------------------------


def free_closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_silent_stream_hits_the_read_timeout_and_is_retried() -> None:
    async def main() -> Completion:
        silent = Reply([b": waiting\n\n"], hang_s=1.0)
        async with canned_endpoint([silent, ok_stream("late")]) as srv:
            s = settings(srv.base_url, timeout_s=5.0, read_timeout_s=0.3)
            async with ChatClient(s) as client:
                return await client.complete(MSGS, stream=True)

    done = asyncio.run(main())
    assert done.text == "late" and done.attempts == 2


@pytest.mark.slow
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("timeout_s", "read_timeout_s", "limit_s"), [(0.6, None, 0.6), (2.5, 0.3, 0.3)]
)
def test_a_body_that_goes_silent_is_bounded_by_the_shorter_timeout(
    timeout_s: float, read_timeout_s: float | None, limit_s: float, stream: bool
) -> None:
    """With no read timeout, a body that stops halfway is given up at the total timeout
    (the client then sets no per-read timer at all); with a shorter read timeout, at that."""
    if stream:
        half = Reply(sse(chunk({"content": "par"}), done=False), hang_s=3.0)
    else:
        half = Reply([b'{"choices": ['], headers={"Content-Type": "application/json"}, hang_s=3.0)

    async def main() -> tuple[EndpointError, float]:
        async with canned_endpoint([half]) as srv:
            s = settings(srv.base_url, timeout_s=timeout_s, read_timeout_s=read_timeout_s)
            s.max_retries = 0
            async with ChatClient(s) as client:
                t0 = time.perf_counter()
                with pytest.raises(EndpointError) as failed:
                    await client.complete(MSGS, stream=stream)
                return failed.value, time.perf_counter() - t0

    err, took = asyncio.run(main())
    assert err.kind == "timeout" and err.retryable
    said = "stalled (read timeout)" if read_timeout_s else f"did not finish within {timeout_s}s"
    assert said in err.message, err.message
    assert err.partial_text == ("par" if stream else "")
    assert limit_s - 0.05 < took < limit_s + 1.2  # before the body would have ended (3 s)


@pytest.mark.slow
@pytest.mark.parametrize("interval", [0.05, 0.0])
def test_stream_that_stalls_after_its_first_tokens_hits_the_read_timeout(
    interval: float,
) -> None:
    """Once tokens flow, reads are paced and aiohttp's per-read timer is off: the pacer's
    own watch (or, unpaced, aiohttp's) still fails a body that goes silent (not the total
    timeout, nor the end of the body that comes later), keeping the partial text; a retry
    starts over."""
    stalled = Reply(sse(chunk({"content": "par"}), chunk({"content": "tial"}), done=False),
                    hang_s=2.0)  # fmt: skip

    async def main() -> tuple[EndpointError, Completion, list[str], list[int]]:
        async with canned_endpoint([stalled, stalled, ok_stream("whole")]) as srv:
            s = settings(srv.base_url, timeout_s=10.0, read_timeout_s=0.3, max_retries=0)
            s.stream_read_interval_s = interval
            async with ChatClient(s) as client:
                with pytest.raises(EndpointError) as failed:
                    await client.complete(MSGS, stream=True)
            pieces: list[str] = []
            restarts: list[int] = []
            s = settings(srv.base_url, timeout_s=10.0, read_timeout_s=0.3)
            s.stream_read_interval_s = interval
            async with ChatClient(s) as client:
                done = await client.complete(
                    MSGS,
                    stream=True,
                    on_delta=pieces.append,
                    on_restart=lambda: restarts.append(len(pieces)),
                )
        return failed.value, done, pieces, restarts

    err, done, pieces, restarts = asyncio.run(main())
    assert err.kind == "timeout" and "stalled (read timeout)" in err.message
    assert err.partial_text == "partial" and err.truncated
    assert done.text == "whole" and done.attempts == 2
    assert restarts and "".join(pieces[: restarts[0]]) == "partial"
    assert "".join(pieces[restarts[0] :]) == "whole"


def test_check_reports_refused_port_and_bad_key_as_fatal() -> None:
    async def main() -> tuple[EndpointError, EndpointError, list[str], list[dict]]:
        port = free_closed_port()
        closed = f"http://127.0.0.1:{port}/v1"
        async with ChatClient(settings(closed)) as client:
            with pytest.raises(EndpointError) as refused:
                await client.check()
        async with canned_endpoint([ok_stream()], models=["other"]) as srv:
            async with ChatClient(settings(srv.base_url, key="sk-wrong-key-42")) as client:
                with pytest.raises(EndpointError) as badkey:
                    await client.check()
            async with ChatClient(settings(srv.base_url, closed)) as client:
                warnings = await client.check()
                for _ in range(3):
                    await client.complete(MSGS, stream=True)
                stats = client.replica_stats()
        return refused.value, badkey.value, warnings, stats

    refused, badkey, warnings, stats = asyncio.run(main())
    assert refused.message.startswith("cannot reach http://127.0.0.1:")
    assert refused.fatal and "connection refused" in refused.message
    assert badkey.fatal and badkey.status == 401 and "401" in badkey.message
    assert "sk-wrong-key-42" not in badkey.message
    assert any("'m' is not listed" in w for w in warnings)
    assert any("connection refused" in w for w in warnings)
    assert stats[1]["benched"] and stats[1]["requests"] == 0  # never tried: benched at check
    assert stats[0]["requests"] == 3


def test_replicas_one_closed_all_requests_complete_on_the_other() -> None:
    async def main() -> tuple[list[Completion], list[dict]]:
        closed = f"http://127.0.0.1:{free_closed_port()}/v1"
        async with canned_endpoint([ok_stream("ok")]) as srv:
            s = settings(closed, srv.base_url, replica_fail_threshold=2, max_retries=2)
            async with ChatClient(s) as client:
                done = await asyncio.gather(
                    *(client.complete(MSGS, stream=True) for _ in range(12))
                )
                return list(done), client.replica_stats()

    done, stats = asyncio.run(main())
    assert [d.text for d in done] == ["ok"] * 12
    assert stats[0]["failures"] >= 2 and stats[0]["benched"]
    assert stats[1]["requests"] == 12 and stats[1]["failures"] == 0
    assert all(d.endpoint == stats[1]["base_url"] for d in done)


def test_replica_refusing_our_key_is_set_aside_not_fatal_while_another_works() -> None:
    refuse = json_reply({"error": {"message": "bad key", "code": 401}}, status=401)

    async def main() -> tuple[list[Completion], list[dict]]:
        async with canned_endpoint([refuse]) as bad, canned_endpoint([ok_stream("ok")]) as good:
            async with ChatClient(settings(bad.base_url, good.base_url)) as client:
                done = [await client.complete(MSGS, stream=True) for _ in range(5)]
                return done, client.replica_stats()

    done, stats = asyncio.run(main())
    assert [d.text for d in done] == ["ok"] * 5
    assert stats[0]["benched"] and stats[0]["requests"] == 1
    assert stats[1]["requests"] == 5


def test_session_is_closed_when_the_block_ends() -> None:
    async def main() -> None:
        async with canned_endpoint([ok_stream()]) as srv:
            client = ChatClient(settings(srv.base_url))
            with pytest.raises(RuntimeError):
                await client.complete(MSGS, stream=True)
            async with client:
                session = client.transport.session
                await client.complete(MSGS, stream=True)
            assert session is not None and session.closed and client.transport.session is None

    asyncio.run(main())


def _message(msg: dict | str) -> dict:
    if isinstance(msg, str):
        msg = {"role": "assistant", "content": msg}
    return {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def test_check_wrong_path_is_fatal_with_a_hint() -> None:
    async def main() -> EndpointError:
        async with canned_endpoint([ok_stream()]) as srv:
            wrong = srv.base_url.replace("/v1", "/api")
            async with ChatClient(settings(wrong)) as client:
                with pytest.raises(EndpointError) as info:
                    await client.check()
        return info.value

    err = asyncio.run(main())
    assert err.fatal and err.status == 404 and "end in /v1" in err.message


def test_retry_log_lines_never_hold_the_key(caplog: pytest.LogCaptureFixture) -> None:
    echo = json_reply({"error": {"message": f"overloaded, key {KEY}", "code": 503}}, status=503)
    with caplog.at_level("DEBUG", logger="r1v4.endpoint.client"):
        done, *_ = asyncio.run(run_one([echo, ok_stream("ok")]))
    assert done.text == "ok"
    assert "overloaded, key [redacted]" in caplog.text
    assert KEY not in caplog.text


def test_openai_ratelimit_reset_header_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    import r1v4.endpoint.retry as retry

    monkeypatch.setattr(retry, "WAIT_SCALE", 0.05)
    limited = json_reply(
        {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit"}},
        status=429,
        **{"x-ratelimit-reset-requests": "4s", "x-ratelimit-reset-tokens": "0m6s"},
    )

    async def main() -> tuple[Completion, float]:
        async with canned_endpoint([limited, json_reply(_message("ok"))]) as srv:
            async with ChatClient(settings(srv.base_url)) as client:
                t = time.perf_counter()
                done = await client.complete(MSGS, stream=False)
                return done, time.perf_counter() - t

    done, waited = asyncio.run(main())
    assert done.text == "ok" and done.attempts == 2
    assert waited >= 6 * 0.05  # the longer of the two resets, scaled
