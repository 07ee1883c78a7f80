"""IncrementalParser agrees with the one-shot parser for every chunking; nothing raises."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r1v4.parsing import Event, IncrementalParser, iter_events, parse_full_response
from r1v4.parsing.scanner import Scanner

OBS = {"type": "code", "result": "</observation> <answer>no</answer>", "images": ["a/1.png"]}
SAMPLE = (
    "<think>look closer</think>\n"
    '<tool_call>{"name": "code", "arguments": {"code": "print(\\"</tool_call>\\")"}}</tool_call>\n'
    f"<observation>{json.dumps(OBS)}</observation>\n"
    "<think>two</think><think>thinks</think>\n"
    "<tool_call>{'name': 'text_search', 'arguments': {'queries': ['q',]}}</tool_call>\n"
    '<observation>{"type": "text_search", "result": "r"}</observation>\n'
    "stray text </think> <plan>[1]</plan>\n"
    '<tool_call>{"name": "code", "arguments": {"code": "x = "a}</tool_call>\n'
    "<think>final</think>\n<answer>red</answer>\n<tool_call>"
)


def run_chunks(chunks: list[str]) -> tuple[list[Event], dict]:
    parser = IncrementalParser()
    events: list[Event] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    events += parser.close()
    assert parser.events == events
    return events, parser.result()


def same(a: object, b: object) -> bool:
    """Equality that also holds for NaN decoded from a body (``NaN`` is valid for json)."""
    return a == b or repr(a) == repr(b)


def split_at(text: str, points: list[int]) -> list[str]:
    points = sorted(set(points))
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


def test_the_sample_exercises_every_kind_of_event() -> None:
    events = iter_events(SAMPLE)
    kinds = {(e.kind, e.tag, e.incomplete) for e in events}
    assert ("think", None, False) in kinds
    assert ("tool_call", None, True) in kinds  # the final, cut-off call
    assert ("text", "plan", False) in kinds
    assert ("answer", None, False) in kinds
    assert sum(e.kind == "observation" for e in events) == 2
    assert [e.content for e in events if e.kind == "think"][-2] == "\nstray text "  # headless


@pytest.mark.parametrize("text", [SAMPLE, SAMPLE.replace("\n", "")])
def test_every_two_chunk_split_agrees_with_one_shot(text: str) -> None:
    expected_events = iter_events(text)
    expected = parse_full_response(text)
    for cut in range(len(text) + 1):
        events, result = run_chunks([text[:cut], text[cut:]])
        assert events == expected_events, f"split at {cut}"
        assert result == expected


def test_one_character_chunks_agree_with_one_shot() -> None:
    events, result = run_chunks(list(SAMPLE))
    assert events == iter_events(SAMPLE)
    assert result == parse_full_response(SAMPLE)


def test_random_chunkings_agree_with_one_shot() -> None:
    rng = random.Random(7)
    expected = iter_events(SAMPLE)
    for _ in range(300):
        points = [rng.randrange(len(SAMPLE)) for _ in range(rng.randrange(1, 40))]
        events, _ = run_chunks(split_at(SAMPLE, points))
        assert events == expected, points


def test_each_unit_is_reported_as_soon_as_it_closes() -> None:
    parser = IncrementalParser()
    assert parser.feed("<think>abc") == []
    [think] = parser.feed("</think><tool_call>")
    assert (think.kind, think.content) == ("think", "abc")
    assert parser.feed('{"name": "code", "arguments": {"code": "print(\'</tool_call>\')"}}') == []
    [call] = parser.feed("</tool_call>")
    assert call.kind == "tool_call"
    assert call.data == {"name": "code", "arguments": {"code": "print('</tool_call>')"}}
    assert parser.feed("<answer>42</ans") == []
    [answer] = parser.feed("wer>")
    assert (answer.kind, answer.content, answer.incomplete) == ("answer", "42", False)
    assert parser.close() == []


def test_partial_shows_the_open_unit_as_it_grows() -> None:
    parser = IncrementalParser()
    assert parser.partial() is None
    parser.feed("<think>I see a re")
    part = parser.partial()
    assert part is not None and (part.kind, part.content, part.incomplete) == (
        "think",
        "I see a re",
        True,
    )
    parser.feed("d car</think>")
    assert parser.partial() is None
    parser.feed('<tool_call>{"name": "co')
    assert parser.partial().content == '{"name": "co'


def test_close_reports_the_unfinished_unit() -> None:
    parser = IncrementalParser()
    parser.feed("<think>t</think><answer>partial")
    [answer] = parser.close()
    assert answer.incomplete and answer.content == "partial"
    with pytest.raises(ValueError, match="after close"):
        parser.feed("more")


def test_offsets_point_into_the_whole_text() -> None:
    events, _ = run_chunks(split_at(SAMPLE, [5, 50, 51, 200]))
    for ev in events:
        piece = SAMPLE[ev.start : ev.end]
        assert ev.content in piece


def test_long_streamed_observation_in_small_chunks_is_linear_enough() -> None:
    # 2 MB data URL in 64-byte chunks: must finish quickly (the scanner must not rescan).
    image = "data:image/png;base64," + "A" * 2_000_000
    obs = json.dumps({"images": [image]})
    text = f'<tool_call>{{"name": "code"}}</tool_call><observation>{obs}</observation>'
    parser = IncrementalParser()
    events = []
    for i in range(0, len(text), 64):
        events += parser.feed(text[i : i + 64])
    events += parser.close()
    assert parser.result()["rounds"][0]["images"] == [image]


FRAGMENTS = [
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "<observation>",
    "</observation>",
    "<answer>",
    "</answer>",
    "<plan>",
    "</plan>",
    "<code>",  # the hosted endpoint's one-tag-per-tool dialect
    "</code>",
    "<text_search>",
    "</text_search>",
    "<web_content>",
    "</web_content>",
    "<",
    ">",
    "</",
    '"',
    "\\",
    '\\"',
    "\n",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    '{"name": "code", "arguments": {"code": "',
    '"}}',
    "'",
    "True",
    "NaN",
    "```json\n",
    "```",
    "data:image/png;base64,AAAA",
    '"images": [',
    " ",
    "x",
    "é",
    "🟥",
]
texts = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=5)), max_size=40).map(
    "".join
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(texts)
def test_arbitrary_text_never_raises(text: str) -> None:
    parsed = parse_full_response(text)
    assert isinstance(parsed["rounds"], list)
    assert [r["round_num"] for r in parsed["rounds"]] == list(range(1, len(parsed["rounds"]) + 1))


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(texts, st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_arbitrary_text_any_chunking_agrees(text: str, points: list[int]) -> None:
    events, result = run_chunks(split_at(text, [p for p in points if p <= len(text)]))
    assert same(events, iter_events(text))
    assert same(result, parse_full_response(text))


def scanner_events(text: str) -> list[Event]:
    """The resumable scanner's reading of a whole text: the reference `iter_events`' fast
    loop must agree with."""
    scanner = Scanner()
    scanner.buf = text
    return scanner.run(final=True)


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(texts)
def test_the_whole_text_fast_loop_agrees_with_the_scanner(text: str) -> None:
    assert same(iter_events(text), scanner_events(text))


@pytest.mark.parametrize(
    "text",
    [
        SAMPLE,
        "<think>a</think><answer>b</answer>",
        "headless reasoning</think>\n<answer>b</answer> tail <",
        '<tool_call>{"name": "code", "arguments": {}}</tool_call><observation>  </observation>',
        "<observation>not json</observation><plan>[1, 2]</plan><think>cut",
        '<tool_call> {"a": 1} </tool_call x',
        "<answer>cut off",
        "<plan>",
    ],
)
def test_the_fast_loop_agrees_on_the_usual_shapes(text: str) -> None:
    assert same(iter_events(text), scanner_events(text))
