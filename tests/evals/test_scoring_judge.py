"""The LLM judge against the project's simulator scripted as a judge, over real loopback HTTP,
with its SQLite verdict cache."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from r1v4.evals.judge import JUDGE_PROMPT, Judge, JudgeSettings, parse_verdict
from r1v4.evals.scoring import score_answer
from r1v4.sim import running_simulator

JUDGE_SCRIPTS = [
    {
        "contains": "Which city hosts the Louvre?",
        "turns": [
            "The reference is Paris; the model says 'Paris, France', which names the same "
            "city.\nVERDICT: CORRECT"
        ],
    },
    {
        "contains": "Who painted this?",
        "turns": ["The reference is Monet but the model says Manet.\nVERDICT: INCORRECT"],
    },
    {
        "contains": "这座建筑叫什么？",
        "turns": ["<think>参考答案是长城，模型回答万里长城，意思相同。</think>VERDICT: CORRECT"],
    },
    {"contains": "Rambling question", "turns": ["I am not sure what to say."]},
]


@pytest.fixture()
def sim():
    with running_simulator(scripts=JUDGE_SCRIPTS) as handle:
        yield handle


def settings(sim, tmp_path: Path, cache: bool = True) -> JudgeSettings:
    return JudgeSettings(
        base_url=sim.base_url,
        model="judge-sim",
        cache_path=tmp_path / "verdicts.sqlite" if cache else None,
        max_retries=0,
    )


def judge_score(full: str, answer, question: str, judge, scorer: str = "judge") -> dict | None:
    return asyncio.run(
        score_answer(full, answer, None, scorer=scorer, judge=judge, question=question)
    )


def test_judge_correct_with_reasoning(sim, tmp_path: Path) -> None:
    result = judge_score(
        "<think>museum</think><answer>Paris, France</answer>",
        "Paris",
        "Which city hosts the Louvre?",
        settings(sim, tmp_path),
    )
    assert result is not None
    assert result["correct"] is True and result["value"] == 1.0
    assert result["scorer"] == "judge"
    assert result["extracted"] == "Paris, France"
    assert "names the same city" in result["judge_reasoning"]
    assert "VERDICT" not in result["judge_reasoning"]
    # What the judge was sent: the published prompt, filled in, temperature 0.
    body = sim.requests[-1]
    assert body["model"] == "judge-sim"
    assert body["temperature"] == 0
    sent = body["messages"][0]["content"]
    sent = sent if isinstance(sent, str) else sent[0]["text"]
    assert sent == JUDGE_PROMPT.format(
        question="Which city hosts the Louvre?", answers="- Paris", prediction="Paris, France"
    )


def test_judge_incorrect_and_chinese(sim, tmp_path: Path) -> None:
    wrong = judge_score(
        "<answer>Manet</answer>", "Monet", "Who painted this?", settings(sim, tmp_path)
    )
    assert wrong is not None and wrong["correct"] is False and wrong["value"] == 0.0
    zh = judge_score(
        "<answer>万里长城</answer>", "长城", "这座建筑叫什么？", settings(sim, tmp_path)
    )
    assert zh is not None and zh["correct"] is True
    assert "意思相同" in zh["judge_reasoning"]


def test_cache_second_call_makes_no_request(sim, tmp_path: Path) -> None:
    s = settings(sim, tmp_path)
    args = ("<answer>Paris, France</answer>", "Paris", "Which city hosts the Louvre?", s)
    first = judge_score(*args)
    assert len(sim.requests) == 1
    second = judge_score(*args)  # a new Judge, same SQLite file
    assert len(sim.requests) == 1, "the cached verdict must not be asked again"
    assert first is not None and second is not None
    assert second["correct"] is True and second["judge_cached"] is True
    assert second["judge_reasoning"] == first["judge_reasoning"]
    # A different prediction is a different key: asked again.
    judge_score("<answer>Lyon</answer>", "Paris", "Which city hosts the Louvre?", s)
    assert len(sim.requests) == 2
    rows = (
        sqlite3.connect(tmp_path / "verdicts.sqlite")
        .execute(
            "SELECT model, question, answer, prediction, correct FROM verdicts ORDER BY prediction"
        )
        .fetchall()
    )
    assert rows[0][:4] == ("judge-sim", "Which city hosts the Louvre?", '["Paris"]', "Lyon")


def test_one_open_judge_for_a_batch(sim, tmp_path: Path) -> None:
    async def batch() -> list[dict | None]:
        async with Judge(settings(sim, tmp_path, cache=False)) as judge:
            return await asyncio.gather(
                *(
                    score_answer(
                        f"<answer>{p}</answer>",
                        "Paris",
                        None,
                        scorer="judge",
                        judge=judge,
                        question="Which city hosts the Louvre?",
                    )
                    for p in ("Paris, France", "Paris (FR)", "the French capital")
                )
            )

    results = asyncio.run(batch())
    assert [r["correct"] for r in results if r] == [True, True, True]
    assert len(sim.requests) == 3  # no cache: every prediction asked


def test_no_verdict_line_is_an_error_not_a_guess(sim, tmp_path: Path) -> None:
    result = judge_score("<answer>x</answer>", "y", "Rambling question", settings(sim, tmp_path))
    assert result is not None
    assert result["value"] is None and result["correct"] is None
    assert "VERDICT" in result["error"]
    # errors are not cached: asking again sends another request
    judge_score("<answer>x</answer>", "y", "Rambling question", settings(sim, tmp_path))
    assert len(sim.requests) == 2


def test_auto_falls_back_to_judge_only_when_exact_says_wrong(sim, tmp_path: Path) -> None:
    s = settings(sim, tmp_path)
    exact = judge_score(
        "<answer>Paris</answer>", "Paris", "Which city hosts the Louvre?", s, scorer="auto"
    )
    assert exact is not None and exact["scorer"] == "exact" and exact["correct"]
    assert len(sim.requests) == 0
    judged = judge_score(
        "<answer>Paris, France</answer>", "Paris", "Which city hosts the Louvre?", s, scorer="auto"
    )
    assert judged is not None and judged["scorer"] == "judge" and judged["correct"]
    assert len(sim.requests) == 1


def test_unreachable_judge_is_recorded(tmp_path: Path) -> None:
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    s = JudgeSettings(base_url="http://127.0.0.1:9/v1", model="m", max_retries=0)
    auto = judge_score("<answer>Lyon</answer>", "Paris", "q", s, scorer="auto")
    assert auto is not None and auto["scorer"] == "exact" and auto["correct"] is False
    assert "judge request failed" in auto["judge_error"]


@pytest.mark.parametrize(
    ("reply", "correct"),
    [
        ("Fine.\nVERDICT: CORRECT", True),
        ("Nope.\nverdict: incorrect", False),
        ("Format is VERDICT: CORRECT or VERDICT: INCORRECT ... so\n**VERDICT: INCORRECT**", False),
        ("VERDICT：CORRECT", True),  # full-width colon
        ("no verdict", None),
    ],
)
def test_parse_verdict(reply: str, correct: bool | None) -> None:
    assert parse_verdict(reply)[0] is correct
