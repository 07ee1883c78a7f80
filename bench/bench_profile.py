"""Where the runner's own time goes, with the network taken out.

Runs `run_batch` over N text cases with `ChatClient`'s HTTP stubbed: each attempt reads the
loopback endpoint's canned reply (`bench/loopback.py`) through the real readers (`read_json`,
or `read_stream` fed one SSE event per read, as tokens arrive), so everything but aiohttp is
measured: the agent loop, records, scoring, the writer, snapshots, the progress bar. Prints
the CPU per case and the ranked hot spots with their share of the run, by own time and by
time including callees, under cProfile (which inflates small calls; the shares are what to
read).

    python bench/bench_profile.py [--cases 2000] [--stream] [--top 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import loopback  # noqa: E402

from r1v4.batch.hooks import RunHooks  # noqa: E402
from r1v4.batch.runner import run_batch  # noqa: E402
from r1v4.batch.settings import (  # noqa: E402
    AgentSettings,
    EndpointSettings,
    OutputSettings,
    RunSettings,
)
from r1v4.cli.terminal import terminal_hooks  # noqa: E402
from r1v4.endpoint import read  # noqa: E402
from r1v4.endpoint.client import ChatClient  # noqa: E402
from r1v4.endpoint.folding import StreamFolder  # noqa: E402

JSON_BODY = loopback.json_body()


class _CannedStream:
    """What `read_stream` reads of an aiohttp response: one SSE event per `readany`."""

    def __init__(self) -> None:
        self._events = list(loopback.EVENTS)

    async def readany(self) -> bytes:
        await asyncio.sleep(0)  # a read is a trip through the event loop
        return self._events.pop(0) if self._events else b""

    def at_eof(self) -> bool:
        return not self._events

    async def read(self) -> bytes:
        return b""


class _CannedResponse:
    def __init__(self) -> None:
        self.content = _CannedStream()


_CHECKED: list[bytes] = []


async def _attempt_stub(self, base, payload, stream, request_id, emitter, on_delta, t0):
    """`ChatClient._attempt` with the network stubbed (MOCKED: the canned reply). The first
    few bodies are parsed, as the server would, to keep them honest; parsing every one
    would add ~38k instructions per case that a real run does not spend."""
    if len(_CHECKED) < 10:
        orjson.loads(payload)
        _CHECKED.append(payload)
    await asyncio.sleep(0)
    url = base + "/chat/completions"
    if not stream:
        return read.read_json(JSON_BODY, url, base, t0)
    folder = StreamFolder()
    redact = self.transport.redact_bytes
    return await read.read_stream(
        _CannedResponse(), url, base, folder, emitter, on_delta, t0, redact
    )


async def _check_stub(self) -> list[str]:
    return []


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--stream", action="store_true")
    p.add_argument("--tools", default="client", choices=("client", "none"))
    p.add_argument("--top", type=int, default=20)
    opts = p.parse_args()
    # MOCKED network: the one private hook a profile without sockets needs
    ChatClient._attempt = _attempt_stub  # type: ignore[method-assign]  # noqa: SLF001
    ChatClient.check = _check_stub  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="r1v4-bench-profile-") as name:
        tmp = Path(name)
        cases = tmp / "cases.jsonl"
        with open(cases, "wb") as fh:
            for i in range(opts.cases):
                case = {"id": f"c{i:06d}", "question": "What colour?", "answer": "red"}
                fh.write(orjson.dumps(case) + b"\n")
        settings = RunSettings(
            input_path=cases,
            output=OutputSettings(tmp / "out.jsonl", overwrite=True),
            endpoint=EndpointSettings(["http://127.0.0.1:9/v1"], model="loopback"),
            agent=AgentSettings(stream=opts.stream, tools=opts.tools),  # type: ignore[arg-type]
            concurrency=opts.concurrency,
        )
        hooks = RunHooks(progress=terminal_hooks().progress)
        profiler = cProfile.Profile()
        with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
            cpu0, t0 = time.process_time(), time.perf_counter()
            summary = asyncio.run(run_batch(settings, hooks=hooks))  # unprofiled: the CPU figure
            cpu = time.process_time() - cpu0
            wall = time.perf_counter() - t0
            profiler.enable()
            asyncio.run(run_batch(settings, hooks=hooks))
            profiler.disable()
    if summary.failed or summary.done != opts.cases:
        raise SystemExit(f"{summary.failed} failed of {summary.done}: {dict(summary.errors)}")
    mode = "stream" if opts.stream else "nonstream"
    per_case = 1e6 * cpu / opts.cases
    print(f"{opts.cases} cases, {mode}, tools {opts.tools}, HTTP stubbed: CPU "
          f"{per_case:.0f} us per case, wall {wall:.2f}s (whole run_batch)")  # fmt: skip
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = stats.stats  # type: ignore[attr-defined]
    for title, index in (("own time", 2), ("including callees", 3)):
        print(f"\nhot spots by {title} (share of the profiled run's {total:.2f}s):")
        ranked = sorted(rows.items(), key=lambda kv: kv[1][index], reverse=True)
        shown = 0
        for (file, line, func), row in ranked:
            if index == 3 and ("asyncio" in file or func in ("<module>", "run_batch")):
                continue  # the event loop and the entry point include everything
            where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if line else file
            print(f"  {100 * row[index] / total:5.1f}%  {row[1]:>7} calls  {func}  ({where})")
            shown += 1
            if shown >= opts.top:
                break
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
