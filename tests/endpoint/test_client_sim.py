"""ChatClient against the simulator: protocol parity between modes, and every request
completing under injected faults (errors, 429 + Retry-After, drops, hangs)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import r1v4.endpoint.retry as retry
from r1v4.endpoint.client import ChatClient, Completion, EndpointError, EndpointSettings
from r1v4.endpoint.concurrency import AdaptiveLimiter
from r1v4.sim import running_simulator

TOOL_TURN = (
    '<think>Need to zoom.</think><tool_call>{"name": "code", "arguments": {"code": '
    '"from PIL import Image\\nprint(Image.open(image_path).size)"}}</tool_call>'
)
ANSWER_TURN = "<think>It says 42.</think><answer>42</answer>"
SCRIPTS = [{"question": "zoom please", "turns": [TOOL_TURN, ANSWER_TURN]}]
ASK = [{"role": "user", "content": "zoom please"}]
AFTER_TOOL = [*ASK, {"role": "assistant", "content": TOOL_TURN},
              {"role": "user", "content": "<observation>(1, 1)</observation>"}]  # fmt: skip


def settings(*urls: str, **kw: Any) -> EndpointSettings:
    kw.setdefault("timeout_s", 5.0)
    return EndpointSettings(list(urls), api_key=kw.pop("api_key", None), model="r1v4-sim", **kw)


async def both_modes(url: str, messages: list[dict]) -> tuple[Completion, Completion, str]:
    async with ChatClient(settings(url)) as client:
        plain = await client.complete(messages, stream=False)
        pieces: list[str] = []
        streamed = await client.complete(messages, stream=True, on_delta=pieces.append)
    return plain, streamed, "".join(pieces)


@pytest.mark.slow
@pytest.mark.parametrize(
    "sim_kw",
    [
        {},
        {"reasoning_field": "reasoning_content", "structured_tool_calls": True},
        {
            "reasoning_field": "both",
            "structured_tool_calls": True,
            "quirks": ["keepalive", "crlf", "multiline_data", "split_writes", "sglang_nulls",
                       "trailing_args", "usage_null", "extra_fields", "empty_choices_first",
                       "repeat_role", "omit_finish_reason", "tools_finish_stop",
                       "stop_reason_token_id", "tool_calls_empty_list", "empty_string_content"],
        },
        {"reasoning_field": "reasoning", "quirks": ["continuous_usage", "empty_finish_reason",
                                                    "id_uuid", "null_fingerprint"]},
    ],
    ids=["text", "vllm-parsers", "every-quirk", "reasoning-continuous-usage"],
)  # fmt: skip
def test_stream_and_nonstream_fold_to_the_scripted_text(sim_kw: dict) -> None:
    with running_simulator(scripts=SCRIPTS, **sim_kw) as sim:
        plain, streamed, live = asyncio.run(both_modes(sim.base_url, ASK))
        plain2, streamed2, live2 = asyncio.run(both_modes(sim.base_url, AFTER_TOOL))
    assert plain.text == streamed.text == live == TOOL_TURN
    assert plain2.text == streamed2.text == live2 == ANSWER_TURN
    for done in (plain, streamed, plain2, streamed2):
        assert done.usage and done.usage["completion_tokens"] > 0
        assert done.attempts == 1 and not done.truncated
    assert streamed.ttft_s is not None and streamed.ttft_s <= streamed.latency_s


@pytest.mark.slow
def test_sim_fault_mix_every_request_completes() -> None:
    async def main(url: str) -> list[Completion]:
        s = settings(url, timeout_s=1.0, max_retries=8)
        async with ChatClient(s) as client:
            jobs = [client.complete(ASK, stream=bool(i % 2), request_id=f"r{i}") for i in range(40)]
            return await asyncio.gather(*jobs)

    with running_simulator(
        scripts=SCRIPTS, error_rate=0.25, drop_rate=0.15, hang_rate=0.05, seed=3
    ) as sim:
        done = asyncio.run(main(sim.base_url))
        counters = sim.counters
    assert [d.text for d in done] == [TOOL_TURN] * 40
    assert counters.get("dropped", 0) > 0 and counters.get("hung", 0) > 0
    assert counters.get("error_500", 0) + counters.get("error_503", 0) > 0
    assert sum(d.attempts for d in done) == counters["requests"]  # every retry accounted for


@pytest.mark.parametrize("fault", ["stream_error", "stream_error_no_done", "choice_error", "drop"])
def test_sim_in_body_faults_are_retried(fault: str) -> None:
    async def main(url: str) -> tuple[Completion, int]:
        restarts = 0

        def on_restart() -> None:
            nonlocal restarts
            restarts += 1

        async with ChatClient(settings(url)) as client:
            done = await client.complete(ASK, stream=True, on_restart=on_restart)
        return done, restarts

    with running_simulator(scripts=SCRIPTS, fault_plan=[fault]) as sim:
        done, _ = asyncio.run(main(sim.base_url))
    assert done.text == TOOL_TURN and done.attempts == 2


def test_retry_after_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 503 with Retry-After: 4 must wait at least 4 s (scaled by WAIT_SCALE), far more than
    the jittered backoff alone would (at most base_s=0.5 s, scaled)."""
    monkeypatch.setattr(retry, "WAIT_SCALE", 0.05)

    async def main(url: str) -> tuple[Completion, float]:
        async with ChatClient(settings(url)) as client:
            t = time.perf_counter()
            done = await client.complete(ASK, stream=False)
            return done, time.perf_counter() - t

    with running_simulator(scripts=SCRIPTS, fault_plan=["503"], error_retry_after_s=4) as sim:
        done, waited = asyncio.run(main(sim.base_url))
    assert done.attempts == 2
    assert waited >= 4 * 0.05

    with running_simulator(scripts=SCRIPTS, fault_plan=["429"]) as sim:  # Retry-After: 1
        done, waited = asyncio.run(main(sim.base_url))
    assert done.attempts == 2 and waited >= 1 * 0.05


