"""Command line of the batch scripts (`batch_*.py`, `python -m r1v4 run`).

Keeps the seed's positional form, `python3 batch_nonstream.py [input] [output]`, and adds
the flags of DESIGN.md. Flags beat R1V4_* environment variables, which beat defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
from pathlib import Path

from r1v4.config import (
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
    DEFAULT_OUTPUTS,
    RunSettings,
    env_base_urls,
    parse_shard,
)
from r1v4.results import ResultFileError
from r1v4.runner import Summary, format_summary, run_batch
from r1v4.tools.selftest import SandboxSelfTestFailed


def _concurrency(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or 'auto', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


_RESERVED_FIELDS = ("model", "messages", "stream", "stream_options")


def _json_object(text: str) -> dict:
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


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"--system-prompt-file {path}: {exc.strerror or exc}") from None


def build_parser(mode: str) -> argparse.ArgumentParser:
    """The parser for one batch mode: nonstream, stream, planner-nonstream, planner-stream."""
    parser = argparse.ArgumentParser(
        prog=Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "r1v4",
        description="Run a JSONL file of test cases through an OpenAI-compatible endpoint "
        "(vLLM, SGLang, a hosted API) and append one result line per case. Rerunning the "
        "same command resumes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("input", nargs="?", default="test_cases.jsonl", help="test cases")
    parser.add_argument("output", nargs="?", default=DEFAULT_OUTPUTS[mode], help="result file")
    ep = parser.add_argument_group("endpoint")
    ep.add_argument(
        "--base-url",
        action="append",
        help=f"endpoint base URL ending in /v1; repeat for replicas "
        f"(env R1V4_BASE_URL, comma-separated; default {DEFAULT_BASE_URL})",
    )
    ep.add_argument("--api-key", help="API key (env R1V4_API_KEY); never written anywhere")
    ep.add_argument("--model", help=f"model name (env R1V4_MODEL; default {DEFAULT_MODEL})")
    ep.add_argument("--planner-model", help="model name for planner requests")
    ep.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    ep.add_argument(
        "--case-timeout",
        type=float,
        help="seconds for a whole case (all turns and tools); the partial trajectory is kept",
    )
    ep.add_argument("--max-retries", type=int, default=5, help="retries per request")
    ep.add_argument("--max-tokens", type=int, default=8192, help="max tokens per generation")
    ep.add_argument("--temperature", type=float, default=None, help="sampling temperature")
    ep.add_argument(
        "--enable-search",
        action="store_true",
        help="send enable_search=true (for endpoints that run tools server-side)",
    )
    ep.add_argument(
        "--extra-body",
        type=_json_object,
        default={},
        metavar="JSON",
        help='more request fields, e.g. \'{"top_p": 0.9, "chat_template_kwargs": '
        '{"enable_thinking": true}}\'',
    )
    run = parser.add_argument_group("run")
    run.add_argument(
        "--concurrency", type=_concurrency, default=8, help="cases in flight, or 'auto'"
    )
    run.add_argument("--max-concurrency", type=int, default=64, help="ceiling for 'auto'")
    run.add_argument("--overwrite", action="store_true", help="start the output afresh")
    run.add_argument("--retry-errors", action="store_true", help="rerun cases that failed")
    run.add_argument("--shard", help="run only slice K of N, e.g. 1/4")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument(
        "--no-inflight",
        action="store_true",
        help="do not write <output>.inflight/ snapshots of running cases (for the viewer)",
    )
    run.add_argument(
        "--live",
        action="store_true",
        help="streaming modes: print each think, tool call and answer as it closes",
    )
    run.add_argument(
        "--demo",
        action="store_true",
        help="start the built-in SIMULATED endpoint and run the demo cases against it",
    )
    agent = parser.add_argument_group("agent")
    agent.add_argument(
        "--tools",
        choices=["client", "server", "none"],
        default="client",
        help="client: this toolkit runs the tools (vLLM/SGLang); server: the endpoint runs "
        "them (hosted API); none: one plain turn",
    )
    agent.add_argument(
        "--prompt",
        choices=["auto", "general", "deepresearch", "none"],
        default="auto",
        help="system prompt (auto: deepresearch when a search backend is set)",
    )
    agent.add_argument(
        "--system-prompt-file",
        type=Path,
        help="use this file's text as the system prompt (a case's own 'system' still wins)",
    )
    agent.add_argument("--max-rounds", type=int, default=12, help="tool rounds per case")
    agent.add_argument("--max-pixels", type=int, help="downscale images above this many pixels")
    agent.add_argument(
        "--max-images",
        type=int,
        help="images per request (match vLLM --limit-mm-per-prompt); older crops give way",
    )
    agent.add_argument(
        "--embed-images", action="store_true", help="intermediate images as data URLs"
    )
    agent.add_argument("--plan-first", action="store_true", help="plan, then execute the plan")
    agent.add_argument("--code-timeout", type=float, default=30.0, help="seconds per code call")
    agent.add_argument(
        "--code-session", action="store_true", help="one Python process per trajectory"
    )
    agent.add_argument("--code-memory-mb", type=int, default=2048, help="memory per code call")
    agent.add_argument(
        "--sandbox",
        choices=["auto", "on", "off"],
        default="auto",
        help="bubblewrap isolation for code (auto: use it when it works here)",
    )
    search = parser.add_argument_group("search tools")
    search.add_argument(
        "--search-backend",
        choices=["local", "serper", "searxng"],
        help="enable text_search/image_search/web_visit with this backend",
    )
    search.add_argument("--search-index", type=Path, help="SQLite index for --search-backend local")
    search.add_argument(
        "--search-corpus",
        "--corpus",
        dest="corpus",
        type=Path,
        help="corpus folder for the local backend (indexed on first use)",
    )
    search.add_argument("--searxng-url", help="SearxNG base URL")
    search.add_argument(
        "--allow-private-urls", action="store_true", help="let web_visit fetch private addresses"
    )
    search.add_argument("--tool-cache", type=Path, help="SQLite cache of tool results")
    search.add_argument("--no-tool-cache", action="store_true", help="disable the tool cache")
    score = parser.add_argument_group("scoring")
    score.add_argument(
        "--scorer",
        choices=["auto", "choice", "exact", "includes", "judge"],
        default="auto",
        help="how answers are scored when a case has ground truth",
    )
    score.add_argument("--judge-base-url", help="OpenAI-compatible endpoint for the LLM judge")
    score.add_argument("--judge-model", help="judge model name")
    score.add_argument("--judge-api-key", help="judge API key (env R1V4_JUDGE_API_KEY)")
    score.add_argument(
        "--judge-cache", type=Path, help="SQLite verdict cache (default <output>.judgecache.sqlite)"
    )
    return parser


_SECRET_FLAGS = ("--api-key", "--judge-api-key")


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
        if arg not in ("--overwrite", "--retry-errors"):
            out.append(arg)
    return out


def settings_from_args(args: argparse.Namespace, mode: str, argv: list[str]) -> RunSettings:
    """Resolve flags > environment > defaults into RunSettings."""
    base_urls = args.base_url or env_base_urls() or [DEFAULT_BASE_URL]
    base_urls = [u for item in base_urls for u in item.split(",") if u.strip()]
    concurrency = args.concurrency
    output = Path(args.output)
    tool_cache = None
    if args.search_backend and not args.no_tool_cache:
        tool_cache = args.tool_cache or Path(f"{output}.toolcache.sqlite")
    if sys.argv and sys.argv[0].endswith(".py"):
        script = [sys.argv[0]]  # the batch script fixes the mode
    else:
        script = ["-m", "r1v4", "run"]
        script += ["--planner"] if mode.startswith("planner") else []
        script += ["--stream"] if mode.endswith("-stream") or mode == "stream" else []
    resume = shlex.join(["python3", *script, *resume_arguments(argv)])
    return RunSettings(
        input_path=Path(args.input),
        output_path=output,
        base_urls=base_urls,
        api_key=args.api_key or os.environ.get("R1V4_API_KEY") or None,
        model=args.model or os.environ.get("R1V4_MODEL") or DEFAULT_MODEL,
        planner_model=args.planner_model,
        stream=mode.endswith("stream") and not mode.endswith("nonstream"),
        planner=mode.startswith("planner"),
        plan_first=args.plan_first,
        tools=args.tools,
        prompt=args.prompt,
        concurrency=concurrency if isinstance(concurrency, int) else 8,
        adaptive=concurrency == "auto",
        max_concurrency=args.max_concurrency,
        timeout_s=args.timeout,
        case_timeout_s=args.case_timeout,
        max_retries=args.max_retries,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        enable_search=args.enable_search,
        extra_body={**args.extra_body, **({"enable_search": True} if args.enable_search else {})},
        system_prompt=_read_text(args.system_prompt_file) if args.system_prompt_file else None,
        max_rounds=args.max_rounds,
        max_pixels=args.max_pixels,
        max_images=args.max_images,
        embed_images=args.embed_images,
        overwrite=args.overwrite,
        retry_errors=args.retry_errors,
        shard=parse_shard(args.shard),
        progress=not args.no_progress,
        live=args.live,
        inflight=not args.no_inflight,
        scorer=args.scorer,
        judge_base_url=args.judge_base_url,
        judge_model=args.judge_model,
        judge_api_key=args.judge_api_key or os.environ.get("R1V4_JUDGE_API_KEY") or None,
        judge_cache=args.judge_cache,
        code_timeout_s=args.code_timeout,
        code_session=args.code_session,
        code_memory_mb=args.code_memory_mb,
        sandbox=args.sandbox,
        search_backend=args.search_backend,
        search_index=args.search_index,
        corpus_dir=args.corpus,
        searxng_url=args.searxng_url,
        allow_private_urls=args.allow_private_urls,
        tool_cache=tool_cache,
        resume_command=resume,
    )


def execute(settings: RunSettings) -> int:
    """Run the batch, print the summary, map the outcome to an exit code."""
    if not settings.input_path.exists():
        print(f"error: input file not found: {settings.input_path}", file=sys.stderr)
        return 1
    summary = Summary()
    try:
        asyncio.run(run_batch(settings, summary))
    except KeyboardInterrupt:
        summary.interrupted = True
    except ResultFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except SandboxSelfTestFailed as exc:  # before any case: nothing to resume
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. an output folder that cannot be written
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error: cannot write results{where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(format_summary(summary, settings), file=sys.stderr if summary.stopped else sys.stdout)
    return summary.exit_code


def main(argv: list[str] | None = None, mode: str = "nonstream") -> int:
    """Entry point of every batch script; `mode` is fixed by the script that calls it."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--stream" in argv and mode == "nonstream":  # `python -m r1v4 run --stream`
        argv.remove("--stream")
        mode = "stream"
    if "--planner" in argv and not mode.startswith("planner"):
        argv.remove("--planner")
        mode = f"planner-{mode}"
    args = build_parser(mode).parse_args(argv)
    try:
        settings = settings_from_args(args, mode, argv)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.demo:
        from r1v4.demo import run_demo

        return run_demo(settings, explicit_input="input" in _given_positionals(args, argv))
    return execute(settings)


def _given_positionals(args: argparse.Namespace, argv: list[str]) -> set[str]:
    given = set()
    if args.input in argv:
        given.add("input")
    if args.output in argv:
        given.add("output")
    return given
