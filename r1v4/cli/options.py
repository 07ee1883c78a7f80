"""The batch command's options, as one table: flag, help, environment variable, and the
settings field each one sets.

Argparse groups and the settings builder are both derived from `OPTIONS` (Datasette's
`SETTINGS`, inspect_ai's `common_options`). No option has a default of its own: a flag
that is not given (and whose environment variable is not set) leaves the settings field
alone, so the dataclass default is the only one; `--help` reads it from there. Choice
lists come from their registries (tools modes, prompts, scorers, search backends).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1v4.agent.dialects.registry import DIALECT_NAMES
from r1v4.agent.dialects.sampling import SAMPLING_CHOICES
from r1v4.agent.prompts import PROMPT_CHOICES
from r1v4.agent.settings import THINKING_CHOICES, TOOLS_MODES, AgentSettings
from r1v4.batch.settings import OutputSettings, RunSettings
from r1v4.endpoint.types import EndpointSettings
from r1v4.evals.consistency import ConsistencySettings
from r1v4.evals.flags import FlagSettings
from r1v4.evals.judge import JudgeSettings
from r1v4.evals.scoring import SCORERS
from r1v4.tools.code_settings import CodeSettings
from r1v4.tools.search import BACKENDS, SearchSettings

__all__ = ["OPTIONS", "SECTIONS", "Option", "add_options", "section_values"]

#: Settings classes by the section name an option's `target` starts with.
SECTIONS: dict[str, type] = {
    "endpoint": EndpointSettings,
    "agent": AgentSettings,
    "code": CodeSettings,
    "search": SearchSettings,
    "judge": JudgeSettings,
    "flags": FlagSettings,
    "consistency": ConsistencySettings,
    "output": OutputSettings,
    "run": RunSettings,
}

#: --sandbox: bubblewrap isolation for code (CodeSettings.use_bwrap checks the same names).
SANDBOX_CHOICES = ("auto", "on", "off")

_RESERVED_FIELDS = ("model", "messages", "stream", "stream_options")


def concurrency(text: str) -> int | str:
    """--concurrency: a number of cases in flight, or 'auto'."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or 'auto', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def json_object(text: str) -> dict:
    """--extra-body: a JSON object of request fields the toolkit does not set itself."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object, got {type(value).__name__}")
    reserved = sorted(set(value) & set(_RESERVED_FIELDS))
    if reserved:
        raise argparse.ArgumentTypeError(
            f"{', '.join(reserved)} cannot be set here (the toolkit sets them)"
        )
    return value


@dataclass(frozen=True)
class Option:
    """One command-line option of the batch command."""

    flags: tuple[str, ...]
    help: str
    group: str
    target: str | None = None  # "section.field" it sets; None: read by the builder itself
    env: str | None = None  # environment variable used when the flag is not given
    type: Callable[[str], Any] | None = None
    choices: Callable[[], Sequence[str]] | None = None  # from the registry, when asked
    action: str | None = None  # "store_true" | "store_false" | "append"
    metavar: str | None = None
    dest: str | None = None
    default_text: str | None = None  # a default derived from other options, for --help

    @property
    def name(self) -> str:
        return self.dest or self.flags[0].lstrip("-").replace("-", "_")

    def field_default(self) -> Any:
        """The settings field's own default (what applies when the option is not given)."""
        if self.target is None:
            return None
        section, name = self.target.split(".")
        for f in dataclasses.fields(SECTIONS[section]):
            if f.name == name:
                if f.default is not dataclasses.MISSING:
                    return f.default
                if f.default_factory is not dataclasses.MISSING:
                    return f.default_factory()
        return None

    def help_text(self) -> str:
        notes = [f"env {self.env}"] if self.env else []
        default = self.default_text
        if default is None and self.action not in ("store_true", "store_false"):
            value = self.field_default()
            if value not in (None, {}, []):
                default = ", ".join(value) if isinstance(value, list) else str(value)
        if default is not None:
            notes.append(f"default {default}")
        return f"{self.help} ({'; '.join(notes)})" if notes else self.help


