"""`python -m r1v4 check`: probe an endpoint and print what it does, with advice.

The endpoint options are the batch command's (`r1v4.cli.options`: same flags, environment
variables and defaults); the probe's own are a shorter timeout and how many images to try.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from r1v4.agent.dialects.base import PromptInfo
from r1v4.agent.dialects.registry import get_dialect
from r1v4.cli import exits
from r1v4.cli.env import env_base_urls
from r1v4.cli.options import add_options, option, section_values
from r1v4.endpoint.probe import Report, run_probe
from r1v4.endpoint.probe_tools import DialectNeeds
from r1v4.endpoint.types import EndpointSettings

ENDPOINT_OPTIONS = [option("--base-url"), option("--api-key"), option("--model")]
DIALECT_OPTIONS = [option("--dialect"), option("--no-native-tools")]
SANDBOX_OPTIONS = [option("--sandbox")]  # the code sandbox's self-test runs too


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m r1v4 check",
        description="Probe an OpenAI-compatible endpoint: reachability, model name, "
        "streaming, reasoning field, image limit; with --dialect, whether the server is set "
        "up for that model family (tool parser, images in tool messages, image budget). "
        "Sends a few tiny requests.",
        epilog=exits.epilog(
            {
                exits.OK: "the endpoint looks ready (a simulated one says so)",
                exits.FAILED: "a probe failed (see FAIL): unreachable, refused, wrong model, …",
                exits.USAGE: "usage error (e.g. a base URL that is not an http(s) URL)",
            }
        ),
        formatter_class=exits.ExitCodesHelpFormatter,
    )
    add_options(parser, ENDPOINT_OPTIONS + SANDBOX_OPTIONS + DIALECT_OPTIONS)
    probe = parser.add_argument_group("probe")
    probe.add_argument("--max-images", type=int, default=8, help="probe image counts up to this")
    probe.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    return parser


def dialect_needs(args: argparse.Namespace) -> DialectNeeds | None:
    """What the chosen dialect asks of the server (None without --dialect)."""
    if args.dialect is None:
        return None
    dialect = get_dialect(args.dialect)
    native = dialect.native_tools and args.native_tools is not False
    info = PromptInfo(tool_names=("code",), native_tools=native)
    tools = dialect.tools(info) if native else None
    return DialectNeeds(
        dialect.name, tools=tools, images=dialect.max_images, continues=dialect.continues_turns
    )


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    endpoint = section_values(args, ENDPOINT_OPTIONS)["endpoint"]
    urls = args.base_url or env_base_urls()
    if urls:
        endpoint["base_urls"] = urls[:1]  # the probe looks at one server
    else:
        endpoint.pop("base_urls", None)
    try:
        settings = EndpointSettings(**endpoint, timeout_s=args.timeout, max_retries=1)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exits.USAGE
    report = asyncio.run(run_probe(settings, args.max_images, dialect_needs(args)))
    from r1v4.batch.casechecks import code_requirements
    from r1v4.tools.code import CodeSettings
    from r1v4.tools.selftest import sandbox_self_test

    code = CodeSettings(**section_values(args, SANDBOX_OPTIONS)["code"])
    needs = code_requirements(args.dialect, []) if args.dialect is not None else []
    sandbox = asyncio.run(sandbox_self_test(code, needs))
    shown = sandbox.detail + (f"; warning: {sandbox.note}" if sandbox.note else "")
    report.add("sandbox", sandbox.ok, shown if sandbox.ok else sandbox.message)
    print(report.render())
    print(verdict(report), file=sys.stdout if report.ok else sys.stderr)
    return exits.OK if report.ok else exits.FAILED


def verdict(report: Report) -> str:
    """The closing line: ready, or which side has problems (the endpoint, this machine's
    code sandbox, or both), so a sandbox failure is not blamed on the server."""
    what = "simulated endpoint (not a model)" if report.simulated else "endpoint"
    if report.ok:
        return f"{what} looks ready"
    failed = {f.name for f in report.findings if not f.ok}
    sides = []
    if failed - {"sandbox"}:
        sides.append(f"the {what} has problems")
    if "sandbox" in failed:
        sides.append("the code sandbox on this machine fails its self-test")
    return " and ".join(sides).capitalize() + " (see FAIL above)"
