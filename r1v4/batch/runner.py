"""Batch orchestration: cases in, records out, concurrently, resumable, with a summary
(`r1v4.batch.summary`).

Each finished case is appended at once, so Ctrl-C (or a crash) loses at most the cases in
flight; the same command run again picks up where this one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from typing import Any

from r1v4._util.gcpause import gc_paused, gc_relaxed
from r1v4._util.images import set_decoder_pixel_limit
from r1v4.agent.deps import AgentDeps
from r1v4.agent.loop import run_case
from r1v4.batch.casechecks import known_dialects, known_styles
from r1v4.batch.hooks import RunHooks
from r1v4.batch.inflight import CaseSnapshot, SnapshotWriter, clear_dead_snapshots, inflight_dir_for
from r1v4.batch.landing import Landings, flag_into, score_into
from r1v4.batch.lock import ResultFileError
from r1v4.batch.results import ResultWriter
from r1v4.batch.settings import RunSettings
from r1v4.batch.summary import StopCause, Summary
from r1v4.endpoint.client import ChatClient, EndpointError
from r1v4.endpoint.concurrency import AdaptiveLimiter, FixedLimiter
from r1v4.parsing import ResponseParse
from r1v4.protocol.cases import Case, load_cases, select_shard
from r1v4.protocol.sidecars import AssetStore
from r1v4.tools import ToolRegistry

log = logging.getLogger(__name__)

#: A finished case on its way into the output: the case, its record, the scan of its
#: response, its in-flight snapshot.
_Finished = tuple[Case, dict[str, Any], ResponseParse, "CaseSnapshot | None"]


def build_tools(settings: RunSettings, notices: list[str]) -> ToolRegistry | None:
    """The registry for `--tools client`: the code sandbox, plus search tools if configured.
    What the user should know at start-up (sandbox status, search warnings) goes to
    `notices`."""
    agent = settings.agent
    if agent.tools != "client" or agent.planner:
        return None
    from r1v4.tools.code import make_code_tool, sandbox_status

    notices.append(f"code sandbox: {sandbox_status(settings.code.use_bwrap)}")
    specs = [make_code_tool(settings.code)]
    if settings.search is not None:
        from r1v4.tools.search import check_search_settings, make_search_tools

        notices += [
            w if w.startswith("note: ") else f"warning: {w}"
            for w in check_search_settings(settings.search)
        ]
        specs += make_search_tools(settings.search)
    elif agent.dialect == "r1v4" and agent.prompt in ("auto", "paper"):
        notices.append(
            "note: the r1v4 prompt (the paper's Table 1) offers image_search, text_search and "
            "web_visit; without --search-backend those calls get an 'unknown tool' observation"
        )
    return ToolRegistry(specs)


class BatchRun:
    """One batch: owns the writer, the client, the tools and the progress display."""

    def __init__(
        self, settings: RunSettings, cases: list[Case], summary: Summary, hooks: RunHooks
    ) -> None:
        self.s = settings
        self.cases = cases
        self.summary = summary
        self.hooks = hooks
        self.stop = asyncio.Event()
        self.flagging: Any = None
        self.flag_problems: list[str] = []
        out = settings.output
        self.inflight = inflight_dir_for(out.path) if out.inflight else None
        if self.inflight is not None:
            clear_dead_snapshots(self.inflight)
        self.snapshots: SnapshotWriter | None = None
        # Imported here, once per batch that runs cases, not in the per-case steps: an
        # import statement costs as much as scoring a short answer (issue 18).
        from r1v4.evals.flagging import flag_record
        from r1v4.evals.scoring import score_answer

        self._flag_record, self._score_answer = flag_record, score_answer

    def _limiter(self) -> Any:
        if self.s.adaptive:
            return AdaptiveLimiter(max_concurrency=self.s.max_concurrency)
        return FixedLimiter(self.s.workers)

    def _notify(self, lines: list[str]) -> None:
        """Keep start-up lines in the summary and hand them to the caller as they come."""
        self.summary.warnings += lines
        if self.hooks.notice is not None:
            for line in lines:
                self.hooks.notice(line)

    async def run(self, writer: ResultWriter) -> None:
        s = self.s
        limiter = self._limiter()
        endpoint = s.request_endpoint()
        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(ChatClient(endpoint, limiter=limiter))
            judge = None
            if s.judge is not None:
                from r1v4.evals.judge import Judge

                judge = await stack.enter_async_context(Judge(s.judge))
            self.flagging = await self._flagging(stack)
            try:
                warnings = await client.check()
            except EndpointError as exc:
                self.summary.stopped, self.summary.stopped_by = exc.message, "endpoint"
                return
            for url in client.simulators():
                self._notify(
                    [f"endpoint: {url} is a SIMULATED endpoint (X-Simulator), not a model"]
                )
            self._notify([f"warning: {w}" for w in warnings or []])
            notices: list[str] = []
            tools = build_tools(s, notices)
            self._notify(notices)
            if tools is not None:
                stack.push_async_callback(tools.aclose)
                from r1v4.batch.casechecks import code_requirements
                from r1v4.tools.selftest import check_sandbox

                needs = code_requirements(s.agent.dialect, self.cases)  # cv2 for Thyme…
                passed = await check_sandbox(tools, needs)  # raises: then no case ran
                if passed is not None:
                    self._notify([f"code sandbox self-test: ok, {passed.detail}"])
                    if passed.note:
                        self._notify([f"warning: code sandbox: {passed.note}"])
            if self.inflight is not None:
                self.snapshots = await stack.enter_async_context(
                    SnapshotWriter(self.inflight, s.mode)
                )
            try:
                await self._run_all(self._deps(client, tools), writer, limiter, judge)
            finally:
                self.summary.replicas = client.replica_stats()
                self.summary.flag_notes = self.flag_problems + self.flagging.notes[:10]

    async def _flagging(self, stack: contextlib.AsyncExitStack) -> Any:
        """What flagging each record needs: thresholds, the output's folder (its images),
        and the consistency judge when one is configured."""
        from r1v4.evals.flagging import FlagRun

        judge = None
        if self.s.consistency is not None:
            from r1v4.evals.consistency import ConsistencyJudge

            judge = await stack.enter_async_context(ConsistencyJudge(self.s.consistency))
        base = self.s.output.path.resolve().parent
        return FlagRun(settings=self.s.flags, base_dir=base, judge=judge)

    def _deps(self, client: ChatClient, tools: ToolRegistry | None) -> AgentDeps:
        s = self.s
        planner_client = None
        if s.agent.plan_first and s.agent.planner_model:
            planner_client = _ModelOverride(client, s.agent.planner_model)
        return AgentDeps(
            client=client,
            settings=s.agent,
            model=s.request_endpoint().model,
            assets=AssetStore(s.output.path, embed=s.output.embed_images),
            tools=tools,
            planner_client=planner_client,
            search_tools=s.search is not None,
            echo=self.hooks.echo,
            max_model_len=client.model_info.get("max_model_len"),
        )

    async def _run_all(
        self, deps: AgentDeps, writer: ResultWriter, limiter: Any, judge: Any
    ) -> None:
        queue = iter(self.cases)
        bar = None
        if self.s.output.progress and self.hooks.progress is not None:
            bar = self.hooks.progress(len(self.cases), f"r1v4 {self.s.mode}")

        workers = left = min(max(1, self.s.workers), len(self.cases) or 1)

        async def worker(landings: Landings[_Finished]) -> None:
            nonlocal left  # workers still running: the last one closes the landings
            waiting: asyncio.Task[None] | None = None  # its landing that may wait (a judge)
            try:
                for case in queue:
                    if self.stop.is_set():
                        return
                    parse = ResponseParse()  # one scan of the response: meta, score, flags…
                    snapshot = self.snapshots.case(case) if self.snapshots is not None else None
                    record = await self._run_one(case, deps, limiter, parse, snapshot)
                    if waiting is not None:
                        await waiting  # at most one per worker: judge calls stay bounded
                    if record is None:
                        if snapshot is not None:
                            snapshot.close()
                        return
                    # Scored, flagged and appended by the landing task once this worker's
                    # next request has gone out (`r1v4.batch.landing`).
                    waiting = landings.put((case, record, parse, snapshot))
            finally:
                left -= 1
                if not left:
                    landings.close()

        async def land(item: _Finished) -> None:
            case, record, parse, snapshot = item
            await self._land(case, record, writer, judge, parse, snapshot, bar)

        try:
            # A task group, not gather: if one worker hits a real bug (say, a full disk), its
            # siblings are cancelled before the writer closes instead of writing to it after.
            # The group also waits for every landing still running.
            async with asyncio.TaskGroup() as group:
                landings = Landings(group, land, self._landing_waits(judge))
                group.create_task(landings.run())
                for _ in range(workers):
                    group.create_task(worker(landings))
        finally:
            if bar is not None:
                bar.close()

    def _landing_waits(self, judge: Any) -> Callable[[_Finished], bool]:
        """Which landings may wait on something else and get a task of their own: every one
        when a judge answers (scoring or consistency), else those that read returned
        images in a worker thread."""
        if judge is not None or self.flagging.judge is not None:
            return lambda item: True
        if self.s.agent.planner:  # a plan is neither scored nor flagged
            return lambda item: False
        from r1v4.evals.flagging import reads_images

        return lambda item: reads_images(item[1], item[2])

    async def _run_one(
        self,
        case: Case,
        deps: AgentDeps,
        limiter: Any,
        parse: ResponseParse,
        snapshot: CaseSnapshot | None,
    ) -> dict[str, Any] | None:
        """Run one case (its record, unscored); None when the batch stops before it is done.
        `parse` receives the scan of its final response, for every reader of the record."""
        try:
            await limiter.acquire()  # `async with limiter`, spelled out: this runs per case
            try:
                if self.stop.is_set():
                    return None
                try:
                    return await run_case(case, deps, snapshot, parse)
                except EndpointError as exc:  # run_case lets only fatal ones out
                    if not exc.fatal:
                        raise
                    self._stop(exc.message, "endpoint")
                    return None
            finally:
                limiter.release()
        except BaseException:
            if snapshot is not None:
                snapshot.close()
            raise

    async def _land(
        self,
        case: Case,
        record: dict[str, Any],
        writer: ResultWriter,
        judge: Any,
        parse: ResponseParse,
        snapshot: CaseSnapshot | None,
        bar: Any,
    ) -> None:
        """Score, flag and append a finished case, then count it. A file that cannot be
        written stops the batch (the case is not counted: it is not in the file)."""
        try:
            if not self.s.agent.planner:  # a plan is not an answer to score (nor to flag)
                await score_into(record, case, self.s.scorer, judge, parse, self._score_answer)
                await flag_into(record, self.flagging, self.flag_problems, parse, self._flag_record)
            try:
                writer.append(record)
            except ResultFileError as exc:  # a full disk: stop, the file ends whole
                self._stop(str(exc), "output")
                return
            except OSError as exc:  # file system gone: stop, keep what is written
                where = exc.filename or self.s.output.path
                self._stop(f"cannot write results to {where}: {exc.strerror or exc}", "output")
                return
            if writer.detached:  # the output was deleted or replaced: stop, say where to
                self._stop(writer.detached, "output")
        finally:
            if snapshot is not None:
                snapshot.close()  # after the append: the case is never invisible
        self.summary.count(record, parse)
        if bar is not None:
            bar.update(self.summary.succeeded, self.summary.failed)

    def _stop(self, why: str, cause: StopCause) -> None:
        """Stop the batch: no new case starts; the first reason given is the one reported."""
        if not self.summary.stopped:
            self.summary.stopped, self.summary.stopped_by = why, cause
        self.stop.set()


class _ModelOverride:
    """The same client, asking for another model (the planner in --plan-first)."""

    def __init__(self, client: ChatClient, model: str) -> None:
        self._client = client
        self._model = model

    async def complete(self, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        extra = dict(kwargs.pop("extra_body", None) or {})
        extra["model"] = self._model
        return await self._client.complete(messages, extra_body=extra, **kwargs)


async def run_batch(
    settings: RunSettings, summary: Summary | None = None, hooks: RunHooks | None = None
) -> Summary:
    """Run every case of the input not already done in the output.

    Pass `summary` to keep the figures when the run is interrupted (asyncio.run re-raises
    KeyboardInterrupt after this coroutine has cleaned up), and `hooks` to see notices,
    `--live` lines and progress while it runs (nothing is printed here)."""
    summary = summary if summary is not None else Summary()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is not None:
        try:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or no signals here
    started = time.perf_counter()
    set_decoder_pixel_limit(settings.agent.max_input_pixels)
    from r1v4.tools.leftovers import clear_dead_leftovers

    await asyncio.to_thread(clear_dead_leftovers)  # what killed runs left in the temp folder
    with gc_paused():
        cases, summary.bad_lines = load_cases(settings.input_path)
    cases = known_styles(cases, summary.bad_lines)
    cases, unknown = known_dialects(cases)
    summary.bad_lines += unknown
    cases = select_shard(cases, settings.shard)
    summary.total = len(cases)
    out = settings.output
    writer = ResultWriter(out.path, overwrite=out.overwrite, keep=summary.figures)
    with gc_paused():
        state = writer.open()
    try:
        summary.set_aside = state.set_aside
        summary.set_earlier(state.kept, rerun_failed=out.retry_errors)
        state.kept = {}  # the figures are counted; only replaceable ones stay, in the summary
        todo = [
            c
            for c in cases
            if c.id not in state.done and (out.retry_errors or c.id not in state.failed)
        ]
        summary.skipped = len(cases) - len(todo)
        if todo:
            from r1v4.batch.runlog import record_run

            problem = record_run(settings)  # under the output's lock: one line per batch
            if problem:
                summary.warnings.append(problem)
            with gc_relaxed():
                await BatchRun(settings, todo, summary, hooks or RunHooks()).run(writer)
    except asyncio.CancelledError:
        summary.interrupted = True
    finally:
        writer.close()
        summary.wall_s = time.perf_counter() - started
    return summary
