"""Viewer on a big result file: time to the first page and peak memory, against the seed's way.

Generates a result file whose observations carry their intermediate images inline as data
URLs (as `--embed-images` runs and the hosted API write them), then measures, each in its own
subprocess so peak RSS is that process's alone:

* viewer, cold — `create_app` over the file with an empty index cache: one streaming pass
                 builds the offset index, then the run list page is rendered;
* viewer, warm — the same with the `.idx` cache from the cold run (a restart);
* seed         — the seed's `visual.py` loading, written here: `json.loads` every line, find
                 every data URL in full_response with its regex, base64-decode it and open it
                 with Pillow (kept in memory as the seed does), then build the `/api/results`
                 JSON its page needs before it can show anything;
* python       — the interpreter with Flask and Pillow imported, for scale.

Then, in the viewer process: one case page from the middle of the file and its images.

With `--huge-line-mb N`, also a file whose middle line alone is N MB (one pathological
case): the index pass over it (one linear pass; the line is only counted, over the case
limit) and the viewer's peak RSS, which must not grow with N.

    python bench/bench_viewer.py            # 2,000 cases, ~400 MB; about two minutes on 2 cores
    python bench/bench_viewer.py --full     # 10,000 cases, ~2 GB
    python bench/bench_viewer.py --skip-seed --huge-line-mb 1024
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# ---- data --------------------------------------------------------------------------------
def noise_png(rng: random.Random, side: int) -> bytes:
    """An incompressible PNG (random pixels), so file size tracks image count honestly."""
    from PIL import Image

    img = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def generate(path: Path, cases: int, images_per_case: int, side: int, seed: int = 7) -> None:
    """Write `cases` records, each with `images_per_case` rounds holding one data-URL image."""
    rng = random.Random(seed)
    pool = [
        "data:image/png;base64," + base64.b64encode(noise_png(rng, side)).decode()
        for _ in range(16)
    ]
    (path.parent / "inputs").mkdir(exist_ok=True)
    (path.parent / "inputs" / "input.png").write_bytes(noise_png(rng, 256))
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(cases):
            parts = []
            for r in range(images_per_case):
                call = {"name": "code", "arguments": {"code": f"crop(image, {r})\nprint('ok')"}}
                obs = {"type": "code", "result": f"saved crop {r}\n", "images": [rng.choice(pool)]}
                parts.append(
                    f"<think>Round {r}: look closer at region {r} of case {i}.</think>"
                    f"<tool_call>{json.dumps(call)}</tool_call>"
                    f"<observation>{json.dumps(obs)}</observation>"
                )
            parts.append(f"<think>Done.</think><answer>answer {i % 7}</answer>")
            record = {
                "id": f"case-{i:06d}",
                "image": "inputs/input.png",
                "question": f"Question {i}: what is in the highlighted region?",
                "answer": f"answer {i % 5}",
                "response": {"full_response": "".join(parts)},
                "meta": {
                    "mode": "nonstream",
                    "model": "sim",
                    "latency_s": round(rng.uniform(1, 30), 2),
                    "rounds": images_per_case,
                    "tool_calls": {"code": images_per_case},
                },
            }
            fh.write(json.dumps(record) + "\n")


# ---- children ----------------------------------------------------------------------------
def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_viewer(file: str, cache: str) -> dict:
    from r1v4.viewer import create_app, get_library

    t0 = time.perf_counter()
    app = create_app({"RESULT_FILES": [file], "INDEX_CACHE": cache, "CWD": str(Path(file).parent)})
    client = app.test_client()
    fid = get_library(app).files()[0].fid
    t_index = time.perf_counter() - t0
    resp = client.get(f"/f/{fid}/")
    assert resp.status_code == 200, resp.status_code
    first_page = time.perf_counter() - t0
    opened = get_library(app).files()[0]
    n = len(opened.index) // 2
    t1 = time.perf_counter()
    html = client.get(f"/f/{fid}/case/{n}").get_data(as_text=True)
    t_case = time.perf_counter() - t1
    t2 = time.perf_counter()
    served = 0
    for k in range(html.count('<img src="')):
        img = client.get(f"/f/{fid}/case/{n}/img/{k}")
        assert img.status_code == 200, (k, img.status_code)
        served += 1
    t_images = time.perf_counter() - t2
    getattr(opened.index, "wait", lambda: None)()  # a viewer without a background pass
    whole_index = time.perf_counter() - t0
    opened.index.flush()
    return {
        "whole_index_s": whole_index,
        "cases": len(opened.index),
        "index_s": t_index,
        "first_page_s": first_page,
        "case_page_s": t_case,
        "case_images": served,
        "case_images_s": t_images,
        "from_cache": opened.index.loaded_from_cache,
        "peak_rss_mb": peak_rss_mb(),
    }


def write_huge(path: Path, mb: int) -> None:
    """A small case, one case whose line is `mb` MB (a giant think), and another small case."""
    block = b"x" * (1 << 20)
    small = {"id": "small", "question": "q", "response": {"full_response": "<answer>a</answer>"}}
    with open(path, "wb") as fh:
        fh.write(json.dumps(small).encode() + b"\n")
        fh.write(b'{"id": "huge", "question": "q", "response": {"full_response": "<think>')
        for _ in range(mb):
            fh.write(block)
        fh.write(b'</think><answer>a</answer>"}}\n')
        fh.write(json.dumps({**small, "id": "after"}).encode() + b"\n")


def child_huge(file: str) -> dict:
    """Index a file holding one huge line, then show the list and that case's page."""
    from r1v4.viewer import create_app, get_library

    t0 = time.perf_counter()
    app = create_app({"RESULT_FILES": [file], "INDEX_CACHE": None, "CWD": str(Path(file).parent)})
    opened = get_library(app).files()[0]
    t_index = time.perf_counter() - t0
    client = app.test_client()
    assert client.get(f"/f/{opened.fid}/").status_code == 200
    page = client.get(f"/f/{opened.fid}/case/1").get_data(as_text=True)
    return {
        "index_s": t_index,
        "status": opened.index.entries[1]["status"],
        "too_large_page": "Too large to show" in page,
        "max_held_mb": opened.index.max_held_bytes / 2**20,
        "peak_rss_mb": peak_rss_mb(),
    }