def _o(flags: str | tuple[str, ...], help: str, group: str, **kw: Any) -> Option:
    return Option(flags if isinstance(flags, tuple) else (flags,), help, group, **kw)


def _path(text: str) -> Path:
    return Path(text)


_EP, _RUN, _AGENT, _SEARCH, _SCORE = "endpoint", "run", "agent", "search tools", "scoring"
_FLAGS = "quality flags"

#: The quality flags' thresholds and the consistency judge (also `python -m r1v4 flags`).
FLAG_OPTIONS: tuple[Option, ...] = (
    _o("--flag-blank-std", "blank_crop: a returned image whose grey levels vary less than "
       "this (standard deviation, 0-255)", _FLAGS, target="flags.blank_std", type=float),
    _o("--flag-tiny-crop-px", "tiny_crop: a crop under this many input pixels on a side",
       _FLAGS, target="flags.tiny_crop_px", type=int),
    _o("--flag-huge-crop", "huge_crop: a crop keeping more than this share of its input's "
       "area", _FLAGS, target="flags.huge_crop_fraction", type=float),
    _o("--flag-recrop-iou", "recrop: crops of one input in two rounds overlapping at least "
       "this much (IoU)", _FLAGS, target="flags.recrop_iou", type=float),
    _o("--consistency-judge-base-url", "OpenAI-compatible endpoint of a vision-language model "
       "that checks crops against their think (crop_mismatch) and the answer against the "
       "last think", _FLAGS, target="consistency.base_url"),
    _o("--consistency-judge-model", "consistency judge model name", _FLAGS,
       target="consistency.model", default_text="--model"),
    _o("--consistency-judge-api-key", "consistency judge API key", _FLAGS,
       target="consistency.api_key", env="R1V4_CONSISTENCY_JUDGE_API_KEY"),
    _o("--consistency-judge-cache", "SQLite cache of its verdicts", _FLAGS,
       target="consistency.cache_path", type=_path,
       default_text="<output>.consistencycache.sqlite"),
)  # fmt: skip

