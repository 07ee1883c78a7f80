"""parse_full_response: seed-identical on well-formed responses, right where the seed is wrong."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r1v4.parsing import extract_plan, get_round_statistics, parse_full_response

SEED_SAMPLE = """<think>
I need to identify the rightmost child in the image and determine the color of their skirt.
</think>
<tool_call>{"name": "code", "arguments": {"code": "print('hello')"}}</tool_call>
<observation>{"result": "hello", "type": "code"}</observation>
<think>
The cropped image shows the rightmost child clearly.
</think>
<answer>
The rightmost child has a red/orange colored skirt.
</answer>"""

EXTRAS = ("images", "incomplete")


def seed_view(parsed: dict) -> dict:
    """The parse without the documented additions, i.e. what the seed's parser returns."""
    rounds = [{k: v for k, v in r.items() if k not in EXTRAS} for r in parsed["rounds"]]
    final = {k: v for k, v in parsed["final_round"].items() if k not in EXTRAS}
    rest = {k: v for k, v in parsed.items() if k not in ("rounds", "final_round")}
    return {"rounds": rounds, "final_round": final, **rest}


def round_(num, think, call, obs, **errors):
    return {"round_num": num, "think": think, "tool_call": call, "observation": obs, **errors}


# (response, the seed's output written out by hand from its rules)
WELL_FORMED = [
    (
        SEED_SAMPLE,
        {
            "rounds": [
                round_(
                    1,
                    "I need to identify the rightmost child in the image and determine the "
                    "color of their skirt.",
                    {"name": "code", "arguments": {"code": "print('hello')"}},
                    {"result": "hello", "type": "code"},
                )
            ],
            "final_round": {
                "think": "The cropped image shows the rightmost child clearly.",
                "answer": "The rightmost child has a red/orange colored skirt.",
            },
        },
    ),
    (
        "<think>a</think><answer>42</answer>",
        {"rounds": [], "final_round": {"think": "a", "answer": "42"}},
    ),
    ("<answer> only </answer>", {"rounds": [], "final_round": {"think": "", "answer": "only"}}),
    ("", {"rounds": [], "final_round": {"think": "", "answer": ""}}),
    ("plain text, no tags", {"rounds": [], "final_round": {"think": "", "answer": ""}}),
    (
        '<think>t1</think>\n<tool_call>{"name": "text_search", "arguments": {"queries": ["a"]}}'
        '</tool_call>\n<observation>{"type": "text_search", "result": "r1"}</observation>\n'
        '<think>t2</think>\n<tool_call>{"name": "web_visit", "arguments": {"urls": ["u"]}}'
        '</tool_call>\n<observation>{"type": "web_visit", "result": "r2"}</observation>\n'
        "<think>t3</think>\n<answer>first</answer><answer>second</answer>",
        {
            "rounds": [
                round_(
                    1,
                    "t1",
                    {"name": "text_search", "arguments": {"queries": ["a"]}},
                    {"type": "text_search", "result": "r1"},
                ),
                round_(
                    2,
                    "t2",
                    {"name": "web_visit", "arguments": {"urls": ["u"]}},
                    {"type": "web_visit", "result": "r2"},
                ),
            ],
            "final_round": {"think": "t3", "answer": "first"},
        },
    ),
    (  # the last call never got its observation
        '<think>t1</think><tool_call>{"name": "code", "arguments": {}}</tool_call>',
        {
            "rounds": [round_(1, "t1", {"name": "code", "arguments": {}}, None)],
            "final_round": {"think": "", "answer": ""},
        },
    ),
    (  # JSON that cannot be repaired keeps the seed's text and json error message
        "<think>t</think><tool_call>I will crop the image</tool_call>"
        "<observation>plain text result</observation><answer>x</answer>",
        {
            "rounds": [
                round_(
                    1,
                    "t",
                    "I will crop the image",
                    "plain text result",
                    tool_call_parse_error="Expecting value: line 1 column 1 (char 0)",
                    observation_parse_error="Expecting value: line 1 column 1 (char 0)",
                )
            ],
            "final_round": {"think": "", "answer": "x"},
        },
    ),
    (
        '<tool_call>  \n{"name": "code", "arguments": {"code": "x = 1\\nprint(x)"}}'
        "\n  </tool_call>",
        {
            "rounds": [
                round_(1, "", {"name": "code", "arguments": {"code": "x = 1\nprint(x)"}}, None)
            ],
            "final_round": {"think": "", "answer": ""},
        },
    ),
]


