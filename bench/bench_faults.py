"""Never lose work, measured: a batch under injected faults against the same batch without.

Runs N cases (default 1,000) through the real runner (`--tools none`, non-streaming) against
the simulator in a subprocess, once healthy and once with 20% server errors, 5% dropped
connections and 2% hangs, and prints completed / duplicates / lost and the wall-time ratio.

    python bench/bench_faults.py [--cases 1000] [--concurrency 32] [--timeout 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from r1v4.batch.runner import run_batch  # noqa: E402
from r1v4.batch.settings import (  # noqa: E402
    AgentSettings,
    EndpointSettings,
    OutputSettings,
    RunSettings,
)


def start_sim(args: list[str]) -> tuple[subprocess.Popen, str]:
    """The simulator in its own process, so its CPU and event loop are separate."""
    cmd = [sys.executable, "-m", "r1v4.sim", "--port", "0", *args]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"simulator did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[-1].strip()


def run_once(label: str, sim_args: list[str], cases: Path, opts: argparse.Namespace) -> dict:
    import asyncio

    proc, url = start_sim(sim_args)
    out = cases.parent / f"{label}.jsonl"
    try:
        settings = RunSettings(
            input_path=cases,
            output=OutputSettings(out, progress=False),
            endpoint=EndpointSettings(
                [url], model="r1v4-sim", timeout_s=opts.timeout, max_retries=opts.max_retries
            ),
            agent=AgentSettings(tools="none", max_tokens=256),
            concurrency=opts.concurrency,
        )
        started = time.perf_counter()
        summary = asyncio.run(run_batch(settings))
        wall = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    ids = Counter(orjson.loads(line)["id"] for line in out.read_bytes().splitlines() if line)
    failed = sum(
        1
        for line in out.read_bytes().splitlines()
        if line and "error" in orjson.loads(line)["response"]
    )
    return {
        "label": label,
        "wall_s": wall,
        "completed": len(ids) - failed,
        "failed": failed,
        "duplicates": sum(n - 1 for n in ids.values() if n > 1),
        "lost": opts.cases - len(ids),
        "summary_failed": summary.failed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=2.0, help="per request; ends hangs")
    parser.add_argument("--max-retries", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.05)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="r1v4-bench-faults-") as tmp:
        cases = Path(tmp) / "cases.jsonl"
        cases.write_bytes(
            b"".join(
                orjson.dumps({"id": f"c{i:05d}", "question": f"question {i}"}) + b"\n"
                for i in range(opts.cases)
            )
        )
        base = ["--latency", str(opts.latency), "--seed", "1"]
        healthy = run_once("healthy", base, cases, opts)
        faulty = run_once(
            "faulty",
            base + ["--error-rate", "0.2", "--drop-rate", "0.05", "--hang-rate", "0.02"],
            cases,
            opts,
        )
    print(
        f"{opts.cases} cases, concurrency {opts.concurrency}, latency {opts.latency}s, "
        f"request timeout {opts.timeout}s, max retries {opts.max_retries}"
    )
    print(f"{'run':<8} {'completed':>9} {'failed':>6} {'duplicates':>10} {'lost':>5} {'wall s':>7}")
    for r in (healthy, faulty):
        print(
            f"{r['label']:<8} {r['completed']:>9} {r['failed']:>6} {r['duplicates']:>10} "
            f"{r['lost']:>5} {r['wall_s']:>7.2f}"
        )
    print(f"wall time with faults / without: {faulty['wall_s'] / healthy['wall_s']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