OPTIONS: tuple[Option, ...] = (
    _o("--base-url", "endpoint base URL ending in /v1; repeat for replicas (the environment "
       "variable may hold several, comma-separated)", _EP, target="endpoint.base_urls",
       env="R1V4_BASE_URL", action="append"),
    _o("--api-key", "API key; never written anywhere", _EP, target="endpoint.api_key",
       env="R1V4_API_KEY"),
    _o("--model", "model name", _EP, target="endpoint.model", env="R1V4_MODEL"),
    _o("--planner-model", "model name for planner requests", _EP,
       target="agent.planner_model"),
    _o("--timeout", "seconds per request", _EP, target="endpoint.timeout_s", type=float),
    _o("--stream-read-interval", "streaming: once tokens flow, read a stream at most every "
       "this many seconds (0.05; 0: as each token comes); fewer wake-ups per token, but a "
       "turn's end is seen up to this late, and its latency figures include that",
       _EP, target="endpoint.stream_read_interval_s", type=float, metavar="S"),
    _o("--case-timeout", "seconds for a whole case (all turns and tools); the partial "
       "trajectory is kept", _EP, target="agent.case_timeout_s", type=float),
    _o("--max-retries", "retries per request after real failures (errors, dropped streams, "
       "timeouts)", _EP, target="endpoint.max_retries", type=int),
    _o("--retry-budget-s", "seconds per request for the waits a pacing server names (429/503 "
       "with Retry-After); those retries do not spend --max-retries", _EP,
       target="endpoint.retry_budget_s", type=float),
    _o("--max-tokens", "max tokens per generation (not given: 8192, or the dialect's published "
       "figure with --sampling published)", _EP, target="agent.max_tokens", type=int),
    _o("--temperature", "sampling temperature (not given: the server's default, or the "
       "published one)", _EP, target="agent.temperature", type=float),
    _o("--sampling", "server: send only the sampling fields given here; published: also the "
       "dialect's published evaluation settings (temperature, top_p, top_k, …, max_tokens; "
       "python -m r1v4 dialects lists them), for reproducing its figures", _EP,
       target="agent.sampling", choices=lambda: SAMPLING_CHOICES),
    _o("--enable-search", "send enable_search=true (for endpoints that run tools "
       "server-side)", _EP, target="agent.enable_search", action="store_true"),
    _o("--extra-body", 'more request fields, e.g. \'{"top_p": 0.9, "chat_template_kwargs": '
       '{"enable_thinking": true}}\'', _EP, target="agent.extra_body", type=json_object,
       metavar="JSON"),
    _o("--concurrency", "cases in flight, or 'auto'", _RUN, target="run.concurrency",
       type=concurrency),
    _o("--max-concurrency", "ceiling for 'auto'", _RUN, target="run.max_concurrency",
       type=int),
    _o("--overwrite", "start the output afresh", _RUN, target="output.overwrite",
       action="store_true"),
    _o("--retry-errors", "rerun cases that failed", _RUN, target="output.retry_errors",
       action="store_true"),
    _o("--shard", "run only slice K of N, e.g. 1/4; 'auto': this task's slice of a SLURM "
       "job array (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT)", _RUN),
    _o("--no-progress", "no progress bar", _RUN, target="output.progress",
       action="store_false", dest="progress"),
    _o("--no-inflight", "do not write <output>.inflight/ snapshots of running cases (for "
       "the viewer)", _RUN, target="output.inflight", action="store_false", dest="inflight"),
    _o("--live", "streaming modes: print each think, tool call and answer as it closes",
       _RUN, target="agent.live", action="store_true"),
    _o("--demo", "start the built-in SIMULATED endpoint and run the demo cases against it",
       _RUN, action="store_true"),
    _o("--tools", "client: this toolkit runs the tools (vLLM/SGLang); server: the endpoint "
       "runs them (hosted API); none: one plain turn", _AGENT, target="agent.tools",
       choices=lambda: TOOLS_MODES),
    _o("--dialect", "how the model writes tool calls and wants results back (python -m r1v4 "
       "dialects lists them); a case's own 'dialect' field wins", _AGENT,
       target="agent.dialect", choices=lambda: DIALECT_NAMES),
    _o("--no-native-tools", "dialects with native function calling (qwen3-vl): write the "
       "tools into the system prompt and send results as user turns instead of tools=[...] "
       "and role:tool (for servers without a tool parser or that refuse images in tool "
       "messages)", _AGENT, target="agent.native_tools", action="store_false",
       dest="native_tools"),
    _o("--thinking", "the chat template opens <think> in the prompt, so a reply with no "
       "think tags is reasoning (auto: when the model name says 'thinking', or a reply "
       "closes a think it never opened)", _AGENT, target="agent.thinking",
       choices=lambda: THINKING_CHOICES),
    _o("--prompt", "the r1v4 dialect's system prompt (auto: the paper's Table 1)", _AGENT,
       target="agent.prompt", choices=lambda: PROMPT_CHOICES),
    _o("--system-prompt-file", "use this file's text as the system prompt (a case's own "
       "'system' still wins)", _AGENT, type=_path),
    _o("--max-rounds", "model turns (requests) per case (not given: 12, or the dialect's "
       "published budget with --sampling published)", _AGENT, target="agent.max_rounds",
       type=int),
    _o("--max-pixels", "resize images client-side as the served model's processor does "
       "(the dialect's factor, 28 or 32), to at most this many pixels", _AGENT,
       target="agent.max_pixels", type=int),
    _o("--min-pixels", "with --max-pixels: at least this many pixels (the server's own "
       "min_pixels)", _AGENT, target="agent.min_pixels", type=int),
    _o("--max-input-pixels", "refuse (fail the case) an input image with more pixels than "
       "this, before decoding it", _AGENT, target="agent.max_input_pixels", type=int),
    _o("--max-input-mb", "refuse (fail the case) an input image file larger than this",
       _AGENT, target="agent.max_input_mb", type=float),
    _o("--max-images", "images per request (match vLLM --limit-mm-per-prompt); older crops "
       "give way", _AGENT, target="agent.max_images", type=int),
    _o("--embed-images", "intermediate images as data URLs", _AGENT,
       target="output.embed_images", action="store_true"),
    _o("--plan-first", "plan, then execute the plan", _AGENT, target="agent.plan_first",
       action="store_true"),
    _o("--code-timeout", "seconds per code call", _AGENT, target="code.timeout_s",
       type=float),
    _o("--code-session", "one Python process per trajectory", _AGENT, target="code.session",
       action="store_true"),
    _o("--code-memory-mb", "memory per code call", _AGENT, target="code.memory_mb",
       type=int),
    _o("--sandbox", "bubblewrap isolation for code (auto: use it when it works here)",
       _AGENT, target="code.use_bwrap", choices=lambda: SANDBOX_CHOICES),
    _o("--search-backend", "enable text_search/image_search/web_visit with this backend",
       _SEARCH, target="search.backend", choices=lambda: BACKENDS, default_text="none"),
    _o("--search-index", "SQLite index for --search-backend local", _SEARCH,
       target="search.index_path", type=_path),
    _o(("--search-corpus", "--corpus"), "corpus folder for the local backend (indexed on "
       "first use)", _SEARCH, target="search.corpus_dir", type=_path, dest="corpus"),
    _o("--searxng-url", "SearxNG base URL", _SEARCH, target="search.searxng_url"),
    _o("--allow-private-urls", "let web_visit fetch private addresses", _SEARCH,
       target="search.allow_private_urls", action="store_true"),
    _o("--tool-cache", "SQLite cache of tool results", _SEARCH, target="search.cache_path",
       type=_path, default_text="<output>.toolcache.sqlite"),
    _o("--no-tool-cache", "disable the tool cache", _SEARCH, action="store_true"),
    _o("--scorer", "how answers are scored when a case has ground truth", _SCORE,
       target="run.scorer", choices=lambda: SCORERS),
    _o("--judge-base-url", "OpenAI-compatible endpoint for the LLM judge", _SCORE,
       target="judge.base_url"),
    _o("--judge-model", "judge model name", _SCORE, target="judge.model",
       default_text="--model"),
    _o("--judge-api-key", "judge API key", _SCORE, target="judge.api_key",
       env="R1V4_JUDGE_API_KEY"),
    _o("--judge-cache", "SQLite verdict cache", _SCORE, target="judge.cache_path",
       type=_path, default_text="<output>.judgecache.sqlite"),
) + FLAG_OPTIONS  # fmt: skip


