"""Score a model's final answer against a case's ground truth.

The runner calls `score_answer` as each case finishes and stores the returned dict as the
record's `score`; the report calls it again for records that lack one. Scorers:

- `choice`   multiple choice: find the one option letter the answer picked ("D. Black and
             white", "(b)", "The answer is C", "**C**", "答案是C") or the option's text.
             A letter inside a word ("Cat") never counts; several different letters make the
             answer ambiguous, which is scored wrong.
- `exact`    normalised equality (Unicode NFKC, case, punctuation, English articles,
             whitespace); numbers compare as numbers ("3.0" == "3", "1,000" == "1000") and a
             unit on either side is tolerated ("12 km" vs "12").
- `includes` normalised containment of any accepted answer, on token boundaries for Latin
             text and anywhere for CJK text (which has no spaces between words).
- `judge`    an LLM judge (r1v4.evals.judge), for open answers that string rules cannot settle.
- `auto`     `choice` when the case has options, else `exact`, and when exact says wrong
             and a judge is configured, the judge decides.
- the published protocols of the R1V4 table's benchmarks (`vlmevalkit-mcq`,
  `vlmevalkit-regex`, `treebench`, `mmsearch-f1`, `fvqa-em`, `r1v4-judge`, `mini-o3-judge`,
  and `@head` variants): `r1v4.evals.protocol_scoring`, each with its source.

Every scorer sees the *extracted* answer, read by the one answer reader of the project
(`r1v4.parsing.read_final_answer`, over the scanner's events): the body of the response's
answer unit, else the free text that ends a response written without tags; a \\boxed{…}
inside wins. An `<answer>` inside a think, a tool call or an observation is never read. A
trajectory with no answer (stopped by `--max-rounds`, cut by `max_tokens`, ending with a
tool call or an observation) scores as unanswered: `correct: false`, `extracted: ""` and a
`note` saying why.

Size note: the module is over 400 lines because it holds one concept, deciding whether a
final answer matches the ground truth (normalisation and every matcher; the answer itself is
read by `r1v4.parsing`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from typing import Any, Literal, TypeVar, get_args

from r1v4.evals.judge import Judge, JudgeSettings
from r1v4.evals.protocol_scoring import score_protocol
from r1v4.parsing import FinalAnswer, ResponseParse, read_final_answer
from r1v4.protocol.cases import option_map

__all__ = [
    "SCORERS",
    "answer_text",
    "choice_letter",
    "extract_answer",
    "normalize_text",
    "option_map",
    "parse_number",
    "score_answer",
    "score_extracted",
]


# --------------------------------------------------------------------------- extraction

_BOXED = "\\boxed{"
# Tags that can trail free text (a closing tag the model wrote without its opening one).
_TAG_RE = re.compile(r"</?(?:answer|think|tool_call|observation)>", re.I)


def _last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{…}, with nested braces balanced (LaTeX answers)."""
    start = text.rfind(_BOXED)
    if start < 0:
        return None
    i = start + len(_BOXED)
    depth = 1
    for j in range(i, len(text)):
        ch = text[j]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[i:j]
    return None  # unbalanced: not a usable box


def extract_answer(full_response: str | None, stop_reason: str | None = None) -> str:
    """The model's final answer inside a full response ("" when it has none); `stop_reason`
    is the record's `meta.stop_reason` when known. See the module docstring."""
    return answer_text(read_final_answer(full_response or "", stop_reason))


#: Texts up to this length are worked on once and remembered (`_cached_if_short`).
_SHORT_TEXT = 256
_T = TypeVar("_T")


def _cached_if_short(fn: Callable[[str], _T]) -> Callable[[str], _T]:
    """`fn`, answered from a bounded cache for a short text (answers, ground truths,
    options: a case reads its answer several times, the scorer and the flags both, and a
    benchmark's ground truths repeat across cases). `fn` must be pure and its result
    immutable."""
    cached = functools.lru_cache(maxsize=4096)(fn)

    @functools.wraps(fn)
    def call(text: str) -> _T:
        return cached(text) if text and len(text) <= _SHORT_TEXT else fn(text)

    return call


