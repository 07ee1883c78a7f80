"""`python -m r1v4 index CORPUS_DIR [--out INDEX.sqlite]`: build the offline search index."""

from __future__ import annotations

import argparse
import sys

from r1v4.tools.search.corpus import CorpusError
from r1v4.tools.search.local import build_index, default_index_path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m r1v4 index",
        description="Index a corpus folder (pages with title+url front matter or manifest.json, "
        "and their images) for the offline 'local' search backend.",
    )
    p.add_argument("corpus_dir", metavar="CORPUS_DIR", help="folder of .md/.html/.txt pages")
    p.add_argument(
        "--out",
        metavar="INDEX.sqlite",
        help="where to write the index (default: CORPUS_DIR/.r1v4-index.sqlite)",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="processes for image hashing (default: up to 4)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    target = args.out or default_index_path(args.corpus_dir)
    try:
        stats = build_index(args.corpus_dir, target, workers=args.workers)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"indexed {stats.pages} pages and {stats.images} images "
        f"({stats.hashes} image hashes) in {stats.seconds:.2f}s -> {stats.path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