def child_seed(file: str) -> dict:
    """The seed visual.py's load_results + /api/results, reproduced for measurement."""
    import re

    from PIL import Image

    pattern = re.compile(r'data:image/[^;]+;base64,([A-Za-z0-9+/=\s]+?)(?=["\\},]|$)', re.DOTALL)
    t0 = time.perf_counter()
    results = []
    images = 0
    with open(file, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            record = json.loads(line)
            found = []
            for data in pattern.findall(record["response"].get("full_response", "")):
                found.append(Image.open(io.BytesIO(base64.b64decode(re.sub(r"\s", "", data)))))
            images += len(found)
            record["generated_images"] = found
            results.append(record)
    payload = json.dumps(
        [
            {
                "image": r.get("image", ""),
                "question": r.get("question", ""),
                "response": r.get("response", {}),
                "generated_image_count": len(r.get("generated_images", [])),
            }
            for r in results
        ]
    )
    first_page = time.perf_counter() - t0
    return {
        "cases": len(results),
        "images_decoded": images,
        "first_page_s": first_page,
        "payload_mb": len(payload) / 1e6,
        "peak_rss_mb": peak_rss_mb(),
    }


def child_python() -> dict:
    import flask  # noqa: F401
    import PIL.Image  # noqa: F401

    import r1v4.viewer  # noqa: F401

    return {"peak_rss_mb": peak_rss_mb()}


def run_child(*args: str) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - t0
    return result


def median(runs: list[dict]) -> dict:
    """The run with the median time to first page."""
    return sorted(runs, key=lambda r: r["first_page_s"])[len(runs) // 2]


# ---- main --------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--images-per-case", type=int, default=4)
    ap.add_argument("--side", type=int, default=112, help="image side in pixels (noise PNG)")
    ap.add_argument("--full", action="store_true", help="10,000 cases, 4 images each: ~2 GB")
    ap.add_argument("--dir", help="work folder (default: a temporary one, removed after)")
    ap.add_argument("--skip-seed", action="store_true", help="do not run the seed baseline")
    ap.add_argument("--repeat", type=int, default=3, help="viewer runs; the median is kept")
    ap.add_argument(
        "--huge-line-mb", type=int, default=0, help="also index a file with one line this big"
    )
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        kind, *rest = args.child
        children = {
            "viewer": child_viewer,
            "seed": child_seed,
            "python": child_python,
            "huge": child_huge,
        }
        result = children[kind](*rest)
        print(json.dumps(result))
        return 0

    if args.full:
        args.cases, args.images_per_case = 10_000, 4
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench_viewer_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        path = work / "result.jsonl"
        cache = work / "index-cache"
        shutil.rmtree(cache, ignore_errors=True)
        t0 = time.perf_counter()
        generate(path, args.cases, args.images_per_case, args.side)
        size_mb = path.stat().st_size / 1e6
        print(
            f"generated {args.cases:,} cases, {args.cases * args.images_per_case:,} images, "
            f"{size_mb:,.0f} MB in {time.perf_counter() - t0:.1f} s"
        )
        py = run_child("python")
        colds, warms = [], []
        for _ in range(args.repeat):
            shutil.rmtree(cache, ignore_errors=True)
            colds.append(run_child("viewer", str(path), str(cache)))
            warms.append(run_child("viewer", str(path), str(cache)))
        cold, warm = median(colds), median(warms)
        seed = None if args.skip_seed else run_child("seed", str(path))
        huge = None
        if args.huge_line_mb:
            huge_path = work / "huge.jsonl"
            write_huge(huge_path, args.huge_line_mb)
            huge = run_child("huge", str(huge_path))
            huge_path.unlink()
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{'':26}{'first page':>12}{'peak RSS':>12}{'process':>10}")
    print(f"{'python + flask + PIL':26}{'':>12}{py['peak_rss_mb']:>10.0f}MB{'':>10}")
    for name, r in (("viewer, cold index", cold), ("viewer, warm index", warm), ("seed way", seed)):
        if r is None:
            continue
        print(
            f"{name:26}{r['first_page_s']:>11.2f}s{r['peak_rss_mb']:>10.0f}MB"
            f"{r['process_s']:>9.1f}s"
        )
    print()
    print(
        f"viewer cold: index pass {cold['index_s']:.2f} s "
        f"({size_mb / max(cold['index_s'], 1e-9):,.0f} MB/s); a case page from the middle "
        f"{cold['case_page_s'] * 1000:.0f} ms, its {cold['case_images']} images "
        f"{cold['case_images_s'] * 1000:.0f} ms"
    )
    print(
        f"viewer cold: the whole index was built {cold['whole_index_s']:.2f} s after start "
        f"(in the background, after the first page)"
    )
    print(f"viewer warm: index loaded from cache = {warm['from_cache']}")
    print(f"targets (file {size_mb:,.0f} MB, {cold['cases']:,} cases, median of {args.repeat}):")
    for label, value, bound in (
        ("first page, first open", cold["first_page_s"], 0.5),
        ("first page, cached index", warm["first_page_s"], 0.2),
    ):
        print(f"  {label}: {value:.2f} s (<= {bound} s: {'met' if value <= bound else 'NOT met'})")
    rss = max(cold["peak_rss_mb"], warm["peak_rss_mb"])
    print(f"  peak RSS: {rss:.0f} MB (<= 100 MB: {'met' if rss <= 100 else 'NOT met'})")
    if huge:
        print(
            f"one {args.huge_line_mb:,} MB line: index pass {huge['index_s']:.2f} s "
            f"({args.huge_line_mb / max(huge['index_s'], 1e-9):,.0f} MB/s), status "
            f"{huge['status']}, reader held at most {huge['max_held_mb']:.0f} MiB, peak RSS "
            f"{huge['peak_rss_mb']:.0f} MB, case page says too large: {huge['too_large_page']}"
        )
    if seed:
        print(
            f"seed way: {seed['images_decoded']:,} images decoded, /api/results payload "
            f"{seed['payload_mb']:,.0f} MB"
        )
        print()
        print("ratios (seed way / viewer; higher is better for the viewer):")
        for name, r in (("cold", cold), ("warm", warm)):
            print(
                f"  {name}: time to first page x{seed['first_page_s'] / r['first_page_s']:.1f}, "
                f"peak RSS x{seed['peak_rss_mb'] / r['peak_rss_mb']:.1f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
