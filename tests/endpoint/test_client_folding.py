"""Folding: one message, split into deltas any way a server might, folds to the same text as
the non-streamed message, and the live pieces concatenate to it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r1v4.endpoint.folding import StreamFolder, ToolCallAccumulator, fold_message, pick_reasoning

texty = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


def splits(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True) if b > a]


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(
    reasoning=texty,
    content=texty,
    args=st.dictionaries(st.text(max_size=5), st.text(max_size=10), max_size=3),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=6),
    field=st.sampled_from(["reasoning", "reasoning_content", "both"]),
    with_call=st.booleans(),
)
def test_any_delta_split_folds_like_the_whole_message(
    reasoning: str, content: str, args: dict, cuts: list[int], field: str, with_call: bool
) -> None:
    if content.lstrip().startswith("<think>"):
        content = "x" + content  # that case is defined separately (no double wrap)
    msg: dict = {"role": "assistant", "content": content or None}
    names = ["reasoning", "reasoning_content"] if field == "both" else [field]
    for name in names:
        msg[name] = reasoning or None
    arg_text = json.dumps(args)
    if with_call:
        msg["tool_calls"] = [
            {"id": "c1", "type": "function", "function": {"name": "code", "arguments": arg_text}}
        ]
    whole, errors = fold_message(msg)
    assert errors == []

    deltas: list[dict] = [{"role": "assistant", "content": ""}]
    for piece in splits(reasoning, cuts):
        deltas.append({name: piece for name in names})
    for piece in splits(content, cuts):
        deltas.append({"content": piece, "tool_calls": None})
    if with_call:
        deltas.append({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "code"}}]})
        for piece in splits(arg_text, cuts):
            deltas.append(
                {
                    "tool_calls": [
                        {"index": 0, "id": None, "function": {"name": "", "arguments": piece}}
                    ]
                }
            )
        deltas.append({"tool_calls": [{"index": 0, "function": {"arguments": ""}}]})

    pieces: list[str] = []
    folder = StreamFolder(pieces.append)
    for d in deltas:
        folder.add_delta(d)
    text = folder.finish()
    assert text == whole
    assert "".join(pieces) == whole
    if with_call:
        assert f'"arguments": {json.dumps(args, ensure_ascii=False)}' in text


def test_pick_reasoning_prefers_nonempty_reasoning() -> None:
    assert pick_reasoning({"reasoning": "", "reasoning_content": "rc"}) == "rc"
    assert pick_reasoning({"reasoning": "r", "reasoning_content": "r"}) == "r"
    assert pick_reasoning({"reasoning": None}) == ""


def test_accumulator_without_index_and_dict_arguments() -> None:
    acc = ToolCallAccumulator()
    acc.add([{"id": "a", "function": {"name": "code", "arguments": {"code": "1"}}}])
    acc.add([{"id": "b", "function": {"name": "web_visit", "arguments": '{"urls": []}'}}])
    acc.add(None)
    calls = acc.calls()
    assert [c["function"]["name"] for c in calls] == ["code", "web_visit"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"code": "1"}


def test_double_encoded_arguments_and_legacy_function_call() -> None:
    msg = {"content": "", "function_call": {"name": "code", "arguments": json.dumps('{"a": 1}')}}
    text, errors = fold_message(msg)
    assert text == '<tool_call>{"name": "code", "arguments": {"a": 1}}</tool_call>' and not errors


def test_stream_ending_inside_reasoning_closes_think() -> None:
    pieces: list[str] = []
    folder = StreamFolder(pieces.append)
    folder.add_delta({"reasoning_content": "half a tho"})
    assert folder.partial() == "<think>half a tho"
    assert folder.finish() == "<think>half a tho</think>" == "".join(pieces)
