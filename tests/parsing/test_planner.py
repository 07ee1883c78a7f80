"""Plan extraction, validation, guidance text, batch summary and plan-following measure."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r1v4.agent.planning import plan_as_guidance, plan_followed, plan_guidance_prompt
from r1v4.agent.prompts import PLAN_GUIDANCE
from r1v4.evals.plans import summarize_plans
from r1v4.parsing.plan import (
    ALLOWED_TOOLS,
    PlanResult,
    PlanStep,
    find_placeholders,
    parse_plan,
)

STEPS = [
    {
        "description": "Identify the person shown in the image",
        "tool_name": "image_search",
        "parameters": {"image_path": "/data/images/person_1.png"},
    },
    {
        "description": "Find the birth year of [Person from Step 1]",
        "tool_name": "text_search",
        "parameters": {"query": "[Person from Step 1] birth year"},
    },
    {
        "description": "Open the top result about [Person from Step 1]",
        "tool_name": "web_visit",
        "parameters": {"url": "[URL from Step 2]"},
    },
    {"description": "Verify the year against the page", "tool_name": "none", "parameters": {}},
]
PLAN_JSON = json.dumps(STEPS)


def steps_with(index: int, **changes) -> str:
    """The good plan with step ``index`` (1-based) changed; a value of None deletes a key."""
    steps = json.loads(PLAN_JSON)
    for key, value in changes.items():
        if value is None:
            steps[index - 1].pop(key, None)
        else:
            steps[index - 1][key] = value
    return json.dumps(steps)


def assert_good(result: PlanResult) -> None:
    assert result.errors == []
    assert result.valid
    assert [s.tool_name for s in result.steps] == [s["tool_name"] for s in STEPS]
    assert [s.index for s in result.steps] == [1, 2, 3, 4]
    assert result.steps[1].parameters == {"query": "[Person from Step 1] birth year"}
    assert result.steps[1].placeholders == [("[Person from Step 1]", 1)]
    assert result.steps[2].placeholders == [("[Person from Step 1]", 1), ("[URL from Step 2]", 2)]


# ----------------------------------------------------------------------------- valid plans


def test_bare_array_parses_into_steps():
    result = parse_plan(PLAN_JSON)
    assert_good(result)
    assert result.think is None
    assert json.loads(result.raw_plan_text) == STEPS


def test_think_then_array():
    text = "<think>The image shows a man; [maybe] a politician {unsure}.</think>\n" + PLAN_JSON
    result = parse_plan(text)
    assert_good(result)
    assert result.think == "The image shows a man; [maybe] a politician {unsure}."


def test_bare_think_close_from_chat_template():
    result = parse_plan("reasoning with [brackets] first</think>\n\n" + PLAN_JSON)
    assert_good(result)
    assert result.think == "reasoning with [brackets] first"


def test_code_fence_with_prose_around():
    text = f"<think>ok</think>Here is my plan:\n```json\n{PLAN_JSON}\n```\nGood luck [really]."
    assert_good(parse_plan(text))


def test_plan_tags_as_in_the_seed():
    text = f"<think>plan it</think> <plan>{PLAN_JSON}</plan>"
    result = parse_plan(text)
    assert_good(result)
    assert result.think == "plan it"


def test_parameters_given_as_a_json_string_are_decoded():
    steps = json.loads(PLAN_JSON)
    for step in steps:
        step["parameters"] = json.dumps(step["parameters"])
    assert_good(parse_plan(json.dumps(steps)))


def test_usual_json_slips_single_quotes_and_trailing_commas():
    text = (
        "```\n[\n"
        "  {'description': 'Identify the person shown in the image', 'tool_name': 'image_search',"
        " 'parameters': {'image_path': '/data/images/person_1.png',},},\n"
        "  {'description': 'Find the birth year of [Person from Step 1]',"
        " 'tool_name': 'text_search',"
        " 'parameters': {'query': '[Person from Step 1] birth year'}},\n"
        "  {'description': 'Open the top result about [Person from Step 1]',"
        " 'tool_name': 'web_visit', 'parameters': {'url': '[URL from Step 2]'}},\n"
        "  {'description': 'Verify the year against the page', 'tool_name': 'none',"
        " 'parameters': {}},\n"
        "]\n```"
    )
    assert_good(parse_plan(text))


def test_apostrophe_inside_single_quoted_strings():
    text = (
        "[{'description': 'Find the person's name', 'tool_name': 'image_search',"
        " 'parameters': {'image_path': 'a.png'}},"
        " {'description': 'check', 'tool_name': 'none', 'parameters': ''}] and then [{"
    )
    result = parse_plan(text)
    assert result.errors == []
    assert [s.description for s in result.steps] == ["Find the person's name", "check"]
    assert result.steps[1].parameters == {}  # an empty string decodes to no parameters


def test_plural_parameter_forms_are_accepted():
    steps = [
        {"description": "a", "tool_name": "image_search", "parameters": {"image_paths": ["x"]}},
        {"description": "b", "tool_name": "text_search", "parameters": {"queries": ["q1", "q2"]}},
        {"description": "c", "tool_name": "web_visit", "parameters": {"urls": ["https://e.org"]}},
        {"description": "d", "tool_name": "none", "parameters": {"anything": 1}},
    ]
    result = parse_plan(json.dumps(steps))
    assert result.valid, result.errors


def test_to_record_is_json_ready():
    record = parse_plan(PLAN_JSON).to_record()
    assert record["plan_valid"] is True and record["plan_errors"] == []
    assert record["plan"][1]["placeholders"] == [["[Person from Step 1]", 1]]
    assert json.loads(json.dumps(record)) == record


def test_placeholders_with_several_steps_and_other_brackets():
    found = find_placeholders(
        {
            "q": "[Results of Steps 1 and 3]",
            "u": ["{URL from step 2}", "[no ref]", "[Step 4, 2019]"],
        }
    )
    assert found == [
        ("[Results of Steps 1 and 3]", 1),
        ("[Results of Steps 1 and 3]", 3),
        ("{URL from step 2}", 2),
        ("[Step 4, 2019]", 4),
    ]


# ----------------------------------------------------------------------------- invalid plans


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I cannot make a plan for this.", "no JSON array found in the response"),
        ("<think>still thinking [", "the <think> block is never closed"),
        ("<think>x</think><plan>just words</plan>", "no JSON array found in the <plan> block"),
        (json.dumps(STEPS[3]), "plan is a JSON object, expected an array of steps"),
        ("[]", "plan is empty"),
        (steps_with(3, tool_name=None), "step 3: missing key 'tool_name'"),
        (steps_with(1, description=None), "step 1: missing key 'description'"),
        (steps_with(2, parameters=None), "step 2: missing key 'parameters'"),
        (
            steps_with(2, tool_name="google"),
            "step 2: unknown tool_name 'google' (allowed: image_search, text_search, web_visit,"
            " none)",
        ),
        (
            steps_with(2, parameters="not json at all"),
            "step 2: parameters must be an object, got string",
        ),
        (steps_with(2, parameters=[1]), "step 2: parameters must be an object, got array"),
        (steps_with(2, parameters={"q": "x"}), "step 2 (text_search): parameters missing 'query'"),
        (
            steps_with(1, parameters={"path": "a"}),
            "step 1 (image_search): parameters missing 'image_path'",
        ),
        (steps_with(3, parameters={}), "step 3 (web_visit): parameters missing 'url'"),
        (
            steps_with(2, parameters={"query": "  "}),
            "step 2 (text_search): parameter 'query' is empty",
        ),
        (
            steps_with(2, parameters={"query": 5}),
            "step 2 (text_search): parameter 'query' must be a string, got number",
        ),
        (
            steps_with(2, description="Find [Person from Step 3]"),
            "step 2: placeholder [Person from Step 3] refers to a later step",
        ),
        (
            steps_with(2, parameters={"query": "[Name from Step 2]"}),
            "step 2: placeholder [Name from Step 2] refers to its own step",
        ),
        (
            steps_with(4, description="Check [X from Step 9]"),
            "step 4: placeholder [X from Step 9] refers to a step that does not exist",
        ),
        (
            steps_with(4, tool_name="text_search", parameters={"query": "q"}),
            "last step must be a 'none' verification step, got 'text_search'",
        ),
        (json.dumps([STEPS[3]]), "plan has 1 step, expected 2 to 10"),
        (json.dumps(STEPS[:3] * 4 + [STEPS[3]]), "plan has 13 steps, expected 2 to 10"),
        (json.dumps([STEPS[0], "look it up", STEPS[3]]), "step 2: expected an object, got string"),
        (steps_with(2, description=7), "step 2: description must be a string, got number"),
        (steps_with(2, tool_name=["text_search"]), "step 2: tool_name must be a string, got array"),
        (PLAN_JSON[:-40], "plan JSON in the response is never closed"),
    ],
)
def test_invalid_plan_gives_precise_error(text, expected):
    result = parse_plan(text)
    assert not result.valid
    assert any(expected in e for e in result.errors), result.errors


def test_unrepairable_json_is_reported_with_mocked_loads_lenient(monkeypatch):
    # json_repair mends nearly anything that opens with '[', so the refusal is simulated.
    import r1v4.parsing.plan as planner

    def refuse(text):
        raise ValueError("invalid JSON that could not be repaired: boom")

    monkeypatch.setattr(planner, "loads_lenient", refuse)
    result = parse_plan("<think>t</think>[{'a': }")
    assert result.errors == [
        "plan JSON in the response is never closed (was the reply cut off?)",
        "plan is not valid JSON: invalid JSON that could not be repaired: boom",
    ]
    assert result.raw_plan_text == "[{'a': }" and result.steps == []


def test_only_the_real_problems_are_reported():
    # One broken step must not drown the report in noise about the others.
    result = parse_plan(steps_with(3, tool_name="google"))
    assert result.errors == [
        "step 3: unknown tool_name 'google' (allowed: image_search, text_search, web_visit, none)"
    ]


def test_steps_that_parsed_are_kept_when_others_are_broken():
    text = json.dumps([STEPS[0], 42, {"description": "no tool"}, STEPS[3]])
    result = parse_plan(text)
    assert [s.index for s in result.steps] == [1, 3, 4]
    assert result.steps[0].parameters == {"image_path": "/data/images/person_1.png"}
    assert result.steps[1].description == "no tool"
    assert "step 2: expected an object, got number" in result.errors
    assert "step 3: missing key 'tool_name'" in result.errors
    assert result.to_record()["plan_valid"] is False


def test_object_wrapping_the_steps_is_named():
    result = parse_plan(json.dumps({"plan": STEPS}))
    assert result.errors == [
        "plan is a JSON object, expected an array of steps (the steps seem to be under key 'plan')"
    ]


def test_single_step_object_is_not_mistaken_for_its_inner_array():
    step = {"description": "s", "tool_name": "text_search", "parameters": {"queries": ["a"]}}
    result = parse_plan(json.dumps(step))
    assert result.errors == ["plan is a JSON object, expected an array of steps"]


def test_non_text_input_is_an_error_not_a_crash():
    assert parse_plan(None).errors == ["response is not text (got NoneType)"]  # type: ignore[arg-type]
    assert parse_plan(PLAN_JSON.encode()).valid  # type: ignore[arg-type]


FRAGMENTS = st.sampled_from(
    [
        "<think>",
        "</think>",
        "<plan>",
        "</plan>",
        "```json\n",
        "```",
        "[",
        "]",
        "{",
        "}",
        '"',
        "'",
        ",",
        ":",
        "\\",
        '"tool_name"',
        '"parameters"',
        '"description"',
        '"none"',
        '"text_search"',
        "[X from Step 1]",
        "[Y from Step 99]",
        "{}",
        "null",
        "1e999",
        "\n",
        PLAN_JSON,
        json.dumps(STEPS[0]),
    ]
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), st.lists(FRAGMENTS | st.text(max_size=5)).map("".join)))
def test_parse_plan_never_raises(text):
    result = parse_plan(text)
    assert isinstance(result, PlanResult)
    assert result.valid == (not result.errors)
    assert result.valid or result.errors
    json.dumps(result.to_record())  # always storable
    plan_as_guidance(result.steps)


# ----------------------------------------------------------------------------- guidance


def test_guidance_is_numbered_with_tools_and_parameters():
    text = plan_as_guidance(parse_plan(PLAN_JSON).steps)
    lines = text.splitlines()
    assert len(lines) == 4
    assert lines[0] == (
        "1. Identify the person shown in the image "
        '[tool: image_search {"image_path": "/data/images/person_1.png"}]'
    )
    assert lines[1].startswith("2. Find the birth year of [Person from Step 1] [tool: text_search")
    assert lines[3] == "4. Verify the year against the page [no tool: reason and verify]"


def test_guidance_keeps_plan_numbers_and_flattens_newlines():
    steps = [
        PlanStep(2, "first\n  line", "text_search", {"query": "q"}),
        PlanStep(5, "check", "none", {}),
    ]
    assert plan_as_guidance(steps).splitlines()[0].startswith("2. first line [tool:")
    assert plan_as_guidance(steps).splitlines()[1].startswith("5. check")


def test_guidance_prompt_fills_the_template_and_accepts_record_dicts():
    record_steps = parse_plan(PLAN_JSON).to_record()["plan"]
    prompt = plan_guidance_prompt(record_steps)
    assert prompt.startswith(PLAN_GUIDANCE.split("{plan}")[0])
    assert prompt.endswith(plan_as_guidance(parse_plan(PLAN_JSON).steps))


# ----------------------------------------------------------------------------- summary


def test_summarize_plans_over_a_batch():
    good = parse_plan(PLAN_JSON).to_record()
    dangling = dict(STEPS[1], description="Find [Person from Step 7]")
    short = parse_plan(json.dumps([STEPS[0], dangling, STEPS[3]])).to_record()
    two = parse_plan(json.dumps([STEPS[0], STEPS[3]])).to_record()
    bad1 = parse_plan(steps_with(2, tool_name=None)).to_record()
    bad2 = parse_plan(steps_with(3, tool_name=None)).to_record()
    nojson = parse_plan("sorry").to_record()
    records = [
        {"id": "a", **good},
        {"id": "b", "response": {"full_response": "…", **two}},  # nested form is read too
        {"id": "c", **short},
        {"id": "d", **bad1},
        {"id": "e", **bad2},
        {"id": "f", **nojson},
        {"id": "g", "response": {"error": "HTTP 500"}},  # request failed: no plan at all
    ]
    summary = summarize_plans(records)
    assert summary["cases"] == 7
    assert summary["valid_plans"] == 2
    assert summary["invalid_plans"] == 4
    assert summary["no_plan"] == 1
    assert summary["mean_steps"] == 3.0  # (4 + 2) / 2, valid plans only
    assert summary["tool_mix"] == {"image_search": 2, "none": 2, "text_search": 1, "web_visit": 1}
    assert summary["common_errors"][0] == {"error": "step N: missing key 'tool_name'", "count": 2}
    kinds = [e["error"] for e in summary["common_errors"]]
    assert "step N: placeholder […] refers to a step that does not exist" in kinds
    assert "no JSON array found in the response" in kinds


def test_summarize_plans_with_nothing_valid():
    summary = summarize_plans([parse_plan("[]").to_record()])
    assert summary["valid_plans"] == 0 and summary["invalid_plans"] == 1
    assert summary["mean_steps"] is None
    assert summary["tool_mix"] == {}


# ----------------------------------------------------------------------------- plan followed


def test_plan_followed_exactly_in_order_with_extra_code_calls():
    steps = parse_plan(PLAN_JSON).steps
    calls = [
        {"name": "code", "arguments": {"code": "crop"}},
        {"name": "image_search", "arguments": {"image_paths": ["a.png"]}},
        {"name": "text_search", "arguments": {"queries": ["x"]}},
        {"name": "web_visit", "arguments": {"urls": ["https://e.org"]}},
    ]
    result = plan_followed(steps, calls)
    assert result["planned_tools"] == ["image_search", "text_search", "web_visit"]
    assert result["in_order"] is True
    assert result["coverage"] == 1.0
    assert [s["call"] for s in result["steps"]] == [1, 2, 3]
    assert result["unplanned_calls"] == 1


def test_plan_followed_out_of_order_and_missing():
    steps = parse_plan(PLAN_JSON).to_record()["plan"]  # record dicts work too
    calls = [{"name": "text_search"}, {"name": "image_search"}, {"tool": "text_search"}]
    result = plan_followed(steps, calls)
    assert result["in_order"] is False
    statuses = {s["tool_name"]: s["status"] for s in result["steps"]}
    assert statuses == {
        "image_search": "in_order",
        "text_search": "in_order",
        "web_visit": "not_used",
    }
    assert result["used_planned"] == 2 and result["coverage"] == pytest.approx(0.667)
    assert result["unplanned_calls"] == 1  # the first text_search is spare

    late = plan_followed(
        steps, [{"name": "web_visit"}, {"name": "image_search"}, {"name": "text_search"}]
    )
    by_tool = {s["tool_name"]: s["status"] for s in late["steps"]}
    assert by_tool == {
        "image_search": "in_order",
        "text_search": "in_order",
        "web_visit": "out_of_order",
    }
    assert late["in_order_steps"] == 2 and late["used_planned"] == 3
    assert late["coverage"] == 1.0 and late["in_order"] is False
    assert late["unplanned_calls"] == 0


TOOLS = st.sampled_from(["image_search", "text_search", "web_visit", "none", "code"])


@settings(max_examples=200, deadline=None)
@given(st.lists(TOOLS, max_size=10), st.lists(TOOLS, max_size=12))
def test_plan_followed_counts_are_consistent(plan_tools, call_tools):
    steps = [PlanStep(i, "d", t, {}) for i, t in enumerate(plan_tools, start=1)]
    result = plan_followed(steps, [{"name": t} for t in call_tools])
    planned = [t for t in plan_tools if t != "none"]
    assert result["planned_tool_steps"] == len(planned)
    assert result["in_order_steps"] <= result["used_planned"] <= len(planned)
    assert result["used_planned"] + result["unplanned_calls"] == len(call_tools)
    # A step counts as used exactly when that tool was called often enough.
    want, have = Counter(planned), Counter(call_tools)
    assert result["used_planned"] == sum(min(n, have[t]) for t, n in want.items())
    calls = [s["call"] for s in result["steps"] if s["status"] == "in_order"]
    assert calls == sorted(calls) and len(set(calls)) == len(calls)
    assert all(
        call_tools[s["call"]] == s["tool_name"] for s in result["steps"] if s["call"] is not None
    )
    assert result["in_order"] == (result["in_order_steps"] == len(planned))


def test_plan_followed_with_no_tool_steps_or_no_calls():
    only_none = [PlanStep(1, "think", "none", {}), PlanStep(2, "verify", "none", {})]
    result = plan_followed(only_none, [{"name": "code"}])
    assert result["planned_tool_steps"] == 0 and result["coverage"] is None
    assert result["unplanned_calls"] == 1
    nothing = plan_followed(parse_plan(PLAN_JSON).steps, [])
    assert nothing["coverage"] == 0.0 and nothing["in_order"] is False


def test_allowed_tools_match_the_planner_prompt():
    from r1v4.agent.prompts import PLANNER_SYSTEM_PROMPT

    for tool in ALLOWED_TOOLS:
        assert f'"{tool}"' in PLANNER_SYSTEM_PROMPT
