"""The hosted DeepResearch endpoint's dialect: one tag per tool, the bare argument as its body.

SkyworkAI/Skywork-R1V's r1v4/inference/request_deepresearch.py documents the hosted model's
output as ``<think>…</think> <image_search>…</image_search> <observation>…</observation> …
<answer>…</answer>``; result files of ``--tools server`` runs hold it, and these tests pin
that it parses into the same rounds as our ``<tool_call>`` protocol.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r1v4.parsing import (
    IncrementalParser,
    get_round_statistics,
    iter_events,
    parse_full_response,
)

IMAGE_HITS = [{"title": "Eiffel Tower", "source": "https://img.example/e.jpg", "link": "l1"}]
TEXT_HITS = [{"title": "Height", "url": "https://example.org/h", "snippet": "330 m"}]
PAGE = {"type": "web_content", "result": "The tower is 330 metres tall."}

# The shape the seed file's comment documents, with its three search tools.
EXAMPLE = (
    "<think>The photo shows a lattice tower; find out which one.</think> "
    "<image_search>input_image.jpg</image_search> "
    f"<observation>{json.dumps(IMAGE_HITS)}</observation> "
    "<think>It is the Eiffel Tower. How tall is it?</think> "
    "<text_search>Eiffel Tower height in metres</text_search> "
    f"<observation>{json.dumps(TEXT_HITS)}</observation> "
    "<think>Confirm on the page.</think> "
    "<web_content>https://example.org/h</web_content> "
    f"<observation>{json.dumps(PAGE)}</observation> "
    "<think>Confirmed.</think> <answer>330 m</answer>"
)

CODE_ROUND = (
    "<think>Crop first.</think>\n<code>\n    from PIL import Image\n"
    "    img = Image.open('input_image.jpg')\n    img.crop((0, 0, 10, 10)).save('c.png')\n"
    "</code>\n"
    '<observation>{"type": "code", "result": "", "images": ["out.assets/c/1.png"]}'
    "</observation>\n"
)


def run_chunks(chunks: list[str]) -> tuple[list, dict]:
    parser = IncrementalParser()
    events = []
    for chunk in chunks:
        events += parser.feed(chunk)
    events += parser.close()
    return events, parser.result()


# ---- the documented shape -------------------------------------------------------------------
def test_the_documented_example_becomes_three_tool_rounds() -> None:
    parsed = parse_full_response(EXAMPLE)
    assert parsed["final_round"] == {"think": "Confirmed.", "answer": "330 m", "incomplete": False}
    assert parsed["rounds"] == [
        {
            "round_num": 1,
            "think": "The photo shows a lattice tower; find out which one.",
            "tool_call": {
                "name": "image_search",
                "arguments": {"image_paths": ["input_image.jpg"]},
            },
            "observation": IMAGE_HITS,
            "tool_call_tag": "image_search",
            "images": [],
            "incomplete": False,
        },
        {
            "round_num": 2,
            "think": "It is the Eiffel Tower. How tall is it?",
            "tool_call": {
                "name": "text_search",
                "arguments": {"queries": ["Eiffel Tower height in metres"]},
            },
            "observation": TEXT_HITS,
            "tool_call_tag": "text_search",
            "images": [],
            "incomplete": False,
        },
        {
            "round_num": 3,
            "think": "Confirm on the page.",
            "tool_call": {"name": "web_visit", "arguments": {"urls": ["https://example.org/h"]}},
            "observation": PAGE,
            "tool_call_tag": "web_content",
            "images": [],
            "incomplete": False,
        },
    ]
    stats = get_round_statistics(parsed)
    assert stats == {
        "total_rounds": 3,
        "has_final_answer": True,
        "tools_used": ["image_search", "text_search", "web_visit"],
    }


@pytest.mark.parametrize(
    ("tag", "body", "name", "arguments"),
    [
        ("image_search", " poster.png \n", "image_search", {"image_paths": ["poster.png"]}),
        ("text_search", "who painted this?", "text_search", {"queries": ["who painted this?"]}),
        ("web_content", "https://a.example/x?y=1&z", "web_visit", {"urls": ["https://a.example/x?y=1&z"]}),
        ("web_visit", "https://a.example/", "web_visit", {"urls": ["https://a.example/"]}),
        ("text_search", "[PDF] report 2020", "text_search", {"queries": ["[PDF] report 2020"]}),
        ("text_search", '{"a"} b', "text_search", {"queries": ['{"a"} b']}),
    ],
)  # fmt: skip
def test_a_bare_body_is_the_tools_one_argument(
    tag: str, body: str, name: str, arguments: dict
) -> None:
    [rnd] = parse_full_response(f"<think>t</think><{tag}>{body}</{tag}>")["rounds"]
    assert rnd["tool_call"] == {"name": name, "arguments": arguments}
    assert rnd["tool_call_tag"] == tag and rnd["incomplete"] is False
    assert "tool_call_parse_error" not in rnd


def test_a_code_body_is_dedented_python_with_its_images() -> None:
    parsed = parse_full_response(CODE_ROUND + "<answer>a</answer>")
    [rnd] = parsed["rounds"]
    assert rnd["tool_call"] == {
        "name": "code",
        "arguments": {
            "code": "from PIL import Image\nimg = Image.open('input_image.jpg')\n"
            "img.crop((0, 0, 10, 10)).save('c.png')"
        },
    }
    assert rnd["images"] == ["out.assets/c/1.png"]
    assert get_round_statistics(parsed)["tools_used"] == ["code"]


# ---- JSON bodies ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tag", "body", "arguments", "repaired"),
    [
        ("text_search", '{"queries": ["a", "b"]}', {"queries": ["a", "b"]}, False),
        ("text_search", '{"query": "a"}', {"query": "a"}, False),
        ("text_search", '["a", "b"]', {"queries": ["a", "b"]}, False),
        ("text_search", "{'queries': ['a',],}", {"queries": ["a"]}, True),
        ("text_search", '```json\n{"query": "a"}\n```', {"query": "a"}, True),
        ("image_search", '{"image_path": "p.png"}', {"image_path": "p.png"}, False),
        ("web_content", '{"urls": ["https://x.example"]}', {"urls": ["https://x.example"]}, False),
        ("code", '{"code": "print(1)"}', {"code": "print(1)"}, False),
        ("text_search", json.dumps({"name": "text_search", "arguments": {"queries": ["q"]}}),
         {"queries": ["q"]}, False),
        ("web_content", json.dumps({"name": "web_visit", "arguments": {"urls": ["u"]}}),
         {"urls": ["u"]}, False),
    ],
)  # fmt: skip
def test_a_json_object_body_is_the_arguments(
    tag: str, body: str, arguments: dict, repaired: bool
) -> None:
    [rnd] = parse_full_response(f"<{tag}>{body}</{tag}><observation>{{}}</observation>")["rounds"]
    assert rnd["tool_call"]["arguments"] == arguments
    assert rnd.get("tool_call_repaired", False) is repaired
    assert rnd["observation"] == {}


@pytest.mark.parametrize(
    "code",
    ['{"a": 1}\nprint(d)', '{"a": 1}', "[print(i) for i in range(3)]", "```python\nprint(1)\n```"],
)
def test_python_that_looks_like_json_stays_code(code: str) -> None:
    [rnd] = parse_full_response(f"<code>{code}</code>")["rounds"]
    assert rnd["tool_call"] == {"name": "code", "arguments": {"code": code}}


def test_a_closing_tag_inside_a_json_string_does_not_end_the_body() -> None:
    body = json.dumps({"code": "print('</code>')"})
    [rnd] = parse_full_response(f"<code>{body}</code><answer>x</answer>")["rounds"]
    assert rnd["tool_call"]["arguments"] == {"code": "print('</code>')"}


def test_an_empty_body_is_a_parse_error_not_a_call() -> None:
    parsed = parse_full_response("<think>t</think><text_search>  </text_search><observation>x")
    [rnd] = parsed["rounds"]
    assert rnd["tool_call"] == ""
    assert rnd["tool_call_parse_error"] == "empty <text_search>: expected queries"
    assert get_round_statistics(parsed)["tools_used"] == []


# ---- where a tag counts ---------------------------------------------------------------------
def test_tool_tags_inside_think_answer_and_observation_stay_text() -> None:
    text = (
        "<think>wrap it in <code>print(1)</code> and <text_search>x</text_search></think>\n"
        '<tool_call>{"name": "code", "arguments": {"code": "print(\'<code>\')"}}</tool_call>'
        "<observation>see <web_content>u</web_content></observation>\n"
        "<think>done</think><answer>Use <code>len(x)</code>.</answer>"
    )
    parsed = parse_full_response(text)
    [rnd] = parsed["rounds"]
    assert rnd["think"] == "wrap it in <code>print(1)</code> and <text_search>x</text_search>"
    assert rnd["tool_call"] == {"name": "code", "arguments": {"code": "print('<code>')"}}
    assert "tool_call_tag" not in rnd
    assert rnd["observation"] == "see <web_content>u</web_content>"
    assert parsed["final_round"]["answer"] == "Use <code>len(x)</code>."
    assert get_round_statistics(parsed)["tools_used"] == ["code"]


def test_a_headless_think_mentioning_a_tag_stays_a_think() -> None:
    # The chat template put <think> in the prompt: the reply starts inside the think.
    text = "I could use <code>crop</code> here.</think><text_search>q</text_search>"
    parsed = parse_full_response(text)
    [rnd] = parsed["rounds"]
    assert rnd["think"] == "I could use <code>crop</code> here."
    assert rnd["tool_call"] == {"name": "text_search", "arguments": {"queries": ["q"]}}


def test_prose_then_a_closed_tag_is_a_call() -> None:
    # PyVision writes prose, then its code; no think tags at all.
    text = (
        "I'll zoom in.\n\n<code>\n```python\nplt.show()\n```\n</code>"
        '<observation>{"type": "code", "result": "ok"}</observation>The block is red.'
    )
    parsed = parse_full_response(text)
    [rnd] = parsed["rounds"]
    assert rnd["tool_call"] == {"name": "code", "arguments": {"code": "```python\nplt.show()\n```"}}
    assert rnd["observation"] == {"type": "code", "result": "ok"}
    assert get_round_statistics(parsed)["tools_used"] == ["code"]


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        # a headless think quoting a whole call, then closed: still a think
        ("I could run <code>x</code> later.</think><answer>a</answer>", ["think", "answer"]),
        # a tag named in prose and never closed is prose; the answer after it stands
        ("I will use <text_search> next.\n<answer>a</answer>", ["text", "answer"]),
        # prose, a closed call, the end: a call
        ("Let me look.\n<code>print(1)</code>", ["text", "tool_call"]),
    ],
)
def test_a_tag_after_prose_at_the_start_is_judged_by_what_follows(text: str, kinds: list) -> None:
    assert [e.kind for e in iter_events(text)] == kinds
    for cut in range(1, len(text)):  # the same whatever the chunks
        parser = IncrementalParser()
        events = parser.feed(text[:cut]) + parser.feed(text[cut:]) + parser.close()
        assert [e.kind for e in events] == kinds, cut


def test_a_reply_may_open_with_a_tool_tag() -> None:
    [rnd] = parse_full_response("\n <text_search>q</text_search>")["rounds"]
    assert rnd["tool_call"]["name"] == "text_search" and rnd["think"] == ""


# ---- mixed dialects -------------------------------------------------------------------------
MIXED = (
    "<think>one</think>"
    '<tool_call>{"name": "text_search", "arguments": {"queries": ["a"]}}</tool_call>'
    '<observation>{"type": "text_search", "result": "r1"}</observation>'
    "<think>two</think><text_search>b</text_search>"
    '<observation>{"type": "text_search", "result": "r2"}</observation>'
    "<think>three: parallel</think><web_visit>https://u.example</web_visit>"
    '<tool_call>{"name": "code", "arguments": {"code": "1"}}</tool_call>'
    '<observation>{"type": "web_visit", "result": "r3"}</observation>'
    '<observation>{"type": "code", "result": "r4"}</observation>'
    "<think>four</think><answer>done</answer>"
)


def test_both_dialects_in_one_response_pair_by_position() -> None:
    parsed = parse_full_response(MIXED)
    rounds = parsed["rounds"]
    assert [r["think"] for r in rounds] == ["one", "two", "three: parallel", ""]
    assert [r["tool_call"]["name"] for r in rounds] == [
        "text_search",
        "text_search",
        "web_visit",
        "code",
    ]
    assert [r.get("tool_call_tag") for r in rounds] == [None, "text_search", "web_visit", None]
    assert [r["observation"]["result"] for r in rounds] == ["r1", "r2", "r3", "r4"]
    assert parsed["final_round"]["answer"] == "done"
    assert get_round_statistics(parsed)["tools_used"] == [
        "text_search",
        "text_search",
        "web_visit",
        "code",
    ]


# ---- truncation -----------------------------------------------------------------------------
SAMPLES = [EXAMPLE, CODE_ROUND + EXAMPLE, MIXED]
_CLOSE_RE = re.compile(r"</(tool_call|image_search|text_search|web_content|web_visit|code)>$")


@pytest.mark.parametrize("text", SAMPLES, ids=["example", "code", "mixed"])
def test_every_truncation_parses_and_never_yields_a_call_from_a_cut_body(text: str) -> None:
    full = parse_full_response(text)
    for cut in range(len(text) + 1):
        head = text[:cut]
        parsed = parse_full_response(head)
        for ev in iter_events(head):
            if ev.kind == "tool_call" and isinstance(ev.data, dict):
                # a call is only ever decoded from a body whose closing tag is in the text
                assert _CLOSE_RE.search(head[: ev.end]), (cut, ev)
        for rnd in parsed["rounds"]:
            whole = full["rounds"][rnd["round_num"] - 1]
            if isinstance(rnd["tool_call"], dict):
                assert rnd["tool_call"] == whole["tool_call"], cut
                assert rnd.get("tool_call_tag") == whole.get("tool_call_tag")
            elif rnd["tool_call"] is not None:
                assert rnd["incomplete"], cut
                assert rnd["tool_call_parse_error"].startswith("unterminated <"), cut
        stats = get_round_statistics(parsed)
        assert (
            stats["tools_used"]
            == get_round_statistics(full)["tools_used"][: len(stats["tools_used"])]
        )


def test_a_cut_dialect_body_is_an_incomplete_round() -> None:
    text = "<think>t</think><web_content>https://example.org/very/lo"
    [rnd] = parse_full_response(text)["rounds"]
    assert rnd["incomplete"] is True
    assert rnd["tool_call"] == "https://example.org/very/lo"
    assert rnd["tool_call_tag"] == "web_content"
    assert rnd["tool_call_parse_error"] == (
        "unterminated <web_content>: the response ends before </web_content>"
    )
    assert get_round_statistics(parse_full_response(text))["tools_used"] == []


# ---- incremental == one-shot ----------------------------------------------------------------
@pytest.mark.parametrize("text", SAMPLES, ids=["example", "code", "mixed"])
def test_every_two_chunk_split_agrees_with_one_shot(text: str) -> None:
    expected_events, expected = iter_events(text), parse_full_response(text)
    for cut in range(len(text) + 1):
        events, result = run_chunks([text[:cut], text[cut:]])
        assert events == expected_events, f"split at {cut}"
        assert result == expected, f"split at {cut}"


def test_one_character_chunks_agree_with_one_shot() -> None:
    text = CODE_ROUND + MIXED
    events, result = run_chunks(list(text))
    assert events == iter_events(text) and result == parse_full_response(text)


def test_partial_names_an_open_dialect_call_as_a_tool_call() -> None:
    parser = IncrementalParser()
    parser.feed("<think>t</think><text_search>Eiffel to")
    part = parser.partial()
    assert part is not None
    assert (part.kind, part.tag, part.content) == ("tool_call", "text_search", "Eiffel to")
    [call] = parser.feed("wer</text_search>")
    assert call.data == {"name": "text_search", "arguments": {"queries": ["Eiffel tower"]}}


# ---- generated trajectories -----------------------------------------------------------------
_bare = st.text(
    st.characters(blacklist_characters="<", blacklist_categories=("Cs",)), min_size=1, max_size=30
).filter(lambda s: s.strip() and s.strip()[0] not in "{[`")
_ws = st.sampled_from(["", " ", "\n"])
_TAG_ARG = {
    "image_search": ("image_search", "image_paths"),
    "text_search": ("text_search", "queries"),
    "web_content": ("web_visit", "urls"),
    "web_visit": ("web_visit", "urls"),
}


@st.composite
def dialect_trajectory(draw: st.DrawFn) -> tuple[str, list[dict]]:
    """A well-formed trajectory mixing both dialects, and the calls it must parse to."""
    parts, calls = [], []
    for _ in range(draw(st.integers(0, 4))):
        parts += [f"<think>{draw(_bare)}</think>", draw(_ws)]
        kind = draw(st.sampled_from([*_TAG_ARG, "json", "tool_call"]))
        if kind in _TAG_ARG:
            body = draw(_bare)
            name, arg = _TAG_ARG[kind]
            parts.append(f"<{kind}>{body}</{kind}>")
            calls.append({"name": name, "arguments": {arg: [body.strip()]}})
        else:
            args = {"queries": draw(st.lists(_bare, min_size=1, max_size=2))}
            if kind == "json":
                parts.append(f"<text_search>{json.dumps(args)}</text_search>")
            else:
                call = {"name": "text_search", "arguments": args}
                parts.append(f"<tool_call>{json.dumps(call)}</tool_call>")
            calls.append({"name": "text_search", "arguments": args})
        parts += [draw(_ws), f"<observation>{json.dumps(draw(_bare))}</observation>", draw(_ws)]
    parts.append(f"<answer>{draw(_bare)}</answer>")
    return "".join(parts), calls


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(dialect_trajectory(), st.lists(st.integers(min_value=0, max_value=600), max_size=6))
def test_generated_dialect_trajectories_parse_and_stream_alike(
    case: tuple[str, list[dict]], points: list[int]
) -> None:
    text, calls = case
    parsed = parse_full_response(text)
    assert [r["tool_call"] for r in parsed["rounds"]] == calls
    assert all(not r["incomplete"] and r["observation"] is not None for r in parsed["rounds"])
    points = sorted({p for p in points if p <= len(text)})
    chunks = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    events, result = run_chunks(chunks)
    assert events == iter_events(text) and result == parsed


# ---- the viewer shows them as tool calls ----------------------------------------------------
def test_the_viewer_shows_dialect_calls_as_tool_calls(tmp_path: Path) -> None:
    from r1v4.viewer import create_app, get_library

    record = {
        "id": "hosted-1",
        "question": "How tall is this tower?",
        "image": "input_image.jpg",
        "response": {"full_response": EXAMPLE, "raw_response": {}},
        "meta": {"mode": "nonstream", "tools": "server"},
    }
    path = tmp_path / "hosted.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    app = create_app({"RESULT_FILES": [str(path)], "ROOTS": [str(tmp_path)], "CWD": str(tmp_path)})
    client = app.test_client()
    fid = get_library(app).files()[0].fid

    data = client.get(f"/f/{fid}/case/0.json").get_json()
    assert [r["tool_call"]["name"] for r in data["parsed"]["rounds"]] == [
        "image_search",
        "text_search",
        "web_visit",
    ]
    resp = client.get(f"/f/{fid}/case/0")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Eiffel Tower height in metres" in html  # the query, shown as a query
    assert 'href="https://example.org/h"' in html  # the visited URL, as a link
    assert "unparsed tool call" not in html
    assert '<span class="query">Eiffel Tower height in metres</span>' in html
    assert "<code>input_image.jpg</code>" in html  # the image_search path
    listing = client.get(f"/f/{fid}/").get_data(as_text=True)
    assert "text_search <b>1</b>" in listing and "web_visit <b>1</b>" in listing


def test_mini_o3_grounding_is_read_as_a_tool_call() -> None:
    text = (
        "<think>Zoom in.</think>\n"
        '<grounding>{"bbox_2d": [0.5, 0.3, 1.0, 0.7], "source": "original_image"}</grounding>'
        '<observation>{"type": "grounding", "result": "ok", "images": []}</observation>'
        "<think>Done.</think><answer>SHANGHAI</answer>"
    )
    parsed = parse_full_response(text)
    (call,) = [r["tool_call"] for r in parsed["rounds"]]
    assert call == {
        "name": "grounding",
        "arguments": {"bbox_2d": [0.5, 0.3, 1.0, 0.7], "source": "original_image"},
    }
    assert parsed["final_round"]["answer"] == "SHANGHAI"
