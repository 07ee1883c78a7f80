"""The LLM judges the published numbers were scored with, verbatim: prompts, what the judge
is shown, how its reply is read, and the interval reported.

- `R1V4_JUDGE_PROMPT` — Skywork's DeepResearch judge (`SkyworkAI/Skywork-R1V@fdfbb84:
  r1v4/benchmark/o3-mini-judge.py`, the only commit that has it), used for MMSearch, FVQA
  and BrowseComp-VL in the R1V4 table. The judge (`o3-mini` there) sees only the content
  of the response's first `<answer>` — the empty string when there is none; one user
  message, no temperature or max_tokens. `r1v4_fields` reads `reasoning:`/`correct:` with
  the published unanchored, case-insensitive regex; `r1v4_correct` decides with the
  published case-sensitive `"yes" in correct` (so "Yes" is wrong). A failed request counts
  as wrong. `wald_interval` is the published interval: a Wald 95% half-width computed on
  the already-rounded percentage.
- `MINI_O3_SYSTEM_PROMPT` / `MINI_O3_QUERY_PROMPT` — Mini-o3's GPT-4o judge for VisualProbe
  (`Mini-o3/Mini-o3@8654dbf:verl/utils/reward_score/general_qa_tool.py`): the prediction is
  the first `<answer>` content (no tag: 0 without asking); the reply's text after its last
  "score:" (lower-cased), first line, first word must hold a 0 or 1, else it is asked
  again (temperature 0.2 × attempt, at most five attempts); correct iff that word holds "1".
"""

from __future__ import annotations

import math
import re

__all__ = [
    "MINI_O3_ATTEMPTS",
    "MINI_O3_QUERY_PROMPT",
    "MINI_O3_SYSTEM_PROMPT",
    "R1V4_JUDGE_PROMPT",
    "mini_o3_messages",
    "mini_o3_score",
    "r1v4_correct",
    "r1v4_fields",
    "r1v4_messages",
    "wald_interval",
]

R1V4_JUDGE_PROMPT = """
Judge whether the following [response] to [question] is correct or not based on the precise and unambiguous [correct_answer] below.

[question]: {question}

[response]: {response}

[correct_answer]: {correct_answer}

Your judgement must be in the format and criteria specified below:

reasoning: Explain why the extracted_final_answer is correct or incorrect based on [correct_answer], focusing only on if there are meaningful differences between [correct_answer] and the extracted_final_answer. Do not comment on any background to the problem, do not attempt to solve the problem, do not argue for any answer different than [correct_answer], focus only on whether the answers match.

correct: Answer 'yes' if extracted_final_answer matches the [correct_answer] given above, or is within a small margin of error for numerical problems. Answer 'no' otherwise, i.e. if there is any inconsistency, ambiguity, non-equivalency, or if the extracted answer is incorrect.

""".strip()  # noqa: E501 - verbatim


def r1v4_messages(question: str, correct_answer: str, response: str) -> list[dict[str, str]]:
    """The judge request: one user message holding the prompt, filled as published."""
    prompt = R1V4_JUDGE_PROMPT.format(
        question=question, correct_answer=correct_answer, response=response
    )
    return [{"role": "user", "content": prompt}]


def r1v4_fields(text: str) -> dict[str, str]:
    """`post_process`: the first `reasoning:` and `correct:` values (to the end of their
    line), found anywhere, case-insensitively; "" when absent."""
    fields = {"reasoning": "", "correct": ""}
    for key in fields:
        m = re.search(rf"{key}\s*:\s*(.*?)(?:\n|$)", text, re.IGNORECASE)
        if m:
            fields[key] = m.group(1).strip()
    return fields


def r1v4_correct(correct_field: str) -> bool:
    """The published decision: `"yes" in item["correct"]`, case-sensitive."""
    return "yes" in correct_field


def wald_interval(correct: int, n: int) -> tuple[float, float]:
    """(accuracy %, half-width %) exactly as published: the accuracy rounded to two
    decimals first, then `1.96 * sqrt(acc * (100 - acc) / n)` rounded to two decimals."""
    accuracy = round(100 * correct / n, 2)
    return accuracy, round(1.96 * math.sqrt(accuracy * (100 - accuracy) / n), 2)


MINI_O3_SYSTEM_PROMPT = "You are an intelligent chatbot designed for evaluating the correctness of generative outputs for question-answer pairs.\nYour task is to compare the predicted answer with the correct answer and determine if they match meaningfully. Here's how you can accomplish the task:\n------\n##INSTRUCTIONS:\n- Focus on the meaningful match between the predicted answer and the correct answer.\n- Consider synonyms or paraphrases as valid matches.\n- Evaluate the correctness of the prediction compared to the answer."  # noqa: E501 - verbatim

MINI_O3_QUERY_PROMPT = """I will give you a question related to an image and the following text as inputs:\n\n1. **Question Related to the Image**: {question}\n2. **Ground Truth Answer**: {ground_truth}\n3. **Model Predicted Answer**: {prediction}\n\nYour task is to evaluate the model's predicted answer against the ground truth answer, based on the context provided by the question related to the image. Consider the following criteria for evaluation:\n- **Relevance**: Does the predicted answer directly address the question posed, considering the information provided by the given question?\n- **Accuracy**: Compare the predicted answer to the ground truth answer. You need to evaluate from the following two perspectives:\n(1) If the ground truth answer is open-ended, consider whether the prediction accurately reflects the information given in the ground truth without introducing factual inaccuracies. If it does, the prediction should be considered correct.\n(2) If the ground truth answer is a definitive answer, strictly compare the model's prediction to the actual answer. Pay attention to unit conversions such as length and angle, etc. As long as the results are consistent, the model's prediction should be deemed correct.\n**Output Format**:\nYour response should include an integer score indicating the correctness of the prediction: 1 for correct and 0 for incorrect. Note that 1 means the model's prediction strictly aligns with the ground truth, while 0 means it does not.\nThe format should be \"Score: 0 or 1\""""  # noqa: E501 - verbatim

#: Mini-o3's `max_retries` for the GPT-4o judge.
MINI_O3_ATTEMPTS = 5


def mini_o3_messages(question: str, ground_truth: str, prediction: str) -> list[dict]:
    """System prompt, then the query as a user text part (no image is passed)."""
    prompt = MINI_O3_QUERY_PROMPT.format(
        question=question, ground_truth=ground_truth, prediction=prediction
    )
    return [
        {"role": "system", "content": MINI_O3_SYSTEM_PROMPT},
        {"role": "user", "content": [{"type": "text", "text": prompt}]},
    ]


def mini_o3_score(text: str) -> str | None:
    """The word after the reply's last "score:" (lower-cased, first line, first word) when
    it holds a 0 or a 1; None means the reply is unusable and the judge is asked again."""
    low = text.lower()
    if "score:" not in low:
        return None
    word = low.split("score:")[-1].strip().split("\n")[0].strip().split(" ")[0]
    return word if ("1" in word or "0" in word) else None