@pytest.mark.parametrize(("text", "seed"), WELL_FORMED)
def test_well_formed_output_is_the_seeds(text: str, seed: dict) -> None:
    parsed = parse_full_response(text)
    assert seed_view(parsed) == seed
    for r in parsed["rounds"]:  # the only additions are the documented ones
        assert set(r) - set(seed_view({"rounds": [r], "final_round": {}})["rounds"][0]) == set(
            EXTRAS
        )
    assert not any(r["incomplete"] for r in parsed["rounds"])
    assert parsed["final_round"]["incomplete"] is False
    # key order matches the seed's, so json.dumps output lines up too
    for r in parsed["rounds"]:
        assert list(r)[:4] == ["round_num", "think", "tool_call", "observation"]


def test_statistics_are_the_seeds() -> None:
    text = WELL_FORMED[5][0]
    assert get_round_statistics(parse_full_response(text)) == {
        "total_rounds": 2,
        "has_final_answer": True,
        "tools_used": ["text_search", "web_visit"],
    }
    assert get_round_statistics(parse_full_response("<think>x</think>")) == {
        "total_rounds": 0,
        "has_final_answer": False,
        "tools_used": [],
    }


OBS = '<observation>{"type": "code", "result": "ok"}</observation>'
CALL_A = '<tool_call>{"name": "code", "arguments": {"code": "a"}}</tool_call>'
CALL_B = '<tool_call>{"name": "code", "arguments": {"code": "b"}}</tool_call>'


def test_round_without_think_does_not_shift_later_thinks() -> None:
    # The seed gives round 1 the think of round 2, round 2 the final think, and loses it.
    text = f"{CALL_A}{OBS}<think>why b</think>{CALL_B}{OBS}<think>done</think><answer>y</answer>"
    parsed = parse_full_response(text)
    assert [r["think"] for r in parsed["rounds"]] == ["", "why b"]
    assert [r["tool_call"]["arguments"]["code"] for r in parsed["rounds"]] == ["a", "b"]
    assert parsed["final_round"] == {"think": "done", "answer": "y", "incomplete": False}


def test_two_thinks_in_a_row_belong_to_the_same_round() -> None:
    # The seed gives round 1 only "first", round 2 "second", and the final think "third".
    text = (
        f"<think>first</think><think>second</think>{CALL_A}{OBS}"
        f"<think>third</think>{CALL_B}{OBS}<answer>y</answer>"
    )
    parsed = parse_full_response(text)
    assert [r["think"] for r in parsed["rounds"]] == ["first\n\nsecond", "third"]
    assert parsed["final_round"]["think"] == ""


def test_parallel_calls_get_their_observations_in_order() -> None:
    text = (
        f"<think>t</think>{CALL_A}{CALL_B}"
        '<observation>{"result": "for a"}</observation>'
        '<observation>{"result": "for b"}</observation>'
    )
    parsed = parse_full_response(text)
    assert [r["observation"]["result"] for r in parsed["rounds"]] == ["for a", "for b"]


def test_call_left_without_observation_does_not_steal_the_next_one() -> None:
    text = f"<think>t1</think>{CALL_A}<think>t2</think>{CALL_B}{OBS}<answer>y</answer>"
    first, second = parse_full_response(text)["rounds"]
    assert first["observation"] is None
    assert second["observation"] == {"type": "code", "result": "ok"}
    assert second["think"] == "t2"


