"""Command lines of the viewer: `visual.py` / `python -m r1v4 view`, and `export-html`.

They live in the cli layer with every other command line (argv, printing, exit codes); the
app they start is `r1v4.viewer`.

`python3 visual.py [PORT] [RESULT_FILE ...] [--host H] [--root DIR ...]` keeps the seed's
habit (`python3 visual.py 8080`, then type a path in the page) while binding to 127.0.0.1
and opening only the given files or files under the --root folders (default: here).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from r1v4.cli.exits import FAILED, OK, USAGE

DEFAULT_PORT = 22895  # the seed's port
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def build_parser(prog: str = "visual.py") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Browse r1v4 result files: every round, tool call, observation and image.",
    )
    p.add_argument(
        "items",
        nargs="*",
        metavar="[PORT] RESULT_FILE",
        help=f"optional port first (default {DEFAULT_PORT}), then result files to open",
    )
    p.add_argument("--port", type=int, help="port (same as the positional PORT)")
    p.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1; 0.0.0.0 = all)"
    )
    p.add_argument(
        "--root",
        action="append",
        default=None,
        metavar="DIR",
        help="folder whose result files may be opened from the page (repeatable; default: .)",
    )
    p.add_argument(
        "--cache-dir",
        default="auto",
        help="where index caches go: 'auto' ($XDG_CACHE_HOME/r1v4/index, else "
        "~/.cache/r1v4/index), 'beside' (<file>.idx next to each file), a folder, or 'off'",
    )
    p.add_argument(
        "--max-case-mb",
        type=float,
        default=64,
        help="longest case (record line) shown, in MiB; longer ones are listed as too large "
        "to show, with a raw download (default 64)",
    )
    p.add_argument("--poll-ms", type=int, default=2000, help="live refresh period; 0 = off")
    p.add_argument("--open", action="store_true", help="open a browser tab once serving")
    p.add_argument(
        "--get",
        metavar="PATH",
        help="render one URL path in-process, print it and exit (non-zero unless HTTP 200)",
    )
    return p


def _split_items(items: list[str]) -> tuple[int | None, list[str]]:
    if items and items[0].isdigit():
        return int(items[0]), items[1:]
    return None, items


def config_from_args(args: argparse.Namespace, files: list[str]) -> dict:
    """App config for parsed arguments (also used by tests)."""
    cache: str | None = args.cache_dir
    if cache in ("off", "none", ""):
        cache = None
    return {
        "RESULT_FILES": [str(Path(f).resolve()) for f in files],
        "ROOTS": [str(Path(r).resolve()) for r in (args.root or [os.getcwd()])],
        "CWD": os.getcwd(),
        "INDEX_CACHE": cache,
        "LIVE_POLL_MS": args.poll_ms,
        "MAX_CASE_BYTES": max(1, int(args.max_case_mb * 2**20)),
    }


def _files_problem(files: list[str]) -> str | None:
    """Why the result files named on the command line cannot be shown: missing, or not
    result files at all (a README would otherwise become hundreds of "cases")."""
    from r1v4.viewer.store import result_file_problem

    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        return f"no such result file: {', '.join(missing)}"
    for f in files:
        problem = result_file_problem(f)
        if problem:
            return problem
    return None


def main(argv: list[str] | None = None, prog: str = "visual.py") -> int:
    """Serve the viewer (or, with --get, render one page); returns an exit code."""
    from r1v4.viewer import LOOPBACK_HOSTS, create_app

    parser = build_parser(prog)
    args = parser.parse_args(argv)
    port, files = _split_items(args.items)
    port = args.port or port or DEFAULT_PORT
    problem = _files_problem(files)
    if problem:
        print(f"{prog}: {problem}", file=sys.stderr)
        return USAGE
    bad_roots = [r for r in (args.root or []) if not Path(r).is_dir()]
    if bad_roots:
        print(f"{prog}: --root is not a folder: {', '.join(bad_roots)}", file=sys.stderr)
        return USAGE
    config = config_from_args(args, files)
    config["TRUSTED_HOSTS"] = list(LOOPBACK_HOSTS) if args.host in LOOPBACK else None
    try:
        app = create_app(config)
    except (OSError, ValueError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return USAGE
    from r1v4.viewer import get_library

    opened = get_library(app).files()
    if len(files) == 1 and opened:  # `visual.py PORT FILE`: land on that file's run list
        app.config["LANDING"] = opened[0].fid
    if args.get:
        client = app.test_client()
        resp = client.get(args.get, follow_redirects=True)
        sys.stdout.write(resp.get_data(as_text=True))
        return OK if resp.status_code == 200 else FAILED
    shown = "localhost" if args.host in LOOPBACK else args.host
    url = f"http://{shown}:{port}/"
    if app.config.get("LANDING"):
        url += f"f/{app.config['LANDING']}/"
    print(f"r1v4 viewer on {url}  (Ctrl+C stops it)")
    for f in config["RESULT_FILES"]:
        print(f"  opened {f}")
    print(f"  other files may be opened from: {', '.join(config['ROOTS'])}")
    if args.host not in LOOPBACK:
        print(f"  WARNING: listening on {args.host}: anyone who can reach it can read these files")
    if args.open:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    from werkzeug.serving import run_simple

    run_simple(args.host, port, app, threaded=True, use_reloader=False)
    return OK


def build_export_parser(prog: str = "python -m r1v4 export-html") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Write a static, self-contained HTML report of a result file; of several, "
        "one folder each and an index.html listing them.",
    )
    p.add_argument("results", metavar="RESULTS.jsonl", nargs="+")
    p.add_argument("out_dir", metavar="OUT_DIR")
    p.add_argument("--limit", type=int, default=None, help="only the first N cases")
    return p


def export_main(argv: list[str] | None = None, prog: str = "python -m r1v4 export-html") -> int:
    """`export-html RESULTS.jsonl OUT_DIR`: returns an exit code."""
    from r1v4.viewer.export import export_html, export_many

    args = build_export_parser(prog).parse_args(argv)
    problem = _files_problem(args.results)
    if problem:
        print(f"{prog}: {problem}", file=sys.stderr)
        return USAGE
    try:
        if len(args.results) == 1:
            counts = export_html(args.results[0], args.out_dir, limit=args.limit)
        else:
            counts = export_many(args.results, args.out_dir, limit=args.limit)
    except (OSError, ValueError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return USAGE
    if len(args.results) > 1:
        print(f"{len(args.results)} runs: ", end="")
    refused = counts["images_refused"]
    print(
        f"wrote {counts['cases']} case pages and {counts['images']} images to "
        f"{args.out_dir} (open {os.path.join(args.out_dir, 'index.html')})"
        + (f"; {refused} images missing or refused" if refused else "")
    )
    if counts.get("inputs_outside"):
        print(
            f"note: {counts['inputs_outside']} input images were copied from outside the "
            f"result file's folder (named by the records' image/images fields); check "
            f"{os.path.join(args.out_dir, 'images')} before sharing it"
        )
    return OK
