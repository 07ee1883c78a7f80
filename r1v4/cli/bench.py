"""`python -m r1v4 bench list|prepare|run|report`: the benchmarks of the R1V4 table, end
to end, each with its published prompt, scorer and figures (recipes:
`r1v4.evals.benchmarks.registry`).

- `list` — the known benchmarks, the files to download and where, scorer and its source;
- `prepare NAME FILE… [--out DIR]` — read the files as that benchmark ships them into
  `DIR/NAME.jsonl` (+ `DIR/NAME_images/`), every case labelled with the benchmark, split
  and prompt style;
- `run NAME CASES [OUTPUT] --base-url …` — the normal batch (`r1v4.cli.run`: every option
  of `python -m r1v4 run`) with the benchmark's scorer, judge model and sampling defaults
  unless given;
- `report RESULTS… [--published] [--html FILE]` — the README's table, one column per run.
Exit codes: 0 done, 1 done with bad rows / failed cases, 2 nothing could be done.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import orjson

from r1v4.cli import exits
from r1v4.cli import run as run_cli
from r1v4.cli.downloads import GuardedDownloader
from r1v4.cli.options import add_options
from r1v4.evals.benchmarks.common import ReadOptions
from r1v4.evals.benchmarks.html import render_html
from r1v4.evals.benchmarks.registry import BENCHMARKS, LAYOUTS, describe, read_sources
from r1v4.evals.benchmarks.render import FORMATS, render_report
from r1v4.evals.benchmarks.report import load_bench_run
from r1v4.evals.judge import JudgeSettings
from r1v4.evals.protocol_scoring import JUDGED, SOURCES
from r1v4.evals.scoring import SCORERS
from r1v4.evals.tables import FORMATS as TABLE_FORMATS
from r1v4.evals.tables import TableImportError

__all__ = ["main"]


def _err(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


# ------------------------------------------------------------------------------ list


def cmd_list(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m r1v4 bench list",
                                description="The benchmarks this toolkit knows.")  # fmt: skip
    p.add_argument("--json", action="store_true", help="the recipes as JSON")
    args = p.parse_args(argv)
    if args.json:
        print(json.dumps([describe(b) for b in BENCHMARKS.values()], indent=2))
        return exits.OK
    for b in BENCHMARKS.values():
        print(f"{b.name}  ({b.title}) — read as {' or '.join(b.layouts)}")
        for src in b.sources:
            print(f"    get: {src.file}  {src.url}")
        print(f"    scorer: {b.scorer} — {SOURCES[b.scorer]}")
        for other in b.other_scorers:
            print(f"    also: --scorer {other} — {SOURCES[other]}")
        if b.judge_model:
            print(f"    judge: {b.judge_model} (--judge-base-url/--judge-model)")
        if b.prompt_style:
            print(f"    prompt style: {b.prompt_style}")
        print(f"    note: {b.notes}")
    return exits.OK


# ------------------------------------------------------------------------------ prepare


def add_read_flags(p: argparse.ArgumentParser) -> None:
    """Flags every reader understands (shared with `python -m r1v4 import`)."""
    p.add_argument("--format", choices=tuple(TABLE_FORMATS), help="table format (default: "
                   "from the file suffix)")  # fmt: skip
    p.add_argument("--layout", choices=tuple(LAYOUTS), help="how the file is laid out "
                   "(default: detected)")  # fmt: skip
    p.add_argument("--split", help="the split written on every case (default: from the file)")
    p.add_argument("--image-root", type=Path, help="folder relative image paths start from")
    p.add_argument("--images-dir", type=Path, help="where images are written "
                   "(default: <OUT stem>_images/ beside the cases)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="V*: option shuffle seed (default 0)")
    p.add_argument(
        "--images-only",
        action="store_true",
        help="MMSearch: only the queries with an image (the 171-question subset)",
    )
    p.add_argument(
        "--keep-image-urls",
        action="store_true",
        help="keep image URLs as URLs instead of downloading them once",
    )
    p.add_argument(
        "--allow-private-urls",
        action="store_true",
        help="let image downloads reach private addresses (default: refused)",
    )


def read_with(args: argparse.Namespace, sources: list[Path], out: Path,
              benchmark: str | None) -> int:  # fmt: skip
    """Read `sources` into `out`, print the outcome, return the exit code."""
    recipe = BENCHMARKS.get(benchmark or "")
    options = ReadOptions(
        benchmark=benchmark, split=args.split,
        prompt_style=recipe.prompt_style if recipe else None,
        image_root=args.image_root, keep_image_urls=args.keep_image_urls,
        seed=args.seed, images_only=args.images_only, fmt=args.format,
    )  # fmt: skip
    try:
        with GuardedDownloader(args.allow_private_urls) as download:
            options.download = download
            result = read_sources(
                sources, out, options, layout=args.layout,
                accepted=recipe.layouts if recipe else None, images_dir=args.images_dir,
            )  # fmt: skip
    except TableImportError as exc:
        _err(str(exc))
        return exits.USAGE
    how = ", ".join(f"{k}={v}" for k, v in result.columns.items())
    print(f"wrote {result.written} case(s) to {out} ({result.images} image(s) written); {how}")
    for line in result.errors[:50]:
        _err(line)
    if len(result.errors) > 50:
        _err(f"… and {len(result.errors) - 50} more bad rows")
    if result.errors:
        print(f"{len(result.errors)} row(s) skipped", file=sys.stderr)
        return exits.FAILED if result.written else exits.USAGE
    return exits.OK if result.written else exits.USAGE


def cmd_prepare(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m r1v4 bench prepare",
        description="Read a benchmark's files as it ships them into test cases.",
    )
    p.add_argument("name", choices=tuple(BENCHMARKS), metavar="NAME",
                   help=f"one of: {', '.join(BENCHMARKS)}")  # fmt: skip
    p.add_argument("files", nargs="+", type=Path, metavar="FILE",
                   help="the downloaded file(s) or folder(s)")  # fmt: skip
    p.add_argument("--out", type=Path, default=Path("."), help="folder for NAME.jsonl "
                   "and NAME_images/ (default: here)")  # fmt: skip
    add_read_flags(p)
    args = p.parse_args(argv)
    return read_with(args, args.files, args.out / f"{args.name}.jsonl", args.name)


# ------------------------------------------------------------------------------ run


def _case_benchmarks(path: Path) -> dict[str, int]:
    """How many lines of a case file name each benchmark (streamed, no images read)."""
    counts: dict[str, int] = {}
    with path.open("rb") as fh:
        for raw in fh:
            try:
                name = orjson.loads(raw).get("benchmark") if raw.strip() else None
            except (orjson.JSONDecodeError, AttributeError):
                continue
            counts[str(name)] = counts.get(str(name), 0) + 1
    return counts


def run_parser() -> argparse.ArgumentParser:
    scorers = "\n".join(f"  {n}: {s}" for n, s in SOURCES.items())
    p = argparse.ArgumentParser(
        prog="python -m r1v4 bench run",
        description="Run prepared benchmark cases through the normal batch, scored by the "
        "benchmark's published protocol.",
        epilog=f"published scorers and their sources:\n{scorers}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("benchmark", choices=tuple(BENCHMARKS), metavar="NAME")
    p.add_argument("input", metavar="CASES", help="cases written by `bench prepare`")
    p.add_argument("output", nargs="?", help="result file (default: <CASES stem>_results.jsonl)")
    p.add_argument("--stream", action="store_true", help="stream the responses (SSE)")
    add_options(p)
    return p


def cmd_run(argv: list[str]) -> int:
    args = run_parser().parse_args(argv)
    recipe = BENCHMARKS[args.benchmark]
    cases = Path(args.input)
    if not cases.is_file():
        _err(f"no such case file: {cases}")
        return exits.USAGE
    named = _case_benchmarks(cases)
    if named.get(recipe.name, 0) == 0:
        _err(f"{cases} has no case of benchmark {recipe.name!r} (found: "
             f"{', '.join(f'{k} × {v}' for k, v in named.items()) or 'none'}); "
             f"prepare it with: python -m r1v4 bench prepare {recipe.name} FILE")  # fmt: skip
        return exits.USAGE
    if args.output is None:
        args.output = str(cases.with_name(f"{cases.stem}_results.jsonl"))
    scorer = args.scorer or recipe.scorer
    args.scorer = scorer
    judge_url = args.judge_base_url or os.environ.get("R1V4_JUDGE_BASE_URL")
    if scorer in JUDGED and not judge_url:
        _err(f"scorer {scorer} needs a judge: --judge-base-url URL (published judge: "
             f"{recipe.judge_model}); or choose another --scorer")  # fmt: skip
        return exits.USAGE
    args.judge_base_url = judge_url
    if judge_url and args.judge_model is None and recipe.judge_model:
        args.judge_model = recipe.judge_model
    for key, value in recipe.run.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    mode = "stream" if args.stream else "nonstream"
    try:
        settings = run_cli.settings_from_args(args, mode, ["bench", "run", *argv])
    except ValueError as exc:
        _err(str(exc))
        return exits.USAGE
    src = SOURCES.get(scorer, "the toolkit's own scorer: not the published protocol")
    print(f"bench run {recipe.name}: scorer {scorer} ({src})", file=sys.stderr)
    if settings.judge is not None:
        print(f"  judge: {settings.judge.model} at {settings.judge.base_url}", file=sys.stderr)
    if recipe.search and settings.search is None:
        print("  warning: a deep-research benchmark without search tools "
              "(--search-backend): the model can only guess", file=sys.stderr)  # fmt: skip
    if named.get(recipe.name, 0) != sum(named.values()):
        print(f"  warning: {cases} also holds other cases: {named}", file=sys.stderr)
    return run_cli.execute(settings)


# ------------------------------------------------------------------------------ report


def cmd_report(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m r1v4 bench report",
        description="The R1V4 README's table (benchmark × split × metric) for result files, "
        "one column per run.",
    )
    p.add_argument("files", nargs="+", metavar="RESULTS.jsonl")
    p.add_argument(
        "--published",
        action="store_true",
        help="add R1V4's published numbers (SkyworkAI/Skywork-R1V README)",
    )
    p.add_argument("--format", choices=FORMATS, default="text", help="printed format")
    p.add_argument("--out", type=Path, help="also write the report here (format from suffix)")
    p.add_argument("--html", type=Path, help="write the static HTML report here")
    p.add_argument(
        "--rescore",
        choices=("missing", "all", "never"),
        default="missing",
        help="score records without a score (default), all, or none",
    )
    p.add_argument("--scorer", choices=SCORERS, help="scorer for rescoring "
                   "(default: each benchmark's published one)")  # fmt: skip
    p.add_argument("--judge-base-url", help="judge endpoint for rescoring (…/v1)")
    p.add_argument("--judge-model", help="judge model")
    p.add_argument("--judge-api-key", help="judge API key (env R1V4_JUDGE_API_KEY)")
    p.add_argument("--judge-cache", help="SQLite verdict cache")
    args = p.parse_args(argv)
    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:
        _err(f"no such result file: {', '.join(missing)}")
        return exits.USAGE
    judge = None
    if args.judge_base_url:
        if not args.judge_model:
            _err("--judge-base-url needs --judge-model")
            return exits.USAGE
        key = args.judge_api_key or os.environ.get("R1V4_JUDGE_API_KEY")
        judge = JudgeSettings(args.judge_base_url, args.judge_model, key, args.judge_cache)
    runs = [load_bench_run(f, rescore=args.rescore, scorer=args.scorer, judge=judge)
            for f in args.files]  # fmt: skip
    if not any(r.benchmarks for r in runs):
        _err("no record names a known benchmark (run cases written by `bench prepare`)")
        return exits.USAGE
    sys.stdout.write(render_report(runs, args.format, args.published))
    if args.out:
        fmt = {".md": "md", ".csv": "csv", ".json": "json"}.get(args.out.suffix, "text")
        args.out.write_text(render_report(runs, fmt, args.published), encoding="utf-8")
    if args.html:
        args.html.write_text(render_html(runs, args.published), encoding="utf-8")
        print(f"HTML report: {args.html}", file=sys.stderr)
    return exits.OK


COMMANDS = {"list": cmd_list, "prepare": cmd_prepare, "run": cmd_run, "report": cmd_report}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m r1v4 bench {list,prepare,run,report} …\n\n" + __doc__,
              file=sys.stderr if argv else sys.stdout)  # fmt: skip
        return exits.OK if not argv or argv[0] in ("-h", "--help") else exits.USAGE
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
