"""The simulator speaks chat completions the way vLLM does: JSON and SSE carry the same text and
usage, stop sequences, max_tokens, reasoning fields, structured tool calls, errors."""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
import requests
from PIL import Image

from r1v4.sim import SimSettings, running_simulator
from r1v4.sim.sse import parse_sse

TOOL_TURN = (
    '<think>I should zoom in.</think><tool_call>{"name": "code", "arguments": '
    '{"code": "print(1)"}}</tool_call>'
)
ANSWER_TURN = "<think>The crop shows a red square.</think><answer>A red square.</answer>"
SCRIPTS = [
    {"question": "What colour is the square?", "turns": [TOOL_TURN, ANSWER_TURN]},
    {"contains": "MAGIC-WORD", "turns": ["<think>magic</think><answer>found it</answer>"]},
]


def png_data_url(width: int = 64, height: int = 48) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def user(text: str, image: str | None = None) -> dict:
    parts = [{"type": "image_url", "image_url": {"url": image}}] if image else []
    return {"role": "user", "content": [*parts, {"type": "text", "text": text}]}


def post(sim, body: dict, **kw) -> requests.Response:
    return requests.post(sim.base_url + "/chat/completions", json=body, timeout=10, **kw)


def assemble(resp: requests.Response) -> dict:
    """Fold a stream into the non-stream message shape (a tiny client, for comparison)."""
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    events, done = parse_sse(resp.content)
    msg = {"content": "", "reasoning_content": "", "reasoning": "", "tool_calls": {}}
    out = {
        "done": done,
        "finish_reason": None,
        "stop_reason": None,
        "usage": None,
        "events": events,
    }
    for ev in events:
        if ev.get("usage") is not None and not ev["choices"]:
            out["usage"] = ev["usage"]
        for ch in ev["choices"]:
            d = ch["delta"]
            for key in ("content", "reasoning_content", "reasoning"):
                msg[key] += d.get(key) or ""
            for tc in d.get("tool_calls") or []:
                slot = msg["tool_calls"].setdefault(tc["index"], {"args": ""})
                if tc.get("id"):
                    slot["id"] = tc["id"]
                    slot["name"] = tc["function"]["name"]
                slot["args"] += tc["function"].get("arguments") or ""
            if ch.get("finish_reason"):
                out["finish_reason"] = ch["finish_reason"]
                out["stop_reason"] = ch.get("stop_reason")
    out["message"] = msg
    return out


@pytest.fixture(scope="module")
def sim():
    with running_simulator(scripts=SCRIPTS) as handle:
        yield handle


def test_health_and_models(sim):
    assert requests.get(sim.url + "/health", timeout=5).status_code == 200
    models = requests.get(sim.base_url + "/models", timeout=5).json()
    assert models["object"] == "list"
    assert models["data"][0]["id"] == "r1v4-sim"
    assert models["data"][0]["owned_by"] == "r1v4-simulator"


def test_json_and_sse_give_same_text_and_usage(sim):
    body = {"model": "m", "messages": [user("What colour is the square?")]}
    plain = post(sim, body).json()
    streamed = assemble(
        post(sim, {**body, "stream": True, "stream_options": {"include_usage": True}})
    )
    assert plain["choices"][0]["message"]["content"] == TOOL_TURN
    assert streamed["message"]["content"] == TOOL_TURN
    assert streamed["done"] is True
    assert plain["usage"] == streamed["usage"]
    assert plain["usage"]["completion_tokens"] > 5
    assert plain["usage"]["total_tokens"] == (
        plain["usage"]["prompt_tokens"] + plain["usage"]["completion_tokens"]
    )
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{32}", plain["id"])
    assert plain["object"] == "chat.completion"
    assert plain["system_fingerprint"] == "r1v4-simulator"
    assert isinstance(plain["created"], int)
    # Streamed chunks: first delta is the role, one id for the whole stream, token-sized deltas.
    first = streamed["events"][0]["choices"][0]["delta"]
    assert first == {"role": "assistant", "content": ""}
    assert len({e["id"] for e in streamed["events"]}) == 1
    assert streamed["events"][0]["object"] == "chat.completion.chunk"
    n_content = sum(
        1 for e in streamed["events"] for c in e["choices"] if c["delta"].get("content")
    )
    assert n_content == plain["usage"]["completion_tokens"]