def test_think_between_a_call_and_its_observation() -> None:
    text = f"<think>t1</think>{CALL_A}<think>meanwhile</think>{OBS}<answer>y</answer>"
    parsed = parse_full_response(text)
    [rnd] = parsed["rounds"]
    assert rnd["observation"] == {"type": "code", "result": "ok"}
    assert parsed["final_round"]["think"] == "meanwhile"


def test_observation_without_a_call_is_kept_in_its_own_round() -> None:
    parsed = parse_full_response(f"<think>t</think>{OBS}<answer>a</answer>")
    assert parsed["rounds"][0]["tool_call"] is None
    assert parsed["rounds"][0]["observation"] == {"type": "code", "result": "ok"}
    assert parsed["rounds"][0]["think"] == "t"


def test_headless_think_from_a_chat_template() -> None:
    parsed = parse_full_response(f"reasoning without an opening tag</think>{CALL_A}{OBS}")
    assert parsed["rounds"][0]["think"] == "reasoning without an opening tag"


def test_tags_inside_json_strings_do_not_split_rounds() -> None:
    code = "print('</tool_call>'); print('<answer>fake</answer>')"
    call = {"name": "code", "arguments": {"code": code}}
    obs = {"type": "code", "result": "</tool_call>\n<answer>fake</answer>\n</observation>"}
    text = (
        f"<think>t</think><tool_call>{json.dumps(call)}</tool_call>\n"
        f"<observation>{json.dumps(obs)}</observation>\n"
        "<think>t2</think><answer>real</answer>"
    )
    parsed = parse_full_response(text)
    assert len(parsed["rounds"]) == 1
    assert parsed["rounds"][0]["tool_call"] == call
    assert parsed["rounds"][0]["observation"] == obs
    assert parsed["final_round"] == {"think": "t2", "answer": "real", "incomplete": False}


def test_broken_json_string_falls_back_to_the_first_closing_tag() -> None:
    # An unescaped quote and a raw line break: string tracking is unreliable, so the first
    # closing tag ends the call and the next round is not swallowed.
    text = (
        '<tool_call>{"name": "code", "arguments": {"code": "x = "a}</tool_call>\n'
        f"{OBS}\n<think>t2</think>{CALL_B}{OBS}<answer>y</answer>"
    )
    parsed = parse_full_response(text)
    assert len(parsed["rounds"]) == 2
    assert parsed["rounds"][1]["tool_call"]["arguments"] == {"code": "b"}
    assert parsed["final_round"]["answer"] == "y"


def test_model_json_slips_are_repaired_and_flagged() -> None:
    text = (
        "<think>t</think><tool_call>{'name': 'code', 'arguments': {'code': 'x',},}</tool_call>"
        '<observation>{"type": "code", "ok": True}</observation>'
    )
    rnd = parse_full_response(text)["rounds"][0]
    assert rnd["tool_call"] == {"name": "code", "arguments": {"code": "x"}}
    assert rnd["tool_call_repaired"] is True and "tool_call_parse_error" not in rnd
    assert rnd["observation"] == {"type": "code", "ok": True}
    assert rnd["observation_repaired"] is True


def test_rounds_list_their_images() -> None:
    data_url = "data:image/png;base64,iVBORw0KGgo="
    text = (
        f"{CALL_A}<observation>"
        + json.dumps(
            {"type": "code", "result": "", "images": ["out.jsonl.assets/c1/ab.png", data_url]}
        )
        + f"</observation>{CALL_B}<observation>saved {data_url} as text</observation>"
        f"{CALL_A}"
    )
    rounds = parse_full_response(text)["rounds"]
    assert rounds[0]["images"] == ["out.jsonl.assets/c1/ab.png", data_url]
    assert rounds[1]["images"] == [data_url]
    assert rounds[2]["images"] == []


