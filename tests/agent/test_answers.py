"""One reading of the final answer, through the real batch path: the agent's stop decision,
the scorer, the summary and the report agree, and an `<answer>` the model did not give as its
answer (printed by code, inside a think) never ends a case or scores."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import orjson
import pytest

from r1v4.agent.dialects.r1v4 import DIALECT as R1V4
from r1v4.parsing import final_answer, parse_full_response
from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, write_jsonl
from tests.helpers import run_cli as run

BOTH_STOPS = ["</tool_call>", "</answer>"]
#: What the agent's requests carry in the default (r1v4) dialect: every closing tag it runs.
AGENT_STOPS = list(R1V4.stops)


def call(code: str) -> str:
    body = orjson.dumps({"name": "code", "arguments": {"code": code}}).decode()
    return f"<tool_call>{body}</tool_call>"


def one_case(workdir: Path, question: str, answer: str) -> None:
    write_jsonl(
        workdir / "cases.jsonl", [{"id": "c", "image": "", "question": question, "answer": answer}]
    )


@pytest.mark.parametrize("mode", ["nonstream", "stream"])
def test_an_answer_printed_by_code_in_a_case_stopped_by_max_rounds_does_not_score(
    workdir: Path, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """REVIEW.md (d)1: the code prints `<answer>Paris</answer>`, `--max-rounds 1` stops the
    case before the model answers; the printed tag is in the observation, not an answer."""
    one_case(workdir, "Capital of France?", "Paris")
    turns = ["<think>print it</think>" + call("print('<ans' + 'wer>Paris</ans' + 'wer>')")]
    script = [{"question": "Capital of France?", "turns": turns + ["<answer>Paris</answer>"]}]
    with running_simulator(scripts=script) as sim:
        argv = ["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--max-rounds", "1"]
        assert run(argv, mode) == 0
        assert len(sim.requests) == 1
    record = read_jsonl(workdir / "out.jsonl")[0]
    text = record["response"]["full_response"]
    assert '"result":"<answer>Paris</answer>\\n"' in text  # the code really printed it
    assert record["meta"]["stop_reason"] == "max_rounds"
    assert final_answer(text) is None
    score = record["score"]
    assert score["correct"] is False and score["value"] == 0.0 and score["extracted"] == ""
    assert "--max-rounds" in score["note"]
    assert "accuracy: 0/1 = 0.0%" in capsys.readouterr().out

    from r1v4.cli.report import main as report

    assert report(["out.jsonl", "--format", "json"]) == 0
    run_json = json.loads(capsys.readouterr().out)["runs"][0]
    assert run_json["answered"] == 0 and run_json["correct"] == 0 and run_json["scored"] == 1
    # Rescored from the text alone (as for a file without a stored score): still no answer.
    assert report(["out.jsonl", "--format", "json", "--rescore", "all"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"][0]["correct"] == 0


@pytest.mark.parametrize("mode", ["nonstream", "stream"])
@pytest.mark.parametrize(
    ("code", "printed"),
    [
        ("print('<answer>Rome</answer>')", "<answer>Rome</answer>"),
        ("print('done </tool_call> here')", "done </tool_call> here"),
    ],
)
def test_a_closing_tag_inside_code_does_not_end_the_turn(
    workdir: Path, mode: str, code: str, printed: str
) -> None:
    """The server stops at the stop string inside the code string; the scanner sees the
    tool call still open, so the turn is asked for again without that stop string, and the
    code runs whole."""
    one_case(workdir, "Capital of Italy?", "Rome")
    turns = ["<think>print it</think>" + call(code), "<think>ok</think><answer>Rome</answer>"]
    with running_simulator(scripts=[{"question": "Capital of Italy?", "turns": turns}]) as sim:
        assert run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url], mode) == 0
        stops = [r.get("stop") for r in sim.requests]
    fired = "</answer>" if "answer" in printed else "</tool_call>"
    assert stops == [AGENT_STOPS, [s for s in AGENT_STOPS if s != fired], AGENT_STOPS]
    record = read_jsonl(workdir / "out.jsonl")[0]
    text = record["response"]["full_response"]
    rounds = parse_full_response(text)["rounds"]
    assert [r["tool_call"]["arguments"]["code"] for r in rounds] == [code]
    assert rounds[0]["observation"]["result"] == printed + "\n"
    assert record["meta"]["stop_reason"] == "answer" and record["meta"]["false_stops"] == 1
    assert record["meta"]["tool_calls"] == {"code": 1} and record["meta"]["turns"] == 3
    assert final_answer(text) == "Rome" and record["score"]["correct"] is True


def test_a_server_that_does_not_name_its_stop_gets_an_incomplete_call_not_an_answer(
    workdir: Path,
) -> None:
    """Without `stop_reason` (OpenAI-style), a stop inside a code string leaves the turn
    inside an open tool call: the model is told the call was cut, and the case goes on."""
    one_case(workdir, "Capital of Spain?", "Madrid")
    turns = [
        "<think>print it</think>" + call("print('<answer>Madrid</answer>')"),
        "<think>cut; answer directly</think><answer>Madrid</answer>",
    ]
    script = [{"question": "Capital of Spain?", "turns": turns}]
    with running_simulator(scripts=script, quirks=["no_stop_reason"]) as sim:
        assert run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url]) == 0
        assert len(sim.requests) == 2
        told = sim.requests[1]["messages"][-1]["content"][0]["text"]
    assert told.startswith("<observation> ") and told.endswith(" </observation>")
    assert "incomplete" in told and "'</ans' + 'wer>'" in told
    record = read_jsonl(workdir / "out.jsonl")[0]
    rounds = parse_full_response(record["response"]["full_response"])["rounds"]
    assert rounds[0]["observation"]["type"] == "invalid"
    assert record["meta"]["tool_errors"] == {"invalid": 1}
    assert record["meta"]["all_tools_failed"] is True
    assert record["meta"]["stop_reason"] == "answer" and record["score"]["correct"] is True


def test_a_stop_inside_a_think_does_not_make_an_answer(workdir: Path) -> None:
    """No reasoning parser: the server applies stops inside the think as well. The `<answer>`
    a think mentions is not the answer, and the turn's tool call still runs."""
    one_case(workdir, "What is 6 times 7?", "42")
    turns = [
        "<think>Reply as <answer>N</answer> when sure; compute first.</think>"
        + call("print(6 * 7)"),
        "<think>42</think><answer>42</answer>",
    ]
    script = [{"question": "What is 6 times 7?", "turns": turns}]
    with running_simulator(scripts=script, reasoning_field="none") as sim:
        assert run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url]) == 0
        first, second = (r.get("stop") for r in sim.requests[:2])
        assert first == AGENT_STOPS and second == [s for s in AGENT_STOPS if s != "</answer>"]
    record = read_jsonl(workdir / "out.jsonl")[0]
    rounds = parse_full_response(record["response"]["full_response"])["rounds"]
    assert rounds[0]["observation"]["result"] == "42\n"
    assert record["score"]["extracted"] == "42" and record["score"]["correct"] is True


