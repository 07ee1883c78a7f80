"""`AgentSettings`: what one case's run needs to know, and nothing about batches.

The agent (loop, prompts, record meta) is configured by this alone; a batch's `RunSettings`
holds one (`RunSettings.agent`), so the agent never depends on the batch layer or on the
command line. Each default is written here once: the command line's options default to
"not given" and leave these in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from r1v4._util.images import DEFAULT_MAX_INPUT_BYTES, DEFAULT_MAX_INPUT_PIXELS
from r1v4.agent.dialects.sampling import SamplingChoice

#: Who runs the tools: this toolkit (`client`, for vLLM/SGLang), the endpoint (`server`,
#: the hosted API), or nobody (`none`: one plain turn).
ToolsMode = Literal["client", "server", "none"]
TOOLS_MODES: tuple[str, ...] = get_args(ToolsMode)

#: The `r1v4` dialect's system prompt: `auto` is the paper's own (`paper`, Table 1; none at
#: all when the toolkit does not run the tools); `general` and `deepresearch` are the
#: toolkit's. The names are the keys of `r1v4.agent.prompts.SYSTEM_PROMPTS` a user may
#: choose. Other dialects use their family's published prompt.
PromptChoice = Literal["auto", "paper", "general", "deepresearch", "none"]

#: Whether the chat template opens `<think>` in the prompt (Qwen3-VL Thinking models), so a
#: reply with no think tags is all reasoning: `auto` says yes when the model name has
#: "thinking" in it, or once a reply of the case closed a think it never opened.
Thinking = Literal["auto", "on", "off"]
THINKING_CHOICES: tuple[str, ...] = get_args(Thinking)

#: What a record's `meta.mode` starts with.
Mode = Literal["nonstream", "stream", "planner"]


@dataclass
class AgentSettings:
    """How each case is run: the mode, the prompt, the limits."""

    stream: bool = False
    planner: bool = False  # plan-only (batch_planner_*.py): the plan is the result
    plan_first: bool = False  # plan, then execute with the plan as guidance
    planner_model: str | None = None  # the planner's model, when not the endpoint's
    tools: ToolsMode = "client"
    prompt: PromptChoice = "auto"
    system_prompt: str | None = None  # replaces the chosen prompt
    max_rounds: int | None = None  # generations per case; None: 12, or the published budget
    # None: not given, so the request carries DEFAULT_MAX_TOKENS (8192), or with sampling
    # "published" the dialect's published figure; a given value always wins.
    max_tokens: int | None = None
    temperature: float | None = None  # None: the server's default (or the published one)
    sampling: SamplingChoice = "server"  # "published": the dialect's published sampling
    enable_search: bool = False  # ask the endpoint to search (enable_search=true)
    extra_body: dict[str, Any] = field(default_factory=dict)  # more request fields
    dialect: str = "r1v4"  # how the model writes calls (r1v4.agent.dialects.registry)
    native_tools: bool = True  # the dialect's native function calling (tools=[...])
    thinking: Thinking = "auto"
    # The served model's pixel rules: images are resized client-side with the dialect's
    # factor (28 or 32) to an area in [min_pixels, max_pixels] when either is set, so the
    # model, the sandbox and absolute coordinates all mean the same pixels.
    max_pixels: int | None = None
    min_pixels: int | None = None
    # Bounds on an input image before it is decoded: pixels (from its header) and file size.
    max_input_pixels: int = DEFAULT_MAX_INPUT_PIXELS
    max_input_mb: float = DEFAULT_MAX_INPUT_BYTES / 1_000_000
    max_images: int | None = None  # per request; older observation images give way
    case_timeout_s: float | None = None  # wall-clock bound on a whole trajectory
    live: bool = False  # report events as they stream (stream mode)

    @property
    def mode(self) -> Mode:
        """`planner`, `stream` or `nonstream`: what a record's `meta.mode` starts with."""
        if self.planner:
            return "planner"
        return "stream" if self.stream else "nonstream"
