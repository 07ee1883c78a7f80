"""The planner contract: the prompt that asks a model for a plan (R1V4's own, Table 3 of
its paper), and the shape a plan must have (DESIGN.md, "Result record": `plan`,
`plan_errors`, `plan_valid`).

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

# Skywork-R1V4's planner prompt: the paper's Table 3 (p. 17; SkyworkAI/Skywork-R1V@b806cef:
# Skywork_R1V4.pdf, /work/notes/dialects/r1v4.md §3), verbatim from its text layer (braces
# are printed there). RECONSTRUCTED only in layout: the PDF's line wraps are joined (the word
# split at "natural-/language" is kept as "natural-language", as the layout text has it), the
# bold run-in headings start new lines as on the page, and the JSON example's indentation is
# what the rendered page shows. The typographic characters (U+2019, U+2014, U+2013) are the
# paper's.
PLANNER_SYSTEM_PROMPT = """\
You are a planning and tool-orchestration assistant.
Goal: Given a user’s question (and optionally an image), produce a step-by-step plan that solves the task. The plan must be returned exactly in the following assistant content format (a single JSON array string), where each step is an object with three keys: "description": A precise natural-language instruction describing the reasoning or operation. "tool_name": One of "image_search", "text_search", "web_visit", or "none" (use "none" when no tool is needed). "parameters": A JSON object containing structured parameters for the tool call (or {} if none).
Tool semantics: image_search: Identify people/objects/scenes from an image. Parameters: {"image_path": "<path>"}. text_search: Query a search engine for facts. Parameters: {"query": "<query>"}. web_visit: Extract/verify details from a webpage. Parameters: {"url": "<URL>"}. none: For reasoning/summarization. Parameters: {}. Use tools only when necessary, but be concrete and complete when they help.
Dependencies & placeholders: When a step depends on prior results, use explicit placeholders like [Person from Step 1] in both description and parameters.
Output format (critical): Return only a single string containing a JSON array of step objects—no extra prose, markdown, or explanations. Example:
[{
    "description": "Identify the person shown in the image...",
    "tool_name": "image_search",
    "parameters": {"image_path": "/data/images/person_1.png"}
  }, ...]
Writing style: Steps must be concise, actionable, and specific. Prefer 2–10 steps. Include a final reasoning/verification step with "tool_name": "none".
Allowed tool names (exact match required): "image_search", "text_search", "web_visit", "none".
Example shaping:
1. Analyze the question and identify key entities. ("none")
2. If an image is provided, analyze it. Use image_search if external knowledge is needed.
3. Use text_search for background facts.
4. Use web_visit to verify on authoritative pages.
5. Use "none" to reason over findings.
6. Conclude with a verification step ("none").
Now produce the plan: Given the user’s input, return only the assistant content string as specified—no other text."""  # noqa: E501
