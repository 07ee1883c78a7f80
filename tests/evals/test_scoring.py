"""Rule-based scorers on real-looking model answers, including the tricky ones."""

from __future__ import annotations

import asyncio
import unicodedata

import pytest

from r1v4._util.stats import mcnemar, wilson_interval
from r1v4.evals.scoring import (
    choice_letter,
    exact_match,
    extract_answer,
    gold_letters,
    includes_match,
    normalize_text,
    option_map,
    parse_number,
    score_answer,
)

OPTIONS = ["Red", "Black and white", "Blue", "Green"]


def score(full: str, answer, options=None, scorer: str = "auto") -> dict | None:
    return asyncio.run(score_answer(full, answer, options, scorer=scorer))


# ------------------------------------------------------------------------- extraction


@pytest.mark.parametrize(
    ("full", "expected"),
    [
        ("<think>look closer</think><answer>B</answer>", "B"),
        # the first answer unit is the answer: the agent stops there, the seed reads it too
        ("<answer>A</answer> wait <think>no</think><answer> C </answer>", "A"),
        # ... unless a headless </think> shows it was part of the reasoning
        ("I would say <answer>A</answer>, but</think><answer> C </answer>", "C"),
        ("<think>hmm</think>\nThe answer is B", "The answer is B"),
        ("just text, no tags", "just text, no tags"),
        ("<think>x</think><answer>\\boxed{\\frac{1}{2}}</answer>", "\\frac{1}{2}"),
        ("<think>1+1</think> so \\boxed{2}.", "2"),
        # a cut answer block (no </answer>) is no answer: "<answer>B" may have gone on "oth"
        ("<think>a</think><answer>Paris", ""),
        # an <answer> inside a think, a tool call or an observation is never read
        ("<think>format: <answer>X</answer></think>Y", "Y"),
        (
            '<tool_call>{"name": "code", "arguments": {"code": "print(\'<answer>X</answer>\')"}}'
            '</tool_call><observation>{"type": "code", "result": "<answer>X</answer>"}'
            "</observation>",
            "",
        ),
        ("", ""),
    ],
)
def test_extract_answer(full: str, expected: str) -> None:
    assert extract_answer(full) == expected


# ------------------------------------------------------------------------- choice

CHOICE_TABLE = [
    # (model answer, letter picked or None, note starts with)
    ("D. Black and white", "D", ""),  # letter wins over the text: "D" is what it picked
    ("B. Black and white", "B", ""),
    ("(b)", "B", ""),
    ("The answer is C", "C", ""),
    ("**C**", "C", ""),
    ("答案是C", "C", ""),  # no word boundary between CJK and the letter
    ("选项（B）", "B", ""),  # full-width brackets
    ("Answer: (c)", "C", ""),
    ("B) Black and white", "B", ""),
    ("I think it's B", "B", ""),  # pronoun "I" is not option I
    ("The answer is C. Because A is wrong", "C", ""),  # the phrase beats a later bare letter
    ("C is correct", "C", ""),
    ("Cat", None, "no option"),  # letter inside a word never counts
    ("A cat is in the image", None, "no option"),  # the article "A"
    ("(A) or (B)", None, "ambiguous"),
    ("A or B", None, "ambiguous"),
    ("B and C", None, "ambiguous"),
    ("Black and white", "B", ""),  # by the option's text
    ("It is black and white.", "B", ""),
    ("the answer is a dog", None, "no option"),  # lowercase "a" is a word, not a letter
    ("", None, "empty"),
]


@pytest.mark.parametrize(("answer", "letter", "note"), CHOICE_TABLE)
def test_choice_letter(answer: str, letter: str | None, note: str) -> None:
    got, why = choice_letter(answer, option_map(OPTIONS))
    assert got == letter
    assert why.startswith(note)


def test_choice_by_text_prefers_the_specific_option() -> None:
    opts = option_map(["red", "dark red", "blue"])
    assert choice_letter("It is dark red.", opts) == ("B", "")


def test_option_map_strips_letter_prefixes_and_accepts_dicts() -> None:
    assert option_map(["A. cat", "B. dog"]) == {"A": "cat", "B": "dog"}
    assert option_map({"a": "cat", "b": "dog"}) == {"A": "cat", "B": "dog"}


@pytest.mark.parametrize(
    ("full", "answer", "correct"),
    [
        ("<answer>D. Black and white</answer>", "D", True),
        ("<answer>(b)</answer>", "B", True),
        ("<answer>(b)</answer>", "(B)", True),
        ("<answer>Black and white</answer>", "B", True),
        ("<answer>C</answer>", "Blue", True),  # gold given as the option's text
        ("<answer>The answer is C</answer>", "B", False),
        ("<answer>(A) or (B)</answer>", "B", False),  # hedging is wrong
        ("<answer>Cat</answer>", "C", False),
        ("<think>it is B</think><answer>答案是D</answer>", "D", True),
    ],
)
def test_choice_scorer(full: str, answer: str, correct: bool) -> None:
    result = score(full, answer, OPTIONS, scorer="choice")
    assert result is not None
    assert result["correct"] is correct
    assert result["value"] == (1.0 if correct else 0.0)
    assert result["scorer"] == "choice"


