"""A case's `options` reach the model: written into the question it reads, in the documented
form, with the letters the `choice` scorer matches against."""

from __future__ import annotations

from pathlib import Path

import pytest

from r1v4.agent.prompts import OptionsTemplate, render_question
from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, write_jsonl
from tests.helpers import run_cli as run

RENDERED = (
    "Which colour is the sign?\n\nOptions:\nA. Red\nB. Blue\nC. Green\n\n"
    "Answer with the option's letter."
)


def user_text(request: dict) -> str:
    """The text the model reads in the request's last user message."""
    content = request["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "\n".join(p["text"] for p in content if p.get("type") == "text")


@pytest.mark.parametrize(
    "options",
    [
        ["Red", "Blue", "Green"],
        ["A. Red", "B. Blue", "C. Green"],  # letters already written: not doubled
        {"A": "Red", "B": "Blue", "C": "Green"},
        {"a": "Red", "b": "Blue", "c": "Green"},
    ],
)
def test_options_appear_in_the_request_and_the_letter_scores(
    workdir: Path, options: list | dict
) -> None:
    write_jsonl(
        workdir / "cases.jsonl",
        [
            {
                "id": "mc",
                "question": "Which colour is the sign?",
                "options": options,
                "answer": "B",
            },
            {"id": "open", "question": "No options here"},
        ],
    )
    script = [{"contains": "Which colour is the sign?", "turns": ["<answer>B</answer>"]}]
    with running_simulator(scripts=script) as sim:
        assert run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url]) == 0
        texts = sorted(user_text(r) for r in sim.requests)
    assert texts == ["No options here", RENDERED]
    records = {r["id"]: r for r in read_jsonl(workdir / "out.jsonl")}
    assert records["mc"]["question"] == "Which colour is the sign?"  # the record keeps it raw
    assert records["mc"]["options"] == options
    assert records["mc"]["score"]["scorer"] == "choice" and records["mc"]["score"]["correct"]


def test_a_batch_api_line_with_options_gets_them_in_its_last_user_message(workdir: Path) -> None:
    body = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Which colour is the sign?"}]},
        ],
        "max_tokens": 64,
    }
    write_jsonl(
        workdir / "cases.jsonl",
        [
            {"custom_id": "b1", "body": body, "options": ["Red", "Blue", "Green"], "answer": "B"},
            {"custom_id": "b2", "body": {"messages": [{"role": "user", "content": "Plain?"}]}},
        ],
    )
    script = [{"contains": "Which colour is the sign?", "turns": ["<answer>(B)</answer>"]}]
    with running_simulator(scripts=script) as sim:
        assert run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url]) == 0
        requests = {user_text(r): r for r in sim.requests}
    assert set(requests) == {RENDERED, "Plain?"}
    assert requests[RENDERED]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert requests[RENDERED]["max_tokens"] == 64
    records = {r["id"]: r for r in read_jsonl(workdir / "out.jsonl")}
    assert records["b1"]["score"]["correct"] is True and records["b1"]["options"] == [
        "Red",
        "Blue",
        "Green",
    ]
    assert "score" not in records["b2"]


def test_the_planner_reads_the_options_too(workdir: Path) -> None:
    write_jsonl(
        workdir / "cases.jsonl",
        [{"id": "p", "question": "Which colour is the sign?", "options": ["Red", "Blue", "Green"]}],
    )
    with running_simulator() as sim:
        argv = ["cases.jsonl", "out.jsonl", "--base-url", sim.base_url]
        assert run(argv, "planner-nonstream") == 0
        assert [user_text(r) for r in sim.requests] == [RENDERED]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"1": "Red", "2": "Blue"}, "must map single letters"),
        ([str(i) for i in range(27)], "at most 26"),
        ("A. Red", "must be a list or an object"),
    ],
)
def test_options_the_model_could_not_answer_with_a_letter_are_a_clear_line_error(
    workdir: Path, options: object, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(
        workdir / "cases.jsonl",
        [{"id": "bad", "question": "q", "options": options}, {"id": "ok", "question": "q2"}],
    )
    with running_simulator() as sim:
        run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url])
        assert len(sim.requests) == 1  # the good line still ran
    out = capsys.readouterr().out
    assert "cases.jsonl:1:" in out and "'options'" in out and message in out


def test_the_template_is_data() -> None:
    terse = OptionsTemplate(body="{question} {options}", line="({letter}) {text}")
    assert render_question("Pick:", ["x", "y"], terse) == "Pick: (A) x\n(B) y"
    assert render_question("No options", None) == "No options"
    assert render_question("No options", []) == "No options"
