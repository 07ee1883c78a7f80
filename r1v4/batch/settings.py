"""Run settings: everything one batch needs, composed of each layer's own settings.

`RunSettings` holds the endpoint's (`EndpointSettings`), the agent's (`AgentSettings`), the
code sandbox's (`CodeSettings`), the search tools' (`SearchSettings`, or None for no search
tools), the judge's (`JudgeSettings`, or None) and the output's (`OutputSettings`), plus what
only a batch has (input, scorer, concurrency, shard). Each layer takes its own part, and
each default is written once, in the dataclass that owns the field: the command line
(`r1v4.cli.options`) leaves a field alone unless a flag or an environment variable sets it.
Secrets (API keys) never show in a repr.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from r1v4.agent.settings import AgentSettings, Mode
from r1v4.endpoint.types import EndpointSettings
from r1v4.evals.consistency import ConsistencySettings
from r1v4.evals.flags import FlagSettings
from r1v4.evals.judge import JudgeSettings
from r1v4.evals.scoring import ScorerName
from r1v4.tools.code_settings import CodeSettings
from r1v4.tools.search import SearchSettings

__all__ = [
    "DEFAULT_OUTPUTS",
    "AgentSettings",
    "CodeSettings",
    "ConsistencySettings",
    "EndpointSettings",
    "FlagSettings",
    "JudgeSettings",
    "OutputSettings",
    "RunSettings",
    "SearchSettings",
    "parse_shard",
]

#: The seed's result file of each batch script, when none is given.
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
class OutputSettings:
    """Where the records go and how they are written."""

    path: Path
    overwrite: bool = False  # start the output afresh
    retry_errors: bool = False  # rerun cases whose record failed
    embed_images: bool = False  # intermediate images as data URLs, not in the assets folder
    inflight: bool = True  # snapshots of running cases (<output>.inflight/) for the viewer
    progress: bool = True  # a progress bar while the batch runs


@dataclass
class RunSettings:
    """Everything one batch run needs."""

    input_path: Path
    output: OutputSettings
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)
    agent: AgentSettings = field(default_factory=AgentSettings)
    code: CodeSettings = field(default_factory=CodeSettings)
    search: SearchSettings | None = None  # None: no search tools
    judge: JudgeSettings | None = None  # None: no LLM judge
    flags: FlagSettings = field(default_factory=FlagSettings)  # quality-flag thresholds
    consistency: ConsistencySettings | None = None  # None: no consistency judge
    scorer: ScorerName = "auto"
    concurrency: int | Literal["auto"] = 8  # cases in flight; "auto": adaptive (AIMD)
    max_concurrency: int = 64  # ceiling for "auto"
    shard: tuple[int, int] | None = None  # run only slice K of N
    resume_command: str = ""  # the command that reruns this batch (for the summary)

    @property
    def output_path(self) -> Path:
        return self.output.path

    @property
    def mode(self) -> Mode:
        return self.agent.mode

    @property
    def adaptive(self) -> bool:
        return self.concurrency == "auto"

    @property
    def workers(self) -> int:
        """How many cases may be in flight at once."""
        return self.max_concurrency if self.concurrency == "auto" else self.concurrency

    def request_endpoint(self) -> EndpointSettings:
        """The endpoint settings requests go out with: a planner batch names the planner's
        model (when one is given) instead of the endpoint's, and the connection pool is at
        least as large as the cases in flight (each case has one request out at a time; a
        smaller pool would queue requests the batch meant to send)."""
        endpoint = self.endpoint
        if endpoint.max_connections < self.workers:
            endpoint = dataclasses.replace(endpoint, max_connections=self.workers)
        if self.agent.planner and self.agent.planner_model:
            return dataclasses.replace(endpoint, model=self.agent.planner_model)
        return endpoint
