"""Fold structured reasoning and tool calls back into R1V4's text protocol.

vLLM/SGLang with reasoning and tool parsers split the model's output into ``reasoning`` (or
``reasoning_content``), ``content`` and structured ``tool_calls``. Every later stage of this
toolkit reads one form only — ``<think>…</think>`` + content + ``<tool_call>{json}</tool_call>``
— so this module turns both the non-streamed message and the streamed deltas into that text.

Rules (see /work/shared/ENDPOINTS.md items 15-21):
- reasoning is ``reasoning ?? reasoning_content`` per message or delta; never both counted
  (vLLM 0.11-0.16 sends both with the same text);
- reasoning is wrapped in ``<think>`` unless the content already starts with ``<think>``
  (no reasoning parser: the tags are in the content already);
- tool-call deltas accumulate by ``index``; an ``id``/``name`` that is null or "" never
  overwrites a known one (SGLang sends explicit nulls, proxies send ""); argument fragments
  concatenate, a trailing "" is harmless; the arguments are validated as JSON at the end.

Streaming emits folded pieces as they arrive so that the concatenation of all pieces equals
the final text. In the rare case that a server interleaves reasoning after content, the stream
keeps arrival order (each reasoning run wrapped in its own ``<think>``), where a non-streamed
message would put all reasoning first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "StreamFolder",
    "ToolCallAccumulator",
    "fold_message",
    "format_tool_call",
    "pick_reasoning",
]

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


def pick_reasoning(obj: dict) -> str:
    """``reasoning ?? reasoning_content`` — an empty ``reasoning`` does not hide the other."""
    r = obj.get("reasoning")
    if isinstance(r, str) and r:
        return r
    rc = obj.get("reasoning_content")
    if isinstance(rc, str) and rc:
        return rc
    return ""


def _as_text(value: Any) -> str:
    """Content may be null, a string, or (multimodal echo) a list of parts."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        out = []
        for part in value:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                out.append(part["text"])
            elif isinstance(part, str):
                out.append(part)
        return "".join(out)
    return str(value)


def _parse_arguments(args: Any) -> tuple[Any, str | None]:
    """Arguments string → (object, error). Empty means ``{}`` (vLLM drops empty args)."""
    if isinstance(args, dict):
        return args, None
    if args is None:
        return {}, None
    if not isinstance(args, str):
        return args, None
    text = args.strip()
    if not text:
        return {}, None
    try:
        value = json.loads(text)
    except ValueError as exc:
        return None, f"arguments are not valid JSON ({exc})"
    if isinstance(value, str):  # double-encoded by some proxies
        try:
            inner = json.loads(value)
        except ValueError:
            return value, None
        if isinstance(inner, dict):
            return inner, None
    return value, None


def format_tool_call(name: str, arguments: Any) -> tuple[str, str | None]:
    """One ``<tool_call>{"name": …, "arguments": {…}}</tool_call>`` block, plus any error.

    Arguments that are not valid JSON are kept verbatim in the block (the model's own bytes),
    so the lenient parser downstream sees exactly what the model produced; the error is
    returned for the caller to record.
    """
    value, error = _parse_arguments(arguments)
    if error is None:
        body = json.dumps({"name": name, "arguments": value}, ensure_ascii=False)
    else:
        body = '{"name": ' + json.dumps(name, ensure_ascii=False) + ', "arguments": '
        body += str(arguments).strip() + "}"
        error = f"tool call {name!r}: {error}"
    return f"<tool_call>{body}</tool_call>", error


def _fold(reasoning: str, content: str) -> str:
    if reasoning and not content.lstrip().startswith(THINK_OPEN):
        return THINK_OPEN + reasoning + THINK_CLOSE + content
    return content


def fold_message(message: dict) -> tuple[str, list[str]]:
    """Non-streamed ``choices[i].message`` → (folded text, tool-call errors)."""
    if not isinstance(message, dict):
        return "", []
    text = _fold(pick_reasoning(message), _as_text(message.get("content")))
    errors: list[str] = []
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            if not isinstance(call, dict):
                continue
            fn = call.get("function") if isinstance(call.get("function"), dict) else call
            name = fn.get("name") or ""
            block, err = format_tool_call(name, fn.get("arguments"))
            text += block
            if err:
                errors.append(err)
    legacy = message.get("function_call")  # pre-tools OpenAI shape
    if isinstance(legacy, dict) and legacy.get("name"):
        block, err = format_tool_call(legacy["name"], legacy.get("arguments"))
        text += block
        if err:
            errors.append(err)
    return text, errors


