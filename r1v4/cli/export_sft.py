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

from r1v4.agent.dialects.base import PromptInfo
from r1v4.agent.dialects.registry import DIALECT_NAMES
from r1v4.agent.prompts import PROMPT_CHOICES
from r1v4.batch.sft.export import KEEP_RULES, Rendering, export_sft, parse_keep
from r1v4.batch.sft.formats import FORMATS
from r1v4.cli import exits
from r1v4.protocol.records import iter_records
from r1v4.protocol.runlog import read_runs_log

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
    p.add_argument("--dialect", choices=DIALECT_NAMES,
                   help="render every trajectory in this dialect (default: each record's own, "
                   "meta.dialect, else r1v4)")  # fmt: skip
    p.add_argument(
        "--prompt",
        choices=PROMPT_CHOICES,
        help="the dialect's system prompt choice, as `run --prompt` (default: the one the "
        "batch used, from its runs log, else auto)",
    )
    p.add_argument("--system-prompt-file", type=Path, help="use this file's text instead")
    return p


def rendering(args: argparse.Namespace) -> Rendering:
    """How to render the records: the dialect, the system prompt's choice and tools (from the
    batch's runs log where the options do not say), a custom prompt (ValueError when its file
    cannot be read)."""
    custom = None
    if args.system_prompt_file:
        try:
            custom = args.system_prompt_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"--system-prompt-file: {exc.strerror or exc}") from None
    runs = read_runs_log(args.results)
    last = runs[-1] if runs else {}
    prompt = args.prompt or (last.get("prompt") if last.get("prompt") in PROMPT_CHOICES else "auto")
    search = bool(last.get("search_backend")) or _uses_search(args.results)
    tools = ("code", *SEARCH_TOOLS) if search else ("code",)
    info = PromptInfo(tool_names=tools, native_tools=False, prompt=prompt, search=search)
    return Rendering(dialect=args.dialect, info=info, custom=custom)


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
        counts, files = export_sft(
            args.results, args.out, fmt=args.fmt, keep=keep, how=rendering(args)
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
