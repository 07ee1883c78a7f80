"""Each named real-world response shape (settings.QUIRKS, from ENDPOINTS.md) is really emitted,
and the text it carries is unchanged, so client tests can rely on them."""

from __future__ import annotations

import json
import re

import pytest
import requests

from r1v4.sim import QUIRKS, running_simulator
from r1v4.sim.sse import parse_sse

TURN = (
    '<think>Look closer.</think><tool_call>{"name": "code", "arguments": {"code": "x=1"}}'
    "</tool_call>"
)
SCRIPTS = [{"contains": "Q", "turns": [TURN]}]
MESSAGES = [{"role": "user", "content": "Q"}]


def fetch(quirk: str, *, stream: bool, structured: bool = False, reasoning="none", **extra):
    with running_simulator(
        scripts=SCRIPTS, quirks=[quirk], structured_tool_calls=structured, reasoning_field=reasoning
    ) as sim:
        resp = requests.post(
            sim.base_url + "/chat/completions",
            json={"messages": MESSAGES, "stream": stream, **extra},
            timeout=10,
        )
    return resp


def text_of(events: list) -> str:
    return "".join(c["delta"].get("content") or "" for e in events for c in e.get("choices") or [])


def middle_choices(events: list) -> list:
    """Choices of the content chunks (not the role, finish or usage chunks)."""
    return [c for e in events for c in e.get("choices") or [] if c["delta"].get("content")]