def test_turn_k_follows_assistant_messages(sim):
    messages = [
        user("What colour is the square?"),
        {"role": "assistant", "content": TOOL_TURN},
        {"role": "user", "content": "<observation>done</observation>"},
    ]
    reply = post(sim, {"messages": messages}).json()
    assert reply["choices"][0]["message"]["content"] == ANSWER_TURN
    reply = post(
        sim, {"messages": [{"role": "system", "content": "sys"}, user("please MAGIC-WORD now")]}
    ).json()
    assert (
        reply["choices"][0]["message"]["content"] == "<think>magic</think><answer>found it</answer>"
    )


@pytest.mark.parametrize("stream", [False, True])
def test_stop_sequences(sim, stream):
    body = {
        "messages": [user("What colour is the square?")],
        "stream": stream,
        "stop": ["</tool_call>", "</answer>"],
    }
    if stream:
        got = assemble(post(sim, body))
        text, finish, reason = got["message"]["content"], got["finish_reason"], got["stop_reason"]
    else:
        choice = post(sim, body).json()["choices"][0]
        text, finish = choice["message"]["content"], choice["finish_reason"]
        reason = choice["stop_reason"]
    assert text == TOOL_TURN.removesuffix("</tool_call>")
    assert (finish, reason) == ("stop", "</tool_call>")
    # A single string works too, and include_stop_str_in_output keeps the stop string.
    body.update(stop="square", include_stop_str_in_output=True)
    body["messages"] = [
        user("What colour is the square?"),
        {"role": "assistant", "content": TOOL_TURN},
        {"role": "user", "content": "<observation>obs</observation>"},
    ]
    if stream:
        text = assemble(post(sim, body))["message"]["content"]
    else:
        text = post(sim, body).json()["choices"][0]["message"]["content"]
    assert text == "<think>The crop shows a red square"


@pytest.mark.parametrize("stream", [False, True])
def test_max_tokens_truncates_with_length(sim, stream):
    body = {
        "messages": [user("What colour is the square?")],
        "max_tokens": 3,
        "stream": stream,
        "stream_options": {"include_usage": True} if stream else None,
    }
    if stream:
        got = assemble(post(sim, body))
        text, finish, usage = got["message"]["content"], got["finish_reason"], got["usage"]
    else:
        data = post(sim, body).json()
        text, finish = data["choices"][0]["message"]["content"], data["choices"][0]["finish_reason"]
        usage = data["usage"]
    assert finish == "length"
    assert usage["completion_tokens"] == 3
    assert TOOL_TURN.startswith(text) and 0 < len(text) < 20


def test_without_include_usage_no_usage_chunk(sim):
    got = assemble(post(sim, {"messages": [user("x")], "stream": True}))
    assert got["usage"] is None
    assert all(e["choices"] for e in got["events"])


@pytest.mark.parametrize("mode", ["reasoning_content", "reasoning", "both"])
def test_reasoning_field_modes(mode):
    with running_simulator(scripts=SCRIPTS, reasoning_field=mode) as sim:
        body = {
            "messages": [
                user("What colour is the square?"),
                {"role": "assistant", "content": TOOL_TURN},
                {"role": "user", "content": "<observation>obs</observation>"},
            ]
        }
        msg = post(sim, body).json()["choices"][0]["message"]
        got = assemble(post(sim, {**body, "stream": True}))["message"]
    want = "The crop shows a red square."
    fields = {"reasoning_content", "reasoning"} if mode == "both" else {mode}
    for name in ("reasoning_content", "reasoning"):
        if name in fields:
            assert msg[name] == want and got[name] == want
        else:
            assert name not in msg and got[name] == ""
    assert msg["content"] == "<answer>A red square.</answer>" == got["content"]


