"""`python -m r1v4 report`: accuracy and efficiency tables of result files; `--compare A B`
pairs two runs by case id (definitions of every figure: `r1v4.evals.report`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from r1v4.batch.flagrules import with_format_rules
from r1v4.cli import exits
from r1v4.endpoint.types import check_base_url
from r1v4.evals.flags import FlagSettings
from r1v4.evals.judge import JudgeSettings
from r1v4.evals.render import render
from r1v4.evals.report import CaseRow, RunSummary, compare_runs, load_run, summarize
from r1v4.evals.scoring import SCORERS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m r1v4 report",
        description="Accuracy and efficiency of result files, one row per run.",
        epilog=exits.epilog(
            {
                exits.OK: "report written, every line of every file read",
                exits.FAILED: "report written, but some lines could not be decoded (skipped)",
                exits.USAGE: "usage error: no file, a missing or unreadable file, bad options, "
                "or --out cannot be written",
            }
        ),
        formatter_class=exits.ExitCodesHelpFormatter,
    )
    p.add_argument("files", nargs="*", metavar="RESULTS.jsonl", help="result files")
    p.add_argument(
        "--format",
        choices=("md", "csv", "json"),
        help="format of --out (default: from its suffix, else md); "
        "without --out, printed instead of the aligned table",
    )
    p.add_argument("--out", metavar="FILE", help="also write the report to FILE")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="pair two runs by case id")
    p.add_argument(
        "--rescore",
        choices=("missing", "all", "never"),
        default="missing",
        help="score records from their answer/options fields: those without a score "
        "(default), all of them, or none",
    )
    p.add_argument("--scorer", choices=SCORERS, default="auto", help="scorer for rescoring")
    p.add_argument("--judge-base-url", help="OpenAI-compatible judge endpoint (…/v1)")
    p.add_argument("--judge-model", help="judge model name")
    p.add_argument("--judge-api-key", help="judge API key (env R1V4_JUDGE_API_KEY)")
    p.add_argument("--judge-cache", help="SQLite file caching the judge's verdicts")
    return p


def _format_for(out: str | None, fmt: str | None) -> str:
    if fmt:
        return fmt
    suffix = Path(out or "").suffix.lower().lstrip(".")
    return {"md": "md", "markdown": "md", "csv": "csv", "json": "json"}.get(suffix, "md")


def _judge_from_args(args: argparse.Namespace) -> tuple[JudgeSettings | None, str | None]:
    """The judge the flags ask for, or the reason they are wrong."""
    if args.judge_base_url or args.judge_model:
        if not (args.judge_base_url and args.judge_model):
            return None, "--judge-base-url and --judge-model go together"
        try:
            check_base_url(args.judge_base_url.strip().rstrip("/"))
        except ValueError as exc:
            return None, f"--judge-base-url: {exc}"
        api_key = args.judge_api_key or os.environ.get("R1V4_JUDGE_API_KEY")
        return JudgeSettings(args.judge_base_url, args.judge_model, api_key, args.judge_cache), None
    if args.scorer == "judge" and args.rescore != "never":
        return None, "--scorer judge needs --judge-base-url and --judge-model"
    return None, None


def run_notes(f: str, summary: RunSummary, skipped: list[int], scorer: str) -> list[str]:
    """What a reader of one run's figures should know: rescored, skipped, flagged here,
    unscored."""
    notes = []
    if summary.rescored:
        notes.append(
            f"{f}: {summary.rescored} record(s) scored here with scorer '{scorer}' "
            "from their answer/options fields"
        )
    if skipped:
        lines = ", ".join(map(str, skipped[:10])) + (" …" if len(skipped) > 10 else "")
        notes.append(f"{f}: skipped undecodable line(s) {lines}")
    if summary.flags_computed:
        notes.append(
            f"{f}: {summary.flags_computed} record(s) without stored flags were flagged "
            "here by the rules (no judge); `python -m r1v4 flags` stores them"
        )
    unscored = summary.cases - summary.scored
    if unscored:
        notes.append(f"{f}: {unscored} case(s) unscored (no ground truth or no verdict)")
    return notes


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m r1v4 report`: 0 every line read, 1 some lines skipped as
    undecodable, 2 bad arguments or files (`r1v4.cli.exits`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    files: list[str] = list(dict.fromkeys(args.files + (args.compare or [])))
    if not files:
        parser.print_usage(sys.stderr)
        print("error: give at least one result file", file=sys.stderr)
        return 2
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        print(f"error: no such result file: {', '.join(missing)}", file=sys.stderr)
        return 2
    judge, problem = _judge_from_args(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return exits.USAGE

    flag_rules = with_format_rules(FlagSettings())
    rows: dict[str, list[CaseRow]] = {}
    summaries: list[RunSummary] = []
    notes: list[str] = []
    any_skipped = False
    for f in files:
        try:
            rows[f], skipped = load_run(
                f, rescore=args.rescore, scorer=args.scorer, judge=judge, flags=flag_rules
            )
        except OSError as exc:
            print(f"error: cannot read {f}: {exc}", file=sys.stderr)
            return 2
        summary = summarize(f, rows[f], skipped)
        summaries.append(summary)
        any_skipped = any_skipped or bool(skipped)
        notes += run_notes(f, summary, skipped, args.scorer)
    comparison = None
    if args.compare:
        a, b = args.compare
        comparison = (a, b, compare_runs(rows[a], rows[b]))

    fmt = _format_for(args.out, args.format)
    if args.format and not args.out:
        sys.stdout.write(render(summaries, fmt, comparison, notes))
    else:
        sys.stdout.write(render(summaries, "text", comparison, notes))
    if args.out:
        try:
            Path(args.out).write_text(render(summaries, fmt, comparison, notes), encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
            return exits.USAGE
    return exits.FAILED if any_skipped else exits.OK


if __name__ == "__main__":
    raise SystemExit(main())
