"""Benchmark the offline search backend: index build time, then queries/s and accuracy of
text_search and image_search on a generated corpus (default 10,000 pages, 10,000 images).

Baselines measured in the same run:
- text: a plain `LIKE '%word%'` scan over the same pages table (what you get without FTS5);
- image: matching whole-image hashes only (no windows), to show what the window hashes buy
  for crops.

    python bench/bench_search.py                 # 10k pages + 10k images
    python bench/bench_search.py --pages 2000    # quicker
"""

from __future__ import annotations

import argparse
import io
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from r1v4.tools.search.imagehashing import query_hashes  # noqa: E402
from r1v4.tools.search.local import LocalIndex, build_index  # noqa: E402

SYLLABLES = ["ka", "lo", "mi", "ren", "tav", "os", "qui", "bel", "dra", "no", "sul", "vex", "pha"]
COMMON = (
    "the harbour city tower bridge market river museum built century old new street north south "
    "east west station garden festival stone glass iron painted lamp ship ferry hill school"
).split()


def name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randrange(3, 5))).capitalize()


def draw(rng: random.Random, size: tuple[int, int] = (96, 72)) -> Image.Image:
    """A small random drawing: background, 6-14 shapes. Fast (~0.1 ms)."""
    img = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    d = ImageDraw.Draw(img)
    w, h = size
    for _ in range(rng.randrange(6, 15)):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(6, w // 2), y0 + rng.randrange(6, h // 2)
        color = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            d.rectangle((x0, y0, x1, y1), fill=color)
        else:
            d.ellipse((x0, y0, x1, y1), fill=color)
    return img


def make_corpus(root: Path, pages: int, images: int, seed: int = 7) -> list[str]:
    """Write the corpus; returns each page's unique entity name (for queries)."""
    rng = random.Random(seed)
    (root / "img").mkdir(parents=True)
    names = []
    for i in range(pages):
        entity = f"{name(rng)}{i}"  # unique token per page
        names.append(entity)
        words = " ".join(rng.choice(COMMON) for _ in range(rng.randrange(60, 160)))
        img = ""
        if i < images:
            draw(rng).save(root / "img" / f"{i}.png", compress_level=1)
            img = f"![{entity}](img/{i}.png)\n\n"
        (root / f"p{i}.md").write_text(
            f"---\ntitle: {entity} {rng.choice(COMMON)}\nurl: https://bench.example/p/{i}\n---\n"
            f"{img}{entity} is a {rng.choice(COMMON)} near the {rng.choice(COMMON)}. {words}\n",
            encoding="utf-8",
        )
    return names


def timed(fn, items) -> tuple[list, list[float]]:
    out, lat = [], []
    for item in items:
        t = time.perf_counter()
        out.append(fn(item))
        lat.append(time.perf_counter() - t)
    return out, lat


def describe(label: str, lat: list[float]) -> str:
    qps = len(lat) / sum(lat)
    p50 = statistics.median(lat) * 1000
    p95 = sorted(lat)[int(0.95 * (len(lat) - 1))] * 1000
    return f"{label:<42} {qps:9.1f} q/s   p50 {p50:7.2f} ms   p95 {p95:7.2f} ms"


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pages", type=int, default=10_000)
    ap.add_argument("--images", type=int, default=None, help="default: same as --pages")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--workers", type=int, default=None, help="hashing processes (default 2-4)")
    args = ap.parse_args(argv)
    n_images = args.pages if args.images is None else min(args.images, args.pages)
    rng = random.Random(99)

    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        root = Path(tmp) / "corpus"
        t = time.perf_counter()
        names = make_corpus(root, args.pages, n_images)
        gen_s = time.perf_counter() - t
        stats = build_index(root, Path(tmp) / "ix.sqlite", workers=args.workers)
        ix = LocalIndex(stats.path)
        t = time.perf_counter()
        # The bench times the index's lazy hash loading on its own, which only this private
        # method does; it is measured, not used.
        ix._hash_arrays()  # noqa: SLF001
        load_s = time.perf_counter() - t
        print(f"corpus: {stats.pages} pages, {stats.images} images (generated in {gen_s:.1f}s)")
        print(
            f"index build: {stats.seconds:.1f}s ({stats.hashes} window hashes, "
            f"{stats.path.stat().st_size / 1e6:.1f} MB); hash table load {load_s * 1000:.0f} ms"
        )

        # -- text ---------------------------------------------------------------------------
        picks = [rng.randrange(args.pages) for _ in range(args.queries)]
        queries = [f"{names[i]} {rng.choice(COMMON)} {rng.choice(COMMON)}" for i in picks]
        ix.text_search(queries[0], 5)  # warm-up
        res, lat = timed(lambda q: ix.text_search(q, 5), queries)
        hit = sum(r and r[0]["url"].endswith(f"/p/{i}") for r, i in zip(res, picks, strict=True))
        print(
            describe("text_search (entity + 2 common words)", lat)
            + f"   top-1 {hit / len(picks):.1%}"
        )
        res, lat = timed(lambda i: ix.text_search(names[i], 5), picks)
        hit = sum(r and r[0]["url"].endswith(f"/p/{i}") for r, i in zip(res, picks, strict=True))
        print(describe("text_search (entity word only)", lat) + f"   top-1 {hit / len(picks):.1%}")
        fts_qps = len(lat) / sum(lat)

        con = sqlite3.connect(stats.path)
        few = picks[: max(5, args.queries // 20)]

        def like_scan(i: int) -> list:
            return con.execute(
                "SELECT url FROM pages WHERE text LIKE ? LIMIT 5", (f"%{names[i]}%",)
            ).fetchall()

        res, lat = timed(like_scan, few)
        hit = sum(r and r[0][0].endswith(f"/p/{i}") for r, i in zip(res, few, strict=True))
        like_qps = len(lat) / sum(lat)
        print(
            describe("baseline: LIKE scan, entity word only", lat)
            + f"   top-1 {hit / len(few):.1%}"
        )
        print(f"  FTS5 / LIKE on the same one-word queries: {fts_qps / like_qps:.1f}x")

        # -- images -------------------------------------------------------------------------
        if n_images:
            img_picks = [rng.randrange(n_images) for _ in range(args.queries)]
            crops, resized = [], []
            for i in img_picks:
                im = Image.open(root / "img" / f"{i}.png")
                w, h = im.size
                crops.append(png(im.crop((w // 4, h // 4, 3 * w // 4, 3 * h // 4)).resize((w, h))))
                resized.append(png(im.resize((w * 3, h * 3))))
            ix.image_search(crops[0], 5)  # warm-up
            for label, blobs in (("central-50% crop", crops), ("3x upscaled copy", resized)):
                res, lat = timed(lambda b: ix.image_search(b, 5), blobs)
                hit = sum(
                    bool(r) and r[0]["url"].endswith(f"/p/{i}")
                    for r, i in zip(res, img_picks, strict=True)
                )
                print(describe(f"image_search ({label})", lat) + f"   top-1 {hit / len(blobs):.1%}")
            unrelated = [png(draw(random.Random(10_000_000 + k), (160, 120))) for k in range(100)]
            res, lat = timed(lambda b: ix.image_search(b, 5), unrelated)
            fp = sum(bool(r) for r in res)
            print(describe("image_search (unrelated images)", lat) + f"   false hits {fp}/100")

            # baseline: whole-image hashes only
            rows = con.execute(
                "SELECT image_id, phash, dhash FROM image_hashes WHERE window = 'full'"
            ).fetchall()
            ph = np.array([r[1] for r in rows], dtype=np.int64).view(np.uint64)
            dh = np.array([r[2] for r in rows], dtype=np.int64).view(np.uint64)
            full_ids = [r[0] for r in rows]
            page_of = dict(
                con.execute("SELECT i.id, p.url FROM images i JOIN pages p ON p.id=i.page_id")
            )

            def full_only(blob: bytes) -> str | None:
                hashes = query_hashes(Image.open(io.BytesIO(blob)))
                if not hashes:
                    return None
                q = hashes[0]  # the whole query image
                d = np.bitwise_count(ph ^ np.uint64(q.phash)) + np.bitwise_count(
                    dh ^ np.uint64(q.dhash)
                )
                k = int(np.argmin(d))
                return page_of[full_ids[k]] if d[k] <= 22 else None

            res, lat = timed(full_only, crops)
            hit = sum(
                bool(r) and r.endswith(f"/p/{i}") for r, i in zip(res, img_picks, strict=True)
            )
            print(
                describe("baseline: whole-image hash only (crops)", lat)
                + f"   top-1 {hit / len(crops):.1%}"
            )
        ix.close()
        con.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
