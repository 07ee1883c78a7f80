"""The batch runner's cost as a client, against baselines measured in the same run.

Every figure comes from the same independent loopback endpoint (`bench/loopback.py`, raw
asyncio in a subprocess, so its CPU is not counted) answering a ~60-word reply, and every
measure is the median of `--repeat` (3) runs, the clients taking turns:

1. Client CPU per request, non-streaming and streaming (`time.process_time` of this process:
   its threads included, the endpoint and the sandbox excluded): the whole runner
   (`run_batch`: cases in, agent loop, records appended, in-flight snapshots, scoring, a
   progress bar) against a minimal aiohttp + orjson client (`bench/baselines.py`) and the
   official `openai.AsyncOpenAI` client doing the same requests. From it, the request rate
   one client core sustains.
2. Wall time at a fixed latency (`--latency`, 0.5 s) for each concurrency of `--wall-c`
   (100 and 500), N = `--waves` × C non-streaming requests: the endpoint's first request to
   its last response, against the ideal N × latency ÷ C (efficiency) and against the
   minimal client's.
3. `--big` cases (100,000) against a zero-latency endpoint: throughput over the first and
   the last 10% of cases, resident memory along the way, and the time a rerun takes to
   resume the finished output (read it, find every case done).

    python bench/bench_runner.py                      # ~4 minutes on 2 cores
    python bench/bench_runner.py --big 0              # skip the 100,000-case run
    python bench/bench_runner.py --big 0 --wall-c --modes stream   # streaming CPU only
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from baselines import minimal_client, openai_client  # noqa: E402

from r1v4.agent.prompts import SYSTEM_PROMPTS  # noqa: E402
from r1v4.batch.hooks import RunHooks  # noqa: E402
from r1v4.batch.runner import run_batch  # noqa: E402
from r1v4.batch.settings import (  # noqa: E402
    AgentSettings,
    EndpointSettings,
    OutputSettings,
    RunSettings,
)
from r1v4.cli.terminal import terminal_hooks  # noqa: E402
from r1v4.protocol.tags import AGENT_STOP  # noqa: E402

QUESTION = "What colour is the small square in the corner?"
MODEL = "loopback"


# ------------------------------------------------------------------------------- the endpoint
class Endpoint:
    """`bench/loopback.py` in its own process on a free loopback port."""

    def __init__(self, latency: float, tokens_per_s: float) -> None:
        cmd = [sys.executable, str(ROOT / "bench" / "loopback.py"), "--latency", str(latency)]
        cmd += ["--tokens-per-s", str(tokens_per_s)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if "listening on" not in line:
            self.proc.kill()
            raise SystemExit(f"loopback endpoint did not start: {line!r}")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        self.base = line.strip().rsplit(" ", 1)[-1]
        self.root = self.base.removesuffix("/v1")

    def _call(self, method: str, path: str) -> dict:
        req = urllib.request.Request(
            self.root + path, method=method, data=b"" if method == "POST" else None
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return orjson.loads(resp.read())

    def reset(self) -> None:
        self._call("POST", "/reset")

    def span(self) -> tuple[float, int]:
        """Seconds from the first request to the last response since the reset, and requests."""
        s = self._call("GET", "/stats")
        if s["first_request"] is None or s["last_response"] is None:
            return float("nan"), s["requests"]
        return s["last_response"] - s["first_request"], s["requests"]

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# ------------------------------------------------------------------------------- measurements
@dataclass
class Run:
    client: str
    n: int
    cpu_s: float
    wall_s: float  # the client's own, start of requests to the last result
    span_s: float = float("nan")  # the endpoint's: first request to last response
    times: list[float] = field(default_factory=list)  # per case done (runner only)
    rss_mb: list[float] = field(default_factory=list)  # sampled every 10% (runner only)

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu_s / self.n


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1000


class Progress:
    """The runner's progress display (the terminal's bar, on /dev/null) with a stopwatch:
    CPU and wall from the first case started to the last one done."""

    def __init__(self, total: int, label: str, sample_every: int = 0) -> None:
        self.bar = terminal_hooks().progress(total, label)  # type: ignore[misc]
        self.sample_every = sample_every
        self.times: list[float] = []
        self.rss: list[float] = []
        self.done = 0
        self.cpu0, self.t0 = time.process_time(), time.perf_counter()
        self.cpu1 = self.t1 = 0.0

    def update(self, succeeded: int, failed: int) -> None:
        self.bar.update(succeeded, failed)
        self.done += 1
        if self.sample_every:
            self.times.append(time.perf_counter())
            if self.done % self.sample_every == 0:
                self.rss.append(rss_mb())

    def close(self) -> None:
        self.cpu1, self.t1 = time.process_time(), time.perf_counter()
        self.bar.close()


def write_cases(path: Path, n: int) -> None:
    with open(path, "wb") as fh:
        for i in range(n):
            case = {"id": f"c{i:06d}", "question": QUESTION, "answer": "red"}
            fh.write(orjson.dumps(case) + b"\n")


def runner_settings(url: str, cases: Path, out: Path, stream: bool, conc: int, tools: str):
    return RunSettings(
        input_path=cases,
        output=OutputSettings(out, overwrite=True),
        endpoint=EndpointSettings([url], api_key="sk-bench", model=MODEL, max_retries=0),
        agent=AgentSettings(stream=stream, tools=tools),  # type: ignore[arg-type]
        concurrency=conc,
    )


def run_runner(settings: RunSettings, sample_every: int = 0) -> Run:
    holder: list[Progress] = []

    def progress(total: int, label: str) -> Progress:
        holder.append(Progress(total, label, sample_every))
        return holder[-1]

    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
        summary = asyncio.run(run_batch(settings, hooks=RunHooks(progress=progress)))
    if summary.failed or not holder:
        raise SystemExit(f"runner: {summary.failed} cases failed ({dict(summary.errors)})")
    p = holder[0]
    return Run("runner", summary.done, p.cpu1 - p.cpu0, p.t1 - p.t0, times=p.times, rss_mb=p.rss)


def run_baseline(fn, name: str, url: str, n: int, conc: int, stream: bool, out: Path) -> Run:
    out.unlink(missing_ok=True)
    cpu0 = time.process_time()
    wall = asyncio.run(fn(url + "/chat/completions", request_body(), n, conc, stream, out))
    return Run(name, n, time.process_time() - cpu0, wall)


def request_body() -> dict:
    """What the runner's first (and, for this reply, only) request of a case carries."""
    messages = [
        {"role": "system", "content": SYSTEM_PROMPTS["general"]},
        {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
    ]
    return {"model": MODEL, "messages": messages, "stop": list(AGENT_STOP), "max_tokens": 8192}


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.cpu_ms)[len(runs) // 2]


# ------------------------------------------------------------------------------- the three parts
def cpu_part(opts: argparse.Namespace, tmp: Path) -> dict[str, dict[str, Run]]:
    ep = Endpoint(opts.cpu_latency, opts.tokens_per_s)
    cases = tmp / "cpu.jsonl"
    write_cases(cases, opts.n)
    results: dict[str, dict[str, Run]] = {}
    warm = tmp / "warm.jsonl"
    write_cases(warm, min(opts.n, 2 * opts.c))
    try:
        for stream in [m == "stream" for m in opts.modes]:  # warm-up, untimed: imports, pools
            run_runner(
                runner_settings(ep.base, warm, tmp / "out.jsonl", stream, opts.c, opts.tools)
            )
            for fn in (minimal_client, openai_client):
                run_baseline(fn, "warm-up", ep.base, opts.c, opts.c, stream, tmp / "w.jsonl")
        for mode in opts.modes:
            stream = mode == "stream"
            runs: dict[str, list[Run]] = {"runner": [], "minimal": [], "openai": []}
            for _ in range(opts.repeat):
                s = runner_settings(ep.base, cases, tmp / "out.jsonl", stream, opts.c, opts.tools)
                runs["runner"].append(run_runner(s))
                runs["minimal"].append(
                    run_baseline(
                        minimal_client, "minimal", ep.base, opts.n, opts.c, stream, tmp / "m.jsonl"
                    )
                )
                n_openai = max(1, opts.n // opts.openai_share)
                runs["openai"].append(
                    run_baseline(
                        openai_client, "openai", ep.base, n_openai, opts.c, stream, tmp / "o.jsonl"
                    )
                )
            results[mode] = {k: median_run(v) for k, v in runs.items()}
    finally:
        ep.close()
    return results


def wall_part(opts: argparse.Namespace, tmp: Path) -> dict[int, dict[str, Run]]:
    ep = Endpoint(opts.latency, 0)
    results: dict[int, dict[str, Run]] = {}
    try:
        for conc in opts.wall_c:
            n = opts.waves * conc
            cases = tmp / f"wall{conc}.jsonl"
            write_cases(cases, n)
            runs: dict[str, list[Run]] = {"runner": [], "minimal": []}
            for _ in range(opts.repeat):
                ep.reset()
                s = runner_settings(ep.base, cases, tmp / "out.jsonl", False, conc, opts.tools)
                run = run_runner(s)
                run.span_s = ep.span()[0]
                runs["runner"].append(run)
                ep.reset()
                run = run_baseline(
                    minimal_client, "minimal", ep.base, n, conc, False, tmp / "m.jsonl"
                )
                run.span_s = ep.span()[0]
                runs["minimal"].append(run)
            results[conc] = {
                k: sorted(v, key=lambda r: r.span_s)[len(v) // 2] for k, v in runs.items()
            }
    finally:
        ep.close()
    return results


def big_part(opts: argparse.Namespace, tmp: Path) -> tuple[Run, float, float]:
    ep = Endpoint(0.0, 0)
    cases = tmp / "big.jsonl"
    write_cases(cases, opts.big)
    out = tmp / "big-out.jsonl"
    try:
        s = runner_settings(ep.base, cases, out, False, opts.big_c, opts.tools)
        run = run_runner(s, sample_every=max(1, opts.big // 10))
        s.output.overwrite = False
        t0 = time.perf_counter()
        with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
            summary = asyncio.run(run_batch(s))
        resume_s = time.perf_counter() - t0
        if summary.skipped != opts.big or summary.done:
            raise SystemExit(f"resume: {summary.skipped} skipped, {summary.done} done")
    finally:
        ep.close()
    return run, resume_s, peak_rss_mb()


# ------------------------------------------------------------------------------- report
def report_cpu(results: dict[str, dict[str, Run]], opts: argparse.Namespace) -> None:
    n_openai = max(1, opts.n // opts.openai_share)
    print(f"\n1. client CPU per request (N={opts.n}, openai N={n_openai}, "
          f"C={opts.c}, latency {opts.cpu_latency}s, stream at {opts.tokens_per_s:g} tokens/s; "
          f"median of {opts.repeat})")  # fmt: skip
    print(f"   {'mode':<10} {'client':<8} {'CPU ms/req':>10} {'req/s per core':>15}")
    for mode, runs in results.items():
        for name in ("runner", "minimal", "openai"):
            r = runs[name]
            print(f"   {mode:<10} {name:<8} {r.cpu_ms:10.3f} {1000 / r.cpu_ms:15.0f}")
    targets = {"nonstream": (0.25, 1.5), "stream": (0.1, 1.2)}
    for mode, runs in results.items():
        ours = runs["runner"].cpu_ms
        vs_openai, vs_min = ours / runs["openai"].cpu_ms, ours / runs["minimal"].cpu_ms
        t_openai, t_min = targets[mode]
        print(f"   {mode}: runner / AsyncOpenAI = {vs_openai:.2f} (target <= {t_openai}: "
              f"{met(vs_openai <= t_openai)}); runner / minimal = {vs_min:.2f} "
              f"(target <= {t_min}: {met(vs_min <= t_min)})")  # fmt: skip


def report_wall(results: dict[int, dict[str, Run]], opts: argparse.Namespace) -> None:
    print(f"\n2. wall time at {opts.latency}s latency, N = {opts.waves} x C, non-streaming "
          f"(endpoint's first request to last response; median of {opts.repeat})")  # fmt: skip
    print(f"   {'C':>4} {'N':>6} {'client':<8} {'span s':>7} {'ideal s':>7} {'efficiency':>10}")
    for conc, runs in results.items():
        ideal = opts.waves * opts.latency
        for name, r in runs.items():
            print(f"   {conc:>4} {r.n:>6} {name:<8} {r.span_s:7.2f} {ideal:7.2f} "
                  f"{ideal / r.span_s:10.3f}")  # fmt: skip
        ratio = runs["runner"].span_s / runs["minimal"].span_s
        eff = ideal / runs["runner"].span_s
        print(f"   C={conc}: runner / minimal wall = {ratio:.3f} (target <= 1.05: "
              f"{'met' if ratio <= 1.05 else 'NOT met'}); runner efficiency {eff:.3f} "
              f"(target >= 0.95: {'met' if eff >= 0.95 else 'NOT met'})")  # fmt: skip


def report_big(run: Run, resume_s: float, peak: float, opts: argparse.Namespace) -> None:
    times = run.times
    tenth = max(1, len(times) // 10)
    first = tenth / max(1e-9, times[tenth - 1] - times[0])
    last = tenth / max(1e-9, times[-1] - times[-tenth])
    print(f"\n3. {run.n} cases, zero latency, C={opts.big_c}, non-streaming, one process")
    print(f"   throughput: first {tenth} cases {first:.0f} cases/s, last {tenth} "
          f"{last:.0f} cases/s (last / first = {last / first:.2f}); overall "
          f"{run.n / run.wall_s:.0f} cases/s, CPU {run.cpu_ms:.3f} ms/case")  # fmt: skip
    samples = ", ".join(f"{m:.0f}" for m in run.rss_mb)
    print(f"   resident MB after each 10%: {samples}; peak RSS of this process {peak:.0f} MB")
    if run.rss_mb:
        print(f"   growth from 10% to 100%: {run.rss_mb[-1] - run.rss_mb[0]:+.1f} MB")
    print(f"   resume of the {run.n}-line output (all done): {resume_s:.2f}s "
          f"(target < 2 s: {'met' if resume_s < 2 else 'NOT met'})")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=1200, help="requests per CPU run (1200)")
    p.add_argument("--c", type=int, default=100, help="concurrency of the CPU runs (100)")
    p.add_argument("--cpu-latency", type=float, default=0.05, help="latency of the CPU runs")
    p.add_argument("--tokens-per-s", type=float, default=100, help="SSE pacing per stream")
    p.add_argument(
        "--modes",
        nargs="+",
        default=["nonstream", "stream"],
        choices=("nonstream", "stream"),
        help="CPU runs to make (nonstream stream)",
    )
    p.add_argument("--openai-share", type=int, default=4, help="AsyncOpenAI runs N / this")
    p.add_argument("--latency", type=float, default=0.5, help="latency of the wall runs (0.5)")
    p.add_argument("--wall-c", type=int, nargs="*", default=[100, 500], help="(100 500)")
    p.add_argument("--waves", type=int, default=12, help="wall runs: N = waves x C (12)")
    p.add_argument("--big", type=int, default=100_000, help="the long run's cases (0: skip)")
    p.add_argument("--big-c", type=int, default=64, help="the long run's concurrency (64)")
    p.add_argument("--repeat", type=int, default=3, help="runs per measure; median kept (3)")
    p.add_argument("--tools", default="client", choices=("client", "none"))
    opts = p.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; "
          f"python {sys.version.split()[0]}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="r1v4-bench-runner-") as name:
        tmp = Path(name)
        if opts.n:
            report_cpu(cpu_part(opts, tmp), opts)
        if opts.wall_c:
            report_wall(wall_part(opts, tmp), opts)
        if opts.big:
            report_big(*big_part(opts, tmp), opts)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
