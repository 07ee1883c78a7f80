"""The offline search backend: one SQLite file built from a corpus folder.

- `text_search`: SQLite FTS5, BM25-ranked (title weighted above body), porter stemming.
- `image_search`: perceptual hashes (pHash + dHash from `imagehash`) of each corpus image and of
  windows inside it (see `imagehashing`); the query's hashes are compared with every stored
  window at once in numpy, candidates under a Hamming-distance threshold are confirmed by
  comparing small colour thumbnails, so an unrelated picture finds nothing rather than "the
  least bad" page.
- `web_visit`: the page's extracted text, looked up by URL; no network at all.

The index is written to a temporary file and renamed into place, so a reader never sees half
an index. Default location: `<corpus>/.r1v4-index.sqlite`.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from r1v4.protocol.errors import R1V4Error
from r1v4.tools import ToolError
from r1v4.tools.search.corpus import Corpus, normalise_url, read_corpus
from r1v4.tools.search.format import clean, entry
from r1v4.tools.search.imagehashing import (
    WindowHash,
    hash_image_file,
    query_hashes,
    thumb_distance,
    to_signed,
)
from r1v4.tools.search.workers import orphan_safe_pool

log = logging.getLogger(__name__)

SCHEMA_VERSION = "2"
INDEX_NAME = ".r1v4-index.sqlite"
# Hamming-distance thresholds (64-bit hashes). Unrelated images sit around 32 apart on pHash;
# a crop that lines up with a stored window, or a resized copy, is within a few bits.
PHASH_MAX = 14
DHASH_MAX = 16
SUM_MAX = 26
# Second stage: mean absolute difference (0-255) between the 8x8 colour thumbnails of the query
# window and the stored window a hash matched. Same picture: a few levels; another picture
# with a similar layout: tens.
THUMB_MAX = 11.0
MAX_VERIFY = 400  # candidates checked per query at most
#: Fewer images than this are hashed in-process (starting workers would cost more).
POOL_MIN_IMAGES = 200

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE pages (id INTEGER PRIMARY KEY, url TEXT NOT NULL, url_key TEXT NOT NULL UNIQUE,
                    title TEXT NOT NULL, path TEXT NOT NULL, text TEXT NOT NULL);
CREATE VIRTUAL TABLE pages_fts USING fts5(title, text, content='pages', content_rowid='id',
                                          tokenize='porter unicode61 remove_diacritics 2');
CREATE TABLE images (id INTEGER PRIMARY KEY, page_id INTEGER NOT NULL REFERENCES pages(id),
                     path TEXT NOT NULL, url TEXT NOT NULL, alt TEXT NOT NULL,
                     width INTEGER, height INTEGER, sha256 TEXT);
CREATE TABLE image_hashes (image_id INTEGER NOT NULL REFERENCES images(id), window TEXT NOT NULL,
                           phash INTEGER NOT NULL, dhash INTEGER NOT NULL, thumb BLOB);
"""


def default_index_path(corpus_dir: str | Path) -> Path:
    return Path(corpus_dir) / INDEX_NAME


@dataclass
class BuildStats:
    pages: int
    images: int
    hashes: int
    seconds: float
    path: Path


def _hash_all(paths: list[Path], workers: int | None) -> list:
    """Hash images, in a process pool when there are many (hashing is CPU-bound). The pool's
    workers die with this process, so a killed `index` leaves nothing running."""
    workers = workers or min(4, os.cpu_count() or 1)
    if workers <= 1 or len(paths) < POOL_MIN_IMAGES:
        return [hash_image_file(p) for p in paths]
    with orphan_safe_pool(workers) as pool:
        return list(pool.map(hash_image_file, paths, chunksize=64))


