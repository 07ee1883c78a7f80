"""`python -m r1v4 dialects`: the model dialects this toolkit speaks, with where each one's
interface comes from and the server flags it needs."""

from __future__ import annotations

import argparse
import json

from r1v4.agent.dialects.registry import DEFAULT_DIALECT, DIALECT_NAMES, DIALECTS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m r1v4 dialects",
        description="List the model dialects (--dialect NAME, or a case's 'dialect' field): "
        "how each family writes tool calls, its stop strings, pixel factor, the vllm serve "
        "flags it needs, and the published sources its interface is copied from.",
    )
    parser.add_argument("name", nargs="?", choices=DIALECT_NAMES, help="show one dialect")
    parser.add_argument("--json", action="store_true", help="machine-readable")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    chosen = [DIALECTS[args.name]] if args.name else list(DIALECTS.values())
    if args.json:
        rows = [
            {
                "name": d.name,
                "default": d.name == DEFAULT_DIALECT,
                "summary": d.summary,
                "factor": d.factor,
                "stops": list(d.stops),
                "include_stop_str_in_output": d.keep_stop,
                "native_tools": d.native_tools,
                "max_images": d.max_images,
                "answer": d.answer_format,
                "vllm_flags": d.vllm_flags,
                "sources": list(d.sources),
            }
            for d in chosen
        ]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    blocks = []
    for d in chosen:
        text = d.describe()
        if d.name == DEFAULT_DIALECT:
            text = text.replace(f"{d.name}:", f"{d.name} (default):", 1)
        blocks.append(text)
    print("\n\n".join(blocks))
    return 0
