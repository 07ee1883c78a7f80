"""The planner contract: the prompt that asks a model for a plan, and the shape a plan must
have (DESIGN.md, "Result record": `plan`, `plan_errors`, `plan_valid`).

Kept together so the prompt and the rules a plan is checked against (`r1v4.parsing.plan`)
cannot drift apart; the simulator recognises a planner request by this prompt.
"""

from __future__ import annotations

ALLOWED_TOOLS = ("image_search", "text_search", "web_visit", "none")
MIN_STEPS, MAX_STEPS = 2, 10
REQUIRED_STEP_KEYS = ("description", "tool_name", "parameters")
# Each tool needs one of these parameter keys: the singular form the planner prompt asks
# for, or the plural form the executor's tools take (both are accepted downstream).
REQUIRED_PARAMS: dict[str, tuple[str, str]] = {
    "image_search": ("image_path", "image_paths"),
    "text_search": ("query", "queries"),
    "web_visit": ("url", "urls"),
}

PLANNER_SYSTEM_PROMPT = """\
You are a planning assistant. Do not answer the question. Instead, think inside
<think>...</think>, then write a plan as a single JSON array of 2 to 10 steps. Each step is an
object {"description": str, "tool_name": "image_search" | "text_search" | "web_visit" | "none",
"parameters": {...}} with parameters {"image_path": str} for image_search, {"query": str} for
text_search, {"url": str} for web_visit and {} for none. A later step may refer to an earlier
step's result with a placeholder such as [Person from Step 1]. The last step is a "none" step
that verifies the answer."""
