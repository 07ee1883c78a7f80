"""The streaming answer: a rendered turn cut into `chat.completion.chunk` deltas (token-sized
pieces, tool-call argument fragments), paced by the latency model, shaped by the quirks, and
ended cleanly or the faulty way chosen for it. Separate from the JSON responder because chunk
shaping and pacing are most of the simulator's wire behaviour.

Size note: `respond_stream` runs past 60 lines because the paced chunk loop and its fault
exits are kept together, as a server's stream loop is.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from r1v4.sim.connection import abort, sleep_until
from r1v4.sim.faults import Decision
from r1v4.sim.render import Rendered
from r1v4.sim.respond_json import FINGERPRINT, add_extra_fields, finish_fields, usage_block
from r1v4.sim.settings import SimSettings
from r1v4.sim.sse import SSEWriter
from r1v4.sim.validate import error_body

if TYPE_CHECKING:
    from r1v4.sim.state import SimState


class _Chunks:
    """Builds `chat.completion.chunk` objects for one stream, with the chosen quirks."""

    def __init__(self, s: SimSettings, rendered: Rendered, meta: dict[str, Any], knobs: dict):
        self.s, self.rendered, self.meta = s, rendered, meta
        self.include_usage = knobs["include_usage"] or s.has("force_usage")
        self.continuous = knobs["continuous_usage"] or s.has("continuous_usage")
        self.fingerprint = None if s.has("null_fingerprint") else FINGERPRINT
        self.done_tokens = 0  # tokens sent so far (continuous usage)

    def _head(self) -> dict[str, Any]:
        return {
            "id": self.meta["id"],
            "object": "chat.completion.chunk",
            "created": self.meta["created"],
            "model": self.meta["model"],
            "system_fingerprint": self.fingerprint,
        }

    def delta(self, delta: dict[str, Any], finish: str | None = None, last: bool = False) -> dict:
        s = self.s
        if s.has("repeat_role"):
            delta = {"role": "assistant", **delta}
        if s.has("sglang_nulls") and "tool_calls" not in delta:
            delta["tool_calls"] = None
        choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None}
        if last:
            choice["finish_reason"] = finish
            choice["stop_reason"] = self.rendered.stop_reason
        elif s.has("empty_finish_reason"):
            choice["finish_reason"] = ""
        elif not s.has("omit_finish_reason"):
            choice["finish_reason"] = None
        obj = self._head() | {"choices": [choice]}
        if self.continuous:
            obj["usage"] = usage_block(self.meta["prompt_tokens"], self.done_tokens, s)
        elif self.include_usage and s.has("usage_null"):
            obj["usage"] = None
        if s.has("extra_fields"):
            add_extra_fields(obj, choice)
            delta.setdefault("obfuscation", "sim")
        return obj

    def usage(self) -> dict[str, Any]:
        usage = usage_block(self.meta["prompt_tokens"], self.rendered.completion_tokens, self.s)
        return self._head() | {"choices": [], "usage": usage}


def _delta_events(rendered: Rendered, s: SimSettings) -> list[tuple[dict[str, Any], int]]:
    """The deltas of a stream after the role chunk, each with the simulated tokens it stands
    for (for pacing): reasoning, then content, then tool calls (first delta with id, type and
    name and "" arguments, then argument fragments carrying only index and arguments)."""
    events: list[tuple[dict[str, Any], int]] = []
    per_chunk, mode, pieces = s.tokens_per_chunk, s.reasoning_field, rendered.pieces
    i = 0
    while i < len(pieces):
        kind = pieces[i][0]
        j = i
        while j < len(pieces) and j - i < per_chunk and pieces[j][0] == kind:
            j += 1
        text = "".join(p[1] for p in pieces[i:j])
        if kind == "reasoning":
            delta = {}
            if mode in ("reasoning_content", "both"):
                delta["reasoning_content"] = text
            if mode in ("reasoning", "both"):
                delta["reasoning"] = text
        else:
            delta = {"content": text}
        events.append((delta, j - i))
        i = j
    for index, call in enumerate(rendered.tool_calls):
        first = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        events.append(({"tool_calls": [first]}, 1))
        for frag in _fragments(call.arguments, per_chunk):
            later: dict[str, Any] = {"index": index, "function": {"arguments": frag}}
            if s.has("sglang_nulls"):
                later.update({"id": None, "type": None})
                later["function"]["name"] = None
            events.append(({"tool_calls": [later]}, 1))
    return events


async def respond_stream(
    request: web.Request,
    state: SimState,
    rendered: Rendered,
    meta: dict[str, Any],
    knobs: dict[str, Any],
    d: Decision,
    arrived: float,
) -> web.StreamResponse:
    """Send the answer as SSE, paced by the latency model, ending as the fault says."""
    s = state.settings
    resp = web.StreamResponse(
        status=200,
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"},
    )
    await resp.prepare(request)
    writer = SSEWriter(
        resp,
        rng=random.Random(meta["id"]),
        crlf=s.has("crlf"),
        multiline=s.has("multiline_data"),
        keepalive=s.has("keepalive"),
        split_writes=s.has("split_writes"),
    )
    chunks = _Chunks(s, rendered, meta, knobs)
    events = _delta_events(rendered, s)
    cut_after = None
    if d.fault in ("drop", "stream_error", "stream_error_no_done", "choice_error"):
        # Where to cut: seeded by the completion id, so it never shifts later fault draws.
        cut_after = random.Random(meta["id"]).randint(0, max(0, len(events) // 2))

    if s.has("empty_choices_first"):
        writer.event(
            {
                "id": "",
                "object": "",
                "created": 0,
                "model": "",
                "choices": [],
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
            }
        )
    t_first = arrived + s.latency_s + s.ttft_s
    try:
        await writer.flush()
        await sleep_until(t_first)
        writer.event(chunks.delta({"role": "assistant", "content": ""}))
        for n, (delta, ntok) in enumerate(events):
            if cut_after is not None and n >= cut_after:
                break
            if s.tokens_per_s > 0:
                target = t_first + chunks.done_tokens / s.tokens_per_s
                if target > time.monotonic() + 0.0005:
                    await writer.flush()
                    await sleep_until(target)
            chunks.done_tokens += ntok
            writer.event(chunks.delta(delta))
        if cut_after is not None:
            await _end_with_fault(request, writer, state, d, chunks.delta)
            return resp
        final_delta: dict[str, Any] = {}
        if s.has("trailing_args") and rendered.tool_calls:
            final_delta = {"tool_calls": [{"index": 0, "function": {"arguments": ""}}]}
        writer.event(chunks.delta(final_delta, finish_fields(rendered, s), last=True))
        if chunks.include_usage:
            writer.event(chunks.usage())
        writer.done()
        await writer.flush()
        await resp.write_eof()
    except ConnectionError:
        return resp  # the client went away: nothing more to send
    state.faults.count("completed")
    return resp


async def _end_with_fault(request, writer: SSEWriter, state: SimState, d: Decision, chunk) -> None:
    """End a stream the faulty way chosen for it."""
    s = state.settings
    if d.fault == "drop":
        await writer.flush()
        abort(request)
    err = error_body(s, 500, "Simulated internal error during generation", "InternalServerError")
    if "error" not in err:  # flat shape: still sent under "error" inside a stream
        err = {"error": err}
    if d.fault == "choice_error":
        obj = chunk({}, "error", last=True)
        obj["error"] = {"message": "Simulated upstream provider error", "code": 502}
        writer.event(obj)
    else:
        writer.event(err)
        if d.fault == "stream_error":
            writer.done()
    await writer.flush()
    await writer.resp.write_eof()


def _fragments(text: str, per_chunk: int) -> list[str]:
    from r1v4.sim.render import tokenize

    toks = tokenize(text)
    if not toks:
        return [text] if text else []
    return ["".join(toks[i : i + per_chunk]) for i in range(0, len(toks), per_chunk)]