def test_choice_records_the_letter_and_why_it_failed() -> None:
    ok = score("<answer>**C**</answer>", "C", OPTIONS, scorer="choice")
    assert ok == {"value": 1.0, "correct": True, "scorer": "choice", "extracted": "C"}
    bad = score("<answer>(A) or (B)</answer>", "B", OPTIONS, scorer="choice")
    assert bad is not None and bad["note"] == "ambiguous: A, B"


# ------------------------------------------------------------------------- exact

EXACT_TABLE = [
    ("3.0", "3", True),
    ("1,000", "1000", True),
    ("12 km", "12", True),  # a unit on one side is tolerated
    ("12", "12 km", True),
    ("12 kilometres", "12 km", True),
    ("12 m", "12 km", False),  # two different units are not
    ("120", "12", False),
    ("The answer is 42.", "42", True),
    ("three", "3", True),
    ("-5", "−5", True),  # Unicode minus
    ("$1,200", "1200", True),
    ("The Eiffel Tower", "eiffel tower", True),  # article and case
    ("Eiffel Tower!", "the eiffel tower", True),
    ("ＥＩＦＦＥＬ　ＴＯＷＥＲ", "Eiffel Tower", True),  # full-width letters and space
    ("北京", "北京", True),
    ("北京 市", "北京市", True),  # spaces between CJK characters do not matter
    ("答案是：长城。", "长城", True),  # Chinese lead-in and full stop
    ("12个", "12", True),  # Chinese measure word
    ("三个", "3", True),  # Chinese numeral with a measure word
    ("two people", "2", True),
    ("长城", "故宫", False),
    ("Paris, France", "Paris", False),  # exact is exact
    ("", "x", False),
]


@pytest.mark.parametrize(("predicted", "gold", "equal"), EXACT_TABLE)
def test_exact(predicted: str, gold: str, equal: bool) -> None:
    assert exact_match(predicted, gold) is equal


def test_exact_accepts_any_of_several_answers() -> None:
    assert exact_match("NYC", ["New York City", "NYC"])
    assert not exact_match("Boston", ["New York City", "NYC"])


def test_parse_number_units() -> None:
    assert parse_number("12.5 km") == (12.5, "km")
    assert parse_number("1,000,000") == (1_000_000.0, "")
    assert parse_number("1,5") is None  # not a thousands separator: not a number at all
    assert parse_number("about 7 people") == (7.0, "person")
    assert parse_number("Paris") is None


def test_short_texts_read_again_give_each_its_own_reading() -> None:
    """Numbers and boxed answers of short texts come back from a cache: asked again, in any
    order, every text still gets its own reading (and a long one is read the same way)."""
    texts = ["12.5 km", "three", "1,000", "Paris", "12.5 km.", "x" * 300 + " 4"]
    first = [parse_number(t) for t in texts]
    assert [parse_number(t) for t in reversed(texts)] == first[::-1]
    assert first[:4] == [(12.5, "km"), (3.0, ""), (1000.0, ""), None]
    answers = ["<think>t</think><answer>it is \\boxed{B}</answer>", "<answer>red</answer>"]
    got = [extract_answer(a, "answer") for a in answers * 2]
    assert got == ["B", "red", "B", "red"]
    long = "<answer>" + "word " * 80 + "\\boxed{7}</answer>"
    assert extract_answer(long, "answer") == extract_answer(long, "answer") == "7"


def test_normalize_text() -> None:
    assert normalize_text("  The **Quick**, brown   fox! ") == "quick brown fox"
    assert normalize_text("（你好，世界）") == "你好世界"


@pytest.mark.parametrize(
    "block",
    [(0x20, 0x250), (0x2000, 0x2BFF), (0x3000, 0x303F), (0xFE30, 0xFE4F), (0x1F300, 0x1F5FF)],
)
def test_normalize_text_splits_words_at_every_punctuation_and_symbol(block) -> None:
    """Every punctuation mark and symbol (Unicode P*, Sk, Sm, So, and '$') separates two
    words, anything else joins them, whichever order and however often it is seen."""
    for _ in range(2):  # a second pass sees each character again
        for code in range(*block):
            ch = chr(code)
            if unicodedata.normalize("NFKC", ch) != ch or ch.casefold() != ch or ch.isspace():
                continue
            cat = unicodedata.category(ch)
            split = cat.startswith("P") or cat in ("Sk", "Sm", "So") or ch == "$"
            expected = "x y" if split else f"x{ch}y"
            assert normalize_text(f"x{ch}y") == expected, (hex(code), cat)


