"""Run settings: everything one batch needs, in one object tests can build directly.

The command line fills it (flag > R1V4_* environment > default, in ``r1v4.cli``); the
runner splits it into the endpoint's, the tools', the judge's and the agent's settings
(``agent_settings()``), so no layer below the batch depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from r1v4.agent.settings import AgentSettings
from r1v4.endpoint.types import DEFAULT_BASE_URL, DEFAULT_MODEL

DEFAULT_OUTPUTS = {
    "nonstream": "result_nonstream.jsonl",
    "stream": "result_stream.jsonl",
    "planner-nonstream": "result_plan_nonstream.jsonl",
    "planner-stream": "result_plan_stream.jsonl",
}


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'K/N' -> (K, N), 1-based; ValueError with the reason otherwise."""
    if not text:
        return None
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like K/N (e.g. 1/4), got {text!r}") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard {text}: K must be between 1 and N")
    return k, n


@dataclass
class RunSettings:
    """Everything one batch run needs."""

    input_path: Path
    output_path: Path
    base_urls: list[str] = field(default_factory=lambda: [DEFAULT_BASE_URL])
    api_key: str | None = None
    model: str = DEFAULT_MODEL
    planner_model: str | None = None
    stream: bool = False
    planner: bool = False  # plan-only batch (batch_planner_*.py)
    plan_first: bool = False  # plan, then execute with the plan as guidance
    tools: str = "client"  # client | server | none
    prompt: str = "auto"  # auto | general | deepresearch | none
    system_prompt: str | None = None  # --system-prompt-file: replaces the chosen prompt
    concurrency: int = 8
    adaptive: bool = False
    max_concurrency: int = 64
    timeout_s: float = 600.0
    case_timeout_s: float | None = None  # wall-clock bound on a whole trajectory
    max_retries: int = 5
    max_tokens: int | None = 8192
    temperature: float | None = None
    enable_search: bool = False
    max_rounds: int = 12
    max_pixels: int | None = None
    max_images: int | None = None  # per request; older observation images give way
    embed_images: bool = False
    overwrite: bool = False
    retry_errors: bool = False
    shard: tuple[int, int] | None = None
    progress: bool = True
    live: bool = False  # print events as they stream (stream mode)
    inflight: bool = True  # snapshots of running cases for the viewer
    scorer: str = "auto"
    judge_base_url: str | None = None
    judge_model: str | None = None
    judge_api_key: str | None = None
    judge_cache: Path | None = None
    code_timeout_s: float = 30.0
    code_session: bool = False
    code_memory_mb: int = 2048
    sandbox: str = "auto"  # bubblewrap: auto | on | off
    search_backend: str | None = None  # None = no search tools
    search_index: Path | None = None
    corpus_dir: Path | None = None
    searxng_url: str | None = None
    allow_private_urls: bool = False
    tool_cache: Path | None = None
    extra_body: dict = field(default_factory=dict)
    resume_command: str = ""

    @property
    def mode(self) -> str:
        if self.planner:
            return "planner"
        return "stream" if self.stream else "nonstream"

    def agent_settings(self) -> AgentSettings:
        """The part of these settings each case's run needs."""
        return AgentSettings(
            stream=self.stream,
            planner=self.planner,
            plan_first=self.plan_first,
            tools=self.tools,
            prompt=self.prompt,
            system_prompt=self.system_prompt,
            search=bool(self.search_backend),
            max_rounds=self.max_rounds,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            enable_search=self.enable_search,
            extra_body=self.extra_body,
            max_pixels=self.max_pixels,
            max_images=self.max_images,
            case_timeout_s=self.case_timeout_s,
            live=self.live,
        )

    @property
    def endpoint_model(self) -> str:
        """The model the batch's requests name: the planner's in a planner batch."""
        return self.planner_model or self.model if self.planner else self.model
