"""Plans in a planner model's reply: found, decoded and validated. The one plan reader.

The planner answers with an optional ``<think>…</think>`` and then a single JSON array of
steps (sometimes inside ``<plan>…</plan>`` or a code fence, sometimes with the usual JSON
slips). A bad plan is data, not a crash: ``parse_plan`` never raises, keeps every step that
did parse, and lists precise, step-and-field-naming messages so a user can see at a glance
why a plan was rejected. Everything here is pure (text in, values out) so the batch modes,
plan-then-execute, the reports and the viewer can all share it.

Two entry points live here: ``parse_plan`` (locate, decode and validate: what records hold)
and ``extract_plan``/``plan_from_events`` (the raw steps from the scanner's events: what
``parse_full_response`` reports). They still locate the plan each in its own way; making
``parse_plan`` read the scanner's events too changes what some replies yield, so it is left
for a change of behaviour, not a move. Using plans is elsewhere: guidance and
plan-following in ``r1v4.agent.planning``, batch figures in ``r1v4.evals.plans``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from r1v4._util.lenient_json import loads_lenient
from r1v4.parsing.plan_text import locate_json, split_think
from r1v4.parsing.scanner import Event, iter_events
from r1v4.parsing.toolcall import json_kind
from r1v4.protocol.plan import (
    ALLOWED_TOOLS,
    MAX_STEPS,
    MIN_STEPS,
    REQUIRED_PARAMS,
    REQUIRED_STEP_KEYS,
)
from r1v4.protocol.tags import ANSWER, OBSERVATION, PLAN, TOOL_CALL

__all__ = [
    "ALLOWED_TOOLS",
    "MAX_STEPS",
    "MIN_STEPS",
    "PlanResult",
    "PlanStep",
    "extract_plan",
    "find_placeholders",
    "parse_plan",
    "plan_from_events",
    "step_fields",
]


_ALLOWED_TEXT = ", ".join(ALLOWED_TOOLS)
_PLAN_OPEN_RE = re.compile(r"<plan>", re.IGNORECASE)
_PLAN_CLOSE_RE = re.compile(r"</plan>", re.IGNORECASE)
# Placeholders: "[Person from Step 1]", "{URL from step 3}", "<Results of Steps 1 and 2>".
_PLACEHOLDER_RE = re.compile(r"\[[^\[\]\n]{1,200}\]|\{[^{}\n]{1,200}\}|<[^<>\n]{1,200}>")
_STEP_REF_RE = re.compile(
    r"\bsteps?\s*#?\s*(\d{1,6}(?:\s*(?:,|&|and|-|–|to)\s*\d{1,2}\b)*)", re.IGNORECASE
)
_DIGITS_RE = re.compile(r"\d+")


@dataclass
class PlanStep:
    """One step of a plan, as far as it parsed.

    ``index`` is the 1-based position in the model's array, kept even when earlier elements
    were unusable, so placeholders such as ``[Person from Step 1]`` still line up.
    """

    index: int
    description: str
    tool_name: str
    parameters: dict
    placeholders: list[tuple[str, int]] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready form for result records (tuples become lists)."""
        return {
            "index": self.index,
            "description": self.description,
            "tool_name": self.tool_name,
            "parameters": self.parameters,
            "placeholders": [[text, ref] for text, ref in self.placeholders],
        }


@dataclass
class PlanResult:
    """What ``parse_plan`` found: the thinking, the steps that parsed, and every problem."""

    think: str | None
    steps: list[PlanStep]
    errors: list[str]
    raw_plan_text: str | None

    @property
    def valid(self) -> bool:
        """A plan is valid when nothing at all was wrong with it."""
        return not self.errors

    def to_record(self) -> dict:
        """The fields a result record stores for a plan."""
        return {
            "plan": [step.to_dict() for step in self.steps],
            "plan_errors": list(self.errors),
            "plan_valid": self.valid,
        }


# --------------------------------------------------------------------------- validating