def test_truncated_tool_call_is_incomplete_and_not_executable() -> None:
    text = f"<think>t</think>{CALL_A}{OBS}<think>t2</think><tool_call>" + '{"name": "code", "argu'
    parsed = parse_full_response(text)
    first, last = parsed["rounds"]
    assert first["incomplete"] is False and first["observation"] == {"type": "code", "result": "ok"}
    assert last["incomplete"] is True
    assert last["think"] == "t2"
    assert last["tool_call"] == '{"name": "code", "argu'
    assert "unterminated <tool_call>" in last["tool_call_parse_error"]


def test_truncated_answer_keeps_the_partial_text() -> None:
    parsed = parse_full_response("<think>t</think><answer>The skirt is re")
    assert parsed["final_round"] == {"think": "t", "answer": "The skirt is re", "incomplete": True}


def test_cut_mid_tag_marks_the_response_incomplete() -> None:
    parsed = parse_full_response(f"<think>t</think>{CALL_A}{OBS}<thi")
    assert parsed["final_round"]["incomplete"] is True
    assert parsed["rounds"][0]["incomplete"] is False


def test_string_cut_at_the_end_is_truncation_not_a_split() -> None:
    text = '<think>t</think><tool_call>{"name": "code", "arguments": {"code": "print(\'</tool_call>'
    rnd = parse_full_response(text)["rounds"][0]
    assert rnd["incomplete"] is True
    assert rnd["tool_call"].endswith("</tool_call>")


def _sample() -> str:
    obs = {"type": "code", "result": "</observation> <answer>no</answer>", "images": ["a/1.png"]}
    return (
        "<think>look closer</think>\n"
        + '<tool_call>{"name": "code", "arguments": {"code": "print(\\"</tool_call>\\")"}}'
        + "</tool_call>\n"
        + f"<observation>{json.dumps(obs)}</observation>\n"
        + "<think>two</think><think>thinks</think>\n"
        + "<tool_call>{'name': 'text_search', 'arguments': {'queries': ['q',]}}</tool_call>\n"
        + '<observation>{"type": "text_search", "result": "r"}</observation>\n'
        + "<think>final</think>\n<answer>red</answer>"
    )


def test_every_truncation_of_a_sample_parses_and_keeps_what_is_complete() -> None:
    text = _sample()
    full = parse_full_response(text)
    assert len(full["rounds"]) == 2 and full["final_round"]["answer"] == "red"
    previous_complete = 0
    for cut in range(len(text) + 1):
        parsed = parse_full_response(text[:cut])
        complete = [r for r in parsed["rounds"] if not r["incomplete"] and r["observation"]]
        # rounds never disappear as the text grows, and a complete round is the final one
        assert len(complete) >= previous_complete
        previous_complete = len(complete)
        for rnd in complete:
            assert rnd == full["rounds"][rnd["round_num"] - 1]
        for rnd in parsed["rounds"]:
            # a cut tool call is never presented as a parsed (executable) call
            if isinstance(rnd["tool_call"], dict):
                assert rnd["tool_call"] == full["rounds"][rnd["round_num"] - 1]["tool_call"]
    assert previous_complete == 2


def test_every_byte_truncation_of_utf8_never_raises() -> None:
    raw = _sample().replace("red", "红色 🟥").encode("utf-8")
    for cut in range(len(raw) + 1):
        parse_full_response(raw[:cut].decode("utf-8", errors="replace"))


def test_non_string_input_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match="must be a str, got NoneType"):
        parse_full_response(None)  # type: ignore[arg-type]


PLAN = [
    {
        "description": "find the person",
        "tool_name": "image_search",
        "parameters": {"image_path": "x"},
    },
    {"description": "verify", "tool_name": "none", "parameters": {}},
]