@pytest.mark.parametrize("stream", [False, True])
def test_structured_tool_calls_reassemble(stream):
    with running_simulator(
        scripts=SCRIPTS, structured_tool_calls=True, reasoning_field="reasoning_content"
    ) as sim:
        body = {"messages": [user("What colour is the square?")], "stream": stream}
        if stream:
            got = assemble(post(sim, body))
            calls = [
                {"id": c["id"], "name": c["name"], "arguments": c["args"]}
                for c in got["message"]["tool_calls"].values()
            ]
            content, finish = got["message"]["content"], got["finish_reason"]
            reasoning = got["message"]["reasoning_content"]
            later = [
                tc
                for e in got["events"]
                for c in e["choices"]
                for tc in c["delta"].get("tool_calls") or []
                if "id" not in tc
            ]
            assert later and all(set(tc) == {"index", "function"} for tc in later)
        else:
            choice = post(sim, body).json()["choices"][0]
            calls = [
                {
                    "id": c["id"],
                    "name": c["function"]["name"],
                    "arguments": c["function"]["arguments"],
                }
                for c in choice["message"]["tool_calls"]
            ]
            assert all(c["type"] == "function" for c in choice["message"]["tool_calls"])
            content, finish = choice["message"]["content"], choice["finish_reason"]
            reasoning = choice["message"]["reasoning_content"]
    assert finish == "tool_calls"
    assert not content
    assert reasoning == "I should zoom in."
    assert len(calls) == 1 and calls[0]["name"] == "code"
    assert json.loads(calls[0]["arguments"]) == {"code": "print(1)"}
    assert calls[0]["id"].startswith("chatcmpl-tool-")


def test_named_tool_choice_finishes_with_stop():
    with running_simulator(scripts=SCRIPTS, structured_tool_calls=True) as sim:
        tools = [{"type": "function", "function": {"name": "code", "parameters": {}}}]
        body = {
            "messages": [user("What colour is the square?")],
            "tools": tools,
            "tool_choice": {"type": "function", "function": {"name": "code"}},
        }
        choice = post(sim, body).json()["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["tool_calls"]


def test_structured_tool_call_survives_stop_string():
    with running_simulator(scripts=SCRIPTS, structured_tool_calls=True) as sim:
        body = {"messages": [user("What colour is the square?")], "stop": ["</tool_call>"]}
        choice = post(sim, body).json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"])["code"]
    assert choice["message"]["content"] == "<think>I should zoom in.</think>"


@pytest.mark.parametrize(
    "body, param, needle",
    [
        ({}, "messages", "'messages' is required"),
        ({"messages": []}, "messages", "non-empty"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role", "role"),
        (
            {"messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages[0].content[0].type",
            "'text' or 'image_url'",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0].image_url.url",
            "data: URLs",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image_url",
                                "image_url": {"url": "data:image/png;base64,AAAA"},
                            }
                        ],
                    }
                ]
            },
            "messages[0].content[0].image_url.url",
            "cannot read image",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
            "messages[0].content[0].text",
            "must be a string",
        ),
        (
            {
                "messages": [{"role": "user", "content": "x"}],
                "stream_options": {"include_usage": True},
            },
            "stream_options",
            "stream=True",
        ),
        ({"messages": [{"role": "user", "content": "x"}], "stop": 7}, "stop", "stop"),
        (
            {"messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
            "max_tokens",
            "positive",
        ),
        ({"messages": [{"role": "user", "content": "x"}], "tools": []}, "tools", "non-empty"),
        (
            {"messages": [{"role": "user", "content": "x"}], "stream": True, "prompt_logprobs": 1},
            "prompt_logprobs",
            "stream=True",
        ),
        (
            {"messages": [{"role": "user", "content": "x"}], "chat_template": "{{ x }}"},
            "chat_template",
            "--trust-request-chat-template",
        ),
        (
            {"messages": [{"role": "user", "content": "x"}], "continue_final_message": True},
            "continue_final_message",
            "add_generation_prompt",
        ),
        (
            {"messages": [{"role": "user", "content": "x"}], "tool_choice": "auto"},
            "tool_choice",
            "`tools` must be set",
        ),
    ],
)
def test_bad_requests_name_the_field(sim, body, param, needle):
    resp = post(sim, body)
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert err["code"] == 400 and err["type"] == "BadRequestError"
    assert err["param"] == param
    assert needle in err["message"]