def find_placeholders(value: Any) -> list[tuple[str, int]]:
    """Every ``(placeholder, step number)`` referenced in a string or nested JSON value.

    "[Results of Steps 1 and 3]" yields two entries; duplicates are dropped, order kept.
    """
    found: list[tuple[str, int]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            for m in _PLACEHOLDER_RE.finditer(item):
                for ref in _STEP_REF_RE.finditer(m.group(0)):
                    for num in _DIGITS_RE.findall(ref.group(1)):
                        found.append((m.group(0), int(num)))
        elif isinstance(item, Mapping):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
    return list(dict.fromkeys(found))


def _type_name(value: Any) -> str:
    """JSON's name for a Python value's type, as users see it in the reply."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _check_param_value(where: str, key: str, value: Any, errors: list[str]) -> None:
    """A required parameter must be a non-empty string (singular) or list of them (plural)."""
    plural = key.endswith("s")
    if plural:
        if isinstance(value, str):
            value = [value]  # one string where a list was expected: harmless
        if not isinstance(value, list):
            errors.append(
                f"{where}: parameter '{key}' must be an array of strings, got {_type_name(value)}"
            )
        elif not value:
            errors.append(f"{where}: parameter '{key}' is empty")
        elif not all(isinstance(v, str) and v.strip() for v in value):
            errors.append(f"{where}: parameter '{key}' must hold only non-empty strings")
    elif not isinstance(value, str):
        errors.append(f"{where}: parameter '{key}' must be a string, got {_type_name(value)}")
    elif not value.strip():
        errors.append(f"{where}: parameter '{key}' is empty")


def _parse_step(index: int, raw: Any, errors: list[str]) -> PlanStep | None:
    """Turn one array element into a PlanStep, appending every problem found to ``errors``."""
    where = f"step {index}"
    if not isinstance(raw, dict):
        errors.append(f"{where}: expected an object, got {_type_name(raw)}")
        return None
    for key in REQUIRED_STEP_KEYS:
        if key not in raw:
            errors.append(f"{where}: missing key '{key}'")

    description = raw.get("description", "")
    if not isinstance(description, str):
        errors.append(f"{where}: description must be a string, got {_type_name(description)}")
        description = "" if description is None else json.dumps(description, ensure_ascii=False)
    elif "description" in raw and not description.strip():
        errors.append(f"{where}: description is empty")

    tool_name = raw.get("tool_name", "")
    if not isinstance(tool_name, str):
        errors.append(f"{where}: tool_name must be a string, got {_type_name(tool_name)}")
        tool_name = ""
    elif "tool_name" in raw and tool_name not in ALLOWED_TOOLS:
        errors.append(f"{where}: unknown tool_name {tool_name!r} (allowed: {_ALLOWED_TEXT})")

    parameters = raw.get("parameters", {})
    if isinstance(parameters, str):
        # The seed's planner may write parameters as a JSON string: decode it.
        try:
            decoded = loads_lenient(parameters) if parameters.strip() else {}
        except (ValueError, RecursionError):
            decoded = None
        if isinstance(decoded, dict):
            parameters = decoded
    if not isinstance(parameters, dict):
        errors.append(f"{where}: parameters must be an object, got {_type_name(parameters)}")
        parameters = {}
    elif tool_name in REQUIRED_PARAMS:
        where_tool = f"{where} ({tool_name})"
        singular, plural = REQUIRED_PARAMS[tool_name]
        if singular in parameters:
            _check_param_value(where_tool, singular, parameters[singular], errors)
        elif plural in parameters:
            _check_param_value(where_tool, plural, parameters[plural], errors)
        else:
            errors.append(f"{where_tool}: parameters missing {singular!r}")

    placeholders = find_placeholders([description, parameters])
    return PlanStep(index, description, tool_name, parameters, placeholders)


def _check_structure(steps: list[PlanStep], raw_steps: list, errors: list[str]) -> None:
    """Plan-level rules: step count, placeholders pointing backwards, final 'none' step."""
    n = len(raw_steps)
    if n == 0:
        errors.append("plan is empty")
        return
    if not MIN_STEPS <= n <= MAX_STEPS:
        noun = "step" if n == 1 else "steps"
        errors.append(f"plan has {n} {noun}, expected {MIN_STEPS} to {MAX_STEPS}")
    for step in steps:
        for text, ref in step.placeholders:
            if ref < 1 or ref > n:
                errors.append(
                    f"step {step.index}: placeholder {text} refers to a step that does not exist"
                )
            elif ref == step.index:
                errors.append(f"step {step.index}: placeholder {text} refers to its own step")
            elif ref > step.index:
                errors.append(f"step {step.index}: placeholder {text} refers to a later step")
    last = raw_steps[-1]
    if isinstance(last, dict) and isinstance(last.get("tool_name"), str):
        if last["tool_name"] != "none":
            errors.append(
                f"last step must be a 'none' verification step, got {last['tool_name']!r}"
            )


def _wrapped_hint(obj: dict) -> str:
    """Point at the key holding the steps when the model wrapped the array in an object."""
    for key, val in obj.items():
        if isinstance(val, list) and val and all(isinstance(v, dict) for v in val):
            return f" (the steps seem to be under key {key!r})"
    return ""


def _parse_plan(text: str) -> PlanResult:
    think, rest, think_closed = split_think(text)
    if not think_closed:
        return PlanResult(
            think,
            [],
            [
                "no JSON array found in the response (the <think> block is never "
                "closed; was the reply cut off?)"
            ],
            None,
        )

    where = "the response"
    open_m = _PLAN_OPEN_RE.search(rest)
    if open_m:
        close_m = _PLAN_CLOSE_RE.search(rest, open_m.end())
        rest = rest[open_m.end() : close_m.start() if close_m else len(rest)]
        where = "the <plan> block"

    json_text, closed = locate_json(rest)
    if json_text is None:
        return PlanResult(think, [], [f"no JSON array found in {where}"], None)
    errors: list[str] = []
    if not closed:
        errors.append(f"plan JSON in {where} is never closed (was the reply cut off?)")
    try:
        value = loads_lenient(json_text)
    except (ValueError, RecursionError) as exc:
        errors.append(f"plan is not valid JSON: {exc}")
        return PlanResult(think, [], errors, json_text)

    if isinstance(value, dict):
        errors.append("plan is a JSON object, expected an array of steps" + _wrapped_hint(value))
        return PlanResult(think, [], errors, json_text)
    if not isinstance(value, list):
        errors.append(f"plan is a JSON {_type_name(value)}, expected an array of steps")
        return PlanResult(think, [], errors, json_text)

    steps: list[PlanStep] = []
    for i, raw in enumerate(value, start=1):
        step = _parse_step(i, raw, errors)
        if step is not None:
            steps.append(step)
    _check_structure(steps, value, errors)
    return PlanResult(think, steps, errors, json_text)


def parse_plan(response_text: str) -> PlanResult:
    """Extract and validate the plan in a planner reply. Never raises, whatever the input.

    The result keeps the thinking, every step that parsed (even when others did not), the
    exact JSON text used, and a precise message for each problem.
    """
    if isinstance(response_text, bytes | bytearray):
        response_text = bytes(response_text).decode("utf-8", errors="replace")
    if not isinstance(response_text, str):
        return PlanResult(
            None, [], [f"response is not text (got {type(response_text).__name__})"], None
        )
    try:
        return _parse_plan(response_text)
    except Exception as exc:  # last guard: a bad reply must never sink a batch
        return PlanResult(None, [], [f"could not parse the plan: {exc!r}"], None)


# --------------------------------------------------------------------------- step fields


def step_fields(step: PlanStep | Mapping) -> tuple[int | None, str, str, Any]:
    """(index, description, tool_name, parameters) of a PlanStep or a record's step dict."""
    if isinstance(step, PlanStep):
        return step.index, step.description, step.tool_name, step.parameters
    if isinstance(step, Mapping):
        index = step.get("index")
        return (
            index if isinstance(index, int) else None,
            str(step.get("description") or ""),
            str(step.get("tool_name") or ""),
            step.get("parameters") or {},
        )
    return None, str(step), "", {}


# --------------------------------------------------------------------------- from events


def _steps(value: Any) -> tuple[list | None, str | None]:
    if isinstance(value, dict):
        for key in ("steps", "plan"):
            if isinstance(value.get(key), list):
                return value[key], None
        return None, 'plan is a JSON object without a "steps" list'
    if isinstance(value, list):
        return value, None
    return None, f"plan must be a JSON array of steps, got {json_kind(value)}"


def plan_from_events(events: list[Event], planner_only: bool) -> tuple[list | None, str | None]:
    """A plan from a ``<plan>`` body, else from the text outside tags when it looks like JSON.

    With ``planner_only`` the outside text is considered only when the response has no tool
    call and no answer, so an agent response with stray brackets never grows a plan.
    """
    for ev in events:
        if ev.tag == PLAN:
            if ev.incomplete:
                return None, ev.error
            if ev.error is not None:
                return None, f"<plan> is not valid JSON: {ev.error}"
            return _steps(ev.data)
    if planner_only and any(e.kind in (TOOL_CALL, OBSERVATION, ANSWER) for e in events):
        return None, None
    text = "".join(e.content for e in events if e.kind == "text").strip()
    if not text or not (text[0] in "[{" or "```" in text):
        return None, None
    try:
        return _steps(loads_lenient(text))
    except ValueError as exc:
        return None, f"plan is not valid JSON: {exc}"


def extract_plan(text: str) -> tuple[list | None, str | None]:
    """A planner response (``<think>`` optional, the JSON array bare, fenced or in
    ``<plan>…</plan>``) → ``(raw steps, None)`` or ``(None, error)``; validation of the steps
    is the planner's job."""
    steps, error = plan_from_events(iter_events(text), planner_only=False)
    if steps is None and error is None:
        error = "no plan found: expected a JSON array of steps"
    return steps, error
