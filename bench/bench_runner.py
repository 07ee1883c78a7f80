"""Benchmark the chat client against the simulator (run in a subprocess).

(a) Wall time of N requests at concurrency C through ``ChatClient`` against the ideal
    N × latency ÷ C of a server with a fixed latency.
(b) Client CPU seconds per request (``time.process_time`` of this process only: the simulator
    runs in a subprocess so its CPU is not counted) for ``ChatClient`` and for the official
    ``openai.AsyncOpenAI`` client doing the same requests at the same concurrency, in the same
    run, printed as a ratio.

Both streaming and non-streaming. Default run (N=400, C=32, latency 0.2 s) takes well under a
minute on 2 cores; ``--n`` / ``--concurrency`` / ``--latency`` / ``--rounds`` make it bigger.

    python bench/bench_runner.py [--n 400] [--concurrency 32] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from r1v4.endpoint.client import ChatClient, EndpointSettings  # noqa: E402
from r1v4.endpoint.concurrency import FixedLimiter  # noqa: E402

MESSAGES = [{"role": "user", "content": "What colour is the small square in the corner?"}]


@dataclass
class Run:
    name: str
    mode: str
    n: int
    wall_s: float
    cpu_s: float
    latencies: list[float] = field(default_factory=list)
    chars: int = 0
    failures: int = 0

    @property
    def cpu_ms_per_req(self) -> float:
        return 1000.0 * self.cpu_s / self.n


def start_sim(latency: float) -> tuple[subprocess.Popen, str]:
    """The simulator in its own process on a free loopback port; returns (process, base URL)."""
    cmd = [sys.executable, "-m", "r1v4.sim", "--port", "0", "--latency", str(latency)]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"simulator did not start: {line!r}")
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
    url = line.strip().rsplit(" ", 1)[-1]
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise SystemExit(f"refusing non-loopback simulator URL {url!r}")
    return proc, url


async def timed(
    name: str, mode: str, n: int, conc: int, one: Callable[[], Awaitable[tuple[float, int]]]
) -> Run:
    sem = asyncio.Semaphore(conc)
    run = Run(name, mode, n, 0.0, 0.0)

    async def job() -> None:
        async with sem:
            try:
                lat, chars = await one()
            except Exception:  # counted, and shown: a benchmark must not hide failures
                run.failures += 1
                return
            run.latencies.append(lat)
            run.chars += chars

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(job() for _ in range(n)))
    run.wall_s = time.perf_counter() - t0
    run.cpu_s = time.process_time() - cpu0
    return run


async def bench_ours(url: str, mode: str, n: int, conc: int, warm: int) -> Run:
    stream = mode == "stream"
    limiter = FixedLimiter(conc)
    settings = EndpointSettings([url], api_key="sk-bench", model="r1v4-sim", max_retries=0)
    async with ChatClient(settings, limiter=limiter) as client:

        async def one() -> tuple[float, int]:
            async with limiter:
                t = time.perf_counter()
                done = await client.complete(MESSAGES, stream=stream)
                return time.perf_counter() - t, len(done.text)

        await timed("warmup", mode, warm, conc, one)
        return await timed("ChatClient", mode, n, conc, one)


async def bench_openai(url: str, mode: str, n: int, conc: int, warm: int) -> Run:
    from openai import AsyncOpenAI

    stream = mode == "stream"
    async with AsyncOpenAI(base_url=url, api_key="sk-bench", max_retries=0) as client:

        async def one() -> tuple[float, int]:
            t = time.perf_counter()
            if stream:
                out = []
                resp = await client.chat.completions.create(
                    model="r1v4-sim",
                    messages=MESSAGES,  # type: ignore[arg-type]
                    stream=True,
                    stream_options={"include_usage": True},
                )
                async for ch in resp:
                    if ch.choices and ch.choices[0].delta.content:
                        out.append(ch.choices[0].delta.content)
                text = "".join(out)
            else:
                r = await client.chat.completions.create(
                    model="r1v4-sim",
                    messages=MESSAGES,  # type: ignore[arg-type]
                )
                text = r.choices[0].message.content or ""
            return time.perf_counter() - t, len(text)

        await timed("warmup", mode, warm, conc, one)
        return await timed("openai.AsyncOpenAI", mode, n, conc, one)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=400, help="requests per run (default 400)")
    p.add_argument("--concurrency", type=int, default=32, help="in flight (default 32)")
    p.add_argument("--latency", type=float, default=0.2, help="simulator latency, s (0.2)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds; best kept (2)")
    p.add_argument("--warmup", type=int, default=32, help="warm-up requests per run (32)")
    args = p.parse_args(argv)

    proc, url = start_sim(args.latency)
    try:
        ideal = args.n * args.latency / args.concurrency
        print(f"simulator (subprocess) at {url}; latency {args.latency}s, N={args.n}, "
              f"C={args.concurrency}, ideal wall N*latency/C = {ideal:.2f}s")  # fmt: skip
        floor = -(-args.n // args.concurrency) * args.latency
        print(f"(with whole waves, ceil(N/C)*latency = {floor:.2f}s is the real floor)")
        print(f"{'mode':<10} {'client':<20} {'wall s':>7} {'/ideal':>7} {'p50 ms':>7} "
              f"{'p95 ms':>7} {'CPU ms/req':>10} {'fail':>4}")  # fmt: skip
        ratios = {}
        for mode in ("nonstream", "stream"):
            best: dict[str, Run] = {}
            for _ in range(args.rounds):
                for fn in (bench_ours, bench_openai):
                    run = asyncio.run(fn(url, mode, args.n, args.concurrency, args.warmup))
                    if run.name not in best or run.cpu_s < best[run.name].cpu_s:
                        best[run.name] = run
            for run in best.values():
                print(
                    f"{mode:<10} {run.name:<20} {run.wall_s:7.2f} {run.wall_s / ideal:7.2f} "
                    f"{1000 * pct(run.latencies, 0.5):7.1f} {1000 * pct(run.latencies, 0.95):7.1f}"
                    f" {run.cpu_ms_per_req:10.3f} {run.failures:4d}"
                )
            ours, theirs = best["ChatClient"], best["openai.AsyncOpenAI"]
            if ours.chars != theirs.chars:
                print(f"  note: text sizes differ ({ours.chars} vs {theirs.chars} chars)")
            ratios[mode] = (ours.wall_s / ideal, ours.cpu_s / theirs.cpu_s)
        print()
        for mode, (wall_ratio, cpu_ratio) in ratios.items():
            print(
                f"{mode}: ChatClient wall / ideal = {wall_ratio:.2f}; "
                f"CPU per request ChatClient / AsyncOpenAI = {cpu_ratio:.2f}"
            )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
