"""Where the demo's files live: inside the package (`r1v4/demo/data/`), so the demo runs the
same from a checkout, from an installed wheel and from any working folder.

`data/` holds the demo images, the offline search corpus and the demo's test cases, whose
relative image paths resolve against the cases file's own folder. The repository's root
`demo_image/` and `demo_corpus/` are links to these folders, for the seed's form
(`"image": "./demo_image/demo_1.png"`) in its `test_cases.jsonl`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from r1v4._util.userdirs import user_cache_dir

__all__ = ["CORPUS_DIR", "DATA_DIR", "DEMO_CASES", "DEMO_DIR", "corpus_index_path"]

DATA_DIR = Path(__file__).resolve().parent / "data"
DEMO_DIR = DATA_DIR / "demo_image"
CORPUS_DIR = DATA_DIR / "demo_corpus"
DEMO_CASES = DATA_DIR / "test_cases.jsonl"


def corpus_index_path(corpus: Path = CORPUS_DIR) -> Path:
    """The search index of the demo corpus, in the user's cache folder (an installed package
    may be read-only). Its name follows the corpus's files (names, sizes, times), so a new
    version of the corpus gets a fresh index."""
    digest = hashlib.sha256(str(corpus).encode())
    for path in sorted(corpus.rglob("*")):
        if path.is_file() and not path.name.startswith(".r1v4-index"):
            stat = path.stat()
            digest.update(
                f"{path.relative_to(corpus)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
            )
    return user_cache_dir() / "demo" / f"corpus-{digest.hexdigest()[:16]}.sqlite"