def build_index(
    corpus_dir: str | Path, out: str | Path | None = None, *, workers: int | None = None
) -> BuildStats:
    """Read the corpus and write its index. Raises CorpusError on bad pages/images."""
    t0 = time.perf_counter()
    corpus: Corpus = read_corpus(corpus_dir)
    target = Path(out) if out else default_index_path(corpus.root)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    hashed = _hash_all([img.path for img in corpus.images], workers)
    n_hashes = 0
    con = sqlite3.connect(tmp)
    try:
        con.executescript(_SCHEMA)
        page_ids: dict[str, int] = {}
        for page in corpus.pages:
            cur = con.execute(
                "INSERT INTO pages (url, url_key, title, path, text) VALUES (?, ?, ?, ?, ?)",
                (page.url, normalise_url(page.url), page.title, str(page.path), page.text),
            )
            page_ids[normalise_url(page.url)] = int(cur.lastrowid or 0)
        con.execute("INSERT INTO pages_fts(pages_fts) VALUES ('rebuild')")
        for img, (w, h, sha, hashes) in zip(corpus.images, hashed, strict=True):
            cur = con.execute(
                "INSERT INTO images (page_id, path, url, alt, width, height, sha256)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (page_ids[normalise_url(img.page_url)], str(img.path), img.url, img.alt, w, h, sha),
            )
            con.executemany(
                "INSERT INTO image_hashes (image_id, window, phash, dhash, thumb)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (cur.lastrowid, x.window, to_signed(x.phash), to_signed(x.dhash), x.thumb)
                    for x in hashes
                ],
            )
            n_hashes += len(hashes)
        meta = {
            "schema": SCHEMA_VERSION,
            "corpus_dir": str(corpus.root),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        con.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        con.commit()
    finally:
        con.close()
    os.replace(tmp, target)
    return BuildStats(
        len(corpus.pages), len(corpus.images), n_hashes, time.perf_counter() - t0, target
    )


_TOKEN = re.compile(r"\w+", re.UNICODE)
_MARKUP = re.compile(r"\[image:[^\]]*\]|^…?[^\[\]]*\](?=\s)|(?:^|(?<=\s))#{1,6}\s|[*`]{1,3}")


def plain_snippet(text: str, limit: int = 300) -> str:
    """Page text without Markdown heading marks, emphasis or image placeholders."""
    return clean(_MARKUP.sub(" ", text), limit)


def fts_query(text: str) -> str:
    """A user query as an FTS5 expression: each word quoted (no operator injection), OR-ed.

    OR, not AND: the model writes natural-language queries, and BM25 already ranks pages that
    match more of the words higher.
    """
    words = [w for w in _TOKEN.findall(text.lower()) if w]
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(words))


class SearchIndexError(R1V4Error, RuntimeError):
    """The index file is missing, unreadable, or from another schema version."""


