"""The interleaved agent loop: generate -> tool call -> observation -> ... -> answer.

A raw vLLM or SGLang server only generates text, so the toolkit runs the loop: generation
stops at `</tool_call>` or `</answer>`, the call is parsed and executed through the tool
registry, and its observation (text plus intermediate images) goes back as the next user
turn. `full_response` accumulates the whole trajectory in the text protocol of DESIGN.md, so
every later stage (parser, viewer, scorer) sees one form whatever the serving mode.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from r1v4._util.images import ImageError, LoadedImage, prepare_image, sniff_extension
from r1v4.agent import prompts
from r1v4.agent.inputs import load_input_images
from r1v4.agent.live import LiveLog
from r1v4.agent.messages import batch_messages, first_messages, system_prompt, user_message
from r1v4.agent.planning import plan_as_guidance, plan_followed
from r1v4.agent.settings import AgentSettings
from r1v4.agent.trajectory import Trajectory, finish_record
from r1v4.agent.turns import INCOMPLETE_HINT, limit_images, observation_block, tool_calls_in
from r1v4.endpoint.client import ChatClient, Completion, EndpointError
from r1v4.parsing import TurnEnd, parse_tool_call, read_turn
from r1v4.parsing.plan import parse_plan
from r1v4.protocol import tags
from r1v4.protocol.cases import Case
from r1v4.protocol.records import base_record
from r1v4.protocol.requestids import case_request_id
from r1v4.protocol.sidecars import AssetStore, safe_component
from r1v4.tools import ToolContext, ToolRegistry, ToolResult
from r1v4.tools.leftovers import case_dir_prefix


class Completer(Protocol):
    """What the loop needs of a client: `ChatClient`, or the batch's planner-model wrapper."""

    async def complete(self, messages: list[dict[str, Any]], **kwargs: Any) -> Completion: ...


class SnapshotSink(Protocol):
    """Receives the trajectory as it grows (the batch's in-flight snapshot writer)."""

    def update(self, full_response: str, turns: int, *, force: bool = False) -> None: ...


@dataclass
class AgentDeps:
    """What every case shares within one run."""

    client: ChatClient
    settings: AgentSettings
    assets: AssetStore
    model: str  # the model name records carry in meta.model
    tools: ToolRegistry | None = None
    planner_client: Completer | None = None
    search_tools: bool = False  # search tools are configured: prompt "auto" means deepresearch
    echo: Callable[[str], None] | None = None  # where --live lines go (None: nowhere)


