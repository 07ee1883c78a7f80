"""Open-answer matchers of the search benchmarks, as their authors publish them.

- `f1_score` — MMSearch end2end (`CaraJ7/MMSearch@d340f3f:score/f1_score.py`): SQuAD-style
  normalisation (lower case, punctuation removed, articles a/an/the removed, whitespace
  collapsed), token F1 over the multiset intersection, 1 when both sides are empty;
  `max_f1` takes the best over the accepted answers (`eval_end2end.py:249-257`).
- `em_check` / `subem_check` — FVQA via MMSearch-R1
  (`EvolvingLMMs-Lab/multimodal-search-r1@583c6b4:mmsearch_r1/utils/reward_score_mm/
  mmsearch_r1_score.py:19-77`): the same normalisation; exact match with any accepted
  answer, or any accepted answer as a substring of the prediction (character level: "us"
  is inside "focus").
"""

from __future__ import annotations

import collections
import re
import string

__all__ = ["em_check", "f1_score", "max_f1", "normalize_answer", "subem_check"]

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def _tokens(s: str) -> list[str]:
    return normalize_answer(s).split() if s else []


def f1_score(pred: str, gold: str) -> float:
    """Token F1 of one prediction against one answer."""
    gold_toks, pred_toks = _tokens(gold), _tokens(pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if not gold_toks or not pred_toks:
        return float(gold_toks == pred_toks)
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_toks)
    recall = num_same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def max_f1(pred: str, golds: list[str]) -> float:
    """The best F1 over the accepted answers (MMSearch: gt_answer and its alternatives)."""
    return max((f1_score(pred, g) for g in golds), default=0.0)


def em_check(pred: str, golds: list[str]) -> bool:
    norm = normalize_answer(pred)
    return any(normalize_answer(g) == norm for g in golds)


def subem_check(pred: str, golds: list[str]) -> bool:
    norm = normalize_answer(pred)
    return any(normalize_answer(g) in norm for g in golds)
