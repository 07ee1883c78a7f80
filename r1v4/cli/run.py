"""Command line of the batch scripts (`batch_*.py`, `python -m r1v4 run`).

Keeps the seed's positional form, `python3 batch_nonstream.py [input] [output]`, and adds
the flags of DESIGN.md (the table is `r1v4.cli.options`). Flags beat R1V4_* environment
variables, which beat the settings' own defaults. The seed scripts fix the mode; `python -m
r1v4 run` takes it from `--stream` and `--planner`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import stat
import sys
from pathlib import Path
from typing import Any

from r1v4._util.files import file_kind
from r1v4.agent.settings import AgentSettings
from r1v4.batch.flagrules import with_format_rules
from r1v4.batch.results import ResultFileError
from r1v4.batch.runner import run_batch
from r1v4.batch.settings import (
    DEFAULT_OUTPUTS,
    ConsistencySettings,
    FlagSettings,
    JudgeSettings,
    OutputSettings,
    RunSettings,
    SearchSettings,
    parse_shard,
)
from r1v4.batch.summary import Summary, format_summary
from r1v4.cli import exits
from r1v4.cli.env import env_base_urls, slurm_shard
from r1v4.cli.options import add_options, section_values
from r1v4.cli.terminal import terminal_hooks
from r1v4.endpoint.types import EndpointSettings, check_base_url
from r1v4.tools import SandboxSelfTestFailed
from r1v4.tools.code_settings import CodeSettings

DEFAULT_INPUT = "test_cases.jsonl"

EPILOG = exits.epilog(
    {
        exits.OK: "every case done and succeeded, no input line rejected (after a resume: "
        "every record in the output file)",
        exits.FAILED: "some cases failed (their records are in the output; --retry-errors "
        "reruns them) or some input lines were rejected",
        exits.USAGE: "usage or configuration error (bad flag, base URL, input file), or the "
        "run stopped: the endpoint refused us (URL, key, model) or the output could not be "
        "written",
        exits.INTERRUPTED: "interrupted (Ctrl-C, SIGTERM); the same command resumes",
    }
)


def build_parser(mode: str) -> argparse.ArgumentParser:
    """The parser for one batch mode: nonstream, stream, planner-nonstream, planner-stream.
    `--stream` and `--planner` exist where they can still change the mode."""
    parser = argparse.ArgumentParser(
        prog=Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "r1v4",
        description="Run a JSONL file of test cases through an OpenAI-compatible endpoint "
        "(vLLM, SGLang, a hosted API) and append one result line per case. Rerunning the "
        "same command resumes.",
        epilog=EPILOG,
        formatter_class=exits.ExitCodesHelpFormatter,
    )
    parser.add_argument("input", nargs="?", help=f"test cases (default {DEFAULT_INPUT})")
    parser.add_argument("output", nargs="?", help=f"result file (default {DEFAULT_OUTPUTS[mode]})")
    modes = parser.add_argument_group("mode")
    if mode == "nonstream":
        modes.add_argument("--stream", action="store_true", help="stream the responses (SSE)")
    if not mode.startswith("planner"):
        modes.add_argument("--planner", action="store_true", help="plan-only batch")
    add_options(parser)
    return parser


def final_mode(mode: str, args: argparse.Namespace) -> str:
    """The script's mode with `--stream` / `--planner` applied."""
    if getattr(args, "stream", False):
        mode = "stream"
    if getattr(args, "planner", False):
        mode = f"planner-{mode}"
    return mode


_SECRET_FLAGS = ("--api-key", "--judge-api-key", "--consistency-judge-api-key")
_MODE_FLAGS = ("--stream", "--planner")


def resume_arguments(argv: list[str]) -> list[str]:
    """The arguments that rerun this batch: no --overwrite / --retry-errors, and no secrets
    (the key comes back from R1V4_API_KEY or must be given again)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in _SECRET_FLAGS:
            skip = True
            continue
        if arg.startswith(tuple(f"{flag}=" for flag in _SECRET_FLAGS)):
            continue
        if arg not in ("--overwrite", "--retry-errors", *_MODE_FLAGS):
            out.append(arg)
    return out


def launcher(script: str | None = None) -> list[str]:
    """How this process was started, as the words that start it again: a seed script
    (`python3 batch_stream.py`), the installed `r1v4` command, or `python3 -m r1v4`."""
    script = sys.argv[0] if script is None and sys.argv else script
    name = Path(script or "").name
    if name.endswith(".py") and name != "__main__.py":
        return ["python3", script or name]
    if name == "r1v4":
        return ["r1v4"]
    return ["python3", "-m", "r1v4"]


def resume_command(mode: str, argv: list[str], script: str | None = None) -> str:
    """`python3 <script> args…` for a batch script (it fixes the mode); `r1v4 run` or
    `python3 -m r1v4 run` with the mode's flags otherwise."""
    prefix = launcher(script)
    if prefix[-1].endswith(".py"):
        return shlex.join([*prefix, *resume_arguments(argv)])
    prefix += ["run"]
    prefix += ["--planner"] if mode.startswith("planner") else []
    prefix += ["--stream"] if mode.endswith("-stream") or mode == "stream" else []
    return shlex.join([*prefix, *resume_arguments(argv)])