def test_the_scorer_never_reads_an_observation_or_a_failed_tool_trajectory() -> None:
    """The lenient fallbacks (free text after the last unit) stop at units: a trajectory that
    ends with an observation, or whose code printed the answer before failing, is
    unanswered."""
    from r1v4.evals.scoring import score_answer

    failed = (
        call("print('Paris'); 1/0")
        + '<observation>{"type":"code","result":"Paris\\nZeroDivisionError","images":[],'
        '"error":"ZeroDivisionError raised"}</observation>'
    )
    for stop in (None, "no_tool_call", "max_rounds"):
        score = asyncio.run(
            score_answer(failed, "Paris", None, scorer="includes", stop_reason=stop)
        )
        assert score is not None and score["correct"] is False and score["extracted"] == ""
        assert score["note"].startswith("no answer")
    # A model that answers in plain text after its tools failed did answer.
    plain = failed + "<think>the tool failed</think>It is Paris."
    score = asyncio.run(score_answer(plain, "Paris", None, scorer="includes"))
    assert score is not None and score["correct"] is True


CUT_CODE = '<tool_call>{"name": "code", "arguments": {"code": "print(\'<answer>X'


@pytest.mark.parametrize(
    ("text", "stop_reason", "kind", "kept"),
    [
        # the stop closed the unit: its tag is put back (vLLM and SGLang trim it)
        ("<think>t</think><answer>X", "</answer>", "answer", "<think>t</think><answer>X</answer>"),
        ('<tool_call>{"name": "code"}', "</tool_call>", "tool_call", None),
        # include_stop_str_in_output: the tag is already there
        ("<answer>X</answer>", "</answer>", "answer", "<answer>X</answer>"),
        # the stop fired inside a code string, or inside a think: not a closing tag
        (CUT_CODE, "</answer>", "false_stop", CUT_CODE),
        ("<think>write <answer>X", "</answer>", "false_stop", None),
        ("<think>write <answer>X</think>", "</answer>", "false_stop", None),  # reasoning field
        # no stop named (OpenAI): a tag that closes the unit is put back ...
        ('<tool_call>{"name": "code"}', None, "tool_call", None),
        ("<answer>X", None, "answer", "<answer>X</answer>"),
        # ... and a call it cannot close is incomplete, closed after a line break
        (CUT_CODE, None, "incomplete_call", CUT_CODE + "\n</tool_call>"),
        (CUT_CODE, 151645, "incomplete_call", CUT_CODE + "\n</tool_call>"),
        # nothing to act on
        ("<think>t</think>Plain text.", None, "none", "<think>t</think>Plain text."),
        # with a stop removed, the turn is cut after its first complete call
        (
            '<tool_call>{"name": "code"}</tool_call><observation>made up</observation>',
            None,
            "tool_call",
            '<tool_call>{"name": "code"}</tool_call>',
        ),
    ],
)
def test_read_turn(text: str, stop_reason: object, kind: str, kept: str | None) -> None:
    from r1v4.parsing import read_turn

    end = read_turn(text, stop_reason, BOTH_STOPS)
    assert end.kind == kind
    if kept is not None:
        assert end.text == kept
    if kind == "incomplete_call":  # the kept text parses as one broken call, nothing more
        rounds = parse_full_response(end.text + "<observation>{}</observation>")["rounds"]
        assert len(rounds) == 1 and rounds[0]["observation"] == {}