class LocalIndex:
    """Read-only access to a built index; every method is blocking (call via to_thread)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SearchIndexError(
                f"search index {self.path} does not exist; build it with "
                f"`python -m r1v4 index CORPUS_DIR`"
            )
        self._con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.RLock()  # re-entrant: helpers may nest
        try:
            row = self._con.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise SearchIndexError(f"{self.path} is not an r1v4 search index: {exc}") from exc
        if not row or row[0] != SCHEMA_VERSION:
            raise SearchIndexError(f"{self.path} has an old index format; rebuild it")
        self._hashes: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def counts(self) -> dict[str, int]:
        with self._lock:
            pages = self._con.execute("SELECT count(*) FROM pages").fetchone()[0]
            images = self._con.execute("SELECT count(*) FROM images").fetchone()[0]
        return {"pages": pages, "images": images}

    # -- text -----------------------------------------------------------------------------
    def text_search(self, query: str, limit: int) -> list[dict]:
        expr = fts_query(query)
        if not expr:
            return []
        with self._lock:
            rows = self._con.execute(
                "SELECT p.title, p.url, snippet(pages_fts, 1, '', '', '…', 40)"
                " FROM pages_fts JOIN pages p ON p.id = pages_fts.rowid"
                " WHERE pages_fts MATCH ? ORDER BY bm25(pages_fts, 4.0, 1.0) LIMIT ?",
                (expr, limit),
            ).fetchall()
        return [entry(title, url, plain_snippet(snippet, 400)) for title, url, snippet in rows]

    # -- pages ----------------------------------------------------------------------------
    def get_page(self, url: str) -> tuple[str, str, str] | None:
        """(title, url, text) of the page at `url`, or None if the corpus has no such page."""
        with self._lock:
            row = self._con.execute(
                "SELECT title, url, text FROM pages WHERE url_key = ?", (normalise_url(url),)
            ).fetchone()
        return tuple(row) if row else None  # type: ignore[return-value]

    # -- images ---------------------------------------------------------------------------
    def _hash_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """All window hashes in memory (row ids, image ids, pHash, dHash): a scan is one XOR."""
        if self._hashes is None:
            with self._lock:
                rows = self._con.execute(
                    "SELECT rowid, image_id, phash, dhash FROM image_hashes ORDER BY rowid"
                ).fetchall()
            n = len(rows)
            rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
            ids = np.fromiter((r[1] for r in rows), dtype=np.int64, count=n)
            ph = np.fromiter((r[2] for r in rows), dtype=np.int64, count=n).view(np.uint64)
            dh = np.fromiter((r[3] for r in rows), dtype=np.int64, count=n).view(np.uint64)
            self._hashes = (rowids, ids, ph, dh)
        return self._hashes

    def _candidates(self, queries: list[WindowHash]) -> list[tuple[int, int, int, int]]:
        """(hash distance, row id, image id, query window) under the hash thresholds, best first."""
        rowids, ids, ph, dh = self._hash_arrays()
        found: list[tuple[int, int, int, int]] = []
        for qi, q in enumerate(queries):
            dp = np.bitwise_count(ph ^ np.uint64(q.phash)).astype(np.int16)
            dd = np.bitwise_count(dh ^ np.uint64(q.dhash)).astype(np.int16)
            total = dp + dd
            (hits,) = np.nonzero((dp <= PHASH_MAX) & (dd <= DHASH_MAX) & (total <= SUM_MAX))
            found.extend(
                zip(
                    total[hits].tolist(),
                    rowids[hits].tolist(),
                    ids[hits].tolist(),
                    [qi] * len(hits),
                    strict=True,
                )
            )
        found.sort()
        return found[:MAX_VERIFY]

    def image_search(self, image_bytes: bytes, limit: int) -> list[dict]:
        """Pages whose images (or a window of one) match the query image; [] if none do.

        Two stages: hash distance picks candidates, then each candidate's stored thumbnail is
        compared pixel by pixel with the query window that matched it. Hashes alone confuse
        images that merely share a layout; the colours and levels of the thumbnail do not.
        """
        try:
            with Image.open(io.BytesIO(image_bytes)) as img:
                img.load()
                queries = query_hashes(img)  # none if the image is flat or tiny
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"not a readable image: {exc}") from exc
        best: dict[int, tuple[int, float]] = {}
        candidates = self._candidates(queries)
        with self._lock:
            for score, rowid, image_id, qi in candidates:
                if image_id in best:
                    continue  # candidates come best first: this image already has its score
                (thumb,) = self._con.execute(
                    "SELECT thumb FROM image_hashes WHERE rowid = ?", (rowid,)
                ).fetchone()
                diff = thumb_distance(queries[qi].thumb, thumb)
                if diff <= THUMB_MAX:
                    best[image_id] = (score, diff)
            ranked = sorted(best.items(), key=lambda kv: (kv[1], kv[0]))
            out: list[dict] = []
            seen_pages: set[str] = set()
            for image_id, (score, _diff) in ranked:
                title, page_url, text, img_url = self._con.execute(
                    "SELECT p.title, p.url, p.text, i.url FROM images i"
                    " JOIN pages p ON p.id = i.page_id WHERE i.id = ?",
                    (image_id,),
                ).fetchone()
                if page_url in seen_pages:
                    continue
                seen_pages.add(page_url)
                out.append(entry(title, page_url, plain_snippet(text), img_url, distance=score))
                if len(out) >= limit:
                    break
        return out


class LocalBackend:
    """The async face of LocalIndex, as `make_search_tools` expects every backend to have."""

    name = "local"

    def __init__(self, index_path: str | Path) -> None:
        self.index = LocalIndex(index_path)

    async def text_search(self, query: str, limit: int) -> list[dict]:
        return await asyncio.to_thread(self.index.text_search, query, limit)

    async def image_search(self, image_bytes: bytes, name: str, limit: int) -> list[dict]:
        try:
            return await asyncio.to_thread(self.index.image_search, image_bytes, limit)
        except ValueError as exc:
            raise ToolError(f"image_search: {name}: {exc}") from exc

    async def visit(self, url: str) -> tuple[str, str, str]:
        page = await asyncio.to_thread(self.index.get_page, url)
        if page is None:
            raise ToolError(
                f"web_visit: {url} is not in the offline corpus (search backend 'local' has no "
                "network access); visit a link taken from text_search or image_search results"
            )
        return page

    async def aclose(self) -> None:
        self.index.close()