def viewer_command(output: Path, script: str | None = None) -> str:
    """The command that opens the viewer on `output`, started the way this process was."""
    prefix = launcher(script)
    if prefix[-1].endswith(".py"):
        visual = Path(prefix[-1]).with_name("visual.py")
        prefix = ["python3", str(visual)] if visual.is_file() else ["python3", "-m", "r1v4"]
    if not prefix[-1].endswith(".py"):
        prefix += ["view"]
    return shlex.join([*prefix, "8080", str(output)])


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"--system-prompt-file {path}: {exc.strerror or exc}") from None


def _agent(values: dict[str, Any], args: argparse.Namespace, mode: str) -> AgentSettings:
    agent = values["agent"]
    agent["stream"] = mode.endswith("stream") and not mode.endswith("nonstream")
    agent["planner"] = mode.startswith("planner")
    extra = agent.get("extra_body") or {}
    agent["extra_body"] = {**extra, **({"enable_search": True} if args.enable_search else {})}
    if args.system_prompt_file:
        agent["system_prompt"] = _read_text(args.system_prompt_file)
    return AgentSettings(**agent)


def _endpoint(values: dict[str, Any], args: argparse.Namespace) -> EndpointSettings:
    endpoint = values["endpoint"]
    urls = args.base_url or env_base_urls()
    if urls:
        endpoint["base_urls"] = [u for item in urls for u in item.split(",") if u.strip()]
    else:
        endpoint.pop("base_urls", None)
    try:
        return EndpointSettings(**endpoint)
    except ValueError as exc:
        where = " (--base-url, or R1V4_BASE_URL)" if "base URL" in str(exc) else ""
        raise ValueError(f"{exc}{where}") from None


def _search(values: dict[str, Any], args: argparse.Namespace, output: Path) -> Any:
    """Search settings when a backend is chosen; its cache sits beside the output unless
    --no-tool-cache. The Serper key comes from SERPER_API_KEY."""
    search = values["search"]
    if "backend" not in search:
        return None
    if args.no_tool_cache:
        search.pop("cache_path", None)
    else:
        search.setdefault("cache_path", Path(f"{output}.toolcache.sqlite"))
    key = os.environ.get("SERPER_API_KEY")
    if key is not None:
        search["serper_api_key"] = key
    return SearchSettings(**search)


def _judge(values: dict[str, Any], endpoint: EndpointSettings, output: Path) -> Any:
    """The LLM judge when --judge-base-url is given: the batch's model unless --judge-model,
    its verdicts cached beside the output unless --judge-cache says where."""
    judge = values["judge"]
    if "base_url" not in judge:
        return None
    try:
        check_base_url(str(judge["base_url"]).strip().rstrip("/"))
    except ValueError as exc:
        raise ValueError(f"--judge-base-url: {exc}") from None
    judge.setdefault("model", endpoint.model)
    judge.setdefault("cache_path", Path(f"{output}.judgecache.sqlite"))
    return JudgeSettings(**judge)


def consistency_judge(values: dict[str, Any], model: str, output: Path) -> Any:
    """The consistency judge when --consistency-judge-base-url is given: the batch's model
    unless --consistency-judge-model, its verdicts cached beside the output."""
    judge = values["consistency"]
    if "base_url" not in judge:
        if len(judge) > (1 if "api_key" in judge else 0):
            raise ValueError("--consistency-judge-* options need --consistency-judge-base-url")
        return None
    try:
        check_base_url(str(judge["base_url"]).strip().rstrip("/"))
    except ValueError as exc:
        raise ValueError(f"--consistency-judge-base-url: {exc}") from None
    judge.setdefault("model", model)
    judge.setdefault("cache_path", Path(f"{output}.consistencycache.sqlite"))
    return ConsistencySettings(**judge)


