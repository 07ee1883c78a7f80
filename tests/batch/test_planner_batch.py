"""Planner batches and plan-then-execute, end to end against the simulator."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from r1v4.batch.settings import DEFAULT_OUTPUTS
from r1v4.cli.run import main
from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, write_jsonl

PLAN = [
    {
        "description": "Find the landmark",
        "tool_name": "image_search",
        "parameters": {"image_path": "demo_1.png"},
    },
    {
        "description": "Look up [Landmark from Step 1]",
        "tool_name": "text_search",
        "parameters": {"query": "[Landmark from Step 1] height"},
    },
    {"description": "Verify the figure", "tool_name": "none", "parameters": {}},
]
BAD_PLAN = [{"description": "x", "tool_name": "google", "parameters": {}}]


def scripts() -> list[dict]:
    return [
        {"question": "good plan?", "plan": "<think>plan it</think>" + orjson.dumps(PLAN).decode()},
        {"question": "bad plan?", "plan": orjson.dumps(BAD_PLAN).decode()},
    ]


@pytest.mark.parametrize("script", ["batch_planner_nonstream", "batch_planner_stream"])
def test_planner_batches_store_validated_plans(
    workdir: Path, script: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(
        workdir / "test_cases.jsonl",
        [
            {
                "id": "good",
                "image": "./demo_image/demo_1.png",
                "question": "good plan?",
                "answer": "Kessmark",
            },
            {"id": "bad", "image": "", "question": "bad plan?"},
            {"id": "generic", "image": "", "question": "anything else?"},
        ],
    )
    mode = "planner-stream" if script.endswith("_stream") else "planner-nonstream"
    with running_simulator(scripts=scripts()) as sim:
        assert main(["--base-url", sim.base_url, "--no-progress"], mode=mode) == 0
        assert all(
            r["messages"][0]["role"] == "system" and "plan" in r["messages"][0]["content"]
            for r in sim.requests
        )
    records = {r["id"]: r for r in read_jsonl(workdir / DEFAULT_OUTPUTS[mode])}
    assert records["good"]["plan_valid"] is True
    assert "score" not in records["good"]  # a plan is not scored as an answer
    assert [s["tool_name"] for s in records["good"]["plan"]] == [
        "image_search",
        "text_search",
        "none",
    ]
    assert records["bad"]["plan_valid"] is False
    assert any("unknown tool_name 'google'" in e for e in records["bad"]["plan_errors"])
    assert records["generic"]["plan_valid"] is True  # the simulator's generic plan
    assert records["good"]["meta"]["mode"] == "planner"
    out = capsys.readouterr().out
    assert "plans: 2 valid, 1 invalid" in out


def test_streaming_and_nonstreaming_give_the_same_plan(workdir: Path) -> None:
    write_jsonl(workdir / "cases.jsonl", [{"id": "good", "image": "", "question": "good plan?"}])
    with running_simulator(scripts=scripts()) as sim:
        for mode in ("planner-nonstream", "planner-stream"):
            assert (
                main(
                    ["cases.jsonl", f"{mode}.jsonl", "--base-url", sim.base_url, "--no-progress"],
                    mode=mode,
                )
                == 0
            )
    a = read_jsonl(workdir / "planner-nonstream.jsonl")[0]
    b = read_jsonl(workdir / "planner-stream.jsonl")[0]
    assert a["plan"] == b["plan"] and a["plan"]


@pytest.mark.slow
def test_plan_first_runs_the_plan_then_the_agent_and_keeps_both(workdir: Path) -> None:
    from r1v4.demo import WAREHOUSE_QUESTION, demo_scripts

    script = demo_scripts()[0] | {"plan": orjson.dumps(PLAN).decode()}
    write_jsonl(
        workdir / "cases.jsonl",
        [{"id": "w", "image": "./demo_image/demo_1.png", "question": WAREHOUSE_QUESTION}],
    )
    with running_simulator(scripts=[script]) as sim:
        assert (
            main(
                [
                    "cases.jsonl",
                    "out.jsonl",
                    "--base-url",
                    sim.base_url,
                    "--plan-first",
                    "--planner-model",
                    "r1v4-planner",
                    "--no-progress",
                ]
            )
            == 0
        )
        models = [r.get("model") for r in sim.requests]
        executor_system = sim.requests[1]["messages"][0]["content"]
    assert models[0] == "r1v4-planner" and models[1] != "r1v4-planner"
    assert "Find the landmark" in executor_system  # the plan was given as guidance
    record = read_jsonl(workdir / "out.jsonl")[0]
    assert record["plan_valid"] is True and len(record["plan"]) == 3
    assert record["plan_response"].startswith("[")
    assert record["response"]["full_response"].endswith("<answer>47</answer>")
    assert record["meta"]["mode"] == "nonstream+plan"
    followed = record["plan_followed"]
    assert followed["used_planned"] == 0 and followed["planned_tool_steps"] == 2
