"""Using a plan while executing a case (`--plan-first`): the guidance the executor reads, and
how far its tool calls followed the plan.

Reading and validating a plan is `r1v4.parsing.plan`; figures over a batch of plans are
`r1v4.evals.plans`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from r1v4.agent.prompts import PLAN_GUIDANCE
from r1v4.parsing.plan import PlanStep, step_fields

__all__ = ["plan_as_guidance", "plan_followed", "plan_guidance_prompt"]


def plan_as_guidance(steps: Sequence[PlanStep | Mapping]) -> str:
    """Plain numbered text of a plan, one step a line, for the executor's prompt.

    Step numbers are the plan's own, so "[Person from Step 1]" still reads correctly; each
    line says which tool the planner chose and with what parameters.
    """
    lines = []
    for pos, step in enumerate(steps, start=1):
        index, description, tool, params = step_fields(step)
        text = " ".join(description.split()) or "(no description)"
        if tool and tool != "none":
            try:
                shown = json.dumps(params, ensure_ascii=False, sort_keys=True)
            except (TypeError, ValueError, RecursionError):
                shown = repr(params)
            hint = f"[tool: {tool} {shown}]"
        else:
            hint = "[no tool: reason and verify]"
        lines.append(f"{index if index is not None else pos}. {text} {hint}")
    return "\n".join(lines)


def plan_guidance_prompt(steps: Sequence[PlanStep | Mapping]) -> str:
    """The executor's guidance message: ``prompts.PLAN_GUIDANCE`` with the plan filled in."""
    return PLAN_GUIDANCE.format(plan=plan_as_guidance(steps))


def _call_name(call: Any) -> str:
    """The tool name of a trajectory tool call in any of the shapes the toolkit records."""
    if isinstance(call, str):
        return call
    if isinstance(call, Mapping):
        for key in ("name", "tool_name", "tool"):
            if isinstance(call.get(key), str):
                return call[key]
        fn = call.get("function")
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            return fn["name"]
    return ""


def _lcs_pairs(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    """Index pairs of a longest common subsequence of ``a`` and ``b`` (earliest matches)."""
    n, m = len(a), len(b)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            if a[i] == b[j]:
                table[i][j] = table[i + 1][j + 1] + 1
            else:
                table[i][j] = max(table[i + 1][j], table[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if a[i] == b[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def plan_followed(
    plan_steps: Sequence[PlanStep | Mapping], trajectory_tool_calls: Sequence[Mapping | str]
) -> dict:
    """How far the executor's tool calls followed the plan's tool steps.

    Only the tool kind is compared (not arguments: placeholders make exact matching
    meaningless), and "none" steps are skipped (nothing observable to check). Each planned
    tool step is marked "in_order" (part of the longest run of calls matching the plan's
    order), "out_of_order" (that tool was called often enough, but not in plan order) or
    "not_used". ``coverage`` is the share of planned tool steps whose tool was used at all;
    ``in_order`` is True when every planned tool step was matched in plan order (extra calls,
    e.g. ``code``, are allowed and counted in ``unplanned_calls``). Calls may be
    ``{"name", "arguments"}`` dicts (as ``parse_full_response`` rounds hold them), OpenAI
    ``{"function": {"name"}}`` dicts, or bare tool names.
    """
    planned: list[tuple[int, str]] = []
    for pos, step in enumerate(plan_steps, start=1):
        index, _, tool, _ = step_fields(step)
        if tool and tool != "none":
            planned.append((index if index is not None else pos, tool))
    used = [_call_name(c) for c in trajectory_tool_calls]

    planned_tools = [tool for _, tool in planned]
    pairs = _lcs_pairs(planned_tools, used)
    in_order_at = dict(pairs)  # planned position -> call position
    spare = Counter(used)
    for _, j in pairs:
        spare[used[j]] -= 1
    per_step = []
    for pos, (index, tool) in enumerate(planned):
        if pos in in_order_at:
            status, call = "in_order", in_order_at[pos]
        elif spare[tool] > 0:
            spare[tool] -= 1
            status, call = "out_of_order", None
        else:
            status, call = "not_used", None
        per_step.append({"index": index, "tool_name": tool, "status": status, "call": call})

    matched = sum(1 for s in per_step if s["status"] != "not_used")
    total = len(planned)
    return {
        "planned_tools": planned_tools,
        "used_tools": used,
        "steps": per_step,
        "planned_tool_steps": total,
        "used_planned": matched,
        "in_order_steps": len(pairs),
        "coverage": round(matched / total, 3) if total else None,
        "in_order": len(pairs) == total,
        "unplanned_calls": len(used) - matched,
    }
