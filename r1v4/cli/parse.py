"""``python -m r1v4 parse``: argument parsing over ``r1v4.parsing.files``.

Separate from the file reader so library callers never import argparse and the command's
exit codes and messages sit in one place; ``r1v4.cli`` dispatches here, and
``parse_utils.py`` reuses ``main`` with its own ``prog``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import IO

from r1v4.cli import exits
from r1v4.parsing.files import FileSummary, iter_jsonl_file, print_problem


def build_arg_parser(prog: str = "python -m r1v4 parse") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Split each result line's full_response into rounds (the seed's "
        "parse_utils form). Without -o or --stats the parsed lines go to stdout.",
        epilog=exits.epilog(
            {
                exits.OK: "every line parsed",
                exits.FAILED: "some lines were bad (reported on stderr with their numbers)",
                exits.USAGE: "usage error: the input is missing or unreadable, or the output "
                "is the input or cannot be written",
            }
        ),
        formatter_class=exits.ExitCodesHelpFormatter,
    )
    parser.add_argument("input", help="result file (JSONL) written by a batch run")
    parser.add_argument("-o", "--output", help="write the parsed lines to this JSONL file")
    parser.add_argument(
        "--stats", action="store_true", help="print a summary table (cases, rounds, tools...)"
    )
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m r1v4 parse") -> int:
    """``python -m r1v4 parse RESULTS.jsonl [--stats] [-o OUT.jsonl]``.

    Exit status: 0 when every line parsed, 1 when some lines were bad (they are reported on
    stderr with their numbers), 2 when the input cannot be read or the output written.
    """
    args = build_arg_parser(prog).parse_args(argv)
    src = Path(args.input)
    if not src.is_file():
        print(f"error: {src}: no such file", file=sys.stderr)
        return exits.USAGE
    if args.output is not None and Path(args.output).resolve() == src.resolve():
        print(f"error: output {args.output} is the input file", file=sys.stderr)
        return exits.USAGE
    to_stdout = args.output is None and not args.stats
    summary = FileSummary(path=str(src))
    try:
        out: IO[str] | None = sys.stdout if to_stdout else None
        if args.output:
            out = open(
                args.output, "w", encoding="utf-8", errors="backslashreplace"
            )  # closed below
        try:
            for _, _, parsed_line in iter_jsonl_file(src, summary, print_problem(src)):
                if out is not None:
                    out.write(json.dumps(parsed_line, ensure_ascii=False) + "\n")
        finally:
            if out is not None and out is not sys.stdout:
                out.close()
        if not to_stdout:
            print(summary.table())
            if args.output:
                print(f"\nSaved parsed results to {args.output}")
        sys.stdout.flush()
    except BrokenPipeError:  # `... | head`: the reader left; not an error of ours
        sys.stdout = open(os.devnull, "w")  # silence the flush at exit
        return 0
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exits.USAGE
    return exits.FAILED if summary.bad_lines else exits.OK
