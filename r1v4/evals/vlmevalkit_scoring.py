"""VLMEvalKit's multiple-choice answer matching, reproduced rule for rule.

Two matchers, as the benchmarks of the R1V4 table use them:

- `extract_characters_regex` (MME-RealWorld / -CN / -Lite, TreeBench): drop answer
  prefixes, reject a long answer with no capital A–E, else the first capital A–E anywhere
  (`open-compass/VLMEvalKit@19c0e38:vlmeval/dataset/utils/multiple_choice.py:578-603`).
  The paper-era version (`version="paper"`, the default, what the published numbers were
  produced with) has two missing commas in its prefix list, so "The best option is" /
  "The correct option is" / "Best answer:" / "Best option:" are never stripped and
  "Best answer: D" scores as B; `version="head"` is the fixed list
  (`@e8e78f0`, fix `1445ec4`, 2026-06-17).
- `can_infer` (HR-Bench, V* and every plain VLMEvalKit MCQ): exactly one option letter
  standing alone among the answer's tokens, within its last five tokens, else exactly one
  option text inside the answer (`vlmeval/utils/matching_util.py:8-51,97-118`); refusals
  and a lone "Z" give "Z". `version="head"` adds the later "answer is X" regex
  (`a67ace5`). When it fails and a judge is configured, VLMEvalKit asks an LLM to map the
  answer to a letter with `choice_extractor_prompt` (up to three tries, each reply again
  through `can_infer`); `choice_fallback` is what it does after three failures.
"""

from __future__ import annotations

import random
import re
import string
from typing import Literal

__all__ = [
    "ANSWER_PREFIXES",
    "Version",
    "can_infer",
    "choice_extractor_prompt",
    "choice_fallback",
    "extract_characters_regex",
    "option_string",
]

Version = Literal["paper", "head"]

#: The prefix lists as Python builds them: the paper era's adjacent literals concatenate.
ANSWER_PREFIXES: dict[str, list[str]] = {
    "paper": [
        "The best answer is",
        "The correct answer is",
        "The answer is",
        "The answer",
        "The best option isThe correct option is",  # noqa: ISC001 - the published bug
        "Best answer:Best option:",  # noqa: ISC001 - the published bug
    ],
    "head": [
        "The best answer is",
        "The correct answer is",
        "The answer is",
        "The answer",
        "The best option is",
        "The correct option is",
        "Best answer:",
        "Best option:",
    ],
}
_CHOICES = ["(A)", "(B)", "(C)", "(D)", "(E)"]


def extract_characters_regex(s: str, version: Version = "paper") -> str:
    """The letter VLMEvalKit reads in `s`, or "" (rejected: scored 0). Exact behaviour:
    prefixes removed anywhere (case-sensitive); more than 10 words and no capital A–E → "";
    else the first capital A–E anywhere, even inside a word ("Based on" → "B"); with no
    capital A–E, the whole string as a case-insensitive substring of "(A)"…"(E)" ("b" → B,
    and an empty string → A)."""
    s = s.strip()
    for prefix in ANSWER_PREFIXES[version]:
        s = s.replace(prefix, "")
    if len(s.split()) > 10 and not re.search("[ABCDE]", s):
        return ""
    matches = re.search(r"[ABCDE]", s)
    if matches is None:
        for choice in _CHOICES:
            if s.lower() in choice.lower():
                return choice[1]
        return ""
    return matches[0]


_REFUSALS = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)
_VERBOSE_ANSWER_RE = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")


def _count_choice(splits: list[str], choices: object, prefix: str = "", suffix: str = "") -> int:
    return sum(1 for c in choices if prefix + c + suffix in splits)  # type: ignore[attr-defined]


def _can_infer_option(answer: str, choices: dict[str, str], version: Version) -> str | None:
    if "Failed to obtain answer via API" in answer:
        return None
    for err in _REFUSALS:
        if err in answer:
            return "Z"
    answer_mod = answer
    for c in ".()[],:;!*#{}":
        answer_mod = answer_mod.replace(c, " ")
    splits = [x.strip() for x in answer_mod.split()]
    count = _count_choice(splits, choices)
    if count == 1:
        for ch in choices:
            if ch in splits and splits.index(ch) > (len(splits) - 5):
                return ch
    elif count == 0 and _count_choice(splits, {"Z", ""}) == 1:
        return "Z"
    if version == "head":
        m = _VERBOSE_ANSWER_RE.search(answer)
        if m and m.group(1) in choices:
            return m.group(1)
    return None


def _can_infer_text(answer: str, choices: dict[str, str]) -> str | None:
    answer = answer.lower()
    if len(answer) > 2 * sum(len(str(v)) for v in choices.values()):
        return None
    cands = [k for k, v in choices.items() if str(v).lower() in answer]
    return cands[0] if len(cands) == 1 else None


def can_infer(answer: str, choices: dict[str, str], version: Version = "paper") -> str | None:
    """The option letter (or "Z") VLMEvalKit infers from `answer`, None when it cannot."""
    answer = str(answer)
    return _can_infer_option(answer, choices, version) or _can_infer_text(answer, choices)


def option_string(choices: dict[str, str]) -> str:
    """VLMEvalKit's `build_option_str`: "A. text\\nB. text\\n"."""
    return "".join(f"{k}. {v}\n" for k, v in choices.items())


_EN_TEMPLATE = (
    "You are an AI assistant who will help me to match "
    "an answer with several options of a single-choice question. "
    "You are provided with a question, several options, and an answer, "
    "and you need to find which option is most similar to the answer. "
    "If the meaning of all options are significantly different from the answer, output Z. "
    "Your should output a single uppercase character in A, B, C, D (if they are valid options), "
    "and Z. \n"
    "Example 1: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: a cute teddy bear\nYour output: A\n"
    "Example 2: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: Spider\nYour output: Z\n"
    "Example 3: \n"
    "Question: {}?\nOptions: {}\nAnswer: {}\nYour output: "
)


def choice_extractor_prompt(question: str, choices: dict[str, str], prediction: str) -> str:
    """The prompt VLMEvalKit's LLM fallback sends (`multiple_choice.py:215-232`,
    `build_prompt`). Its Chinese variant for CJK questions is not reproduced: the English
    one is used for every question (documented deviation)."""
    return _EN_TEMPLATE.format(question, option_string(choices), prediction)


def choice_fallback(choices: dict[str, str], seed: str) -> str:
    """After three failed extractions VLMEvalKit picks a random letter among the options
    and Z (`rd.choice`); here the draw is seeded by the case so a rescore agrees."""
    options = [*choices, "Z"] if "Z" not in choices else list(choices)
    return random.Random(seed).choice(sorted(options, key=string.ascii_uppercase.find))
