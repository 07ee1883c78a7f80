"""`AgentSettings`: what one case's run needs to know, and nothing about batches.

The agent (loop, prompts, record meta) is configured by this alone; a batch's `RunSettings`
hands one over (`RunSettings.agent_settings()`), so the agent never depends on the batch
layer or on the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class AgentSettings:
    """How each case is run: the mode, the prompt, the limits."""

    stream: bool = False
    planner: bool = False  # plan-only (batch_planner_*.py): the plan is the result
    plan_first: bool = False  # plan, then execute with the plan as guidance
    tools: str = "client"  # client | server | none
    prompt: str = "auto"  # auto | general | deepresearch | none
    system_prompt: str | None = None  # replaces the chosen prompt
    search: bool = False  # search tools are configured ("auto" then means deepresearch)
    max_rounds: int = 12
    max_tokens: int | None = 8192
    temperature: float | None = None
    enable_search: bool = False  # `--tools none`: ask the endpoint to search
    extra_body: dict[str, Any] = field(default_factory=dict)
    max_pixels: int | None = None
    max_images: int | None = None  # per request; older observation images give way
    case_timeout_s: float | None = None  # wall-clock bound on a whole trajectory
    live: bool = False  # print events as they stream (stream mode)

    @property
    def mode(self) -> str:
        """`planner`, `stream` or `nonstream`: what a record's `meta.mode` starts with."""
        if self.planner:
            return "planner"
        return "stream" if self.stream else "nonstream"