# ------------------------------------------------------------------------- includes

INCLUDES_TABLE = [
    ("It is a cat.", "cat", True),
    ("category", "cat", False),  # not inside a word
    ("我认为是长城。", "长城", True),  # CJK: no word boundaries needed
    ("about 12 km away", "12 km", True),
    ("120 km", "12 km", False),
    ("The Eiffel Tower in Paris", "eiffel tower", True),
    ("", "cat", False),
]


@pytest.mark.parametrize(("predicted", "gold", "found"), INCLUDES_TABLE)
def test_includes(predicted: str, gold: str, found: bool) -> None:
    assert includes_match(predicted, gold) is found


# ------------------------------------------------------------------------- score_answer


def test_auto_picks_choice_with_options_and_exact_without() -> None:
    with_opts = score("<answer>B. Black and white</answer>", "B", OPTIONS)
    assert with_opts is not None and with_opts["scorer"] == "choice" and with_opts["correct"]
    plain = score("<think>count</think><answer>12 apples</answer>", "12")
    assert plain is not None and plain["scorer"] == "exact" and plain["correct"]
    assert plain["extracted"] == "12 apples"


def test_no_ground_truth_means_unscored() -> None:
    assert score("<answer>x</answer>", None) is None
    assert score("<answer>x</answer>", "") is None
    assert score("<answer>x</answer>", []) is None


def test_unknown_scorer_and_judge_without_settings_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown scorer"):
        score("<answer>x</answer>", "x", scorer="fuzzy")
    with pytest.raises(ValueError, match="needs a judge"):
        score("<answer>x</answer>", "x", scorer="judge")


def test_includes_scorer_through_score_answer() -> None:
    result = score(
        "<answer>I believe it is the Great Wall of China</answer>",
        ["great wall"],
        scorer="includes",
    )
    assert result is not None and result["correct"] and result["scorer"] == "includes"


# ------------------------------------------------------------------------- stats


def test_wilson_interval_hand_computed() -> None:
    # 7/10: centre (0.7 + 1.9208/10) / 1.38415 = 0.64448, half 0.24772 (by hand)
    low, high = wilson_interval(7, 10)
    assert low == pytest.approx(0.39677, abs=1e-4)
    assert high == pytest.approx(0.89221, abs=1e-4)
    assert wilson_interval(0, 0) is None
    low0, high0 = wilson_interval(0, 5)
    assert low0 == 0.0 and high0 == pytest.approx(0.43449, abs=1e-4)


def test_mcnemar_exact_and_asymptotic() -> None:
    # b=1, c=5: p = 2 * (C(6,0) + C(6,1)) / 2^6 = 2 * 7 / 64 = 0.21875
    r = mcnemar(1, 5)
    assert r.method == "exact" and r.p_value == pytest.approx(0.21875)
    assert mcnemar(0, 0).p_value == 1.0
    # b=10, c=30: chi2 = (|10-30|-1)^2 / 40 = 9.025; p = erfc(sqrt(9.025/2)) = 0.002663
    big = mcnemar(10, 30)
    assert big.method == "chi2-cc"
    assert big.statistic == pytest.approx(9.025)
    assert big.p_value == pytest.approx(0.0026631, rel=1e-4)


@pytest.mark.parametrize(
    ("gold", "letters"),
    [
        ("A", {"A"}),
        ("(b)", {"B"}),
        ("c", {"C"}),
        ("C. a bird", {"C"}),
        ("B) dog", {"B"}),
        ("a bird", {"C"}),
        ("the cat", {"A"}),
        ("a fish", set()),
        ("E", set()),
    ],
)
def test_gold_letters(gold: str, letters: set[str]) -> None:
    assert gold_letters(gold, option_map(["cat", "dog", "a bird"])) == letters


@pytest.mark.parametrize("scorer", ["exact", "includes", "auto"])
def test_a_letter_that_is_also_an_article_still_equals_itself(scorer: str) -> None:
    """'A' is both an option letter and an article: stripping articles must not leave an
    empty string that never matches (the answer 'A' against the truth 'A' was wrong)."""
    right = asyncio.run(score_answer("<answer>A</answer>", "A", None, scorer=scorer))
    wrong = asyncio.run(score_answer("<answer>B</answer>", "A", None, scorer=scorer))
    assert right["correct"] is True, right
    assert wrong["correct"] is False, wrong
    assert normalize_text("The cat") == normalize_text("cat")  # articles still go elsewhere
