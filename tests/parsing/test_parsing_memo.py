"""ResponseParse: one scan shared by a record's readers, answering exactly as the one-shot
functions do, and never for a text it was not asked about."""

from __future__ import annotations

import pytest

from r1v4.parsing import (
    ResponseParse,
    has_headless_think,
    iter_events,
    parse_full_response,
    read_final_answer,
    read_turn,
)

CALL = '<tool_call>{"name": "code", "arguments": {"code": "print(1)"}}</tool_call>'
OBS = '<observation>{"type": "code", "result": "1", "images": ["a.png"]}</observation>'
TEXTS = [
    f"<think>look</think>{CALL}{OBS}<think>so</think><answer>1</answer>",
    "reasoning with no open tag</think><answer>B</answer>",
    f"<think>cut</think>{CALL}",
    "<think>half</think><answer>cut off",
    "A plain reply with no tags.",
    '<tool_call>{"name": "code", "arguments": {"code": "print(\'</tool_call>\')"}}</tool_call>',
    "<text_search>the query</text_search>",
    "",
]
STOPS = [None, "", "stop", "length", "max_rounds", "case_timeout", "error"]


@pytest.mark.parametrize("text", TEXTS)
def test_answers_as_the_one_shot_readers_do(text: str) -> None:
    parse = ResponseParse()
    assert parse.rounds(text) == parse_full_response(text)
    assert parse.events(text) == iter_events(text)
    for stop in STOPS:
        assert parse.final_answer(text, stop) == read_final_answer(text, stop)


def test_asked_about_another_text_it_reads_that_one() -> None:
    parse = ResponseParse()
    first, second = TEXTS[0], TEXTS[4]
    assert parse.final_answer(first).text == "1"
    assert parse.rounds(second) == parse_full_response(second)
    assert parse.final_answer(second) == read_final_answer(second)
    assert parse.rounds(first)["final_round"]["answer"] == "1"
    # An equal text built anew is the same response: still the right reading.
    rebuilt = "".join(list(first))
    assert parse.rounds(rebuilt) == parse_full_response(first)


def test_non_string_is_the_same_clear_type_error() -> None:
    with pytest.raises(TypeError, match="full_response must be a str"):
        ResponseParse().rounds(None)  # type: ignore[arg-type]
    assert ResponseParse().final_answer(None) == read_final_answer(None)


def test_an_answer_read_for_one_text_is_never_given_for_another() -> None:
    parse = ResponseParse()
    for stop in (None, "stop"):
        assert parse.final_answer(TEXTS[0], stop).text == "1"
        assert parse.final_answer(TEXTS[1], stop) == read_final_answer(TEXTS[1], stop)
        assert parse.final_answer(TEXTS[0], stop) == read_final_answer(TEXTS[0], stop)


TURNS = [
    ("<think>a</think><answer>red", "</answer>"),
    (f"<think>a</think>{CALL[: -len('</tool_call>')]}", "</tool_call>"),
    ("<think>a </answer> b", "</answer>"),  # fired inside a think: a false stop
    ("thinking, no tags</think><answer>x</answer>", None),
    ('<think>a</think><tool_call>{"name": "code", "arguments": {"code": "x', None),
    ("plain words", None),
]


@pytest.mark.parametrize(("text", "stop"), TURNS)
def test_a_turn_read_through_the_memo_reads_as_one_shot_and_leaves_its_scan(
    text: str, stop: str | None
) -> None:
    """The agent reads each turn through the case's memo; what it decides is the same, and
    the kept text's scan is the one the record's readers then reuse."""
    stops = ["</tool_call>", "</answer>"]
    parse = ResponseParse()
    end = read_turn(text, stop, stops, scan=parse.events)
    assert end == read_turn(text, stop, stops)
    assert has_headless_think(end.text, parse.events) == has_headless_think(end.text)
    assert parse.rounds(end.text) == parse_full_response(end.text)
    assert parse.final_answer(end.text, "answer") == read_final_answer(end.text, "answer")
