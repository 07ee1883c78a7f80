"""Importing a large VLMEvalKit TSV: time and peak memory of `python -m r1v4 import`
against loading the table whole (what `pandas.read_csv` — VLMEvalKit's loader — does).

Generates an HR-Bench-shaped TSV of `--size-gb` GB in a temporary folder (every fourth row
holds a distinct ~1.5 MB base64 JPEG, the three rotations after it refer to it by index, as
HR-Bench's cycles share an image), then runs, each in a fresh child process so peak RSS is
its own:

* import   — `python -m r1v4 import FILE OUT.jsonl` (streamed: csv over the open file, one
             row decoded at a time, images written as they come);
* baseline — every row read into memory first (`list(csv.reader(...))`), the whole-table
             approach, without even decoding an image.

    python bench/bench_import.py              # 2 GB, about a minute or two on 2 cores
    python bench/bench_import.py --size-gb 0.2 --no-baseline

Not a test: figures go to bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def noise_jpeg(seed: int, size: int = 1200) -> bytes:
    rng = random.Random(seed)
    img = Image.frombytes("RGB", (size, size), rng.randbytes(size * size * 3))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def write_tsv(path: Path, size_bytes: int) -> tuple[int, int]:
    """(rows, images) of an HR-Bench-shaped TSV of about `size_bytes`."""
    base = noise_jpeg(0)
    rows = images = 0
    header = ["index", "question", "A", "B", "C", "D", "answer", "category", "cycle_category",
              "image"]  # fmt: skip
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, dialect="excel-tab")
        writer.writerow(header)
        while fh.tell() < size_bytes:
            # distinct bytes per image (after JPEG's end marker), so none is deduplicated
            data = base + images.to_bytes(8, "big")
            owner = rows
            for cycle in range(4):
                image = base64.b64encode(data).decode() if cycle == 0 else str(owner)
                writer.writerow([rows, f"What is shown in region {images}?", "a", "b", "c", "d",
                                 "ABCD"[cycle], "single" if images % 2 else "cross", f"c{cycle}",
                                 image])  # fmt: skip
                rows += 1
            images += 1
    return rows, images


def child(code: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout tail) of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(code, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode not in (0, 1):
        sys.exit(f"failed: {' '.join(code)}\n{proc.stderr[-2000:]}")
    # ru_maxrss of children is the maximum over all of them so far: run the small one first
    return wall, max(peak, before) / 1024, (proc.stdout + proc.stderr).strip()[-300:]


BASELINE = """
import csv, sys
csv.field_size_limit(sys.maxsize)
with open(sys.argv[1], newline="", encoding="utf-8") as fh:
    rows = list(csv.reader(fh, dialect="excel-tab"))
print(len(rows) - 1, "rows in memory")
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size-gb", type=float, default=2.0)
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="r1v4-bench-import-"))
    tsv = tmp / "hr_bench_big.tsv"
    start = time.perf_counter()
    rows, images = write_tsv(tsv, int(args.size_gb * 1e9))
    size = tsv.stat().st_size
    print(f"generated {tsv} ({size / 1e9:.2f} GB, {rows} rows, {images} images) "
          f"in {time.perf_counter() - start:.1f}s")  # fmt: skip
    wall, rss, tail = child([sys.executable, "-m", "r1v4", "import", str(tsv),
                             str(tmp / "cases.jsonl")])  # fmt: skip
    line = "{:9}: {:6.1f} s  {:6.1f} MB/s  peak RSS {:7.0f} MiB  | {}"
    print(line.format("import", wall, size / 1e6 / wall, rss, tail))
    if not args.no_baseline:
        wall_b, rss_b, tail_b = child([sys.executable, "-c", BASELINE, str(tsv)])
        print(line.format("baseline", wall_b, size / 1e6 / wall_b, rss_b, tail_b))
    if not args.keep:
        for f in sorted(tmp.rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
        tmp.rmdir()


if __name__ == "__main__":
    main()
