"""The framework's continuation hooks, for the families that need them (DeepEyesV2 prefills
`<think>` after each result; Thyme writes its code inside the think and gets the result inside
its own message): the next request goes on with the assistant's message
(`continue_final_message: true`, `add_generation_prompt: false`), the simulator continues it,
and the turn is read in that message's context. Two test-only dialects derived from `r1v4`
play the two shapes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from r1v4.agent.dialects import registry
from r1v4.agent.dialects.base import Call, Conversation, Outcome, Turn, text_part
from r1v4.agent.dialects.r1v4 import DIALECT as R1V4
from r1v4.agent.dialects.shapes import call_events, call_from_event
from r1v4.parsing import final_answer
from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, run_cli, write_jsonl

QUESTION = "What is six times seven?"
CODE_CALL = '<tool_call>{"name": "code", "arguments": {"code": "print(6 * 7)"}}</tool_call>'


def use(monkeypatch: pytest.MonkeyPatch, dialect: Any) -> None:
    monkeypatch.setitem(registry.DIALECTS, dialect.name, dialect)


def case(workdir: Path, dialect: str) -> None:
    write_jsonl(
        workdir / "cases.jsonl",
        [{"id": "m", "question": QUESTION, "answer": "42", "dialect": dialect}],
    )


@pytest.mark.slow
def test_a_prefill_starts_the_next_turn_and_the_model_continues_it(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, dataclasses.replace(R1V4, name="prefill-test", prefill="<think>"))
    case(workdir, "prefill-test")
    turns = [
        f"<think>Compute it.</think>{CODE_CALL}",
        "<think>It printed 42.</think><answer>42</answer>",
    ]
    with running_simulator(scripts=[{"question": QUESTION, "turns": turns}]) as sim:
        assert run_cli(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url]) == 0
        requests = list(sim.requests)
    first, second = requests
    assert "continue_final_message" not in first
    assert second["messages"][-1] == {"role": "assistant", "content": "<think>"}
    assert second["continue_final_message"] is True and second["add_generation_prompt"] is False
    record = read_jsonl(workdir / "out.jsonl")[0]
    text = record["response"]["full_response"]
    # The prefill and the continuation make one turn in the record.
    assert text.endswith("</observation><think>It printed 42.</think><answer>42</answer>")
    assert final_answer(text) == "42" and record["score"]["correct"] is True


def _inside_calls(turn: Turn, conv: Conversation) -> list[Call]:
    events = call_events(turn, R1V4.ends_turn, inside_think=True)
    return [call_from_event(events[0])] if events else []


def _inside_observation(outcomes: list[Outcome], conv: Conversation) -> list[dict]:
    parts = [text_part("<sandbox_output>")]
    for outcome in outcomes:
        parts += [g.part() for g in outcome.images] or [text_part(outcome.result.text)]
    parts.append(text_part("</sandbox_output>"))
    return [{"role": "assistant", "content": parts}]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["nonstream", "stream"])
def test_a_result_inside_the_assistants_own_message_is_continued(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    thyme_like = dataclasses.replace(
        R1V4,
        name="inside-test",
        stops=("</code>", "</answer>"),
        keep_stop=True,
        stops_in_think=True,  # the code is written inside the think
        calls=_inside_calls,
        observation=_inside_observation,
    )
    use(monkeypatch, thyme_like)
    case(workdir, "inside-test")
    turns = [
        "<think>I compute it.\n<code>\n```python\nprint(6 * 7)\n```\n</code>",
        "The sandbox printed 42.</think>\n<answer>42</answer>",
    ]
    with running_simulator(scripts=[{"question": QUESTION, "turns": turns}]) as sim:
        assert run_cli(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url], mode) == 0
        requests = list(sim.requests)
    first, second = requests
    assert first["include_stop_str_in_output"] is True
    # The result went into the assistant's own message, and the model went on with it.
    last = second["messages"][-1]
    assert last["role"] == "assistant" and second["continue_final_message"] is True
    texts = [p["text"] for p in last["content"]]
    assert texts[0] == turns[0] and texts[1:] == ["<sandbox_output>", "42\n", "</sandbox_output>"]
    assert sum(m["role"] == "assistant" for m in second["messages"]) == 1
    record = read_jsonl(workdir / "out.jsonl")[0]
    assert record["meta"]["tool_calls"] == {"code": 1}
    assert final_answer(record["response"]["full_response"]) == "42"
    assert record["score"]["correct"] is True
