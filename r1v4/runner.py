"""Batch orchestration: cases in, records out, concurrently, resumable, with a summary.

Each finished case is appended at once, so Ctrl-C (or a crash) loses at most the cases in
flight; the same command run again picks up where this one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from r1v4.agent import AgentDeps, FatalEndpointError, run_case
from r1v4.assets import AssetStore
from r1v4.cases import Case, CaseError, load_cases, select_shard
from r1v4.client import ChatClient, EndpointError, EndpointSettings
from r1v4.concurrency import AdaptiveLimiter, FixedLimiter
from r1v4.config import RunSettings
from r1v4.inflight import CaseSnapshot, clear_dead_snapshots, inflight_dir_for
from r1v4.results import ResultWriter, is_failed
from r1v4.tools import ToolRegistry

log = logging.getLogger(__name__)


@dataclass
class Summary:
    """What a run did, for the closing report and for tests."""

    total: int = 0
    skipped: int = 0
    succeeded: int = 0
    failed: int = 0
    bad_lines: list[CaseError] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    output_tokens: int = 0
    wall_s: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    replicas: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # slim: id, score, plan
    stopped: str = ""  # why the run stopped early, if it did
    interrupted: bool = False
    set_aside: int = 0

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return 2
        if self.interrupted:
            return 130
        return 0


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def build_tools(settings: RunSettings) -> ToolRegistry | None:
    """The registry for `--tools client`: the code sandbox, plus search tools if configured."""
    if settings.tools != "client" or settings.planner:
        return None
    from r1v4.tools.code import CodeSettings, make_code_tool, sandbox_status

    print(f"code sandbox: {sandbox_status(settings.sandbox)}", file=sys.stderr)
    specs = [
        make_code_tool(
            CodeSettings(
                timeout_s=settings.code_timeout_s,
                memory_mb=settings.code_memory_mb,
                session=settings.code_session,
                use_bwrap=settings.sandbox,
            )
        )
    ]
    if settings.search_backend:
        from r1v4.tools.search import SearchSettings, check_search_settings, make_search_tools

        search = SearchSettings(
            backend=settings.search_backend,
            index_path=settings.search_index,
            corpus_dir=settings.corpus_dir,
            searxng_url=settings.searxng_url,
            allow_private_urls=settings.allow_private_urls,
            cache_path=settings.tool_cache,
        )
        for warning in check_search_settings(search):
            print(f"warning: {warning}", file=sys.stderr)
        specs += make_search_tools(search)
    return ToolRegistry(specs)


def _judge_settings(settings: RunSettings) -> Any:
    """The LLM judge, when one is configured; its verdicts are cached beside the output."""
    if not settings.judge_base_url:
        return None
    from r1v4.judge import JudgeSettings

    return JudgeSettings(
        base_url=settings.judge_base_url,
        model=settings.judge_model or settings.model,
        api_key=settings.judge_api_key,
        cache_path=settings.judge_cache or Path(f"{settings.output_path}.judgecache.sqlite"),
    )


async def _score(record: dict[str, Any], case: Case, scorer: str, judge: Any) -> None:
    """Write `score` into a finished record when its case carries ground truth."""
    if case.answer is None or is_failed(record):
        return
    from r1v4.scoring import score_answer

    try:
        record["score"] = await score_answer(
            record["response"].get("full_response", ""),
            case.answer,
            case.options,
            scorer=scorer,
            judge=judge,
            question=case.question,
        )
    except Exception as exc:  # a scorer failure must not lose the case
        record["score"] = {"value": None, "correct": None, "error": f"{type(exc).__name__}: {exc}"}


class BatchRun:
    """One batch: owns the writer, the client, the tools and the progress bar."""

    def __init__(self, settings: RunSettings, cases: list[Case], summary: Summary) -> None:
        self.s = settings
        self.cases = cases
        self.summary = summary
        self.stop = asyncio.Event()
        self.inflight = inflight_dir_for(settings.output_path) if settings.inflight else None
        if self.inflight is not None:
            clear_dead_snapshots(self.inflight)

    def _limiter(self) -> Any:
        if self.s.adaptive:
            return AdaptiveLimiter(max_concurrency=self.s.max_concurrency)
        return FixedLimiter(self.s.concurrency)

    async def run(self, writer: ResultWriter) -> None:
        s = self.s
        limiter = self._limiter()
        endpoint = EndpointSettings(
            base_urls=s.base_urls,
            api_key=s.api_key,
            model=s.planner_model or s.model if s.planner else s.model,
            timeout_s=s.timeout_s,
            max_retries=s.max_retries,
        )
        judge_settings = _judge_settings(s)
        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(ChatClient(endpoint, limiter=limiter))
            judge = None
            if judge_settings is not None:
                from r1v4.judge import Judge

                judge = await stack.enter_async_context(Judge(judge_settings))
            try:
                warnings = await client.check()
            except EndpointError as exc:
                self.summary.stopped = exc.message
                return
            for warning in warnings or []:
                print(f"warning: {warning}", file=sys.stderr)
            tools = build_tools(s)
            if tools is not None:
                stack.push_async_callback(tools.aclose)
                from r1v4.tools.selftest import check_sandbox

                await check_sandbox(tools)  # raises SandboxSelfTestFailed before any case
            planner_client = None
            if s.plan_first and s.planner_model:
                planner_client = _ModelOverride(client, s.planner_model)
            deps = AgentDeps(
                client=client,
                settings=s,
                assets=AssetStore(s.output_path, embed=s.embed_images),
                tools=tools,
                planner_client=planner_client,  # type: ignore[arg-type]
            )
            try:
                await self._run_all(deps, writer, limiter, judge)
            finally:
                self.summary.replicas = client.replica_stats()

    async def _run_all(
        self, deps: AgentDeps, writer: ResultWriter, limiter: Any, judge: Any
    ) -> None:
        queue = iter(self.cases)
        bar = tqdm(
            total=len(self.cases),
            desc=f"r1v4 {self.s.mode}",
            unit="case",
            disable=not self.s.progress,
            file=sys.stderr,
            dynamic_ncols=True,
        )

        async def worker() -> None:
            for case in queue:
                if self.stop.is_set():
                    return
                snapshot = CaseSnapshot(self.inflight, case, self.s.mode)
                try:
                    async with limiter:
                        if self.stop.is_set():
                            return
                        try:
                            record = await run_case(case, deps, snapshot)
                        except FatalEndpointError as exc:
                            self.summary.stopped = str(exc)
                            self.stop.set()
                            return
                    if not self.s.planner:  # a plan is not an answer to score
                        await _score(record, case, self.s.scorer, judge)
                    writer.append(record)
                finally:
                    snapshot.close()  # after the append: the case is never invisible
                self._count(record)
                bar.update(1)
                bar.set_postfix(ok=self.summary.succeeded, failed=self.summary.failed)

        workers = max(1, self.s.max_concurrency if self.s.adaptive else self.s.concurrency)
        try:
            # A task group, not gather: if one worker hits a real bug (say, a full disk), its
            # siblings are cancelled before the writer closes instead of writing to it after.
            async with asyncio.TaskGroup() as group:
                for _ in range(min(workers, len(self.cases) or 1)):
                    group.create_task(worker())
        finally:
            bar.close()

    def _count(self, record: dict[str, Any]) -> None:
        summary = self.summary
        # Only what the summary needs; full records stay on disk.
        summary.records.append(
            {k: record[k] for k in ("id", "score", "plan", "plan_errors") if k in record}
        )
        meta = record.get("meta") or {}
        if is_failed(record):
            summary.failed += 1
            summary.errors[str(record["response"].get("error", ""))[:160]] += 1
            return
        summary.succeeded += 1
        if meta.get("latency_s") is not None:
            summary.latencies.append(meta["latency_s"])
        if meta.get("ttft_s") is not None:
            summary.ttfts.append(meta["ttft_s"])
        summary.output_tokens += int((meta.get("usage") or {}).get("completion_tokens") or 0)


class _ModelOverride:
    """The same client, asking for another model (the planner in --plan-first)."""

    def __init__(self, client: ChatClient, model: str) -> None:
        self._client = client
        self._model = model

    async def complete(self, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        extra = dict(kwargs.pop("extra_body", None) or {})
        extra["model"] = self._model
        return await self._client.complete(messages, extra_body=extra, **kwargs)


async def run_batch(settings: RunSettings, summary: Summary | None = None) -> Summary:
    """Run every case of the input not already done in the output.

    Pass `summary` to keep the figures when the run is interrupted (asyncio.run re-raises
    KeyboardInterrupt after this coroutine has cleaned up)."""
    summary = summary if summary is not None else Summary()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is not None:
        try:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or no signals here
    started = time.perf_counter()
    from r1v4.tools.leftovers import clear_dead_leftovers

    await asyncio.to_thread(clear_dead_leftovers)  # what killed runs left in the temp folder
    cases, summary.bad_lines = load_cases(settings.input_path)
    cases = select_shard(cases, settings.shard)
    summary.total = len(cases)
    writer = ResultWriter(settings.output_path, overwrite=settings.overwrite)
    state = writer.open()
    try:
        summary.set_aside = state.set_aside
        todo = [
            c
            for c in cases
            if c.id not in state.done and (settings.retry_errors or c.id not in state.failed)
        ]
        summary.skipped = len(cases) - len(todo)
        if todo:
            await BatchRun(settings, todo, summary).run(writer)
    except asyncio.CancelledError:
        summary.interrupted = True
    finally:
        writer.close()
        summary.wall_s = time.perf_counter() - started
    return summary


def format_summary(summary: Summary, settings: RunSettings) -> str:
    """The closing report: counts, latency percentiles, throughput, replicas, errors."""
    lines = [f"results: {settings.output_path}"]
    lines.append(
        f"cases: {summary.total}  succeeded: {summary.succeeded}  failed: {summary.failed}"
        f"  skipped (already done): {summary.skipped}"
    )
    if summary.bad_lines:
        lines.append(f"bad input lines: {len(summary.bad_lines)}")
        lines += [f"  {err}" for err in summary.bad_lines[:20]]
    if summary.set_aside:
        lines.append(
            f"set aside {summary.set_aside} broken line(s) from an interrupted run into "
            f"{settings.output_path}.corrupt"
        )

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}s"

    if summary.latencies:
        line = (
            f"latency p50 {fmt(_percentile(summary.latencies, 50))}"
            f"  p95 {fmt(_percentile(summary.latencies, 95))}"
        )
        if summary.ttfts:  # only streaming can see the first token arrive
            line += (
                f"   ttft p50 {fmt(_percentile(summary.ttfts, 50))}"
                f"  p95 {fmt(_percentile(summary.ttfts, 95))}"
            )
        lines.append(line)
    if summary.wall_s > 0 and summary.output_tokens:
        lines.append(
            f"output tokens: {summary.output_tokens}"
            f"  ({summary.output_tokens / summary.wall_s:.1f} tok/s over {summary.wall_s:.1f}s)"
        )
    scored = [
        r["score"] for r in summary.records if (r.get("score") or {}).get("correct") is not None
    ]
    if scored:
        right = sum(1 for s in scored if s["correct"])
        lines.append(f"accuracy: {right}/{len(scored)} = {right / len(scored):.1%}")
    if settings.planner or settings.plan_first:
        from r1v4.planner import summarize_plans

        plans = summarize_plans(summary.records)
        lines.append(
            f"plans: {plans['valid_plans']} valid, {plans['invalid_plans']} invalid,"
            f" mean steps {plans['mean_steps']:.1f}, tools {dict(plans['tool_mix'])}"
        )
    if len(summary.replicas) > 1 or any(r.get("failures") for r in summary.replicas):
        for rep in summary.replicas:
            lines.append(
                f"replica {rep['base_url']}: {rep['requests']} requests, {rep['failures']} failures"
            )
    for message, count in summary.errors.most_common(5):
        lines.append(f"error x{count}: {message}")
    if summary.stopped:
        lines.append(f"stopped: {summary.stopped}")
    if summary.interrupted or summary.stopped or summary.failed:
        if settings.resume_command:
            lines.append(f"to resume: {settings.resume_command}")
            if summary.failed:
                lines.append(f"to rerun failed cases: {settings.resume_command} --retry-errors")
    return "\n".join(lines)