class CaseRun:
    """One case through the endpoint: builds messages, runs the loop, returns the record."""

    def __init__(self, case: Case, deps: AgentDeps, snapshot: SnapshotSink | None = None) -> None:
        self.case = case
        self.deps = deps
        self.snapshot = snapshot
        self.s = deps.settings
        self.traj = Trajectory()
        self.workdir: Path | None = None
        self.input_files: list[Path] = []
        self.images: list[LoadedImage] = []

    # -- inputs ------------------------------------------------------------------------------
    def _load_images(self) -> None:
        """Prepare every input image once (see `inputs.load_input_images`)."""
        assert self.workdir is not None
        self.input_files, self.images = load_input_images(self.case, self.s, self.workdir)

    def _system_prompt(self) -> str:
        return system_prompt(self.case, self.s, self.deps.search_tools)

    # -- generation --------------------------------------------------------------------------
    async def _generate(
        self,
        messages: list[dict[str, Any]],
        *,
        stop: list[str] | None,
        client: Completer,
        extra: dict[str, Any] | None = None,
        turn: int = 0,
    ) -> Completion:
        extra_body = {**self.case.body, **self.s.extra_body, **(extra or {})}
        extra_body.pop("model", None)
        live = self._live()
        partial: list[str] = []

        def on_delta(piece: str) -> None:
            partial.append(piece)
            if live:
                live.on_delta(piece)
            if self.snapshot:
                self.snapshot.update(
                    self.traj.full_response + "".join(partial), len(self.traj.turns) + 1
                )

        def on_restart() -> None:
            partial.clear()
            if live:
                live.on_restart()

        streaming = self.s.stream and (live is not None or self.snapshot is not None)
        comp = await client.complete(
            limit_images(messages, self.s.max_images),
            stream=self.s.stream,
            stop=stop,
            max_tokens=self.s.max_tokens,
            temperature=self.s.temperature,
            extra_body=extra_body or None,
            request_id=case_request_id(self.case.id, turn),
            on_delta=on_delta if streaming else None,
            on_restart=on_restart if streaming else None,
        )
        if live:
            live.finish()
        self.traj.add_completion(comp)
        return comp

    async def _observe(
        self, name: str, arguments: Any
    ) -> tuple[ToolResult, list[str], list[str], list[dict[str, Any]]]:
        """Run one tool call and store its images. Returns the result, the image references
        for the record, the file names the model can use in later calls, and the image parts
        for the next request."""
        assert self.deps.tools is not None and self.workdir is not None
        ctx = self._tool_ctx
        result = await self.deps.tools.call(name, arguments, ctx)
        parts: list[dict[str, Any]] = []
        refs: list[str] = []
        names: list[str] = []
        for n, image in enumerate(result.images, start=1):
            ext = image.ext or sniff_extension(image.data)
            ref = self.deps.assets.put(self.case.id, image.data, ext)
            refs.append(ref)
            if not ref.startswith("data:"):
                self.traj.assets.append(ref)
            index = len(ctx.intermediate_images) + 1
            local = self.workdir / safe_component(image.name or f"observation_{index}.{ext}")
            if local.exists() or local in self.input_files:
                local = self.workdir / f"observation_{index}_{n}.{ext}"
            local.write_bytes(image.data)
            ctx.intermediate_images.append(local)
            names.append(local.name)
            try:
                # decoding (and maybe downscaling) is never done on the event loop
                shown = await asyncio.to_thread(
                    prepare_image, image.data, local.name, self.s.max_pixels
                )
            except ImageError:
                continue
            parts.append({"type": "image_url", "image_url": {"url": shown.data_url()}})
        return result, refs, names, parts

    async def _turn(self, messages: list[dict[str, Any]], turn: int) -> TurnEnd | None:
        """Generate one turn and read how it ended (DESIGN.md, "The agent's stop rule").

        A stop string that fired inside another unit's body (code that prints
        ``</answer>``, a think that mentions the format) did not end the turn: the turn is
        asked for again without that stop string, so the stop list only shrinks and this
        ends. None when ``max_tokens`` cut the turn (the case then ends)."""
        stops = list(tags.AGENT_STOP)
        while True:
            comp = await self._generate(
                messages, stop=stops or None, client=self.deps.client, turn=turn
            )
            if comp.finish_reason == "length":
                # Cut off by max_tokens: never run a half-written call.
                self.traj.full_response += comp.text
                self.traj.stop_reason = "length"
                return None
            end = read_turn(comp.text, comp.stop_reason, stops)
            if end.kind != "false_stop" or end.stop not in stops:
                return end
            stops.remove(end.stop)
            self.traj.false_stops += 1
            if (live := self._live()) is not None:
                live.note(f"stop {end.stop!r} fired inside a body, not as a closing tag: retrying")

    async def _agent_loop(self, system: str) -> None:
        messages = first_messages(self.case, self.images, system)
        self._tool_ctx = ToolContext(
            case_id=self.case.id, input_images=list(self.input_files), assets=self.deps.assets
        )
        try:
            for turn in range(self.s.max_rounds):
                end = await self._turn(messages, turn)
                if end is None:
                    return
                self.traj.full_response += end.text
                messages.append({"role": "assistant", "content": end.text})
                if end.kind == "answer":
                    self.traj.stop_reason = "answer"
                    return
                if end.kind not in ("tool_call", "incomplete_call") or end.body is None:
                    self.traj.stop_reason = "no_tool_call"
                    return
                result, refs, names, parts = await self._call(end)
                if (live := self._live()) is not None:
                    live.note(f"observation {result.tool}: {len(refs)} image(s); {result.text}")
                self.traj.full_response += observation_block(
                    result, refs, for_record=True, names=names
                )
                self._snap(force=True)
                shown = observation_block(result, names, for_record=False)
                messages.append(
                    {"role": "user", "content": [{"type": "text", "text": shown}, *parts]}
                )
            self.traj.stop_reason = "max_rounds"
        finally:
            await self.deps.tools.end_trajectory(self._tool_ctx)  # type: ignore[union-attr]

    async def _call(
        self, end: TurnEnd
    ) -> tuple[ToolResult, list[str], list[str], list[dict[str, Any]]]:
        """Run the turn's tool call; an incomplete or unreadable call gets an `invalid`
        observation that tells the model how to write it, and the loop goes on."""
        if end.kind == "incomplete_call":
            error = "the tool call is incomplete: the turn ended before </tool_call>"
            return (
                ToolResult(tool="invalid", text=f"{error}. {INCOMPLETE_HINT}", error=error),
                [],
                [],
                [],
            )
        assert end.body is not None
        call, error = parse_tool_call(end.body)
        if call is None:
            result = ToolResult(
                tool="invalid",
                text=f"Could not parse the tool call: {error}. Write it as "
                '<tool_call>{"name": ..., "arguments": {...}}</tool_call>.',
                error=error,
            )
            return result, [], [], []
        self.traj.tool_calls[str(call.get("name"))] += 1
        return await self._observe(str(call.get("name")), call.get("arguments", {}))

    async def _plan(self) -> dict[str, Any]:
        """Ask the planner for a plan; return the record fields it yields."""
        client = self.deps.planner_client or self.deps.client
        messages = [
            {"role": "system", "content": prompts.PLANNER_SYSTEM_PROMPT},
            user_message(self.case, self.images)
            if self.case.messages is None
            else batch_messages(self.case)[-1],
        ]
        comp = await self._generate(messages, stop=None, client=client, turn=0)
        parsed = parse_plan(comp.text)
        return {"plan_response": comp.text, **parsed.to_record(), "_steps": parsed.steps}

    def _live(self) -> LiveLog | None:
        """A live view of this generation, when `--live` is on in a streaming mode."""
        s, echo = self.s, self.deps.echo
        return LiveLog(self.case.id, echo) if s.live and s.stream and echo else None

    def _snap(self, force: bool = False) -> None:
        if self.snapshot is not None:
            self.snapshot.update(self.traj.full_response, len(self.traj.turns), force=force)

    # -- the whole case ------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        record = base_record(self.case)
        started = time.perf_counter()
        error: str | None = None
        extra: dict[str, Any] = {}
        deadline = asyncio.timeout(self.s.case_timeout_s)
        try:
            with tempfile.TemporaryDirectory(prefix=case_dir_prefix()) as tmp:
                self.workdir = Path(tmp)
                async with deadline:  # reading and decoding the inputs is part of the case
                    await asyncio.to_thread(self._load_images)
                    self._snap(force=True)
                    await self._run_mode(extra)
        except TimeoutError as exc:
            if deadline.expired():
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
            error = exc.message
            self.traj.add_failure(exc.attempts, exc.endpoint)
            if exc.kind == "image_limit":
                error += " (pass --max-images to stay under the server's per-prompt limit)"
            # Keep what the model said before the failure (a stream that kept dropping).
            self.traj.full_response += exc.partial_text
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one bad case never sinks the batch
            error = f"internal error: {type(exc).__name__}: {exc}"
            extra["traceback"] = traceback.format_exc()
        elapsed = time.perf_counter() - started
        record = finish_record(record, self.traj, self.s, self.deps.model, error, extra, elapsed)
        if self.case.input_file:  # lets the viewer find input images after the results move
            record["meta"]["input_file"] = self.case.input_file
        return record

    async def _run_mode(self, extra: dict[str, Any]) -> None:
        s = self.s
        if s.planner:
            fields = await self._plan()
            fields.pop("_steps")
            self.traj.full_response = fields.pop("plan_response")
            extra.update(fields)
            self.traj.stop_reason = "plan"
        elif s.tools == "server":
            comp = await self._generate(
                first_messages(self.case, self.images, self._system_prompt()),
                stop=None,
                client=self.deps.client,
                extra={"enable_search": True},
            )
            self.traj.full_response = comp.text
            self.traj.stop_reason = comp.finish_reason or ""
        elif s.tools == "none":
            extra_body = {"enable_search": True} if s.enable_search else None
            comp = await self._generate(
                first_messages(self.case, self.images, self._system_prompt()),
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
    case: Case, deps: AgentDeps, snapshot: SnapshotSink | None = None
) -> dict[str, Any]:
    """Run one case and return its result record (failures are records too). `snapshot`
    receives the trajectory as it grows, for the viewer's cases in flight. Only a fatal
    `EndpointError` (every further request would fail the same way) is raised."""
    return await CaseRun(case, deps, snapshot).run()
