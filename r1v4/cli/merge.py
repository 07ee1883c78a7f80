"""`python -m r1v4 merge -o OUT.jsonl SHARD.jsonl ...`: join shard outputs, one record per id.

Exit codes: 0 merged; 1 merged, but some lines of the inputs were broken and skipped (or
images could not be copied); 2 nothing written (a refused input or output, a lock held).
"""

from __future__ import annotations

import argparse
import sys

from r1v4.batch.lock import ResultFileError
from r1v4.batch.merge import MergeError, merge_files
from r1v4.cli import exits


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m r1v4 merge",
        description="Join result files from --shard runs into a new file: a success beats a "
        "failure for the same id, otherwise the later file wins. The images the records "
        "name in each shard's assets folder are copied into the output's.",
        epilog=exits.epilog(
            {
                exits.OK: "merged, every line of every input read, every image copied",
                exits.FAILED: "merged, but broken lines were left out or images not copied",
                exits.USAGE: "nothing written: a bad input, an existing output without --force",
            }
        ),
        formatter_class=exits.ExitCodesHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", help="shard result files")
    parser.add_argument(
        "-o", "--output", required=True, help="merged result file to write (never an input)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing output")
    args = parser.parse_args(argv)
    try:
        counts = merge_files(args.inputs, args.output, force=args.force)
    except (MergeError, ResultFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exits.USAGE
    print(
        f"merged {len(args.inputs)} files into {args.output}: {counts.records} cases, "
        f"{counts.succeeded} succeeded, {counts.images_copied} images copied"
    )
    problems = 0
    if counts.runs_log_problem:
        print(f"warning: {counts.runs_log_problem}", file=sys.stderr)
    for path in counts.empty_inputs:
        print(f"warning: {path} holds no records", file=sys.stderr)
    if counts.broken_lines:
        problems += 1
        shown = ", ".join(counts.broken_lines[:10])
        more = f" and {len(counts.broken_lines) - 10} more" if len(counts.broken_lines) > 10 else ""
        print(
            f"warning: {len(counts.broken_lines)} broken lines skipped: {shown}{more}",
            file=sys.stderr,
        )
    if counts.images_not_copied:
        problems += 1
        print(
            f"warning: {len(counts.images_not_copied)} image references not copied "
            "(left pointing where they were):",
            file=sys.stderr,
        )
        for line in counts.images_not_copied[:10]:
            print(f"  {line}", file=sys.stderr)
    return exits.FAILED if problems else exits.OK