def answer_text(found: FinalAnswer) -> str:
    """The text a scorer compares: the answer, or the content of its last \\boxed{…}."""
    return _answer_text(found.text)


@_cached_if_short
def _answer_text(text: str) -> str:
    boxed = _last_boxed(text)
    if boxed is not None:
        text = boxed
    return _TAG_RE.sub("", text).strip()


# --------------------------------------------------------------------------- normalisation

_ARTICLES = re.compile(r"(?<![a-z0-9])(?:a|an|the)(?![a-z0-9])")
_CJK = (
    r"\u2e80-\u2fff\u3000-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    r"\uac00-\ud7af\uf900-\ufaff"
)
_SPACE_NEAR_CJK = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")
_LEAD_INS = re.compile(
    r"^(?:(?:so,?\s+)?(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*|final answer\s*:\s*"
    r"|答案(?:是|为|：|:)\s*|最终答案(?:是|为|：|:)\s*)",
    re.I,
)
_LATEX_WRAPPERS = re.compile(r"\\(?:text|mathrm|textbf|mathbf)\{([^{}]*)\}")


def _strip_lead_in(text: str) -> str:
    """Drop "The answer is", "答案是" and the like, which models put before short answers."""
    return _LEAD_INS.sub("", text.strip(), count=1)


def _is_punct_or_symbol(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat.startswith("P") or cat in ("Sk", "Sm", "So") or ch in "$"


class _PunctToSpace(dict):
    """`str.translate` table: punctuation and symbols to a space, other characters as they
    are. Filled on first sight of each code point, so a text is mapped in one C-level pass
    instead of a Python call per character (normalising a model's think for the quality
    flags was a third of the runner's per-case CPU). At most `_LIMIT` entries are kept, so
    text made of ever new code points cannot grow it without bound."""

    _LIMIT = 1 << 16

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        out = " " if _is_punct_or_symbol(ch) else ch
        if len(self) < self._LIMIT:
            self[code] = out
        return out


_PUNCT_TO_SPACE = _PunctToSpace()


@_cached_if_short
def normalize_text(text: str) -> str:
    """Canonical form for comparisons: NFKC, casefold, no punctuation, articles or extra spaces.

    Short texts come back from a bounded cache: a case normalises its answer three times
    (exact match, the includes rule of the flags, the word count).

    Articles go only when something else is left: an answer that is nothing but "A" (an
    option letter) or "an" keeps it, so it still equals itself. NFKC maps full-width
    letters, digits and most full-width punctuation to ASCII; CJK punctuation (。、「」) is
    removed by Unicode category. Spaces next to CJK characters are dropped, since Chinese
    does not separate words and models insert spaces inconsistently.
    """
    text = unicodedata.normalize("NFKC", text or "")
    text = _LATEX_WRAPPERS.sub(r"\1", text)
    text = text.casefold()
    text = text.translate(_PUNCT_TO_SPACE)
    text = " ".join(_ARTICLES.sub(" ", text).split()) or " ".join(text.split())
    return _SPACE_NEAR_CJK.sub("", text)


# --------------------------------------------------------------------------- numbers

_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER_WORDS.update({w: i for i, w in enumerate("零一二三四五六七八九十")})
_NUMBER_WORDS.update({"两": 2, "〇": 0})
_NUM_RE = re.compile(
    r"^(?:about|approximately|approx\.?|around|roughly|~|≈|约|大约)?\s*"
    r"(?P<cur>[$€£¥])?\s*(?P<sign>[-+−])?\s*(?P<cur2>[$€£¥])?\s*"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"\s*(?P<unit>[^\d]{0,24}?)\s*[.。!！]?$",
    re.I,
)
# Units that mean the same thing; anything else must match after normalisation.
_UNIT_ALIASES = {
    "kilometer": "km", "kilometers": "km", "kilometre": "km", "kilometres": "km", "公里": "km",
    "千米": "km", "meter": "m", "meters": "m", "metre": "m", "metres": "m", "米": "m",
    "centimeter": "cm", "centimeters": "cm", "厘米": "cm", "percent": "%", "per cent": "%",
    "kilogram": "kg", "kilograms": "kg", "公斤": "kg", "千克": "kg", "years": "year",
    "yrs": "year", "yr": "year", "年": "year", "people": "person", "persons": "person",
    "人": "person", "dollars": "$", "dollar": "$", "usd": "$", "yuan": "¥", "元": "¥",
    "rmb": "¥", "cny": "¥", "个": "", "只": "", "件": "", "辆": "", "张": "", "位": "",
}  # fmt: skip


@_cached_if_short
def parse_number(text: str) -> tuple[float, str] | None:
    """("12.5", "km") from "12.5 km", "1,000" -> (1000, ""), "three" -> (3, ""); else None.

    The unit is whatever short non-numeric tail follows the number, normalised through a
    small alias table, so "12 kilometres" and "12 km" agree. Short texts come back from a
    bounded cache (a benchmark's ground truths repeat across cases; the result is a tuple).
    """
    raw = unicodedata.normalize("NFKC", text or "").strip()
    raw = _strip_lead_in(raw).strip().strip("*`").strip()
    word = raw.casefold().rstrip(".。")
    # "three", "三", and with a measure word or unit: "三个", "two people"
    m = re.match(r"^([a-z]+|[零〇一二两三四五六七八九十])\s*(.{0,12})$", word)
    if m and m.group(1) in _NUMBER_WORDS:
        unit = m.group(2).strip()
        return float(_NUMBER_WORDS[m.group(1)]), _UNIT_ALIASES.get(unit, unit)
    m = _NUM_RE.match(raw)
    if not m:
        return None
    value = float(m.group("num").replace(",", ""))
    if m.group("sign") in ("-", "−"):
        value = -value
    unit = (m.group("cur") or m.group("cur2") or "") + " " + m.group("unit")
    unit = " ".join(unit.casefold().split())
    unit = _UNIT_ALIASES.get(unit, unit)
    return value, unit


def _numbers_equal(a: tuple[float, str], b: tuple[float, str]) -> bool:
    if not _close(a[0], b[0]):
        return False
    ua, ub = a[1], b[1]
    # A unit on only one side is tolerated; two different units are not.
    return not ua or not ub or ua == ub


def _close(x: float, y: float) -> bool:
    return abs(x - y) <= 1e-9 * max(1.0, abs(x), abs(y))


# --------------------------------------------------------------------------- scorers


def _accepted(answer: str | list[str] | Any) -> list[str]:
    """Ground truth as a list of accepted strings (numbers become strings)."""
    if answer is None:
        return []
    if isinstance(answer, list | tuple):
        return [str(a) for a in answer if a is not None and str(a).strip()]
    return [str(answer)] if str(answer).strip() else []


def exact_match(predicted: str, answer: str | list[str]) -> bool:
    """`exact` scorer: normalised equality with any accepted answer, numbers as numbers."""
    pred = _strip_lead_in(predicted)
    pred_norm = normalize_text(pred)
    pred_num = parse_number(pred)
    for gold in _accepted(answer):
        if pred_norm and normalize_text(gold) == pred_norm:
            return True
        gold_num = parse_number(gold)
        if gold_num is not None and pred_num is not None and _numbers_equal(gold_num, pred_num):
            return True
    return False


def _contains_on_boundaries(haystack: str, needle: str) -> bool:
    """Needle in haystack, not glued to Latin letters/digits on either side ("cat" ∉ "category")."""
    start = haystack.find(needle)
    while start >= 0:
        end = start + len(needle)
        before = haystack[start - 1] if start else " "
        after = haystack[end] if end < len(haystack) else " "
        ok_before = not (needle[0].isascii() and needle[0].isalnum() and _latin(before))
        ok_after = not (needle[-1].isascii() and needle[-1].isalnum() and _latin(after))
        if ok_before and ok_after:
            return True
        start = haystack.find(needle, start + 1)
    return False


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def includes_match(predicted: str, answer: str | list[str]) -> bool:
    """`includes` scorer: any normalised accepted answer appears inside the normalised answer."""
    pred = normalize_text(predicted)
    if not pred:
        return False
    for gold in _accepted(answer):
        g = normalize_text(gold)
        if g and _contains_on_boundaries(pred, g):
            return True
    return False


# ---- multiple choice


# Letter forms, strongest first. A letter never counts when glued to another Latin letter or
# digit ("Cat", "B12"); CJK neighbours are fine ("答案是C").
_NB = r"(?<![A-Za-z0-9])"
_NA = r"(?![A-Za-z0-9])"
_PHRASE_RE = re.compile(
    r"(?i:answer\s*(?:is|:|=)?|option|choice|choose|select|pick"
    r"|答案\s*(?:是|为|：|:)?|选项?|选择)\s*[:：]?\s*"
    # A lowercase letter counts only in brackets: "the answer is a dog" picks nothing.
    rf"(?:[(\[（【]\s*([A-Za-z])\s*[)\]）】]|\**{_NB}([A-Z]){_NA})",
)
_MARKED_RE = re.compile(
    rf"[(\[（【]\s*([A-Za-z])\s*[)\]）】]"  # (b) [C] （C）
    rf"|\*\*\s*([A-Za-z])\s*\*\*"  # **C**
    rf"|(?:^|\n)\s*{_NB}([A-Z])(?:[.):：、]|\s*$)",  # "D. Black and white", a line that is "C"
)
_BARE_RE = re.compile(rf"{_NB}([A-Z]){_NA}")


def _letters(matches: list[tuple[str, ...] | str]) -> list[str]:
    out = []
    for m in matches:
        groups = (m,) if isinstance(m, str) else m
        out.extend(g.upper() for g in groups if g)
    return out


def choice_letter(predicted: str, options: dict[str, str]) -> tuple[str | None, str]:
    """The option letter an answer picked, and a note ("" or why none was picked).

    Tries, in order: the whole answer is a letter; explicit phrases ("the answer is C",
    "答案是C", "option (b)"); marked letters ("(b)", "**C**", "D. text" at a line start);
    bare capital letters standing alone; and finally the options' own text. At each level,
    two different letters make the answer ambiguous.
    """
    valid = set(options) or {chr(c) for c in range(ord("A"), ord("Z") + 1)}
    text = unicodedata.normalize("NFKC", predicted or "").strip()
    if not text:
        return None, "empty answer"
    core = text.strip(" \t\n*`'\".。:：()[]（）【】")
    if len(core) == 1 and core.upper() in valid and core.isalpha():
        return core.upper(), ""

    for found in (
        _letters(_PHRASE_RE.findall(text)),
        _letters(_MARKED_RE.findall(text)),
        # "A" and "I" are also words ("A cat", "I think"): bare, they do not count when an
        # ordinary lowercase word follows (see _word_use).
        [
            m.group(1)
            for m in _BARE_RE.finditer(text)
            if not (m.group(1) in "AI" and _word_use(m.group(1), text[m.end() :]))
        ],
    ):
        picked = {x for x in found if x in valid}
        if len(picked) == 1:
            return picked.pop(), ""
        if len(picked) > 1:
            return None, "ambiguous: " + ", ".join(sorted(picked))

    return _choice_by_text(text, options)


_CONNECTIVES = {"or", "and", "is", "was", "seems", "looks", "because", "since", "but", "vs"}


def _word_use(letter: str, rest: str) -> bool:
    """True when a bare "A" or "I" is an English word ("A cat", "I think"), not an option.

    "A or B" and "A is correct" still name option A.
    """
    m = re.match(r"\s+([a-z]+)", rest)
    if m is None:
        return False
    return letter == "I" or m.group(1) not in _CONNECTIVES


def _choice_by_text(text: str, options: dict[str, str]) -> tuple[str | None, str]:
    """Match the answer against the options' text: equal first, then contained."""
    pred = normalize_text(_strip_lead_in(text))
    if not pred or not options:
        return None, "no option letter found"
    norm = {k: normalize_text(v) for k, v in options.items()}
    equal = [k for k, v in norm.items() if v and v == pred]
    if len(equal) == 1:
        return equal[0], ""
    inside = [k for k, v in norm.items() if v and _contains_on_boundaries(pred, v)]
    # "dark red" contains "red": keep only options not contained in another match.
    inside = [k for k in inside if not any(k != o and norm[k] in norm[o] for o in inside)]
    if len(inside) == 1:
        return inside[0], ""
    if len(inside) > 1:
        return None, "ambiguous: " + ", ".join(sorted(inside))
    return None, "no option letter found"


def gold_letters(answer: str | list[str], options: dict[str, str]) -> set[str]:
    """Accepted letters: a letter ("C", "(C)", "C. text") or an option's text."""
    letters: set[str] = set()
    norm = {k: normalize_text(v) for k, v in options.items()}
    for gold in _accepted(answer):
        g = unicodedata.normalize("NFKC", gold).strip()
        by_text = {k for k, v in norm.items() if v and v == normalize_text(g)}
        if by_text:
            letters.update(by_text)
            continue
        # "(b)", "C", "C. text", "C) text", or a lone lowercase "c" (never "a cat")
        m = re.match(r"^[(\[（]\s*([A-Za-z])\s*[)\]）]|^([A-Z])(?:[.:：、)\s]|$)|^([a-z])$", g)
        letter = next((x.upper() for x in m.groups() if x), None) if m else None
        if letter and (not options or letter in options):
            letters.add(letter)
    return letters


# --------------------------------------------------------------------------- entry points


def score_extracted(
    extracted: str,
    answer: str | list[str],
    options: list[str] | dict[str, str] | None,
    scorer: str,
) -> dict:
    """Score an already-extracted answer with a rule-based scorer (choice, exact, includes)."""
    if scorer == "choice":
        opts = option_map(options)
        letter, note = choice_letter(extracted, opts)
        correct = letter is not None and letter in gold_letters(answer, opts)
        out = {"value": 1.0 if correct else 0.0, "correct": correct, "scorer": "choice"}
        out["extracted"] = letter if letter is not None else extracted
        if note:
            out["note"] = note
        return out
    fn: Callable[[str, Any], bool] | None = {"exact": exact_match, "includes": includes_match}.get(
        scorer
    )
    if fn is None:
        raise ValueError(f"unknown rule-based scorer {scorer!r}; choose from {sorted(SCORERS)}")
    correct = bool(extracted) and fn(extracted, answer)
    return {
        "value": 1.0 if correct else 0.0,
        "correct": correct,
        "scorer": scorer,
        "extracted": extracted,
    }


#: The scorers, by name (the command lines' choices come from here).
ScorerName = Literal[
    "auto",
    "choice",
    "exact",
    "includes",
    "judge",
    "vlmevalkit-mcq",
    "vlmevalkit-mcq@head",
    "vlmevalkit-regex",
    "vlmevalkit-regex@head",
    "treebench",
    "treebench@head",
    "mmsearch-f1",
    "fvqa-em",
    "r1v4-judge",
    "mini-o3-judge",
]
SCORERS: tuple[str, ...] = get_args(ScorerName)
_RULE_SCORERS = ("auto", "choice", "exact", "includes", "judge")


async def score_answer(
    predicted_full_response: str,
    answer: str | list[str] | None,
    options: list[str] | dict[str, str] | None,
    *,
    scorer: str,
    judge: JudgeSettings | Judge | None = None,
    question: str = "",
    stop_reason: str | None = None,
    labels: dict[str, Any] | None = None,
    parse: ResponseParse | None = None,
) -> dict | None:
    """The record's `score` dict, or None when the case has no ground truth to score against.

    `stop_reason` is the record's `meta.stop_reason`: a case stopped by `--max-rounds` (or
    cut, or failed) has no answer, whatever its text holds, and scores as unanswered
    (`correct: false`, `extracted: ""`, `note`: why).

    Returns {"value": 1.0|0.0, "correct": bool, "scorer": name actually used, "extracted": …}
    plus "note" (choice: why no letter), "judge_reasoning" (judge). When the judge cannot
    give a verdict, `judge` alone returns value/correct None with "error" (so the report can
    rescore later), and `auto` keeps the exact result with "judge_error".
    `judge` may be settings (a client is opened for this call) or an open `Judge`, which a
    runner should keep for the whole batch. `labels` are the case's benchmark annotations
    (TreeBench's `target_instances`). `parse`: the caller's scan of the response, reused.
    """
    if scorer not in SCORERS:
        raise ValueError(f"unknown scorer {scorer!r}; choose from {', '.join(SCORERS)}")
    if not _accepted(answer):
        return None
    if scorer not in _RULE_SCORERS:
        args = (scorer, predicted_full_response, _accepted(answer), option_map(options))
        kw: dict[str, Any] = {"labels": labels, "question": question, "stop_reason": stop_reason}
        if isinstance(judge, JudgeSettings):
            async with Judge(judge) as j:
                return await score_protocol(*args, judge=j, **kw)
        return await score_protocol(*args, judge=judge, **kw)
    found = (parse or ResponseParse()).final_answer(predicted_full_response or "", stop_reason)
    if not found.answered:
        used = ("choice" if options else "exact") if scorer == "auto" else scorer
        return {
            "value": 0.0,
            "correct": False,
            "scorer": used,
            "extracted": "",
            "note": found.reason,
        }
    extracted = answer_text(found)
    if scorer == "auto":
        if options:
            return score_extracted(extracted, answer, options, "choice")
        result = score_extracted(extracted, answer, options, "exact")
        if result["correct"] or judge is None or not extracted:
            return result
        verdict = await _ask_judge(judge, question, answer, extracted)
        if verdict.get("error"):
            result["judge_error"] = verdict["error"]
            return result
        return verdict
    if scorer == "judge":
        if judge is None:
            raise ValueError("scorer 'judge' needs a judge (--judge-base-url, --judge-model)")
        if not extracted:
            return {"value": 0.0, "correct": False, "scorer": "judge", "extracted": ""}
        return await _ask_judge(judge, question, answer, extracted)
    return score_extracted(extracted, answer, options, scorer)


async def _ask_judge(
    judge: JudgeSettings | Judge, question: str, answer: str | list[str], extracted: str
) -> dict:
    """Run the judge and shape its verdict as a score dict."""
    if isinstance(judge, Judge):
        verdict = await judge.judge(question, _accepted(answer), extracted)
    else:
        async with Judge(judge) as j:
            verdict = await j.judge(question, _accepted(answer), extracted)
    if verdict.error:
        return {
            "value": None,
            "correct": None,
            "scorer": "judge",
            "extracted": extracted,
            "error": verdict.error,
        }
    return {
        "value": 1.0 if verdict.correct else 0.0,
        "correct": verdict.correct,
        "scorer": "judge",
        "extracted": extracted,
        "judge_reasoning": verdict.reasoning,
        "judge_model": verdict.model,
        "judge_cached": verdict.cached,
    }
