"""One exchange with the endpoint in the case's dialect: a request (the dialect's stop
strings, `tools`, `include_stop_str_in_output`; fitted to the context window), the turn it
returns read as the dialect reads it, stops that fired inside a think asked again, and the
last "answer now" turn when the window is full or the image budget spent.

Apart from the loop (`r1v4.agent.loop`), which decides what happens between turns; this is
what happens inside one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from r1v4.agent.budget import answer_now_messages, fit_request
from r1v4.agent.dialects.base import Conversation, Dialect, PromptInfo, Turn
from r1v4.agent.dialects.sampling import RequestSampling
from r1v4.agent.live import LiveLog
from r1v4.agent.settings import AgentSettings
from r1v4.agent.trajectory import Trajectory
from r1v4.agent.turns import limit_images
from r1v4.endpoint.client import Completion, EndpointError
from r1v4.endpoint.errors import context_overflow
from r1v4.endpoint.folding import pick_reasoning
from r1v4.parsing import ResponseParse, TurnEnd, has_headless_think, read_turn
from r1v4.protocol.cases import Case
from r1v4.protocol.requestids import case_request_id

__all__ = ["Completer", "Exchange", "SnapshotSink", "assistant_text", "extend_assistant"]


class Completer(Protocol):
    """What the loop needs of a client: `ChatClient`, or the batch's planner-model wrapper."""

    async def complete(self, messages: list[dict[str, Any]], **kwargs: Any) -> Completion: ...


class SnapshotSink(Protocol):
    """Receives the trajectory as it grows (the batch's in-flight snapshot writer)."""

    def update(
        self, full_response: str | Callable[[], str], turns: int, *, force: bool = False
    ) -> None: ...


