"""Proof that the simulator speaks the real protocol: the official `openai` client (test-only
dependency) calls it, sync and async, streaming and not, and parses every response."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

from r1v4.sim import running_simulator

TOOL_TURN = (
    '<think>Zoom first.</think><tool_call>{"name": "code", "arguments": '
    '{"code": "print(2)"}}</tool_call>'
)
SCRIPTS = [{"question": "Q1", "turns": [TOOL_TURN, "<think>ok</think><answer>42</answer>"]}]
MESSAGES = [{"role": "user", "content": [{"type": "text", "text": "Q1"}]}]


@pytest.fixture(scope="module")
def sim():
    with running_simulator(scripts=SCRIPTS, api_key="k-test") as handle:
        yield handle


def test_sync_nonstream_and_stream(sim):
    client = openai.OpenAI(base_url=sim.base_url, api_key="k-test", max_retries=0)
    try:
        models = client.models.list()
        assert [m.id for m in models.data] == ["r1v4-sim"]
        done = client.chat.completions.create(model="r1v4-sim", messages=MESSAGES)
        assert done.choices[0].message.content == TOOL_TURN
        assert done.choices[0].finish_reason == "stop"
        assert done.usage.completion_tokens > 0
        stream = client.chat.completions.create(
            model="r1v4-sim",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        text, usage, finish = "", None, None
        for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
        assert text == TOOL_TURN
        assert finish == "stop"
        assert usage.completion_tokens == done.usage.completion_tokens
        assert usage.prompt_tokens == done.usage.prompt_tokens
    finally:
        client.close()


def test_sync_errors_are_typed(sim):
    client = openai.OpenAI(base_url=sim.base_url, api_key="wrong", max_retries=0)
    try:
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model="m", messages=MESSAGES)
    finally:
        client.close()
    client = openai.OpenAI(base_url=sim.base_url, api_key="k-test", max_retries=0)
    try:
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="m", messages=[])
        assert info.value.status_code == 400
        assert "messages" in str(info.value)
    finally:
        client.close()


def test_async_both_modes(sim):
    async def go():
        async with openai.AsyncOpenAI(base_url=sim.base_url, api_key="k-test") as client:
            plain = await client.chat.completions.create(model="m", messages=MESSAGES)
            stream = await client.chat.completions.create(
                model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            text, usage = "", None
            async for chunk in stream:
                usage = chunk.usage or usage
                for choice in chunk.choices:
                    text += choice.delta.content or ""
            return plain, text, usage

    plain, text, usage = asyncio.run(go())
    assert plain.choices[0].message.content == text == TOOL_TURN
    assert usage.total_tokens == plain.usage.total_tokens


def test_openai_parses_tool_calls_and_reasoning():
    with running_simulator(
        scripts=SCRIPTS, structured_tool_calls=True, reasoning_field="both"
    ) as sim:
        client = openai.OpenAI(base_url=sim.base_url, api_key="none", max_retries=0)
        try:
            done = client.chat.completions.create(model="m", messages=MESSAGES)
            msg = done.choices[0].message
            assert done.choices[0].finish_reason == "tool_calls"
            assert msg.tool_calls[0].function.name == "code"
            assert json.loads(msg.tool_calls[0].function.arguments) == {"code": "print(2)"}
            assert msg.model_extra["reasoning_content"] == "Zoom first."
            assert msg.model_extra["reasoning"] == "Zoom first."
            calls: dict[int, dict] = {}
            reasoning, finish = "", None
            for chunk in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
                for choice in chunk.choices:
                    finish = choice.finish_reason or finish
                    reasoning += (choice.delta.model_extra or {}).get("reasoning") or ""
                    for tc in choice.delta.tool_calls or []:
                        slot = calls.setdefault(tc.index, {"name": None, "args": ""})
                        if tc.function and tc.function.name:
                            slot["name"] = tc.function.name
                        slot["args"] += (tc.function.arguments if tc.function else "") or ""
            assert finish == "tool_calls"
            assert reasoning == "Zoom first."
            assert calls[0]["name"] == "code"
            assert json.loads(calls[0]["args"]) == {"code": "print(2)"}
        finally:
            client.close()


@pytest.mark.slow
def test_openai_client_retries_through_injected_faults():
    # The official client retries 429/5xx itself: it must read our Retry-After and bodies.
    with running_simulator(fault_plan=["503", "429", "ok"]) as sim:
        client = openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=3)
        try:
            done = client.chat.completions.create(model="m", messages=MESSAGES)
        finally:
            client.close()
        assert done.choices[0].message.content
        assert sim.counters["error_503"] == 1 and sim.counters["rate_limited"] == 1
        assert len(sim.requests) == 3
