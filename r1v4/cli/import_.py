"""`python -m r1v4 import FILE OUT.jsonl`: a benchmark file becomes test cases and images.

The file's layout is detected (`r1v4.evals.benchmarks.registry.detect_layout`): a named
benchmark's distribution format (VLMEvalKit TSV, MME-RealWorld JSON, V* folders,
VisualProbe val.json, MMSearch / FVQA Parquet, WebWatcher JSONL) is read by that
benchmark's reader; anything else by the generic column reader (`r1v4.evals.importer`).
`--layout` and `--format` override the detection. Named `import_` because `import` is a
keyword."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from r1v4.cli import exits
from r1v4.cli.bench import add_read_flags, read_with
from r1v4.evals.benchmarks.registry import detect_layout
from r1v4.evals.importer import Columns, TableImportError, import_table


def _list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m r1v4 import",
        description="Turn a benchmark file (Parquet, TSV, JSON, JSONL, or V* folders) into "
        "test cases and images.",
        epilog=exits.epilog(
            {
                exits.OK: "every row imported",
                exits.FAILED: "some rows could not be imported (listed on stderr)",
                exits.USAGE: "nothing could be done: a missing or unreadable table, an unknown "
                "format, no question column",
            }
        ),
        formatter_class=exits.ExitCodesHelpFormatter,
    )
    p.add_argument("table", help="a .parquet, .tsv, .json or .jsonl file, or a folder")
    p.add_argument("out", help="the test-case file to write (.jsonl)")
    p.add_argument("--image-col", help="image column(s), comma-separated (default: detect)")
    p.add_argument("--question-col", help="question column (default: detect)")
    p.add_argument("--answer-col", help="answer column (default: detect)")
    p.add_argument(
        "--options-col",
        help="options column holding a list or object, or several letter columns "
        "such as A,B,C,D (default: detect)",
    )
    p.add_argument("--id-col", help="id column (default: detect, else <table>-<row index>)")
    p.add_argument("--category-col", help="category column (default: detect)")
    add_read_flags(p)
    p.set_defaults(layout=None)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m r1v4 import`: 0 all rows imported, 1 some rows failed,
    2 nothing could be done (bad file, unknown format, no question column)."""
    args = build_parser().parse_args(argv)
    source = Path(args.table)
    try:
        layout = args.layout or (detect_layout(source, args.format) if source.exists() else "table")
    except TableImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exits.USAGE
    if layout != "table":
        return read_with(args, [source], Path(args.out), None)
    columns = Columns(
        image=_list(args.image_col),
        question=args.question_col,
        answer=args.answer_col,
        options=_list(args.options_col),
        id=args.id_col,
        category=args.category_col,
    )
    try:
        result = import_table(
            args.table,
            args.out,
            columns,
            images_dir=args.images_dir,
            image_root=args.image_root,
            fmt=args.format,
        )
    except TableImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exits.USAGE
    used = ", ".join(f"{k}={v}" for k, v in result.columns.items())
    print(f"imported {result.written} case(s) into {args.out} ({result.images} image(s) written); "
          f"columns: {used}")  # fmt: skip
    for err in result.errors[:50]:
        print(f"error: {err}", file=sys.stderr)
    if len(result.errors) > 50:
        print(f"error: … and {len(result.errors) - 50} more bad rows", file=sys.stderr)
    if result.errors:
        print(f"{len(result.errors)} row(s) skipped", file=sys.stderr)
        return exits.FAILED
    return exits.OK


if __name__ == "__main__":
    raise SystemExit(main())