class Exchange:
    """Requests and replies of one case; writes what it learns into the trajectory."""

    def __init__(
        self,
        case: Case,
        settings: AgentSettings,
        dialect: Dialect,
        conv: Conversation,
        traj: Trajectory,
        client: Completer,
        *,
        model: str,
        max_model_len: int | None,
        prompt_info: Callable[[], PromptInfo],
        live: Callable[[], LiveLog | None],
        snapshot: SnapshotSink | None,
        parse: ResponseParse,
        sampling: RequestSampling,
    ) -> None:
        self.case = case
        self.s = settings
        self.dialect = dialect
        self.conv = conv
        self.traj = traj
        self.client = client
        self.model = model
        self.max_model_len = max_model_len
        self.prompt_info = prompt_info
        self.live = live
        self.snapshot = snapshot
        #: Scans each turn's text; the case's own memo, so the last turn's scan is the one
        #: the record's readers reuse (a one-turn case is scanned once, not three times).
        self.parse = parse
        self.headless_seen = False  # a reply of this case closed a think it never opened
        self.sampling = sampling  # the run's for this dialect (`r1v4.agent.deps.DialectPlan`)
        traj.meta["sampling"] = self.sampling.to_record()
        traj.meta["max_rounds"] = self.sampling.max_rounds

    async def generate(
        self,
        messages: list[dict[str, Any]],
        *,
        stop: list[str] | None,
        client: Completer,
        extra: dict[str, Any] | None = None,
        turn: int = 0,
    ) -> Completion:
        extra_body = {**self.sampling.extra, **(extra or {}), **self.case.body, **self.s.extra_body}
        extra_body.pop("model", None)
        live = self.live()
        sent, max_tokens, dropped = fit_request(
            limit_images(messages, self.s.max_images),
            self.sampling.max_tokens,
            self.max_model_len,
            self.dialect.factor,
        )
        if dropped:
            self.traj.meta["images_dropped_for_context"] = max(
                dropped, self.traj.meta.get("images_dropped_for_context", 0)
            )
        streaming = self.s.stream and (live is not None or self.snapshot is not None)
        on_delta, on_restart = self._listeners(live) if streaming else (None, None)
        comp = await client.complete(
            sent,
            stream=self.s.stream,
            stop=stop,
            max_tokens=max_tokens,
            temperature=self.sampling.temperature,
            extra_body=extra_body or None,
            request_id=case_request_id(self.case.id, turn),
            on_delta=on_delta,
            on_restart=on_restart,
        )
        if live:
            live.finish()
        self.traj.add_completion(comp)
        return comp

    def _listeners(self, live: LiveLog | None) -> tuple[Callable[[str], None], Callable[[], None]]:
        """What a streamed generation calls with each piece, and on a restart: the live view
        and the in-flight snapshot (made only for a stream someone watches)."""
        partial: list[str] = []

        def so_far() -> str:  # joined only when a snapshot is written, never per token
            return self.traj.full_response + "".join(partial)

        def on_delta(piece: str) -> None:
            partial.append(piece)
            if live:
                live.on_delta(piece)
            if self.snapshot:
                self.snapshot.update(so_far, len(self.traj.turns) + 1)

        def on_restart() -> None:
            partial.clear()
            if live:
                live.on_restart()

        return on_delta, on_restart

    def request_fields(self, *, final: bool = False, continuing: bool = False) -> dict[str, Any]:
        """What the dialect adds to a request: its `tools` (native function calling; none
        called on the final turn) and `include_stop_str_in_output`."""
        d, fields = self.dialect, {}
        tools = d.tools(self.prompt_info()) if self.conv.native_tools else None
        if tools:
            fields["tools"] = tools
            if final:
                fields["tool_choice"] = "none"
        if d.keep_stop and d.stops and not final:
            fields["include_stop_str_in_output"] = True
        if continuing:  # the model goes on with the last assistant message (vLLM knobs)
            fields["continue_final_message"] = True
            fields["add_generation_prompt"] = False
        return fields

    def in_think(self) -> bool:
        """A reply with no think tags is all reasoning (a Thinking chat template)."""
        mode = self.s.thinking
        if mode != "auto":
            return mode == "on"
        return self.headless_seen or "thinking" in self.model.lower()

    async def turn(
        self, messages: list[dict[str, Any]], turn: int, *, continuing: bool = False
    ) -> tuple[TurnEnd, Turn] | None:
        """Generate one turn and read how it ended. A stop string that fired where it closes
        nothing (inside a think, inside a code string) did not end the turn: the turn is asked
        for again without that stop, so the stop list only shrinks and this ends. None when
        `max_tokens` cut the turn (the case then ends). `continuing`: the model goes on with
        the last (assistant) message, a prefill or a turn holding its result."""
        d = self.dialect
        stops = list(d.stops)
        context = assistant_text(messages[-1]) if continuing else ""
        while True:
            comp = await self.generate(
                messages,
                stop=stops or None,
                client=self.client,
                extra=self.request_fields(continuing=continuing),
                turn=turn,
            )
            if comp.finish_reason == "length":
                # Cut off by max_tokens: never run a half-written call.
                self.traj.full_response += comp.text
                self.traj.stop_reason = "length"
                return None
            message = _message(comp.raw)
            structured = [c for c in message.get("tool_calls") or [] if isinstance(c, dict)]
            if structured:  # native function calling: the server parsed the calls
                end = TurnEnd("tool_call", comp.text)
            else:
                end = read_turn(
                    comp.text,
                    comp.stop_reason,
                    stops,
                    ends_turn=d.ends_turn,
                    in_think=self.in_think(),
                    calls_in_think=d.stops_in_think,
                    context=context,
                    scan=self.parse.events,
                )
            if end.kind == "false_stop" and end.stop in stops:
                stops.remove(end.stop)
                self.traj.false_stops += 1
                if (live := self.live()) is not None:
                    live.note(f"stop {end.stop!r} fired inside a think or a body: asking again")
                continue
            self.headless_seen = self.headless_seen or has_headless_think(
                end.text, self.parse.events
            )
            content = _content(message) if structured else end.text
            return end, Turn(end.text, content, structured, context=context)

    async def answer_now(
        self,
        messages: list[dict[str, Any]],
        turn: int,
        overflow: EndpointError | None,
        reason: str = "",
    ) -> None:
        """End the tool phase with one last turn that asks for the answer: the context
        window is full (the server's 400) or the dialect's image budget is spent. Older
        observation images give way to notes; a second overflow fails the case."""
        d = self.dialect
        final = answer_now_messages(messages, d.final_prompt)
        window = self.max_model_len
        if overflow is not None:
            numbers = context_overflow(overflow.status, overflow.message)
            window = numbers.max_model_len if numbers is not None else window
            self.traj.meta["context_overflow"] = {"turn": turn, "message": overflow.message}
        else:
            self.traj.meta["answer_now"] = {"turn": turn, "reason": reason}
        stops = [s for s in d.stops if s == "</answer>"]
        fitted, max_tokens, _ = fit_request(final, self.sampling.max_tokens, window, d.factor)
        try:
            comp = await self.client.complete(
                fitted,
                stream=self.s.stream,
                stop=stops or None,
                max_tokens=max_tokens,
                temperature=self.sampling.temperature,
                extra_body={
                    **self.sampling.extra,
                    **self.request_fields(final=True),
                    **self.s.extra_body,
                }
                or None,
                request_id=case_request_id(
                    self.case.id, turn if overflow is not None else turn + 1
                ),
            )
        except EndpointError as exc:
            if exc.kind == "context_length":
                raise exc.replace(
                    message=f"{exc.message} (even the final answer-now turn, with observation "
                    "images left out, does not fit the context window)"
                ) from None
            raise
        self.traj.add_completion(comp)
        end = read_turn(comp.text, comp.stop_reason, stops, ends_turn=lambda ev: False)
        text = end.text if end.kind in ("answer", "none") else comp.text
        self.traj.full_response += text
        answered = end.kind == "answer" or (d.free_text_answer and bool(text.strip()))
        self.traj.stop_reason = "answer" if answered else (
            "context_length" if overflow is not None else "max_images"
        )  # fmt: skip


def assistant_text(message: dict[str, Any]) -> str:
    """The text of an assistant message (its text parts joined; images leave no text)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def extend_assistant(last: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """The assistant message `last` with `more`'s content appended (a continued turn, or a
    result a family puts inside the assistant's own message)."""

    def parts(content: Any) -> list[dict[str, Any]]:
        if isinstance(content, list):
            return list(content)
        return [{"type": "text", "text": content}] if content else []

    a, b = last.get("content"), more.get("content")
    if isinstance(a, str | None) and isinstance(b, str | None):
        merged: Any = (a or "") + (b or "")
    else:
        merged = parts(a) + parts(b)
    return {**last, "content": merged}


def _message(raw: dict[str, Any]) -> dict[str, Any]:
    """The first choice's message of a completion's raw body (streams are assembled into
    the same shape)."""
    choices = raw.get("choices") if isinstance(raw, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else {}
    message = first.get("message") if isinstance(first, dict) else None
    return message if isinstance(message, dict) else {}


def _content(message: dict[str, Any]) -> str:
    """An assistant message's text without its structured tool calls: reasoning in a think
    (the Qwen3 template reads it back from the content), then the content."""
    reasoning = pick_reasoning(message)
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    if reasoning and "<think>" not in text:
        return f"<think>{reasoning}</think>{text}"
    return text