def test_invalid_json_body(sim):
    resp = requests.post(
        sim.base_url + "/chat/completions",
        data=b"{nope",
        timeout=5,
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 400
    assert "Invalid JSON" in resp.json()["error"]["message"]


def test_api_key_and_unknown_model():
    with running_simulator(
        api_key="sekret", model="skywork/r1v4-lite", max_images_per_prompt=1
    ) as sim:
        body = {"model": "skywork/r1v4-lite", "messages": [user("hi")]}
        resp = post(sim, body, headers={"Authorization": "Bearer wrong"})
        assert resp.status_code == 401 and resp.json()["error"]["code"] == 401
        assert requests.get(sim.base_url + "/models", timeout=5).status_code == 401
        ok = {"Authorization": "Bearer sekret"}
        listed = requests.get(sim.base_url + "/models", headers=ok, timeout=5).json()
        assert [m["id"] for m in listed["data"]] == ["skywork/r1v4-lite"]
        assert post(sim, body, headers=ok).status_code == 200
        resp = post(sim, {**body, "model": "other"}, headers=ok)
        assert resp.status_code == 404
        err = resp.json()["error"]
        assert (err["param"], err["type"]) == ("model", "NotFoundError")
        assert "`other` does not exist" in err["message"]
        two = {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": png_data_url()}},
                {"type": "image_url", "image_url": {"url": png_data_url()}},
                {"type": "text", "text": "two"},
            ],
        }
        resp = post(sim, {**body, "messages": [two]}, headers=ok)
        assert resp.status_code == 400
        assert "At most 1 image(s)" in resp.json()["error"]["message"]
        assert sim.counters["unauthorized"] == 2 and sim.counters["not_found"] == 1


def test_requests_are_recorded_in_order(sim):
    before = len(sim.requests)
    post(sim, {"messages": [user("first")]})
    post(sim, {"messages": [user("second")], "stream": True})
    bodies = sim.requests[before:]
    assert [b["messages"][0]["content"][0]["text"] for b in bodies] == ["first", "second"]


def test_image_prompt_tokens_count_the_image(sim):
    small = post(sim, {"messages": [user("q", png_data_url(28, 28))]}).json()["usage"]
    large = post(sim, {"messages": [user("q", png_data_url(560, 560))]}).json()["usage"]
    assert large["prompt_tokens"] - small["prompt_tokens"] == 400 - 4


def test_settings_reject_bad_values():
    with pytest.raises(ValueError, match="reasoning_field"):
        SimSettings(reasoning_field="thoughts")
    with pytest.raises(ValueError, match="error_rate"):
        SimSettings(error_rate=2)
    with pytest.raises(ValueError, match="quirks"):
        SimSettings(quirks=["nope"])


@pytest.mark.slow
def test_latency_model_paces_both_modes():
    # Lower bounds only (sleeps guarantee them); no upper-bound timing assertions.
    import time

    with running_simulator(scripts=SCRIPTS, latency_s=0.1, ttft_s=0.1, tokens_per_s=100) as sim:
        body = {"messages": [user("What colour is the square?")]}
        t0 = time.monotonic()
        n = post(sim, body).json()["usage"]["completion_tokens"]
        assert time.monotonic() - t0 >= 0.2 + (n - 1) / 100
        t0 = time.monotonic()
        arrivals = []
        with requests.post(
            sim.base_url + "/chat/completions",
            json={**body, "stream": True},
            stream=True,
            timeout=10,
        ) as resp:
            for line in resp.iter_lines():
                if line.startswith(b"data: {") and b'"content":"' in line:
                    arrivals.append(time.monotonic() - t0)
        content = arrivals[1:]  # after the role chunk
        assert arrivals[0] >= 0.2  # latency + ttft before the first token
        assert content[-1] - arrivals[0] >= (n - 2) / 100  # decode pacing


def test_too_large_body_is_413():
    with running_simulator(max_body_mb=0.001) as sim:
        resp = post(sim, {"messages": [user("x" * 5000)]})
    assert resp.status_code == 413
    assert "too large" in resp.json()["error"]["message"]


def test_id_follows_x_request_id_like_vllm(sim):
    body = {"messages": [user("x")]}
    got = post(sim, body, headers={"X-Request-Id": "case-9-2"}).json()
    assert got["id"] == "chatcmpl-case-9-2"
    events, _ = parse_sse(post(sim, {**body, "stream": True, "request_id": "r-1"}).content)
    assert {e["id"] for e in events} == {"chatcmpl-r-1"}