@pytest.mark.parametrize(
    "text",
    [
        f"<think>plan it</think>\n{json.dumps(PLAN)}",
        f"<think>plan it</think>\n```json\n{json.dumps(PLAN)}\n```",
        f"<think>plan it</think>\n<plan>{json.dumps(PLAN)}</plan>",
        f"<think>plan it</think>Here is the plan:\n```json\n{json.dumps(PLAN, indent=2)}\n```\n",
        json.dumps({"steps": PLAN}),
        f"<think>p</think>{json.dumps(PLAN)[:-1]},]",  # trailing comma, repaired
    ],
)
def test_planner_responses_parse_to_their_steps(text: str) -> None:
    assert parse_full_response(text)["plan"] == PLAN
    assert extract_plan(text) == (PLAN, None)


def test_plan_tag_with_closing_tag_inside_a_string() -> None:
    steps = [{"description": "say </plan>", "tool_name": "none", "parameters": {}}]
    assert extract_plan(f"<plan>{json.dumps(steps)}</plan>") == (steps, None)


def test_agent_responses_never_grow_a_plan() -> None:
    parsed = parse_full_response(f"[see below]{CALL_A}{OBS}<answer>[1, 2]</answer>")
    assert "plan" not in parsed and "plan_parse_error" not in parsed
    assert "plan" not in parse_full_response("<think>t</think>just prose")


def test_plan_errors_are_reported() -> None:
    steps, error = extract_plan("<think>t</think>I cannot plan this.")
    assert steps is None and "no plan found" in error
    steps, error = extract_plan('<plan>{"description": "one"}</plan>')
    assert steps is None and 'without a "steps" list' in error
    parsed = parse_full_response("<think>t</think><plan>not json</plan>")
    assert "plan" not in parsed and "not valid JSON" in parsed["plan_parse_error"]


# --- seed parity on generated well-formed trajectories ----------------------------------------
# A reference written from the seed's documented rules (regex per tag, pair by index).

_REF = {
    t: re.compile(f"<{t}>(.*?)</{t}>", re.DOTALL)
    for t in ("think", "tool_call", "observation", "answer")
}


def _ref_body(body: str, key: str, rnd: dict) -> None:
    try:
        rnd[key] = json.loads(body.strip())
    except json.JSONDecodeError as exc:
        rnd[key] = body.strip()
        rnd[f"{key}_parse_error"] = str(exc)


def reference_parse(text: str) -> dict:
    thinks, calls, obs, answers = (_REF[t].findall(text) for t in _REF)
    rounds = []
    for i, call in enumerate(calls):
        rnd = {"round_num": i + 1, "think": thinks[i].strip() if i < len(thinks) else ""}
        rnd["tool_call"] = rnd["observation"] = None
        _ref_body(call, "tool_call", rnd)
        if i < len(obs):
            _ref_body(obs[i], "observation", rnd)
        rounds.append(rnd)
    final = {
        "think": thinks[-1].strip() if len(thinks) > len(calls) else "",
        "answer": answers[0].strip() if answers else "",
    }
    return {"rounds": rounds, "final_round": final}


_plain = st.text(st.characters(blacklist_characters="<", blacklist_categories=("Cs",)), max_size=30)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _plain,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(_plain, kids, max_size=3),
    max_leaves=8,
)
_ws = st.sampled_from(["", "\n", " \n  "])


