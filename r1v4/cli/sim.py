"""`python -m r1v4 sim` / `python -m r1v4.sim`: serve the simulated endpoint until Ctrl-C.

The first stdout line is "r1v4 SIMULATOR listening on http://HOST:PORT/v1" (flushed), so a parent
process can start it on --port 0 and read the URL.

Size note: `build_parser` is one flat list of the simulator's flags, one `add_argument`
each, so it runs past 60 lines without any logic in it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from r1v4.sim.runner import start_site
from r1v4.sim.scripts import ScriptError, load_scripts, script_label
from r1v4.sim.server import create_app
from r1v4.sim.settings import DEFAULT_MODEL, QUIRKS, REASONING_FIELDS, SimSettings
from r1v4.sim.state import STATE


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m r1v4 sim",
        description="Serve a SIMULATED OpenAI-compatible chat-completions endpoint (not a model) "
        "for demos, tests and benchmarks.",
    )
    p.add_argument("--port", type=int, default=8000, help="port (0 = any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--script",
        action="append",
        default=[],
        metavar="FILE.jsonl",
        help="scripted turns (JSONL); may be given several times",
    )
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="served model name; requests naming another model get 404, as from vLLM "
        f"(default {DEFAULT_MODEL!r}: pass --model {DEFAULT_MODEL} to the batch, so its "
        "records say they come from a simulator)",
    )
    p.add_argument(
        "--any-model",
        action="store_true",
        help=f"accept any model name (/v1/models lists {DEFAULT_MODEL!r})",
    )
    p.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY'")
    p.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="S",
        help="fixed delay per request before the first token",
    )
    p.add_argument("--ttft", type=float, default=0.0, metavar="S", help="time to first token")
    p.add_argument(
        "--tokens-per-s", type=float, default=0.0, metavar="N", help="decode speed (0 = unpaced)"
    )
    p.add_argument(
        "--reasoning-field",
        choices=REASONING_FIELDS,
        default="none",
        help="send <think> text as this separate field (vLLM reasoning parser)",
    )
    p.add_argument(
        "--structured-tool-calls",
        action="store_true",
        help="always send <tool_call> text as structured tool_calls, whatever the request",
    )
    p.add_argument(
        "--tool-parser",
        action="store_true",
        help="play vLLM with --enable-auto-tool-choice --tool-call-parser hermes: a request "
        "with tools gets tool_calls (without this flag such a request gets vLLM's 400)",
    )
    p.add_argument(
        "--no-tool-images",
        action="store_true",
        help="refuse images inside role:tool messages, as some servers do",
    )
    p.add_argument(
        "--max-model-len",
        type=int,
        default=131072,
        metavar="N",
        help="context window; a longer request gets vLLM's context-length 400",
    )
    p.add_argument(
        "--context-error",
        choices=["chat", "engine"],
        default="chat",
        help="wording of that 400: the chat preprocessing's or the V1 engine's",
    )
    p.add_argument(
        "--error-rate",
        type=float,
        default=0.0,
        metavar="R",
        help="share of requests answered 500/503/502",
    )
    p.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        metavar="RPS",
        help="requests per second; beyond it 429 with Retry-After",
    )
    p.add_argument(
        "--throttle-rate",
        type=float,
        default=0.0,
        metavar="R",
        help="share of requests answered 429 with Retry-After (a server pacing its clients)",
    )
    p.add_argument(
        "--throttle-wait",
        type=float,
        default=1.0,
        metavar="S",
        help="the wait those 429s name (Retry-After, whole seconds; retry-after-ms exact)",
    )
    p.add_argument(
        "--drop-rate",
        type=float,
        default=0.0,
        metavar="R",
        help="share of requests whose connection is cut midway",
    )
    p.add_argument(
        "--hang-rate", type=float, default=0.0, metavar="R", help="share of requests never answered"
    )
    p.add_argument(
        "--hang-cap",
        type=float,
        default=3600.0,
        metavar="S",
        help="longest a hanging request waits (default 3600)",
    )
    p.add_argument(
        "--fault-plan",
        default="",
        metavar="F1,F2,...",
        help="faults for the first requests, in order (ok, 429, 500, 502, 503, drop, "
        "hang, stream_error, stream_error_no_done, choice_error)",
    )
    p.add_argument(
        "--error-retry-after",
        type=float,
        default=None,
        metavar="S",
        help="send Retry-After on injected 503s",
    )
    p.add_argument(
        "--max-num-seqs",
        type=int,
        default=None,
        metavar="N",
        help="at most N requests generate at once, the rest queue (like vLLM)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    p.add_argument(
        "--quirk",
        action="append",
        default=[],
        choices=sorted(QUIRKS),
        metavar="NAME",
        help="emit a real-world response shape: " + ", ".join(sorted(QUIRKS)),
    )
    p.add_argument(
        "--max-images",
        type=int,
        default=None,
        metavar="N",
        help="refuse prompts with more images (vLLM --limit-mm-per-prompt)",
    )
    return p


def settings_from_args(args: argparse.Namespace) -> SimSettings:
    """SimSettings from parsed flags; script files are read (and checked) by create_app."""
    plan = [f.strip() for f in args.fault_plan.split(",") if f.strip()] if args.fault_plan else []
    return SimSettings(
        model=None if args.any_model else args.model,
        api_key=args.api_key,
        latency_s=args.latency,
        ttft_s=args.ttft,
        tokens_per_s=args.tokens_per_s,
        reasoning_field=args.reasoning_field,
        structured_tool_calls=args.structured_tool_calls,
        tool_parser=args.tool_parser,
        tool_images=not args.no_tool_images,
        max_model_len=args.max_model_len,
        context_error=args.context_error,
        scripts=list(args.script) or None,
        fault_plan=plan,
        error_retry_after_s=args.error_retry_after,
        error_rate=args.error_rate,
        throttle_rate=args.throttle_rate,
        throttle_retry_after_s=args.throttle_wait,
        rate_limit=args.rate_limit,
        drop_rate=args.drop_rate,
        hang_rate=args.hang_rate,
        hang_cap_s=args.hang_cap,
        seed=args.seed,
        quirks=args.quirk,
        max_images_per_prompt=args.max_images,
        # Bodies kept in memory are only readable in-process (running_simulator); a served
        # simulator counts requests (/sim/stats) without holding every image it was sent.
        record_requests=False,
        max_num_seqs=args.max_num_seqs,
    )


async def _serve(settings: SimSettings, host: str, port: int) -> None:
    app = create_app(settings)
    runner, bound = await start_site(app, host, port)
    if host not in ("127.0.0.1", "::1", "localhost"):
        print(f"  warning: listening on {host}, not only on loopback", file=sys.stderr)
    shown = f"[{host}]" if ":" in host else host
    print(f"r1v4 SIMULATOR listening on http://{shown}:{bound}/v1", flush=True)
    print(
        f"  simulated endpoint (not a model): model id {settings.model_id!r}, Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        for script in app[STATE].unmatched():
            print(
                f"  warning: script entry {script_label(script)} never matched a request",
                file=sys.stderr,
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
        load_scripts(settings.scripts)  # fail before binding, naming file and line
    except (ScriptError, ValueError, OSError) as exc:
        print(f"r1v4 sim: error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(settings, args.host, args.port))
    except OSError as exc:
        print(f"r1v4 sim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    print("r1v4 SIMULATOR stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
