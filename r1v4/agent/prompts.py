"""Prompts: what the model is told about its tools and the text protocol, and how a case's
options are written into its question (`render_question`).

The tags themselves are `r1v4.protocol.tags` (shared with the parser that reads them); the
planner's prompt is `r1v4.protocol.plan`, beside the rules its plans are checked against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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

# Skywork-R1V4's own system prompt for think-with-image and deep-search tasks: the paper's
# Table 1 (p. 7; SkyworkAI/Skywork-R1V@b806cef:Skywork_R1V4.pdf, /work/notes/dialects/
# r1v4.md §2). Verbatim except where the PDF lost characters, so RECONSTRUCTED there: LaTeX
# swallowed the unescaped curly braces of the four JSON examples (printed as
# `<tool_call>"name": "image_search", "arguments": "image_paths": [...]</tool_call>`); they
# are restored as `{"name": ..., "arguments": {...}}`, the only valid JSON, which Figures 6-7
# also show. Line wraps of the PDF are removed and `<observa-tion>` de-hyphenated; paragraph
# breaks follow the page's blank lines. The typographic apostrophe (U+2019) is the paper's.
PAPER_SYSTEM_PROMPT = """\
Answer the user’s question based on the provided image. Here are some tools you can use if needed:

1. Image search. This will trigger a Google Lens search using the image to retrieve relevant information.
2. Text search. This will trigger a Google Search using a carefully crafted query.
3. Web content. This will fetch the detailed webpage content for you to use as additional information.
4. Code execution. You can write Python code inside <code>...</code> to perform image operations (such as cropping, resizing, rotating, color adjustment, denoising, enhancement, etc.) before further processing.

All search results, webpage contents, or code execution outputs will be placed within <observation>...</observation> and returned to you.
Output format options:
- <think>...</think><tool_call>{"name": "image_search", "arguments": {"image_paths": ["local image path 1", "local image path 2"]}}</tool_call>
- <think>...</think><tool_call>{"name": "text_search", "arguments": {"queries": ["your search query 1", "your search query 2"]}}</tool_call>
- <think>...</think><tool_call>{"name": "web_visit", "arguments": {"urls": ["target url 1", "target url 2"]}}</tool_call>
- <think>...</think><tool_call>{"name": "code", "arguments": {"code": "your python code here"}}</tool_call>
- <think>...</think><answer>your answer here</answer>
YOU MUST include your reasoning within <think>...</think> before taking any action."""  # noqa: E501

PLAN_GUIDANCE = """\
A planner proposed the plan below. Use it as guidance, not as a script: follow it where it
helps and depart from it where the evidence says otherwise.
{plan}"""

SYSTEM_PROMPTS = {
    "paper": PAPER_SYSTEM_PROMPT,
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

_MME_EN = (
    "Select the best answer to the above multiple-choice question based on the image. "
    "Respond with only the letter (A, B, C, D, or E) of the correct option. \n"
    "The best answer is:"
)
_MME_CN = (
    "根据图像选择上述多项选择题的最佳答案。"
    "只需回答正确选项的字母（A, B, C, D 或 E）。\n"
    "最佳答案为："
)

#: Templates by the name a case gives in `prompt_style`. Besides the toolkit's default, the
#: published wording of each benchmark of the R1V4 table, byte for byte as VLMEvalKit's
#: `build_prompt` writes it (`open-compass/VLMEvalKit@19c0e38:vlmeval/dataset/`):
#: `vlmevalkit` — `ImageMCQDataset.build_prompt` (`image_mcq.py:197-232`: HR-Bench, V*;
#: note the space before the last newline); `treebench` — `TreeBench.build_prompt`
#: (`image_mcq.py:2557-2602`); `mme-realworld` / `mme-realworld-cn` —
#: `MMERealWorld.build_prompt` with its `SYS` (`image_mcq.py:856-1012`; -Lite uses the
#: English one). VLMEvalKit's optional "Hint: …" line is not reproduced (no benchmark of
#: the table has hints).
OPTIONS_TEMPLATES: dict[str, OptionsTemplate] = {
    "default": DEFAULT_OPTIONS_TEMPLATE,
    "vlmevalkit": OptionsTemplate(
        "Question: {question}\nOptions:\n{options}\n"
        "Please select the correct answer from the options above. \n"
    ),
    "treebench": OptionsTemplate(
        "Question: {question}\nOptions:\n{options}\n"
        "Answer with the correct option's letter directly. \n"
    ),
    "mme-realworld": OptionsTemplate(
        "{question} The choices are listed below:\n{options}\n" + _MME_EN, "({letter}) {text}"
    ),
    "mme-realworld-cn": OptionsTemplate(
        "{question} 选项如下所示:\n{options}\n" + _MME_CN, "({letter}) {text}"
    ),
}


def options_template(style: str | None) -> OptionsTemplate:
    """The template a case's `prompt_style` names (None: the default); ValueError naming
    the known styles otherwise."""
    if style is None:
        return DEFAULT_OPTIONS_TEMPLATE
    try:
        return OPTIONS_TEMPLATES[style]
    except KeyError:
        known = ", ".join(OPTIONS_TEMPLATES)
        raise ValueError(f"unknown prompt_style {style!r}; known: {known}") from None


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


def ask_with_options(question: str, options: Any, style: str | None) -> str:
    """The question with its options in the template a case's `prompt_style` names (the
    default without one): the user-prompt wrapping of the dialects that use the toolkit's."""
    return render_question(question, options, options_template(style))
