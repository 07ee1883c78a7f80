"""The published scorers on answers as models write them, and the published aggregation
rules checked against figures computed by hand."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from r1v4.evals.benchmarks.figures import CaseScore, compute
from r1v4.evals.judge import Reply
from r1v4.evals.protocol_scoring import PROTOCOL_SCORERS
from r1v4.evals.published_judges import mini_o3_score, r1v4_correct, r1v4_fields, wald_interval
from r1v4.evals.qa_match import em_check, f1_score, max_f1, subem_check
from r1v4.evals.scoring import SCORERS, score_answer
from r1v4.evals.treebench_iou import box_iou_score, mean_best_iou
from r1v4.evals.vlmevalkit_scoring import can_infer, extract_characters_regex

OPTS = {"A": "red", "B": "blue", "C": "green", "D": "yellow"}


def score(full: str, answer: Any, scorer: str, **kw: Any) -> dict:
    result = asyncio.run(score_answer(full, answer, kw.pop("options", OPTS), scorer=scorer, **kw))
    assert result is not None
    return result


def test_every_protocol_scorer_is_a_choice_of_scorer() -> None:
    assert set(PROTOCOL_SCORERS) <= set(SCORERS)


@pytest.mark.parametrize(
    ("text", "paper", "head"),
    [
        ("Best answer: D", "B", "D"),  # the paper era's missing commas: B of "Best"
        ("The best answer is (C).", "C", "C"),
        ("Based on the image, C", "B", "B"),  # first capital A-E anywhere, as published
        ("b", "B", "B"),  # a lone lower-case letter is a substring of "(b)"
        ("", "A", "A"),  # an empty string is a substring of "(A)": scored as A
        ("it is not possible to tell from this low resolution picture at all", "", ""),
        ("the umbrella", "", ""),
    ],
)
def test_extract_characters_regex(text: str, paper: str, head: str) -> None:
    assert extract_characters_regex(text, "paper") == paper
    assert extract_characters_regex(text, "head") == head


def test_mme_scorer_reads_the_answer_unit_uppercased() -> None:
    ok = score("<think>The sign is red.</think><answer>a</answer>", "A", "vlmevalkit-regex")
    assert ok["correct"] is True and ok["extracted"] == "A"
    # "Based on…" starts with B: the published rule reads B although the model meant C
    based = score("<think>zoom</think><answer>Based on the zoomed crop, C</answer>", "C",
                  "vlmevalkit-regex")  # fmt: skip
    assert based["extracted"] == "B" and based["correct"] is False
    # the <answer> body is upper-cased before the (case-sensitive) prefixes are removed, so
    # "Best answer: D" reads B in every version; as free text only the fixed list reads D
    for version in ("vlmevalkit-regex", "vlmevalkit-regex@head"):
        assert score("<answer>Best answer: D</answer>", "D", version)["extracted"] == "B"
    assert score("<think>x</think>Best answer: D", "D", "vlmevalkit-regex")["extracted"] == "B"
    assert score("<think>x</think>Best answer: D", "D", "vlmevalkit-regex@head")["correct"]
    # no <answer> unit: the free text that ends the response stands for the prediction
    assert score("<think>hmm</think>The best answer is D", "D", "vlmevalkit-regex")["correct"]
    # a trajectory cut by --max-rounds has no answer: rejected, 0
    cut = score("<think>x</think><answer>D</answer>", "D", "vlmevalkit-regex",
                stop_reason="max_rounds")  # fmt: skip
    assert cut["correct"] is False and "--max-rounds" in cut["note"]
    # the empty string would read as "A" under the published rule; no answer never scores
    assert (
        score("<think>x</think><tool_call>{}</tool_call>", "A", "vlmevalkit-regex")["correct"]
        is False
    )


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("The answer is B.", "B"),
        ("I'd say the correct choice is (C)", "C"),
        ("**D**", "D"),
        ("It is blue", "B"),  # no letter: the option's text
        ("A or B, hard to say", None),  # two letters
        ("B is my guess because the umbrella which you can see near the top is blue", None),
        ("Cannot determine the answer", "Z"),
    ],
)
def test_can_infer_on_answers_as_models_write_them(text: str, letter: str | None) -> None:
    assert can_infer(text, dict(OPTS)) == letter


class ScriptedJudge:
    """A mocked judge: replies from a list, records what it was asked."""

    def __init__(self, replies: list[str], error: str | None = None) -> None:
        self.replies = list(replies)
        self.asked: list[tuple[str, list[dict], dict]] = []
        self.error = error

    async def ask(self, protocol: str, messages: list[dict], **kw: Any) -> Reply:
        self.asked.append((protocol, messages, kw))
        if self.error:
            return Reply("", "mock", error=self.error)
        return Reply(self.replies.pop(0), "mock")


def test_vlmevalkit_mcq_rule_then_llm_extractor() -> None:
    assert score("<answer>The answer is B.</answer>", "B", "vlmevalkit-mcq")["correct"] is True
    no_judge = score("<answer>the second one</answer>", "B", "vlmevalkit-mcq")
    assert no_judge["correct"] is False and "exact matching" in no_judge["note"]
    judge = ScriptedJudge(["I am not sure", "B"])
    out = score("<answer>the second one</answer>", "B", "vlmevalkit-mcq", judge=judge,
                question="What colour is the umbrella?")  # fmt: skip
    assert out["correct"] is True and out["extractor"] == "llm (mock)"
    protocol, messages, kw = judge.asked[0]
    assert protocol == "vlmevalkit-choice" and kw["temperature"] == 0
    prompt = messages[0]["content"]
    tail = ("Question: What colour is the umbrella??\nOptions: A. red\nB. blue\n"
            "C. green\nD. yellow\n\nAnswer: the second one\nYour output: ")  # fmt: skip
    assert prompt.endswith(tail)
    failing = ScriptedJudge(["?", "?", "?"])
    out = score("<answer>the second one</answer>", "B", "vlmevalkit-mcq", judge=failing)
    assert len(failing.asked) == 3 and out["extractor"].startswith("random after 3")
    assert out["extracted"] in "ABCDZ"


def test_treebench_boxes_and_iou() -> None:
    # one target [0,0,10,10], one box [5,5,15,15]: intersection 25, union 175 → 1/7
    assert mean_best_iou([[5, 5, 15, 15]], [[0, 0, 10, 10]]) == pytest.approx(1 / 7)
    # two targets, the same box serves both: (1 + 1/7) / 2
    assert mean_best_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 5, 15, 15]]) == pytest.approx(4 / 7)
    full = (
        "<think>The mug <box>[0,0,10,10]</box> and <box>[1, 2, 3, 4]</box> (spaces: ignored)"
        '</think><tool_call>{"name": "code", "arguments": {"code": "print(1)"}}'
        '</tool_call><observation>{"type": "code", "result": "1", "images": []}'
        "</observation><think>closer: <box>[5,5,15,15]</box></think><answer>b</answer>"
    )
    out = score(full, "B", "treebench", options={"A": "wood", "B": "metal"},
                labels={"target_instances": [[5, 5, 15, 15]]})  # fmt: skip
    assert out["correct"] is True
    assert out["iou"] == pytest.approx(1 / 7) and out["boxes"] == 1  # first think only
    assert out["iou_all_thinks"] == pytest.approx(1.0)
    assert box_iou_score("no boxes here", [[0, 0, 1, 1]])["iou"] == 0.0
    assert box_iou_score("<box>[0,0,2,2]</box>", [])["iou"] == 1.0  # no target, some box


def test_mmsearch_f1_on_near_answers() -> None:
    # "the Eiffel Tower in Paris" vs "Eiffel Tower": P = 2/4, R = 1 → F1 = 2/3
    assert f1_score("the Eiffel Tower in Paris", "Eiffel Tower") == pytest.approx(2 / 3)
    assert max_f1("Sept. 29, 2024", ["2024-09-29", "September 29, 2024"]) == pytest.approx(
        2 * (2 / 3) * (2 / 3) / (4 / 3)
    )
    out = score("<think>search</think><answer>The Eiffel Tower, Paris</answer>",
                ["Eiffel Tower", "the tower in Paris"], "mmsearch-f1", options=None)  # fmt: skip
    # tokens [eiffel, tower, paris]: vs [eiffel, tower] F1 = 0.8; vs [tower, in, paris] 2/3
    assert out["value"] == pytest.approx(0.8) and out["correct"] is False


def test_fvqa_exact_and_substring_match() -> None:
    assert em_check("Malta.", ["Malta", "mt"]) and not em_check("Republic of Malta!", ["Malta"])
    assert subem_check("It is the Republic of Malta", ["Malta"])
    assert subem_check("focus", ["US"])  # character-level, as published
    out = score("<answer>the Republic of Malta</answer>", ["Malta", "mt"], "fvqa-em", options=None)
    assert out["value"] == 0.0 and out["subem"] == 1.0
    untagged = score("Malta", ["Malta"], "fvqa-em", options=None)
    assert untagged["value"] == 0.0 and "no <answer>" in untagged["note"]


def test_r1v4_judge_sees_only_the_answer_and_reads_yes_case_sensitively() -> None:
    assert r1v4_fields("reasoning: same city.\ncorrect: yes") == {
        "reasoning": "same city.", "correct": "yes"}  # fmt: skip
    assert r1v4_correct(r1v4_fields("correct: **yes**")["correct"])
    assert not r1v4_correct(r1v4_fields("correct: Yes")["correct"])  # case-sensitive
    # unanchored: "incorrect: no" comes first and wins
    assert r1v4_fields("incorrect: no\ncorrect: yes")["correct"] == "no"
    judge = ScriptedJudge(["reasoning: Both name Paris.\ncorrect: yes"])
    full = ("<think>Searching.</think><tool_call>{\"name\": \"text_search\", \"arguments\": "
            "{\"queries\": [\"tower\"]}}</tool_call><observation>{\"type\": \"text_search\", "
            "\"result\": \"<answer>London</answer>\", \"images\": []}</observation>"
            "<answer>Paris</answer>")  # fmt: skip
    out = score(full, ["Paris", "Paris, France"], "r1v4-judge", options=None, judge=judge,
                question="Which city?")  # fmt: skip
    assert out["correct"] is True and out["extracted"] == "Paris"
    prompt = judge.asked[0][1][0]["content"]
    assert "[response]: Paris\n" in prompt and "London" not in prompt
    assert "[correct_answer]: Paris\n" in prompt and judge.asked[0][2] == {}  # no sampling
    empty = ScriptedJudge(["reasoning: nothing given\ncorrect: no"])
    out = score("<think>no idea</think>I give up", "Paris", "r1v4-judge", options=None,
                judge=empty)  # fmt: skip
    assert "[response]: \n" in empty.asked[0][1][0]["content"] and out["correct"] is False
    failed = score("<answer>Paris</answer>", "Paris", "r1v4-judge", options=None,
                   judge=ScriptedJudge([], error="judge request failed: HTTP 500"))  # fmt: skip
    assert failed["value"] is None and "counts as wrong" in failed["published_rule"]


def test_wald_interval_as_published() -> None:
    # 113/171: 66.0818… → 66.08; 1.96 * sqrt(66.08 * 33.92 / 171) = 7.0954… → 7.1
    assert wald_interval(113, 171) == (66.08, round(1.96 * math.sqrt(66.08 * 33.92 / 171), 2))
    assert wald_interval(113, 171)[1] == 7.1


def test_mini_o3_score_word() -> None:
    assert mini_o3_score("The prediction matches.\nScore: 1") == "1"
    assert mini_o3_score("score: 0\nbecause") == "0"
    assert mini_o3_score("Score: maybe") is None and mini_o3_score("looks right") is None
    judge = ScriptedJudge(["no verdict", "Score: 1"])
    out = score("<answer>STOP</answer>", "STOP.", "mini-o3-judge", options=None, judge=judge)
    assert out["correct"] is True
    assert [kw["temperature"] for _, _, kw in judge.asked] == [0.0, 0.2]
    untagged = score("STOP", "STOP.", "mini-o3-judge", options=None, judge=ScriptedJudge([]))
    assert untagged["value"] == 0.0  # no <answer>: 0 without asking


def case(cid: str, hit: float, category: str, cycle: str | None = None, **kw: Any) -> CaseScore:
    labels = {"cycle_category": cycle} if cycle else {}
    score_ = {"value": hit, "correct": hit == 1.0, "scorer": kw.pop("scorer", "vlmevalkit-mcq")}
    score_.update(kw.pop("extra", {}))
    return CaseScore(cid, "b", kw.pop("split", None), category, labels, kw.pop("failed", False),
                     score_)  # fmt: skip


def test_hrbench_cycle_average_with_unbalanced_cycles() -> None:
    cases = [
        case("1", 1, "single", "c0"), case("2", 1, "single", "c0"), case("3", 0, "single", "c0"),
        case("4", 1, "cross", "c0"),
        case("5", 0, "single", "c1"), case("6", 1, "cross", "c1"), case("7", 0, "cross", "c1"),
        case("8", 1, "single", "c2"), case("9", 1, "single", "c2"),
    ]  # fmt: skip
    figs = {f.split: f for f in compute("hrbench-4k", "hrbench", cases).figures}
    # by hand: c0 single 2/3, cross 1, all 3/4; c1 single 0, cross 1/2, all 1/3;
    # c2 single 1, no cross, all 1. Each divided by the 3 cycles:
    assert figs["FSP"].value == pytest.approx(100 * (2 / 3 + 0 + 1) / 3)  # 55.56
    assert figs["FCP"].value == pytest.approx(100 * (1 + 0.5) / 3)  # 50.0: c2 adds nothing
    assert figs["Overall"].value == pytest.approx(100 * (3 / 4 + 1 / 3 + 1) / 3)  # 69.44
    assert figs["Overall"].n == 9  # the pooled share would be 6/9 = 66.67


def test_mme_perception_reasoning_and_judged_wald() -> None:
    cases = [
        case("1", 1, "Perception/Monitoring"),
        case("2", 0, "Perception/OCR with Complex Context"),
        case("3", 1, "Perception/Monitoring"),
        case("4", 0, "Reasoning/Monitoring"),
        case("5", 0, "Reasoning/Monitoring", failed=True),
    ]
    figs = {f.split: f for f in compute("mme-realworld", "mme", cases).figures}
    assert figs["Perception"].value == pytest.approx(200 / 3)
    assert figs["Reasoning"].value == 0.0 and figs["Reasoning"].n == 2  # failed counts wrong
    assert figs["Overall"].value == pytest.approx(40.0)
    judged = [case(str(i), 1.0 if i < 3 else 0.0, "x", scorer="r1v4-judge") for i in range(5)]
    error = {"value": None, "scorer": "r1v4-judge", "error": "HTTP 500"}
    judged.append(CaseScore("e", "b", None, "x", {}, False, error))
    res = compute("mmsearch", "judged", judged)
    (fig,) = res.figures
    assert (fig.value, fig.n) == (50.0, 6) and fig.wald == wald_interval(3, 6)
    assert res.judge_errors == 1 and "counted as wrong" in res.notes[0]


def test_report_keeps_cases_of_different_benchmarks_with_the_same_id(tmp_path) -> None:
    from r1v4.evals.benchmarks.report import load_bench_run
    from tests.helpers import write_jsonl

    def rec(bench: str, value: float) -> dict:
        return {"id": "0", "question": "q", "benchmark": bench, "category": "single",
                "response": {"full_response": "<answer>A</answer>"},
                "answer": "A", "score": {"value": value, "correct": value == 1.0,
                                         "scorer": "vlmevalkit-mcq"}}  # fmt: skip

    path = write_jsonl(tmp_path / "r.jsonl", [rec("hrbench-4k", 1.0), rec("hrbench-8k", 0.0),
                                              rec("hrbench-8k", 1.0)])  # fmt: skip
    run = load_bench_run(path)
    assert sorted(run.cases) == ["hrbench-4k", "hrbench-8k"]
    # a later line for the same case replaces the earlier one
    assert [c.score["value"] for c in run.cases["hrbench-8k"]] == [1.0]


def test_html_report_escapes_untrusted_text(tmp_path) -> None:
    from r1v4.evals.benchmarks.html import render_html
    from r1v4.evals.benchmarks.report import load_bench_run
    from tests.helpers import write_jsonl

    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    records = [
        {"id": str(i), "question": "q", "benchmark": "vstar", "category": evil if i else "spatial",
         "response": {"full_response": "<answer>A</answer>"}, "answer": "A",
         "meta": {"latency_s": 1.5 + i, "rounds": i, "tool_calls": {"code": i}},
         "score": {"value": float(i % 2), "correct": bool(i % 2), "scorer": "vlmevalkit-mcq"}}
        for i in range(3)
    ]  # fmt: skip
    path = write_jsonl(tmp_path / f"{evil[:8]}.jsonl", records)
    page = render_html([load_bench_run(path)], published=True)
    assert "<script" not in page and "<img" not in page  # shown as text, never as markup
    assert "&lt;script&gt;" in page and "<svg" in page
    assert "default-src 'none'" in page  # nothing remote, no script
