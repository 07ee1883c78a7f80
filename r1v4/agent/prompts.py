"""Prompts: what the model is told about its tools and the text protocol, and how a case's
options are written into its question (`render_question`).

The tags themselves are `r1v4.protocol.tags` (shared with the parser that reads them); the
planner's prompt is `r1v4.protocol.plan`, beside the rules its plans are checked against.
"""

from __future__ import annotations

from dataclasses import dataclass

from r1v4.protocol.cases import option_map
from r1v4.protocol.plan import PLANNER_SYSTEM_PROMPT

_FORMAT = """\
Work in rounds. In each round, first reason inside <think>...</think>. Then either call one tool:
<tool_call>{"name": "<tool name>", "arguments": {...}}</tool_call>
and wait: its result comes back as <observation>...</observation> (with any images it made),
or, when you are sure, give the final answer inside <answer>...</answer>."""

GENERAL_TOOLS = """\
- code: {"code": "<python>"} runs Python on the image(s). `image_path` (the first image) and
  `image_paths` (all of them) are predefined; PIL and numpy are available. Save any image you
  want to look at (e.g. a crop or a zoom) to a file: it is shown to you in the observation.
  Printed output comes back as text."""

DEEPRESEARCH_TOOLS = (
    GENERAL_TOOLS
    + """
- image_search: {"image_paths": ["<path>"]} reverse image search for an image file (an input
  image or one you saved), returns matching pages with title, link and image.
- text_search: {"queries": ["<query>", ...]} web search, returns title, link and snippet.
- web_visit: {"urls": ["<url>", ...]} returns the main text of each page."""
)

GENERAL_SYSTEM_PROMPT = f"""\
You are a careful visual reasoning assistant that can think with images.
You have this tool:
{GENERAL_TOOLS}

{_FORMAT}
Zoom into small regions before answering questions about fine detail."""

DEEPRESEARCH_SYSTEM_PROMPT = f"""\
You are a deep-research assistant that answers questions about images by combining image
operations with web search. You have these tools:
{DEEPRESEARCH_TOOLS}

{_FORMAT}
Search when the answer depends on facts the image alone cannot give, verify what you find with
a second source when you can, and cite the pages you relied on in your answer."""

PLAN_GUIDANCE = """\
A planner proposed the plan below. Use it as guidance, not as a script: follow it where it
helps and depart from it where the evidence says otherwise.
{plan}"""

SYSTEM_PROMPTS = {
    "general": GENERAL_SYSTEM_PROMPT,
    "deepresearch": DEEPRESEARCH_SYSTEM_PROMPT,
    "planner": PLANNER_SYSTEM_PROMPT,
    "none": "",
}

#: The prompts a user may choose by name (`planner` is the planner mode's own).
PROMPT_CHOICES: tuple[str, ...] = ("auto", *(name for name in SYSTEM_PROMPTS if name != "planner"))


@dataclass(frozen=True)
class OptionsTemplate:
    """How a multiple-choice case's options are shown to the model, as data: `body` wraps the
    question and the option lines, `line` writes one option. A benchmark with its own
    published wording gets its own template; the letters are always `option_map`'s."""

    body: str = "{question}\n\nOptions:\n{options}\n\nAnswer with the option's letter."
    line: str = "{letter}. {text}"


DEFAULT_OPTIONS_TEMPLATE = OptionsTemplate()


def render_question(
    question: str,
    options: list[str] | dict[str, str] | None,
    template: OptionsTemplate = DEFAULT_OPTIONS_TEMPLATE,
) -> str:
    """The question as the model reads it: unchanged without options, else the question,
    then one line per option ("A. text") under "Options:", then the instruction to answer
    with the letter. The letters are those the `choice` scorer matches against."""
    letters = option_map(options)
    if not letters:
        return question
    lines = "\n".join(template.line.format(letter=k, text=v) for k, v in letters.items())
    return template.body.format(question=question, options=lines)
