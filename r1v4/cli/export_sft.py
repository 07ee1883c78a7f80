"""`python -m r1v4 export-sft RESULTS.jsonl OUT --format ms-swift|llamafactory|sharegpt`:
the kept trajectories of a result file as a fine-tuning dataset in OUT (the rules are
`r1v4.batch.sft.export`'s), with `manifest.json` counting what was kept and dropped.

Exit codes: 0 written, every line read; 1 written, but some lines were not records; 2
nothing written (no such file, bad options, OUT cannot be written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from r1v4.batch.sft.conversation import DIALECTS, system_prompt_for
from r1v4.batch.sft.export import KEEP_RULES, export_sft, parse_keep
from r1v4.batch.sft.formats import FORMATS
from r1v4.cli import exits
from r1v4.protocol.records import iter_records
from r1v4.protocol.runlog import read_runs_log

PROMPTS = ("auto", "general", "deepresearch", "none")
SEARCH_TOOLS = ("text_search", "image_search", "web_visit")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m r1v4 export-sft",
        description="Write the kept trajectories of a result file as multi-turn multimodal "
        "conversations for a trainer (images copied into OUT/images, manifest.json with the "
        "counts kept and dropped, per reason and per flag).",
        epilog=exits.epilog(
            {
                exits.OK: "dataset written, every line read",
                exits.FAILED: "dataset written, but some lines were not records (skipped)",
                exits.USAGE: "nothing written: no such file, bad options, OUT not writable",
            }
        ),
        formatter_class=exits.ExitCodesHelpFormatter,
    )
    p.add_argument("results", metavar="RESULTS.jsonl")
    p.add_argument("out", metavar="OUT", help="folder to write the dataset into")
    p.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
    p.add_argument(
        "--keep",
        default="correct,no-flags",
        help=f"comma-separated rules a trajectory must pass: {', '.join(KEEP_RULES[:4])}, "
        "no-<flag> (default: correct,no-flags)",
    )
    p.add_argument("--dialect", default="r1v4", choices=sorted(DIALECTS),
                   help="how tool calls and observations are rendered (default r1v4)")  # fmt: skip
    p.add_argument(
        "--prompt",
        default="auto",
        choices=PROMPTS,
        help="the system prompt (auto: the one the batch used, from its runs log, else "
        "deepresearch when the file used search tools, else general)",
    )
    p.add_argument("--system-prompt-file", type=Path, help="use this file's text instead")
    return p


def system_prompt(args: argparse.Namespace) -> str:
    """The system prompt the rows carry (ValueError when the file cannot be read)."""
    if args.system_prompt_file:
        try:
            return args.system_prompt_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"--system-prompt-file: {exc.strerror or exc}") from None
    if args.prompt == "none":
        return ""
    runs = read_runs_log(args.results)
    last = runs[-1] if runs else {}
    if args.prompt == "auto" and last.get("prompt") in ("general", "deepresearch", "none"):
        return system_prompt_for(last["prompt"], False) if last["prompt"] != "none" else ""
    if args.prompt == "auto" and last.get("prompt") == "auto" and last.get("tools"):
        if last["tools"] != "client":
            return ""  # the batch sent no system prompt
        return system_prompt_for("auto", bool(last.get("search_backend")))
    return system_prompt_for(args.prompt, _uses_search(args.results))


def _uses_search(path: str) -> bool:
    for _, record in iter_records(path):
        calls = ((record or {}).get("meta") or {}).get("tool_calls") or {}
        if isinstance(calls, dict) and any(name in calls for name in SEARCH_TOOLS):
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    """Entry point (see the module docstring for the exit codes)."""
    args = build_parser().parse_args(argv)
    if not Path(args.results).is_file():
        print(f"error: no such result file: {args.results}", file=sys.stderr)
        return exits.USAGE
    try:
        keep = parse_keep(args.keep)
        system = system_prompt(args)
        counts, files = export_sft(
            args.results, args.out, fmt=args.fmt, keep=keep, dialect=args.dialect, system=system
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exits.USAGE
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return exits.USAGE
    print(
        f"{args.out}: kept {counts.kept} of {counts.records} record(s) "
        f"({args.fmt}, {counts.images} images); files: {', '.join(files)}"
    )
    for why, n in counts.dropped.most_common():
        print(f"  dropped {n}: {why}")
    if counts.broken_lines:
        print(f"lines that are not records (skipped): {counts.broken_lines[:10]}", file=sys.stderr)
    return exits.FAILED if counts.broken_lines else exits.OK