def add_options(parser: argparse.ArgumentParser, options: Sequence[Option] = OPTIONS) -> None:
    """Add `options` to `parser`, one argument group per `Option.group`, in table order.
    Every option defaults to None ("not given")."""
    groups: dict[str, Any] = {}
    for opt in options:
        group = groups.get(opt.group)
        if group is None:
            group = groups[opt.group] = parser.add_argument_group(opt.group)
        kwargs: dict[str, Any] = {"dest": opt.name, "default": None, "help": opt.help_text()}
        if opt.action:
            kwargs["action"] = opt.action
        if opt.type is not None:
            kwargs["type"] = opt.type
        if opt.choices is not None:
            kwargs["choices"] = list(opt.choices())
        if opt.metavar:
            kwargs["metavar"] = opt.metavar
        group.add_argument(*opt.flags, **kwargs)


def given(opt: Option, args: argparse.Namespace) -> Any:
    """The option's value: the flag, else its environment variable, else None (not given).
    An empty string counts as not given, as an unset variable does."""
    value = getattr(args, opt.name, None)
    if value in (None, "") and opt.env:
        value = os.environ.get(opt.env) or None
    return None if value == "" else value


def section_values(args: argparse.Namespace, options: Sequence[Option] = OPTIONS) -> dict:
    """{section: {field: value}} for every option that was given and has a target."""
    out: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for opt in options:
        if opt.target is None:
            continue
        value = given(opt, args)
        if value is not None:
            section, name = opt.target.split(".")
            out[section][name] = value
    return out


def option(flag: str) -> Option:
    """The table's option with this flag."""
    return next(o for o in OPTIONS if flag in o.flags)