@dataclass
class _ToolCall:
    index: int
    id: str = ""
    type: str = "function"
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAccumulator:
    """Merge streamed ``delta.tool_calls`` fragments into whole calls, keyed by ``index``."""

    def __init__(self) -> None:
        self._calls: dict[int, _ToolCall] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(self, fragments: Any) -> None:
        if not isinstance(fragments, list):
            return  # SGLang repeats "tool_calls": null
        for frag in fragments:
            if not isinstance(frag, dict):
                continue
            idx = frag.get("index")
            if not isinstance(idx, int):
                # No index: a new id starts a new call, otherwise it continues the last one.
                if frag.get("id") or not self._calls:
                    idx = len(self._calls)
                else:
                    idx = max(self._calls)
            call = self._calls.get(idx)
            if call is None:
                call = self._calls[idx] = _ToolCall(index=idx)
            if isinstance(frag.get("id"), str) and frag["id"] and not call.id:
                call.id = frag["id"]
            if isinstance(frag.get("type"), str) and frag["type"]:
                call.type = frag["type"]
            fn = frag.get("function")
            if isinstance(fn, dict):
                name = fn.get("name")
                if isinstance(name, str) and name and not call.name:
                    call.name = name
                args = fn.get("arguments")
                if isinstance(args, str):
                    if args:
                        call.arguments.append(args)
                elif isinstance(args, dict):
                    call.arguments.append(json.dumps(args, ensure_ascii=False))

    def calls(self) -> list[dict]:
        """Whole calls in the non-streamed ``message.tool_calls`` shape, ordered by index."""
        return [
            {
                "id": c.id or None,
                "type": c.type,
                "index": c.index,
                "function": {"name": c.name, "arguments": "".join(c.arguments)},
            }
            for c in sorted(self._calls.values(), key=lambda c: c.index)
        ]


class StreamFolder:
    """Fold a stream of deltas (one choice) into text, emitting pieces as they arrive.

    ``emit(piece)`` receives folded text; the concatenation of every piece equals
    :meth:`finish`'s text. Tool calls are emitted whole at the end, once their arguments are
    complete and validated.
    """

    def __init__(self, emit: Callable[[str], None] | None = None) -> None:
        self._emit = emit
        self._parts: list[str] = []
        self._in_think = False
        self._reasoning_seen = False
        self._suppress_reasoning = False
        self._content_head = ""  # first characters of content, to spot a literal <think>
        self.reasoning: list[str] = []
        self.content: list[str] = []
        self.tools = ToolCallAccumulator()
        self.errors: list[str] = []
        self.saw_token = False  # any reasoning, content or tool call arrived

    def _out(self, piece: str) -> None:
        self._parts.append(piece)
        if self._emit is not None:
            self._emit(piece)

    def add_delta(self, delta: Any) -> None:
        if not isinstance(delta, dict):
            return
        reasoning = pick_reasoning(delta)
        if reasoning:
            self.saw_token = True
            self.reasoning.append(reasoning)
            if not self._reasoning_seen and self._content_head.lstrip().startswith(THINK_OPEN):
                self._suppress_reasoning = True  # content carries its own <think>
            self._reasoning_seen = True
            if not self._suppress_reasoning:
                if not self._in_think:
                    self._in_think = True
                    self._out(THINK_OPEN + reasoning)
                else:
                    self._out(reasoning)
        content = _as_text(delta.get("content"))
        if content:
            self.add_content(content)
        if delta.get("tool_calls"):
            self.saw_token = True
            self.tools.add(delta["tool_calls"])
        legacy = delta.get("function_call")
        if isinstance(legacy, dict):
            self.saw_token = True
            self.tools.add([{"index": 0, "function": legacy}])

    def add_content(self, content: str) -> None:
        """A piece of content (the usual token: `add_delta` of `{"content": content}`)."""
        self.saw_token = True
        self.content.append(content)
        if len(self._content_head) < 16:
            self._content_head += content[:16]
        if self._in_think:
            self._in_think = False
            self._out(THINK_CLOSE + content)
        else:
            self._out(content)

    @property
    def pieces(self) -> list[str]:
        """Every folded piece so far, in order (a reader hands on the ones it has not)."""
        return self._parts

    def partial(self) -> str:
        """The folded text emitted so far (what a listener has seen)."""
        return "".join(self._parts)

    def finish(self) -> str:
        """Close an open ``<think>``, emit the tool calls, and return the whole folded text."""
        tail = ""
        if self._in_think:
            self._in_think = False
            tail += THINK_CLOSE
        for call in self.tools.calls():
            block, err = format_tool_call(call["function"]["name"], call["function"]["arguments"])
            tail += block
            if err:
                self.errors.append(err)
        if tail:
            self._out(tail)
        return "".join(self._parts)

    def message(self) -> dict:
        """The accumulated message in the non-streamed shape (for ``Completion.raw``)."""
        msg: dict[str, Any] = {"role": "assistant", "content": "".join(self.content) or None}
        if self.reasoning:
            msg["reasoning_content"] = "".join(self.reasoning)
        calls = self.tools.calls()
        if calls:
            msg["tool_calls"] = calls
        return msg
