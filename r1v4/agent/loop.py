"""The interleaved agent loop: generate -> tool call -> observation -> ... -> answer.

A raw vLLM or SGLang server only generates text, so the toolkit runs the loop, in the
case's dialect (`r1v4.agent.dialects`): the dialect writes the prompt and the request
fields (stop strings, `tools`), says which calls a finished turn holds and what runs them
(`r1v4.agent.calls`), and shapes the results the way its model expects them back. How a
turn ended, stops that fired inside a think included, is `r1v4.agent.reading`; fitting the
context window and the last "answer now" turn is `r1v4.agent.budget`. `full_response`
accumulates the whole trajectory in the text protocol of DESIGN.md (the model's text, then
`<observation>{json}</observation>` per result), so every later stage (parser, viewer,
scorer) sees one form whatever the dialect or serving mode.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from pathlib import Path
from typing import Any

from r1v4._util.images import ImageError
from r1v4._util.pixels import PixelRules
from r1v4.agent import prompts
from r1v4.agent.calls import CallRunner
from r1v4.agent.casefolder import CaseFolder
from r1v4.agent.deps import AgentDeps
from r1v4.agent.dialects.base import Call, Conversation, PromptInfo
from r1v4.agent.dialects.registry import DEFAULT_DIALECT, UnknownDialect
from r1v4.agent.exchange import Exchange, SnapshotSink, extend_assistant
from r1v4.agent.gallery import Gallery
from r1v4.agent.inputs import load_input_images
from r1v4.agent.live import LiveLog
from r1v4.agent.messages import (
    batch_messages,
    first_messages,
    plain_system_prompt,
    system_prompt,
    user_message,
)
from r1v4.agent.planning import plan_as_guidance, plan_followed
from r1v4.agent.trajectory import Trajectory, finish_record
from r1v4.agent.turns import observation_block, tool_calls_in
from r1v4.endpoint.client import EndpointError
from r1v4.parsing import ResponseParse
from r1v4.parsing.plan import parse_plan
from r1v4.protocol.cases import Case
from r1v4.protocol.records import base_record
from r1v4.tools import ToolContext

#: What the model reads after a turn that ended inside a call (then the dialect's hint).
INCOMPLETE_CALL = "the tool call is incomplete: the turn ended before its closing tag."


class CaseRun:
    """One case through the endpoint: builds messages, runs the loop, returns the record."""

    def __init__(
        self,
        case: Case,
        deps: AgentDeps,
        snapshot: SnapshotSink | None = None,
        parse: ResponseParse | None = None,
    ) -> None:
        self.case = case
        self.deps = deps
        self.snapshot = snapshot
        self.parse = parse or ResponseParse()
        self.s = deps.settings
        self.traj = Trajectory()
        self.folder = CaseFolder()  # made only when a file must go there
        self.input_files: list[Path] = []
        self.dialect_error: str | None = None
        try:
            self.plan = deps.plan(case.dialect or self.s.dialect)
        except UnknownDialect as exc:  # the runner checks cases first; this is the backstop
            self.dialect_error = f"line {case.line}: field 'dialect': {exc}"
            self.plan = deps.plan(DEFAULT_DIALECT)
        self.dialect = self.plan.dialect  # as the run's tools make it (`for_run`)
        self.gallery = Gallery()
        self.conv = Conversation(self.gallery, native_tools=self.plan.native_tools)
        s = self.s
        self.rules = (
            PixelRules(self.dialect.factor, s.min_pixels, s.max_pixels)
            if s.max_pixels is not None or s.min_pixels is not None
            else None
        )
        self.exchange = Exchange(
            case,
            self.s,
            self.dialect,
            self.conv,
            self.traj,
            deps.client,
            model=deps.model,
            max_model_len=deps.max_model_len,
            prompt_info=self._prompt_info,
            live=self._live,
            snapshot=snapshot,
            parse=self.parse,
            sampling=self.plan.sampling,
        )
        self.traj.meta["dialect"] = self.dialect.name
        if deps.max_model_len is not None:
            self.traj.meta["max_model_len"] = deps.max_model_len

    # -- inputs ------------------------------------------------------------------------------
    def _load_images(self) -> None:
        """Prepare every input image once (see `inputs.load_input_images`), in a worker
        thread: reading, checking and writing the files into the case's folder, which only
        the tools read (no tools: no folder)."""
        shape = self.dialect.shape_input
        workdir = self.folder.make() if self.deps.tools is not None else None
        for image in load_input_images(self.case, self.s, workdir, self.rules, shape):
            self.gallery.add(
                image.path.name,
                image.original.data,
                image.sent,
                output=False,
                note=image.note,
                path=image.path,
            )
            self.input_files.append(image.path)
            if image.note:
                self.traj.meta.setdefault("image_notes", []).append(
                    f"{image.path.name}: {image.note}"
                )

    def _prompt_info(self) -> PromptInfo:
        return self.plan.info

    def _system_prompt(self) -> str:
        if self.case.system is None:  # the run's prompt, worked out once per dialect
            return self.plan.system_prompt()
        return system_prompt(self.case, self.s, self.dialect, self.plan.info)

    def _messages(self, system: str) -> list[dict[str, Any]]:
        return first_messages(self.case, self.dialect, self.gallery, system)

    # -- generation --------------------------------------------------------------------------
    async def _agent_loop(self, system: str) -> None:
        d = self.dialect
        messages = self._messages(system)
        runner: CallRunner | None = None  # made at the first call (most cases make none)
        continuing = False  # the next turn goes on with the last assistant message
        try:
            for turn in range(self.exchange.sampling.max_rounds):
                self.conv.turn = turn
                try:
                    got = await self.exchange.turn(messages, turn, continuing=continuing)
                except EndpointError as exc:
                    if exc.kind != "context_length":
                        raise
                    await self.exchange.answer_now(messages, turn, exc)
                    return
                if got is None:
                    return
                end, t = got
                self.traj.full_response += end.text
                calls = d.calls(t, self.conv) if end.kind == "tool_call" else []
                if end.kind == "incomplete_call":  # never run a half-written call
                    calls = [Call("invalid", error=f"{INCOMPLETE_CALL} {d.incomplete_hint}")]
                replay = d.assistant_message(t, calls, self.conv)
                if t.context:  # the turn went on with the last assistant message
                    messages[-1] = extend_assistant(messages[-1], replay)
                else:
                    messages.append(replay)
                if end.kind == "answer" or (not calls and d.free_text_answer):
                    self.traj.stop_reason = "answer"
                    return
                if not calls:
                    self.traj.stop_reason = "no_tool_call"
                    return
                if d.max_images is not None and len(self.gallery.images) >= d.max_images:
                    reason = f"the dialect's budget of {d.max_images} images is used up"
                    await self.exchange.answer_now(messages, turn, None, reason)
                    return
                runner = runner or self._call_runner()
                continuing = await self._run_calls(calls, runner, messages)
            self.traj.stop_reason = "max_rounds"
        finally:
            # A trajectory whose calls never reached a tool left no state in any tool.
            if self.deps.tools is not None and runner is not None:
                await self.deps.tools.end_trajectory(runner.ctx)

    def _call_runner(self) -> CallRunner:
        """What runs this case's calls, with the context the tools see."""
        ctx = ToolContext(
            case_id=self.case.id,
            input_images=list(self.input_files),
            assets=self.deps.assets,
            code_profile=self.dialect.code,  # how this family's sandbox runs its code
        )
        return CallRunner(
            self.dialect, self.conv, self.deps.tools, ctx, self.deps.assets, self.folder, self.rules
        )

    async def _run_calls(
        self, calls: list[Call], runner: CallRunner, messages: list[dict[str, Any]]
    ) -> bool:
        """Run a turn's calls in order; record their observations; send them back. True when
        the next turn goes on with the assistant's message (a result inside it, a prefill)."""
        outcomes = []
        for call in calls:
            if call.error is None:
                counts = self.traj.tool_calls
                counts[call.name] = counts.get(call.name, 0) + 1
            stored = await runner.run(call)
            self.traj.assets += [r for r in stored.refs if not r.startswith("data:")]
            result = stored.outcome.result
            if (live := self._live()) is not None:
                live.note(f"observation {result.tool}: {len(stored.refs)} image(s); {result.text}")
            shown = stored.outcome.images
            self.traj.full_response += observation_block(
                result,
                stored.refs,
                for_record=True,
                names=[g.name for g in shown],
                notes=[g.note for g in shown],
            )
            outcomes.append(stored.outcome)
        self._snap()
        shaped = self.dialect.observation(outcomes, self.conv)
        if shaped and shaped[0].get("role") == "assistant":  # inside the assistant's message
            messages[-1] = extend_assistant(messages[-1], shaped[0])
            shaped = shaped[1:]
        messages += shaped
        self.conv.observations += len(outcomes)
        if self.dialect.prefill:  # the next turn starts with the family's own opening
            if messages[-1].get("role") == "assistant":
                messages[-1] = extend_assistant(messages[-1], {"content": self.dialect.prefill})
            else:
                messages.append({"role": "assistant", "content": self.dialect.prefill})
            self.traj.full_response += self.dialect.prefill
        return messages[-1].get("role") == "assistant"

    async def _plan(self) -> dict[str, Any]:
        """Ask the planner for a plan; return the record fields it yields."""
        client = self.deps.planner_client or self.deps.client
        messages = [
            {"role": "system", "content": prompts.PLANNER_SYSTEM_PROMPT},
            user_message(self.case, self.dialect, self.gallery)
            if self.case.messages is None
            else batch_messages(self.case)[-1],
        ]
        comp = await self.exchange.generate(messages, stop=None, client=client, turn=0)
        parsed = parse_plan(comp.text)
        return {"plan_response": comp.text, **parsed.to_record(), "_steps": parsed.steps}

    def _live(self) -> LiveLog | None:
        """A live view of this generation, when `--live` is on in a streaming mode."""
        s, echo = self.s, self.deps.echo
        return LiveLog(self.case.id, echo) if s.live and s.stream and echo else None

    def _snap(self) -> None:
        if self.snapshot is not None:
            self.snapshot.update(self.traj.full_response, len(self.traj.turns))

    # -- the whole case ------------------------------------------------------------------------
    def _finish(
        self, record: dict[str, Any], error: str | None, extra: dict[str, Any], latency: float
    ) -> dict[str, Any]:
        """The record, its final response scanned by `self.parse` (the runner's, reused)."""
        s, model = self.s, self.deps.model
        return finish_record(record, self.traj, s, model, error, extra, latency, self.parse)

    def release(self) -> None:
        """Let go of the exchange, whose callbacks point back here: the case's objects
        (messages, trajectory, parse) are then freed by reference counting as the case
        ends, not kept for the cyclic collector to find (at concurrency 500 its walks over
        them were a tenth of the event loop's time; issue 18)."""
        del self.exchange

    async def run(self) -> dict[str, Any]:
        record = base_record(self.case)
        started = time.perf_counter()
        error: str | None = None
        extra: dict[str, Any] = {}
        limit = self.s.case_timeout_s
        deadline = asyncio.timeout(limit) if limit is not None else None
        if self.dialect_error is not None:
            return self._finish(record, self.dialect_error, extra, 0.0)
        try:
            try:
                if deadline is None:  # no --case-timeout: no timer to set and cancel
                    await self._inputs_and_mode(extra)
                else:
                    async with deadline:  # reading and checking the inputs is part of it
                        await self._inputs_and_mode(extra)
            finally:
                if self.folder.made is not None:
                    await self.folder.remove()
        except TimeoutError as exc:
            if deadline is not None and deadline.expired():
                error = f"case timed out after {self.s.case_timeout_s:g} s (--case-timeout)"
                self.traj.stop_reason = "case_timeout"
            else:  # some other timeout escaped a tool: a bug, recorded like one
                error = f"internal error: TimeoutError: {exc}"
                extra["traceback"] = traceback.format_exc()
        except ImageError as exc:
            error = str(exc)
        except EndpointError as exc:
            if exc.fatal:  # the endpoint refuses everything (URL, key): the batch must stop
                raise
            self.traj.add_failure(exc.attempts, exc.endpoint)
            error = exc.message
            if exc.kind == "image_limit":
                error += " (pass --max-images to stay under the server's per-prompt limit)"
            elif "tool-call-parser" in error and self.conv.native_tools:
                error += (
                    f" (the {self.dialect.name} dialect sends tools=[...]: start the server "
                    "with --enable-auto-tool-choice --tool-call-parser hermes, or pass "
                    "--no-native-tools)"
                )
            # Keep what the model said before the failure (a stream that kept dropping).
            self.traj.full_response += exc.partial_text
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one bad case never sinks the batch
            error = f"internal error: {type(exc).__name__}: {exc}"
            extra["traceback"] = traceback.format_exc()
        elapsed = time.perf_counter() - started
        record = self._finish(record, error, extra, elapsed)
        if self.case.input_file:  # lets the viewer find input images after the results move
            record["meta"]["input_file"] = self.case.input_file
        return record

    async def _inputs_and_mode(self, extra: dict[str, Any]) -> None:
        if self.case.images or self.case.image_paths:
            await asyncio.to_thread(self._load_images)
        self._snap()
        await self._run_mode(extra)

    async def _run_mode(self, extra: dict[str, Any]) -> None:
        s = self.s
        if s.planner:
            fields = await self._plan()
            fields.pop("_steps")
            self.traj.full_response = fields.pop("plan_response")
            extra.update(fields)
            self.traj.stop_reason = "plan"
        elif s.tools == "server":
            comp = await self.exchange.generate(
                self._messages(plain_system_prompt(self.case, self.s)),
                stop=None,
                client=self.deps.client,
                extra={"enable_search": True},
            )
            self.traj.full_response = comp.text
            self.traj.stop_reason = comp.finish_reason or ""
        elif s.tools == "none":
            extra_body = {"enable_search": True} if s.enable_search else None
            comp = await self.exchange.generate(
                self._messages(plain_system_prompt(self.case, self.s)),
                stop=None,
                client=self.deps.client,
                extra=extra_body,
            )
            self.traj.full_response = comp.text
            self.traj.stop_reason = comp.finish_reason or ""
        else:
            system = self._system_prompt()
            if s.plan_first:
                fields = await self._plan()
                steps = fields.pop("_steps")
                extra.update(fields)
                if steps:
                    guidance = prompts.PLAN_GUIDANCE.format(plan=plan_as_guidance(steps))
                    system = f"{system}\n\n{guidance}" if system else guidance
                self._plan_steps = steps
            await self._agent_loop(system)
            if s.plan_first:
                calls = tool_calls_in(self.traj.full_response)
                extra["plan_followed"] = plan_followed(self._plan_steps, calls)


async def run_case(
    case: Case,
    deps: AgentDeps,
    snapshot: SnapshotSink | None = None,
    parse: ResponseParse | None = None,
) -> dict[str, Any]:
    """Run one case and return its result record (failures are records too). `snapshot`
    receives the trajectory as it grows, for the viewer's cases in flight. `parse` keeps the
    scan of the final response for the caller's own readers (scoring, flags). Only a fatal
    `EndpointError` (every further request would fail the same way) is raised."""
    run = CaseRun(case, deps, snapshot, parse)
    try:
        return await run.run()
    finally:
        run.release()
