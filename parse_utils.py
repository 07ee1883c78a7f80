"""The seed's parse_utils API, kept so existing scripts work unchanged.

    from parse_utils import parse_full_response, parse_jsonl_file, get_round_statistics

Command line: ``python3 parse_utils.py RESULTS.jsonl [OUT.jsonl]`` prints a summary table
(and writes the parsed lines when OUT is given). The engine is ``r1v4.parsing``.
"""

from __future__ import annotations

import sys

from r1v4.cli.parse import main
from r1v4.parsing import (
    Event,
    IncrementalParser,
    extract_plan,
    get_round_statistics,
    loads_lenient,
    parse_full_response,
    parse_jsonl_file,
    parse_tool_call,
)

__all__ = [
    "Event",
    "IncrementalParser",
    "get_round_statistics",
    "loads_lenient",
    "parse_full_response",
    "parse_jsonl_file",
    "extract_plan",
    "parse_tool_call",
]


def _cli(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help") or len(argv) > 2:
        print("usage: python3 parse_utils.py RESULTS.jsonl [OUT.jsonl]", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    extra = ["-o", argv[1]] if len(argv) == 2 else []
    return main([argv[0], "--stats", *extra], prog="parse_utils.py")


if __name__ == "__main__":
    raise SystemExit(_cli(sys.argv[1:]))
