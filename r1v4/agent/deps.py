"""What every case of one run shares: `AgentDeps` (the client, settings, tools, assets),
and what every case works out alike for its dialect, worked out once per dialect.

A case's dialect as the run's tools make it (`Dialect.for_run`), the prompt facts, whether
native function calling is on, the sampling of its requests and the system prompt of a case
without its own `system` depend only on the dialect's name and the run (its settings,
tools, search backend, model): never on the case. Each case used to work all of them out
again (issue 18: the runner's per-case CPU). Dialects and `PromptInfo` are frozen and every
dialect function is pure, so a plan is shared by the cases of its dialect without any of
them seeing another's state; what a case changes (its conversation, gallery, trajectory)
stays the case's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from r1v4.agent.dialects.base import Dialect, PromptInfo
from r1v4.agent.dialects.registry import get_dialect
from r1v4.agent.dialects.sampling import RequestSampling, request_sampling
from r1v4.agent.exchange import Completer
from r1v4.agent.settings import AgentSettings
from r1v4.endpoint.client import ChatClient
from r1v4.protocol.sidecars import AssetStore
from r1v4.tools import ToolRegistry

__all__ = ["AgentDeps", "DialectPlan"]


@dataclass
class DialectPlan:
    """One dialect's share of a run: see the module docstring."""

    dialect: Dialect  # as the run's tools make it
    native_tools: bool  # native function calling is on (the setting and the family's)
    info: PromptInfo
    sampling: RequestSampling
    custom: str | None  # the run's custom system prompt (--system-prompt-file), if any
    _system: str | None = field(default=None, repr=False)

    def system_prompt(self) -> str:
        """The agent's system prompt of a case without its own `system`:
        `dialect.system_prompt(info, custom)`, worked out on first use."""
        if self._system is None:
            self._system = self.dialect.system_prompt(self.info, self.custom)
        return self._system


@dataclass
class AgentDeps:
    """What every case shares within one run."""

    client: ChatClient
    settings: AgentSettings
    assets: AssetStore
    model: str  # the model name records carry in meta.model
    tools: ToolRegistry | None = None
    planner_client: Completer | None = None
    search_tools: bool = False  # a search backend is configured
    echo: Callable[[str], None] | None = None  # where --live lines go (None: nowhere)
    max_model_len: int | None = None  # the context window /v1/models reports, when it does
    _plans: dict[str, DialectPlan] = field(default_factory=dict, repr=False)

    def plan(self, dialect: str) -> DialectPlan:
        """What every case of this run in `dialect` shares, made on first use (see the
        module docstring). Raises `UnknownDialect`."""
        found = self._plans.get(dialect)
        if found is None:
            tools = self.tools
            names = tuple(tools.names()) if tools is not None else ()
            found = _plan(dialect, self.settings, names, self.search_tools, self.model)
            self._plans[dialect] = found
        return found


def _plan(
    name: str, s: AgentSettings, tool_names: tuple[str, ...], search: bool, model: str
) -> DialectPlan:
    dialect = get_dialect(name)
    native = s.native_tools and dialect.native_tools
    info = PromptInfo(tool_names=tool_names, native_tools=native, prompt=s.prompt, search=search)
    if dialect.for_run is not None:  # the family's form for this run's tools
        dialect = dialect.for_run(info)
    sampling = request_sampling(
        s.sampling,
        dialect.published_sampling(model),
        temperature=s.temperature,
        max_tokens=s.max_tokens,
        max_rounds=s.max_rounds,
    )
    return DialectPlan(dialect, native, info, sampling, s.system_prompt)
