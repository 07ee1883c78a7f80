"""Figures over the plans of a batch: how many were valid, their length, the tool mix and
the most common problems (`python -m r1v4 run --planner` and `report` print them)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

from r1v4.parsing.plan import step_fields

__all__ = ["summarize_plans"]


def _plan_fields(record: Mapping) -> tuple[list | None, list | None, bool | None]:
    """(plan, plan_errors, plan_valid) of a record, at top level or under a sub-dict."""
    for holder in (record, record.get("planner"), record.get("response"), record.get("meta")):
        if isinstance(holder, Mapping) and ("plan" in holder or "plan_errors" in holder):
            plan = holder.get("plan")
            errs = holder.get("plan_errors")
            valid = holder.get("plan_valid")
            return (
                plan if isinstance(plan, list) else None,
                errs if isinstance(errs, list) else None,
                valid if isinstance(valid, bool) else None,
            )
    return None, None, None


_NORM_STEP_RE = re.compile(r"\b(step|Step) \d+")
_NORM_PLACEHOLDER_RE = re.compile(r"placeholder .*? refers")
_NORM_COUNT_RE = re.compile(r"plan has \d+ steps?")


def _error_kind(message: str) -> str:
    """An error with step numbers and placeholder text blanked, so like errors group."""
    message = _NORM_PLACEHOLDER_RE.sub("placeholder […] refers", message)
    message = _NORM_COUNT_RE.sub("plan has N steps", message)
    return _NORM_STEP_RE.sub(lambda m: f"{m.group(1)} N", message)


def summarize_plans(records: Iterable[Mapping], *, top_errors: int = 10) -> dict:
    """Figures for a planner batch: how many plans were valid, their length, tool mix.

    ``mean_steps`` and ``tool_mix`` cover valid plans only (an invalid plan's steps are not
    a plan anyone will run); ``mean_steps`` is None when no plan was valid. Records with no
    plan at all (the request failed) are counted in ``no_plan``. ``common_errors`` groups
    errors with step numbers blanked: ``[{"error": "step N: missing key 'tool_name'",
    "count": 3}, ...]``, most frequent first.
    """
    cases = valid = invalid = no_plan = 0
    step_counts: list[int] = []
    tools: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for record in records:
        cases += 1
        if not isinstance(record, Mapping):
            no_plan += 1
            continue
        plan, errs, is_valid = _plan_fields(record)
        if plan is None and errs is None:
            no_plan += 1
            continue
        errs = errs or []
        if is_valid is None:
            is_valid = not errs and bool(plan)
        if is_valid:
            valid += 1
            step_counts.append(len(plan or []))
            for step in plan or []:
                tool = step_fields(step)[2]
                if tool:
                    tools[tool] += 1
        else:
            invalid += 1
        kinds.update(_error_kind(str(e)) for e in errs)
    return {
        "cases": cases,
        "valid_plans": valid,
        "invalid_plans": invalid,
        "no_plan": no_plan,
        "mean_steps": round(sum(step_counts) / len(step_counts), 2) if step_counts else None,
        "tool_mix": dict(tools.most_common()),
        "common_errors": [{"error": k, "count": c} for k, c in kinds.most_common(top_errors)],
    }
