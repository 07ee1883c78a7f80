"""`python -m r1v4 flags RESULTS.jsonl`: compute the quality flags of every record of a result
file (files written before records carried them, or with other thresholds, or now with a
consistency judge) and write them into its `flags` field, in place unless `-o` says where.

Exit codes: 0 flagged, every line read; 1 flagged, but some lines were not records (copied
as they were); 2 nothing written (no such file, bad options, the file is being written).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

from r1v4.batch.lock import ResultFileError
from r1v4.batch.reflag import ReflagCounts, reflag_file
from r1v4.cli import exits
from r1v4.cli.options import FLAG_OPTIONS, add_options, section_values
from r1v4.cli.run import consistency_judge, flag_settings
from r1v4.evals.flagging import FlagRun
from r1v4.evals.flags import FLAGS


def build_parser() -> argparse.ArgumentParser:
    described = "\n".join(f"  {name:<20} {text}" for name, text in FLAGS.items())
    p = argparse.ArgumentParser(
        prog="python -m r1v4 flags",
        description="Quality flags of a result file's trajectories, written into each "
        "record's `flags` field (with the reason for each).",
        epilog=f"flags:\n{described}\n\n"
        + exits.epilog(
            {
                exits.OK: "flags written, every line read",
                exits.FAILED: "flags written, but some lines were not records (kept as they were)",
                exits.USAGE: "nothing written: no such file, bad options, or the file is "
                "being written by a batch",
            }
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results", metavar="RESULTS.jsonl")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT.jsonl",
        help="write the flagged file here (in the same folder: the records name their images "
        "relative to it); default: the file itself",
    )
    p.add_argument("--check", action="store_true", help="only count the flags; write nothing")
    p.add_argument("--model", help="consistency judge model when --consistency-judge-model "
                   "is not given")  # fmt: skip
    add_options(p, FLAG_OPTIONS)
    return p


def report(counts: ReflagCounts, where: str) -> str:
    lines = [f"{where}: {counts.records} record(s), {counts.flagged} flagged"]
    for name in FLAGS:
        if counts.by_flag.get(name):
            lines.append(f"  {name:<20} {counts.by_flag[name]}")
    if counts.broken_lines:
        shown = ", ".join(map(str, counts.broken_lines[:10]))
        lines.append(f"lines that are not records (kept as they were): {shown}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point (see the module docstring for the exit codes)."""
    args = build_parser().parse_args(argv)
    src = Path(args.results)
    if not src.is_file():
        print(f"error: no such result file: {src}", file=sys.stderr)
        return exits.USAGE
    out = Path(args.output) if args.output else src
    if out.resolve().parent != src.resolve().parent:
        print(
            f"error: -o {out} must be in the folder of {src}: its records name their images "
            "relative to that folder",
            file=sys.stderr,
        )
        return exits.USAGE
    values = section_values(args, FLAG_OPTIONS)
    try:
        settings = flag_settings(values)
        judge_settings = consistency_judge(values, args.model or "", src)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exits.USAGE
    if judge_settings is not None and not judge_settings.model:
        print("error: give --consistency-judge-model (or --model)", file=sys.stderr)
        return exits.USAGE
    try:
        counts, notes = asyncio.run(_run(src, out, settings, judge_settings, args.check))
    except ResultFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exits.USAGE
    print(report(counts, str(out if not args.check else src)))
    for note in notes[:10]:
        print(f"note: {note}", file=sys.stderr)
    return exits.FAILED if counts.broken_lines else exits.OK


async def _run(src, out, settings, judge_settings, check) -> tuple[ReflagCounts, list[str]]:
    async with contextlib.AsyncExitStack() as stack:
        judge = None
        if judge_settings is not None:
            from r1v4.evals.consistency import ConsistencyJudge

            judge = await stack.enter_async_context(ConsistencyJudge(judge_settings))
        run = FlagRun(settings=settings, base_dir=src.resolve().parent, judge=judge)
        counts = await reflag_file(src, run, output=out, write=not check)
        return counts, run.notes
