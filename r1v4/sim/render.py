"""Turn an assistant turn's text into what an OpenAI-compatible server returns: reasoning split off
(as vLLM's reasoning parser does), stop sequences and max_tokens applied, tool calls parsed out
(as its tool parser does), and token counts. Streaming and non-streaming responses are both built
from one Rendered value, so they always carry the same text and usage.

Size note: `render` runs past 60 lines because it turns one turn into every field of a
response in one pass, in the order a server applies them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN_RE = re.compile(r"\s*\S{1,4}|\s+")
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
_TOOL_RE = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.S)


def tokenize(text: str) -> list[str]:
    """Simulated tokens: up to 4 non-space characters with their leading whitespace. The pieces
    join back to exactly `text`, so streamed deltas reassemble to the non-streamed text."""
    return _TOKEN_RE.findall(text)


def count_tokens(text: str) -> int:
    return len(tokenize(text))


def image_tokens(width: int, height: int) -> int:
    """Qwen-VL style estimate: one token per 28x28 patch, clamped to [4, 16384]."""
    return max(4, min(16384, math.ceil(width / 28) * math.ceil(height / 28)))


def split_reasoning(text: str) -> tuple[str | None, str]:
    """(reasoning, content) as a reasoning parser splits a turn: the text inside a leading
    <think>…</think> is reasoning, the rest is content. An unclosed <think> is all reasoning.
    None means the turn had no think block."""
    stripped = text.lstrip()
    if not stripped.startswith(_THINK_OPEN):
        return None, text
    rest = stripped[len(_THINK_OPEN) :]
    end = rest.find(_THINK_CLOSE)
    if end < 0:
        return rest, ""
    return rest[:end], rest[end + len(_THINK_CLOSE) :]


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the OpenAI protocol sends it


@dataclass
class Rendered:
    """One assistant turn as the server sends it."""

    reasoning: str | None  # None: no reasoning field (mode "none" or no think block)
    content: str  # content with tool-call text removed when tool calls are structured
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"
    stop_reason: str | int | None = None
    completion_tokens: int = 0
    # The streamed pieces in order: ("reasoning" | "content", text); tool calls go after them.
    pieces: list[tuple[str, str]] = field(default_factory=list)


def _apply_stop(content: str, stops: list[str], keep: bool) -> tuple[str, str | None]:
    best: tuple[int, str] | None = None
    for s in stops:
        if not s:
            continue
        pos = content.find(s)
        if pos >= 0 and (best is None or pos < best[0]):
            best = (pos, s)
    if best is None:
        return content, None
    pos, s = best
    return content[: pos + (len(s) if keep else 0)], s


def _parse_tool_calls(content: str, new_id: Any) -> tuple[str, list[ToolCall]]:
    """Take <tool_call>{json}</tool_call> blocks out of content (a closing tag cut by a stop
    string is fine). Blocks whose JSON does not parse stay in the content, as with a real
    parser that fails."""
    calls: list[ToolCall] = []
    kept: list[str] = []
    last = 0
    for m in _TOOL_RE.finditer(content):
        try:
            obj = json.loads(m.group(1))
            name = obj["name"]
            args = obj.get("arguments", {})
            if not isinstance(name, str):
                raise TypeError("name")
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            continue
        kept.append(content[last : m.start()])
        last = m.end()
        arguments = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
        calls.append(ToolCall(new_id(), name, arguments))
    kept.append(content[last:])
    return "".join(kept), calls


def render(
    text: str,
    *,
    reasoning_field: str,
    structured_tool_calls: bool,
    stop: list[str],
    include_stop_str_in_output: bool = False,
    max_tokens: int | None = None,
    include_reasoning: bool = True,
    enable_thinking: bool = True,
    new_tool_id: Any = None,
    answer_in_reasoning: bool = False,
    stop_in_reasoning: bool = False,
) -> Rendered:
    """Shape a full turn text into the response parts (see the module docstring).
    `answer_in_reasoning` plays the reasoning-parser failure of vllm#17349/#40816: the whole
    turn lands in the reasoning field and content is empty; `stop_in_reasoning` plays
    vllm#52393: a client stop string that occurs in the reasoning cuts the turn there."""
    if answer_in_reasoning and reasoning_field != "none":
        r, rest = split_reasoning(text)
        reasoning = (r or "") + rest if r is not None else text
        r_tokens = tokenize(reasoning)
        if max_tokens is not None and len(r_tokens) > max_tokens:
            r_tokens = r_tokens[:max_tokens]
            reasoning = "".join(r_tokens)
            finish = "length"
        else:
            finish = "stop"
        return Rendered(
            reasoning if include_reasoning else None,
            "",
            [],
            finish,
            None,
            len(r_tokens),
            [("reasoning", t) for t in r_tokens] if include_reasoning else [],
        )
    if reasoning_field == "none":
        reasoning, content = None, text
        if not enable_thinking:
            r, content = split_reasoning(text)
            content = content if r is not None else text
    else:
        reasoning, content = split_reasoning(text)
        if not enable_thinking:
            reasoning = None
    # Stop strings apply to content only, never inside reasoning (vLLM PR #14550) — unless
    # the server has the bug of vllm#52393: then a stop in the reasoning ends the turn there.
    matched = None
    if stop_in_reasoning and reasoning:
        reasoning, matched = _apply_stop(reasoning, stop, include_stop_str_in_output)
        if matched is not None:
            content = ""
    if matched is None:
        content, matched = _apply_stop(content, stop, include_stop_str_in_output)
    finish, stop_reason = "stop", matched
    r_tokens = tokenize(reasoning) if reasoning else []
    c_tokens = tokenize(content)
    if max_tokens is not None and len(r_tokens) + len(c_tokens) > max_tokens:
        finish, stop_reason = "length", None
        if len(r_tokens) >= max_tokens:
            r_tokens, c_tokens = r_tokens[:max_tokens], []
            reasoning = "".join(r_tokens)
        else:
            c_tokens = c_tokens[: max_tokens - len(r_tokens)]
        content = "".join(c_tokens)
    completion_tokens = len(r_tokens) + len(c_tokens)
    calls: list[ToolCall] = []
    if structured_tool_calls:
        content, calls = _parse_tool_calls(content, new_tool_id or (lambda: "call_0"))
        if calls and finish == "stop":
            finish = "tool_calls"
        c_tokens = tokenize(content)
    if not include_reasoning:
        reasoning, r_tokens = None, []
    pieces = [("reasoning", t) for t in r_tokens] + [("content", t) for t in c_tokens]
    return Rendered(reasoning, content, calls, finish, stop_reason, completion_tokens, pieces)
