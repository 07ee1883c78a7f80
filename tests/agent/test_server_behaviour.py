"""What real servers do that the loop must survive (MODELS.md 2.4-2.7), through the batch path
against the simulator: a client stop string that fires inside the reasoning, a Thinking
model whose reply starts inside the think, and a conversation that outgrows the context
window (both vLLM wordings of the 400, and `max_model_len` from /v1/models)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from r1v4.agent.dialects.r1v4 import DIALECT as R1V4
from r1v4.parsing import final_answer, parse_full_response, read_turn
from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, write_jsonl
from tests.helpers.dialect_cases import batch, one_case

CODE_CALL = '<tool_call>{"name": "code", "arguments": {"code": "print(6 * 7)"}}</tool_call>'
QUESTION = "What is six times seven?"


def case(workdir: Path) -> None:
    write_jsonl(workdir / "cases.jsonl", [{"id": "m", "question": QUESTION, "answer": "42"}])


# -- stops inside the reasoning ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("server", ["no-parser", "reasoning-parser-bug"])
def test_a_stop_that_fires_inside_the_think_is_asked_again_not_taken_as_the_answer(
    workdir: Path, server: str
) -> None:
    """The think mentions the answer format; the server cuts the turn at its </answer>."""
    case(workdir)
    turns = [
        "<think>The final reply goes in <answer>...</answer>, but first I compute it with "
        f"code.</think>\n{CODE_CALL}",
        "<think>The code printed 42.</think>\n<answer>42</answer>",
    ]
    knobs = {"reasoning_field": "reasoning", "quirks": ["stop_in_reasoning"]}
    with running_simulator(
        scripts=[{"question": QUESTION, "turns": turns}],
        **(knobs if server == "reasoning-parser-bug" else {}),
    ) as sim:
        assert batch(sim, "nonstream") == 0
        requests = list(sim.requests)
    record = read_jsonl(workdir / "out.jsonl")[0]
    # Turn 0 was cut at the </answer> inside the think, so it was asked again without it.
    assert len(requests) == 3
    assert "</answer>" in requests[0]["stop"] and "</answer>" not in requests[1]["stop"]
    assert requests[0]["messages"] == requests[1]["messages"]
    assert record["meta"]["false_stops"] == 1
    assert record["meta"]["tool_calls"] == {"code": 1}
    assert "42" in json.dumps(requests[2]["messages"][-1])  # the code's output came back
    assert final_answer(record["response"]["full_response"]) == "42"
    assert record["score"]["correct"] is True


# -- replies that start inside the think ------------------------------------------------------


def test_a_reply_without_think_tags_is_all_reasoning_for_a_thinking_template() -> None:
    cut = "The sign is small. I must not answer <answer>47"  # cut at a stop inside the think
    stops = list(R1V4.stops)
    as_instruct = read_turn(cut, "</answer>", stops, ends_turn=R1V4.ends_turn)
    as_thinking = read_turn(cut, "</answer>", stops, ends_turn=R1V4.ends_turn, in_think=True)
    assert as_instruct.kind == "answer"  # an Instruct model did answer
    assert as_thinking.kind == "false_stop"  # a Thinking model was still reasoning
    headless = "I zoomed and read 47. Maybe <answer>1</answer>? No.</think>\n<answer>47</answer>"
    end = read_turn(headless, "</answer>", stops, ends_turn=R1V4.ends_turn, in_think=True)
    assert end.kind == "answer" and end.text.endswith("</think>\n<answer>47</answer>")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["nonstream", "stream"])
def test_a_thinking_model_whose_reply_starts_inside_the_think_is_read_right(
    workdir: Path, mode: str
) -> None:
    case(workdir)
    turns = [
        "I need the product; I will not write <answer>36</answer> from memory, I will compute "
        f"it.</think>\n{CODE_CALL}",
        "The code printed 42, so the answer is 42.</think>\n<answer>42</answer>",
    ]
    with running_simulator(scripts=[{"question": QUESTION, "turns": turns}]) as sim:
        # The model's name says Thinking: its template opens <think> in the prompt.
        assert batch(sim, mode, "--model", "Qwen3-VL-30B-A3B-Thinking") == 0
        requests = list(sim.requests)
    record = read_jsonl(workdir / "out.jsonl")[0]
    assert len(requests) == 3 and record["meta"]["false_stops"] == 1
    assert record["meta"]["tool_calls"] == {"code": 1}
    # The 36 inside the think never ended the case: the call after it ran, then 42.
    rounds = parse_full_response(record["response"]["full_response"])["rounds"]
    assert [r["tool_call"]["name"] for r in rounds] == ["code"]
    assert final_answer(record["response"]["full_response"]) == "42"
    assert record["meta"]["stop_reason"] == "answer"
    assert record["score"]["correct"] is True


# -- the context window -----------------------------------------------------------------------
# The qwen3-vl player's prompts: 661 tokens with the input image, 1069 once the crop came back
# (the simulator's own count); with --max-tokens 100 a window of 900 holds the first request
# and not the second.


@pytest.mark.parametrize("wording", ["chat", "engine"])
def test_a_context_overflow_ends_the_tool_phase_with_one_answer_now_turn(
    workdir: Path, wording: str
) -> None:
    one_case(workdir)
    sim_settings = {
        "tool_parser": True,
        "max_model_len": 900,
        "report_max_model_len": False,  # so only the server's 400 can tell
        "context_error": wording,
    }
    with running_simulator(**sim_settings) as sim:
        batch(sim, "nonstream", "--dialect", "qwen3-vl", "--max-tokens", "100")
        requests = list(sim.requests)
    record = read_jsonl(workdir / "out.jsonl")[0]
    assert "error" not in record["response"], record["response"]
    assert len(requests) == 3  # the zoom, the request that overflowed, the final turn
    final = requests[2]
    assert final["tool_choice"] == "none" and final["tools"]  # no more calls
    assert final["messages"][-1] == {
        "role": "user",
        "content": "Please answer the question now, based on what you have found.",
    }
    parts = [p for m in final["messages"] if isinstance(m["content"], list) for p in m["content"]]
    assert sum(p["type"] == "image_url" for p in parts) == 1  # the case's own image only
    tool = next(m for m in final["messages"] if m["role"] == "tool")
    assert tool["content"] == [
        {"type": "text", "text": "[earlier image omitted: per-request image limit]"}
    ]
    overflow = record["meta"]["context_overflow"]
    assert overflow["turn"] == 1 and "maximum" in overflow["message"]
    assert record["meta"]["stop_reason"] == "answer"
    assert record["meta"]["turns"] == 2  # the overflowed request produced no turn


def test_max_model_len_from_v1_models_budgets_the_request_and_is_recorded(workdir: Path) -> None:
    one_case(workdir)
    with running_simulator(tool_parser=True, max_model_len=900) as sim:
        batch(sim, "nonstream", "--dialect", "qwen3-vl", "--max-tokens", "100")
        requests = list(sim.requests)
    record = read_jsonl(workdir / "out.jsonl")[0]
    assert record["meta"]["max_model_len"] == 900
    # The second request would not fit with the crop: the crop gave way to a note before
    # sending, so no 400 came back (the simulated model then says it saw no crop).
    assert len(requests) == 2 and "error" not in record["response"]
    tool = requests[1]["messages"][-1]
    assert tool["role"] == "tool" and tool["content"][0]["type"] == "text"
    assert record["meta"]["images_dropped_for_context"] == 1
    assert "no image came back" in record["response"]["full_response"]
