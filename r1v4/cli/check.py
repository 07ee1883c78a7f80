"""`python -m r1v4 check`: probe an endpoint and print what it does, with advice."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from r1v4.cli.env import env_base_urls
from r1v4.endpoint.client import EndpointSettings
from r1v4.endpoint.probe import run_probe
from r1v4.endpoint.types import DEFAULT_BASE_URL, DEFAULT_MODEL


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m r1v4 check",
        description="Probe an OpenAI-compatible endpoint: reachability, model name, "
        "streaming, reasoning field, image limit. Sends a few tiny requests.",
    )
    parser.add_argument(
        "--base-url",
        action="append",
        help=f"endpoint base URL (env R1V4_BASE_URL; default {DEFAULT_BASE_URL})",
    )
    parser.add_argument("--api-key", help="API key (env R1V4_API_KEY)")
    parser.add_argument("--model", help=f"model name (env R1V4_MODEL; default {DEFAULT_MODEL})")
    parser.add_argument("--max-images", type=int, default=8, help="probe image counts up to this")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    args = parser.parse_args(argv)
    settings = EndpointSettings(
        base_urls=(args.base_url or env_base_urls() or [DEFAULT_BASE_URL])[:1],
        api_key=args.api_key or os.environ.get("R1V4_API_KEY") or None,
        model=args.model or os.environ.get("R1V4_MODEL") or DEFAULT_MODEL,
        timeout_s=args.timeout,
        max_retries=1,
    )
    report = asyncio.run(run_probe(settings, args.max_images))
    print(report.render())
    print(
        "endpoint looks ready" if report.ok else "endpoint has problems (see FAIL above)",
        file=sys.stdout if report.ok else sys.stderr,
    )
    return 0 if report.ok else 1