def flag_settings(values: dict[str, Any]) -> FlagSettings:
    """The quality flags' thresholds (ValueError names the option that is out of range)."""
    flags = FlagSettings(**values["flags"])
    if not 0 < flags.huge_crop_fraction <= 1:
        raise ValueError("--flag-huge-crop must be in (0, 1]")
    if not 0 < flags.recrop_iou <= 1:
        raise ValueError("--flag-recrop-iou must be in (0, 1]")
    if flags.blank_std < 0 or flags.tiny_crop_px < 0:
        raise ValueError("--flag-blank-std and --flag-tiny-crop-px cannot be negative")
    return with_format_rules(flags)


def settings_from_args(
    args: argparse.Namespace, mode: str, argv: list[str], script: str | None = None
) -> RunSettings:
    """Resolve flags > environment > defaults into RunSettings (ValueError names the flag)."""
    mode = final_mode(mode, args)
    values = section_values(args)
    output = Path(args.output or DEFAULT_OUTPUTS[mode])
    endpoint = _endpoint(values, args)
    run = values["run"]
    if args.shard:
        auto = args.shard.strip().lower() == "auto"
        run["shard"] = slurm_shard() if auto else parse_shard(args.shard)
    return RunSettings(
        input_path=Path(args.input or DEFAULT_INPUT),
        output=OutputSettings(path=output, **values["output"]),
        endpoint=endpoint,
        agent=_agent(values, args, mode),
        code=CodeSettings(**values["code"]),
        search=_search(values, args, output),
        judge=_judge(values, endpoint, output),
        flags=flag_settings(values),
        consistency=consistency_judge(values, endpoint.model, output),
        resume_command=resume_command(mode, argv, script),
        **run,
    )


def input_problem(path: Path) -> str | None:
    """Why the input file cannot be read, or None. A pipe is fine (`<(…)`, a FIFO fed by
    another program); a folder or a device is not."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"input file not found: {path}"
    except OSError as exc:
        return f"cannot read the input file {path}: {exc.strerror or exc}"
    if stat.S_ISREG(mode) or stat.S_ISFIFO(mode):
        return None
    return f"the input {path} is {file_kind(mode)}, not a file of test cases"


def execute(settings: RunSettings) -> int:
    """Run the batch, print the summary, map the outcome to an exit code."""
    problem = input_problem(settings.input_path)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return exits.USAGE
    summary = Summary()
    try:
        asyncio.run(run_batch(settings, summary, terminal_hooks()))
    except KeyboardInterrupt:
        summary.interrupted = True
    except ResultFileError as exc:  # another run holds the output
        print(f"error: {exc}", file=sys.stderr)
        return exits.USAGE
    except SandboxSelfTestFailed as exc:  # before any case: nothing to resume
        print(f"error: {exc}", file=sys.stderr)
        return exits.USAGE
    except OSError as exc:  # e.g. an output folder that cannot be written
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error: cannot write results{where}: {exc.strerror or exc}", file=sys.stderr)
        return exits.STOPPED
    print(format_summary(summary, settings), file=sys.stderr if summary.stopped else sys.stdout)
    return summary.exit_code


def main(argv: list[str] | None = None, mode: str = "nonstream") -> int:
    """Entry point of every batch script; `mode` is fixed by the script that calls it."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(mode).parse_args(argv)
    try:
        settings = settings_from_args(args, mode, argv)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exits.USAGE
    if args.demo:
        return run_demo(settings, packaged_cases=args.input is None)
    return execute(settings)


def run_demo(settings: RunSettings, packaged_cases: bool) -> int:
    """`--demo`: the batch against the built-in SIMULATED endpoint, then how to view it.
    Without an input file the demo's own cases (inside the package) run; the results go
    where the settings say (the current folder by default)."""
    from r1v4.demo import demo_endpoint

    print(
        "demo: starting the built-in SIMULATED endpoint (scripted turns, not a model) on 127.0.0.1",
        file=sys.stderr,
    )
    with demo_endpoint(settings, packaged_cases=packaged_cases) as demo_settings:
        code = execute(demo_settings)
    out = settings.output_path
    if out.exists() and out.stat().st_size > 0:  # a run stopped before any case: nothing to view
        print(
            f"\nview the trajectories: {viewer_command(settings.output_path)}\n"
            "then open http://127.0.0.1:8080/"
        )
    return code