@st.composite
def well_formed(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        call = {
            "name": draw(st.sampled_from(["code", "text_search"])),
            "arguments": draw(st.dictionaries(_plain, _json, max_size=3)),
        }
        parts += [draw(_ws), f"<think>{draw(_plain)}</think>", draw(_ws)]
        parts += [f"<tool_call>{draw(_ws)}{json.dumps(call, ensure_ascii=draw(st.booleans()))}"]
        parts += [f"{draw(_ws)}</tool_call>", draw(_ws)]
        parts += [f"<observation>{json.dumps(draw(_json))}</observation>"]
    if draw(st.booleans()):
        parts += [draw(_ws), f"<think>{draw(_plain)}</think>"]
    if draw(st.booleans()):
        parts += [draw(_ws), f"<answer>{draw(_plain)}</answer>"]
    return "".join(parts)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(well_formed())
def test_generated_well_formed_trajectories_match_the_seed_rules(text: str) -> None:
    parsed = parse_full_response(text)
    assert seed_view(parsed) == reference_parse(text)
    assert not parsed["final_round"]["incomplete"]


# -- final_answer: the one answer reader, built from the scanner's events --------------------


@pytest.mark.parametrize(
    "text",
    [
        SEED_SAMPLE,
        "<think>easy</think><answer> 42 </answer>",
        "<answer>first</answer> then <answer>second</answer>",
        "reasoning <answer>inside</answer> more</think><answer>after</answer>",
    ],
)
def test_final_answer_is_the_answer_of_the_parse(text: str) -> None:
    from r1v4.parsing import final_answer

    assert final_answer(text) == parse_full_response(text)["final_round"]["answer"]


def test_final_answer_ignores_an_answer_printed_inside_an_observation() -> None:
    """A tool call that prints `<answer>Paris</answer>` has not answered anything."""
    from r1v4.parsing import final_answer

    text = (
        '<think>t</think><tool_call>{"name": "code", "arguments": {"code": "print(1)"}}'
        '</tool_call><observation>{"type": "code", "result": "<answer>Paris</answer>", '
        '"images": []}</observation>'
    )
    assert final_answer(text) is None
    assert final_answer("<think>no answer at all</think>") is None
    assert final_answer("<answer></answer>") == ""


def test_a_cut_answer_is_shown_by_the_parse_but_is_not_a_final_answer() -> None:
    """`<answer>B` may have gone on "oth": the rounds show the text so far, marked
    incomplete, and the answer reader says there is none (as the seed's regex did)."""
    from r1v4.parsing import final_answer, read_final_answer

    parsed = parse_full_response("<think>t</think><answer>Par")
    assert parsed["final_round"] == {"think": "t", "answer": "Par", "incomplete": True}
    assert final_answer("<think>t</think><answer>Par") is None
    found = read_final_answer("<think>t</think><answer>Par")
    assert not found.answered and "cut off" in found.reason


@pytest.mark.parametrize(
    ("text", "stop_reason", "answer", "reason"),
    [
        # an answer inside a think, a tool call's code or an observation is never the answer
        ("<think>I will write <answer>X</answer></think><answer>Y</answer>", None, "Y", ""),
        (
            '<tool_call>{"name": "code", "arguments": {"code": "print(\'<answer>X</answer>\')"}}'
            '</tool_call><observation>{"type": "code", "result": "<answer>X</answer>"}'
            "</observation>",
            None,
            "",
            "ends with <observation>",
        ),
        # a headless think (the template put <think> in the prompt) hides its answers too
        ("I will write <answer>X</answer> first.</think>", None, "", "ends with <think>"),
        # stopped by --max-rounds: no answer, whatever the text holds
        ("<answer>Paris</answer>", "max_rounds", "", "--max-rounds"),
        ("<think>a</think>Paris", "case_timeout", "", "timed out"),
        # cut by max_tokens: only a complete answer unit counts
        ("<think>a</think>The answer is Par", "length", "", "max_tokens"),
        ("<answer>Paris</answer> and then", "length", "Paris", ""),
        # no tags at all, or free text after the last think: a model that does not use them
        ("B", None, "B", ""),
        ("<think>a</think>\nThe answer is B", "no_tool_call", "The answer is B", ""),
        ("", None, "", "empty"),
    ],
)
def test_read_final_answer_follows_the_documented_rules(
    text: str, stop_reason: str | None, answer: str, reason: str
) -> None:
    from r1v4.parsing import read_final_answer

    found = read_final_answer(text, stop_reason)
    assert found.text == answer
    assert found.answered == bool(answer)
    assert reason in found.reason and (found.reason == "") == bool(answer)
