"""`python -m r1v4 merge OUT.jsonl SHARD.jsonl ...`: join shard outputs, one record per id."""

from __future__ import annotations

import argparse
import sys

from r1v4.batch.results import merge_files


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m r1v4 merge",
        description="Join result files from --shard runs; a success beats a failure for the "
        "same id, otherwise the later file wins.",
    )
    parser.add_argument("output", help="merged result file to write")
    parser.add_argument("inputs", nargs="+", help="shard result files")
    args = parser.parse_args(argv)
    if args.output in args.inputs:
        print("error: the output must not be one of the inputs", file=sys.stderr)
        return 2
    try:
        counts = merge_files(args.inputs, args.output)
    except FileNotFoundError as exc:
        print(f"error: {exc.filename}: no such file", file=sys.stderr)
        return 1
    print(
        f"merged {len(args.inputs)} files into {args.output}: {counts['records']} cases, "
        f"{counts['succeeded']} succeeded, {counts['broken_lines']} broken lines skipped"
    )
    return 0
