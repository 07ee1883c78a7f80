"""Benchmark prompt styles: VLMEvalKit's `build_prompt` texts byte for byte, every recipe's
style known, and a case naming an unknown style is a bad line with its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from r1v4.agent.prompts import OPTIONS_TEMPLATES, options_template, render_question
from r1v4.evals.benchmarks.registry import BENCHMARKS
from tests.helpers import run_cli, write_jsonl

FOUR = {"A": "red", "B": "blue", "C": "green", "D": "yellow"}
FIVE = {"A": "3", "B": "4", "C": "5", "D": "6", "E": "none"}


def test_vlmevalkit_default_mcq_prompt() -> None:
    # image_mcq.py:197-232 with no hint: 'Question: …\n' + 'Options:\n' + 'A. …\n'… +
    # 'Please select the correct answer from the options above. \n'
    expected = ("Question: What colour?\nOptions:\nA. red\nB. blue\nC. green\nD. yellow\n"
                "Please select the correct answer from the options above. \n")  # fmt: skip
    assert render_question("What colour?", FOUR, options_template("vlmevalkit")) == expected


def test_treebench_prompt() -> None:
    expected = ("Question: What material?\nOptions:\nA. wood\nB. metal\n"
                "Answer with the correct option's letter directly. \n")  # fmt: skip
    got = render_question(
        "What material?", {"A": "wood", "B": "metal"}, options_template("treebench")
    )
    assert got == expected


def test_mme_realworld_prompts() -> None:
    # question + ' ' + "The choices are listed below:\n" + "\n".join("(A) 3", …) + '\n' + SYS
    en = ("How many cars? The choices are listed below:\n(A) 3\n(B) 4\n(C) 5\n(D) 6\n(E) none\n"
          "Select the best answer to the above multiple-choice question based on the image. "
          "Respond with only the letter (A, B, C, D, or E) of the correct option. \n"
          "The best answer is:")  # fmt: skip
    assert render_question("How many cars?", FIVE, options_template("mme-realworld")) == en
    cn = ("有几辆车？ 选项如下所示:\n(A) 3\n(B) 4\n(C) 5\n(D) 6\n(E) none\n"
          "根据图像选择上述多项选择题的最佳答案。只需回答正确选项的字母（A, B, C, D 或 E）。\n"
          "最佳答案为：")  # fmt: skip
    assert render_question("有几辆车？", FIVE, options_template("mme-realworld-cn")) == cn


def test_every_recipe_names_a_known_style() -> None:
    for recipe in BENCHMARKS.values():
        assert recipe.prompt_style is None or recipe.prompt_style in OPTIONS_TEMPLATES
    # a case without options is asked its question alone, whatever its style
    assert render_question("What is on the sign?", None, options_template("vlmevalkit")) == (
        "What is on the sign?"
    )


def test_unknown_prompt_style_is_a_bad_line(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = write_jsonl(workdir / "c.jsonl", [
        {"id": "a", "question": "q", "image": "", "options": ["x", "y"], "prompt_style": "nope"},
    ])  # fmt: skip
    run_cli([str(cases), str(workdir / "o.jsonl"), "--demo"])  # exit codes: issue of their own
    out = capsys.readouterr()
    assert "c.jsonl:1: field 'prompt_style': unknown prompt_style 'nope'" in out.out + out.err