STREAM_CHECKS = {
    "keepalive": lambda raw, ev: b": OPENROUTER PROCESSING\n\n" in raw,
    "crlf": lambda raw, ev: b"\r\n\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""),
    "multiline_data": lambda raw, ev: re.search(rb"data: [^\n]*\ndata: ", raw) is not None,
    "split_writes": lambda raw, ev: len(ev) > 3,
    "usage_null": lambda raw, ev: all("usage" in e and e["usage"] is None for e in ev[:-1]),
    "continuous_usage": lambda raw, ev: (
        [e["usage"]["completion_tokens"] for e in ev[:3]] == [0, 1, 2]
    ),
    "force_usage": lambda raw, ev: ev[-1]["choices"] == [] and ev[-1]["usage"]["total_tokens"],
    "omit_finish_reason": lambda raw, ev: all("finish_reason" not in c for c in middle_choices(ev)),
    "empty_finish_reason": lambda raw, ev: all(
        c["finish_reason"] == "" for c in middle_choices(ev)
    ),
    "repeat_role": lambda raw, ev: all(
        c["delta"]["role"] == "assistant" for c in middle_choices(ev)
    ),
    "sglang_nulls": lambda raw, ev: all(
        c["delta"]["tool_calls"] is None for c in middle_choices(ev)
    ),
    "empty_choices_first": lambda raw, ev: (
        ev[0]["choices"] == [] and "prompt_filter_results" in ev[0]
    ),
    "extra_fields": lambda raw, ev: "metrics" in ev[1] and "matched_stop" in ev[1]["choices"][0],
    "id_hex16": lambda raw, ev: re.fullmatch(r"chatcmpl-[0-9a-f]{16}", ev[0]["id"]),
    "id_uuid": lambda raw, ev: re.fullmatch(r"chatcmpl-[0-9a-f-]{36}", ev[0]["id"]),
    "id_bare_hex": lambda raw, ev: re.fullmatch(r"[0-9a-f]{32}", ev[0]["id"]),
    "id_gen": lambda raw, ev: ev[0]["id"].startswith("gen-"),
    "null_fingerprint": lambda raw, ev: ev[0]["system_fingerprint"] is None,
    "stop_reason_token_id": lambda raw, ev: (
        [c["stop_reason"] for e in ev for c in e["choices"] if c.get("finish_reason")] == [151645]
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("quirk", sorted(STREAM_CHECKS))
def test_stream_quirk_is_emitted_and_text_intact(quirk):
    extra = {"stream_options": {"include_usage": True}} if quirk == "usage_null" else {}
    resp = fetch(quirk, stream=True, **extra)
    assert resp.status_code == 200
    events, done = parse_sse(resp.content)
    assert done
    assert text_of(events) == TURN
    assert STREAM_CHECKS[quirk](resp.content, events), quirk


def test_tool_call_quirks():
    events, _ = parse_sse(fetch("trailing_args", stream=True, structured=True).content)
    final = [c for e in events for c in e["choices"] if c.get("finish_reason")][0]
    assert final["delta"]["tool_calls"] == [{"index": 0, "function": {"arguments": ""}}]

    events, _ = parse_sse(fetch("sglang_nulls", stream=True, structured=True).content)
    calls = [tc for e in events for c in e["choices"] for tc in c["delta"].get("tool_calls") or []]
    assert calls[0]["function"]["name"] == "code"
    assert all(tc["id"] is None and tc["function"]["name"] is None for tc in calls[1:])
    assert json.loads("".join(tc["function"]["arguments"] for tc in calls)) == {"code": "x=1"}

    plain = fetch("id_gen", stream=False, structured=True, reasoning="reasoning")
    assert plain.json()["choices"][0]["message"]["content"] is None  # default: null
    msg = fetch("empty_string_content", stream=False, structured=True, reasoning="reasoning")
    assert msg.json()["choices"][0]["message"]["content"] == ""
    body = fetch("tools_finish_stop", stream=False, structured=True).json()
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["choices"][0]["message"]["tool_calls"]
    body = fetch("tool_calls_empty_list", stream=False).json()
    assert body["choices"][0]["message"]["tool_calls"] == []


@pytest.mark.parametrize("stream", [False, True])
def test_answer_in_reasoning_quirk(stream):
    resp = fetch("answer_in_reasoning", stream=stream, reasoning="reasoning")
    want = 'Look closer.<tool_call>{"name": "code", "arguments": {"code": "x=1"}}</tool_call>'
    if stream:
        events, done = parse_sse(resp.content)
        assert done and text_of(events) == ""
        reasoning = "".join(c["delta"].get("reasoning") or "" for e in events for c in e["choices"])
    else:
        msg = resp.json()["choices"][0]["message"]
        assert msg["content"] is None
        reasoning = msg["reasoning"]
    assert reasoning == want


@pytest.mark.parametrize("stream", [False, True])
def test_no_stop_reason_quirk_trims_the_stop_and_does_not_name_it(stream):
    resp = fetch("no_stop_reason", stream=stream, stop=["</tool_call>"])
    if stream:
        events, done = parse_sse(resp.content)
        text = text_of(events)
        final = [c for e in events for c in e["choices"] if c.get("finish_reason")][0]
    else:
        final = resp.json()["choices"][0]
        text = final["message"]["content"]
    assert text == TURN.removesuffix("</tool_call>")
    assert final["finish_reason"] == "stop" and final.get("stop_reason") is None


@pytest.mark.parametrize("stream", [False, True])
def test_stop_in_reasoning_quirk_cuts_the_reasoning_at_a_client_stop(stream):
    """vllm#52393: a stop string inside the reasoning ends the turn there, content empty."""
    resp = fetch("stop_in_reasoning", stream=stream, reasoning="reasoning", stop=["closer"])
    if stream:
        events, done = parse_sse(resp.content)
        reasoning = "".join(c["delta"].get("reasoning") or "" for e in events for c in e["choices"])
        content = text_of(events)
        final = [c for e in events for c in e["choices"] if c.get("finish_reason")][0]
    else:
        final = resp.json()["choices"][0]
        reasoning, content = final["message"]["reasoning"], final["message"]["content"]
    assert reasoning == "Look " and not content
    assert final["finish_reason"] == "stop" and final["stop_reason"] == "closer"


def test_error_shape_quirks():
    flat = fetch("flat_error", stream=False, messages=None)
    assert flat.status_code == 400
    assert flat.json()["object"] == "error" and flat.json()["code"] == 400
    assert flat.json()["param"] == "messages"
    stringy = fetch("string_error_code", stream=False, messages=None)
    assert stringy.json()["error"]["code"] == "400"


def test_every_quirk_is_tested():
    covered = set(STREAM_CHECKS) | {
        "trailing_args",
        "empty_string_content",
        "tools_finish_stop",
        "tool_calls_empty_list",
        "flat_error",
        "string_error_code",
        "answer_in_reasoning",
        "no_stop_reason",
        "stop_in_reasoning",
    }
    assert covered == set(QUIRKS)