@pytest.mark.slow
def test_rate_limited_sim_with_adaptive_limiter_completes_and_cuts_window() -> None:
    async def main(url: str) -> tuple[list[Completion], AdaptiveLimiter]:
        limiter = AdaptiveLimiter(max_concurrency=16, initial=8)
        async with ChatClient(settings(url, max_retries=20), limiter=limiter) as client:

            async def one(i: int) -> Completion:
                async with limiter:
                    return await client.complete(ASK, stream=bool(i % 2))

            return await asyncio.gather(*(one(i) for i in range(40))), limiter

    with running_simulator(scripts=SCRIPTS, rate_limit=20.0, latency_s=0.02) as sim:
        done, limiter = asyncio.run(main(sim.base_url))
        counters = sim.counters
    assert [d.text for d in done] == [TOOL_TURN] * 40
    assert counters.get("rate_limited", 0) > 0
    assert limiter.congested > 0 and limiter.cuts > 0


def test_wrong_model_and_wrong_key_against_the_sim() -> None:
    async def main(url: str) -> tuple[EndpointError, EndpointError]:
        async with ChatClient(settings(url, api_key="sk-bad-key-xyz")) as client:
            with pytest.raises(EndpointError) as check_err:
                await client.check()
            with pytest.raises(EndpointError) as call_err:
                await client.complete(ASK, stream=True)
        return check_err.value, call_err.value

    with running_simulator(scripts=SCRIPTS, api_key="sk-good-key-abc") as sim:
        check_err, call_err = asyncio.run(main(sim.base_url))
        requests = len(sim.requests)
    assert check_err.fatal and check_err.status == 401
    assert call_err.fatal and call_err.status == 401 and call_err.attempts == 1
    assert requests <= 1  # 401 is not retried
    assert "sk-bad-key-xyz" not in check_err.message + call_err.message


def test_a_replica_counts_each_attempt_while_it_runs_and_none_after() -> None:
    """`replica_stats` says what each replica is doing: an attempt is in flight on it for
    exactly as long as it runs, a failed one included (the retry's wait is not)."""
    scripts = [{"id": "bad", "turns": ["<answer>1</answer>"], "faults": ["500"] * 3}]
    with running_simulator(scripts=scripts, latency_s=0.5) as sim:

        async def go() -> list[int]:
            async with ChatClient(settings(sim.base_url, max_retries=1)) as client:
                seen: list[int] = []
                task = asyncio.create_task(client.complete(ASK, stream=False))
                await asyncio.sleep(0.05)  # the attempt began at once; its answer takes 0.5 s
                seen.append(client.replica_stats()[0]["in_flight"])
                await task
                seen.append(client.replica_stats()[0]["in_flight"])
                with pytest.raises(EndpointError):
                    await client.complete(ASK, stream=False, request_id="bad")
                stats = client.replica_stats()[0]
                return [*seen, stats["in_flight"], stats["requests"]]

        assert asyncio.run(go()) == [1, 0, 0, 3]
