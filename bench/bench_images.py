"""What a case's input image costs the client, against reading and base64-encoding its bytes.

For each image the toolkit reads the file (regular file, size bound), checks its header
(magic bytes, pixel bound, EXIF orientation) and makes the data URL; only an image that
must change (rotated, over `--max-pixels`, or BMP) is decoded. Measured in the same run,
medians of `--repeat` (each a mean over `--loops` calls):

* baseline    — `open(path).read()` and `base64.b64encode`: the floor of sending a file;
* ours        — `read_image_file` + `prepare_image` (the data URL included), and the whole
                `load_input_images` of a case (which also copies the image into the case's
                work folder for the code tool);
* full decode — what every input cost before: the pixels decoded to send the same bytes.

and a downscale (`--max-pixels`) of a larger JPEG: ours (the JPEG decoder's own 1/2..1/8
scaling, then bicubic over an integer reduction) against a full decode and Lanczos.

    python bench/bench_images.py [--width 2000 --height 1500] [--repeat 3] [--loops 20]
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from r1v4._util.images import prepare_image, read_image_file  # noqa: E402
from r1v4.agent.inputs import load_input_images  # noqa: E402
from r1v4.agent.settings import AgentSettings  # noqa: E402
from r1v4.protocol.cases import Case  # noqa: E402


def photo(width: int, height: int, fmt: str, path: Path) -> Path:
    """A photo-like image (gradients and noise, so it compresses like a photo)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    arr = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1)
    arr = (arr + rng.integers(0, 40, arr.shape)).clip(0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return path


def timed(fn: Callable[[], object], repeat: int, loops: int) -> float:
    """Median over `repeat` runs of the mean ms per call over `loops` calls."""
    fn()  # warm: imports, plugin registration, caches
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        runs.append(1000 * (time.perf_counter() - t0) / loops)
    return statistics.median(runs)


def baseline(path: Path) -> str:
    with open(path, "rb") as fh:
        return base64.b64encode(fh.read()).decode("ascii")


def full_decode(path: Path, size: tuple[int, int] | None = None) -> str:
    data = path.read_bytes()
    img = Image.open(io.BytesIO(data))
    img.load()
    if size is not None:
        img = img.resize(size, Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=92)
        data = buf.getvalue()
    return base64.b64encode(data).decode("ascii")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=2000)
    p.add_argument("--height", type=int, default=1500)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--loops", type=int, default=20)
    opts = p.parse_args()
    r, n = opts.repeat, opts.loops
    with tempfile.TemporaryDirectory(prefix="r1v4-bench-images-") as name:
        tmp = Path(name)
        rows: list[tuple[str, float, float]] = []
        for fmt, ext in (("JPEG", "jpg"), ("PNG", "png")):
            path = photo(opts.width, opts.height, fmt, tmp / f"photo.{ext}")
            case = Case(id="c", question="q", image=str(path), images=[str(path)])
            case.image_paths = [path]
            work = tmp / "work"
            work.mkdir(exist_ok=True)
            base = timed(lambda path=path: baseline(path), r, n)
            ours = timed(
                lambda path=path: prepare_image(read_image_file(path), str(path)).data_url(), r, n
            )
            case_ms = timed(
                lambda case=case, work=work: load_input_images(case, AgentSettings(), work), r, n
            )
            decode = timed(lambda path=path: full_decode(path), r, max(1, n // 4))
            size_mb = path.stat().st_size / 1e6
            print(f"{fmt} {opts.width}x{opts.height}, {size_mb:.2f} MB, needs no change:")
            print(f"  read + base64 (baseline)       {base:7.2f} ms")
            print(f"  read + prepare_image + URL     {ours:7.2f} ms  ({ours / base:.2f}x baseline)")
            print(f"  load_input_images (+ copy)     {case_ms:7.2f} ms  ({case_ms / base:.2f}x)")
            print(f"  full decode, then base64       {decode:7.2f} ms  ({decode / base:.2f}x)")
            rows.append((fmt, ours / base, case_ms / base))
        big = photo(2 * opts.width, 2 * opts.height, "JPEG", tmp / "big.jpg")
        limit = opts.width * opts.height // 2
        ours = timed(lambda: prepare_image(read_image_file(big), "big", limit).data_url(), r, 3)
        shown = prepare_image(read_image_file(big), "big", limit)
        before = timed(lambda: full_decode(big, (shown.width, shown.height)), r, 3)
        print(f"JPEG {2 * opts.width}x{2 * opts.height} down to --max-pixels {limit:,} "
              f"({shown.width}x{shown.height}):")  # fmt: skip
        print(f"  ours: JPEG draft + bicubic     {ours:7.2f} ms")
        print(f"  full decode + Lanczos          {before:7.2f} ms  ({before / ours:.1f}x ours)")
    jpeg = rows[0]
    verdict = "met" if jpeg[1] <= 1.5 else "NOT met"
    print(f"target: a JPEG needing no change <= 1.5x read + base64: {jpeg[1]:.2f}x ({verdict}); "
          f"with the work-folder copy {jpeg[2]:.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
