"""The chat messages of one trajectory: observation blocks, the hint after an incomplete
tool call, tool calls for plan checks, and the per-request image limit. (How a turn ended,
closing tags that stop sequences trimmed included, is `r1v4.parsing.turn`.)"""

from __future__ import annotations

from typing import Any

import orjson

from r1v4.parsing import iter_events, parse_tool_call
from r1v4.protocol import tags
from r1v4.tools import ToolResult

#: What the model reads after a turn that ended inside a tool call: the usual cause is a
#: stop sequence inside its code, which a server without `stop_reason` does not name.
INCOMPLETE_HINT = (
    "Write the whole call again as <tool_call>{...}</tool_call>. Generation stops at "
    "</tool_call> and </answer>; if your code prints these tags, build them from pieces, "
    "e.g. '</ans' + 'wer>'."
)


def limit_images(messages: list[dict[str, Any]], max_images: int | None) -> list[dict[str, Any]]:
    """Fit a server's per-prompt image limit (vLLM --limit-mm-per-prompt): keep the case's own
    images and the newest observation images, and replace older observation images with a
    short text note, so a long trajectory degrades instead of failing with a 400."""
    if max_images is None:
        return messages
    slots = [
        (i, j)
        for i, m in enumerate(messages)
        if isinstance(m.get("content"), list)
        for j, part in enumerate(m["content"])
        if isinstance(part, dict) and part.get("type") == "image_url"
    ]
    excess = len(slots) - max(max_images, 0)
    if excess <= 0:
        return messages
    first_user = next((i for i, m in enumerate(messages) if m.get("role") == "user"), -1)
    droppable = [slot for slot in slots if slot[0] != first_user]
    drop = set(droppable[:excess])
    out = []
    for i, m in enumerate(messages):
        if not any(slot[0] == i for slot in drop):
            out.append(m)
            continue
        content = [
            {"type": "text", "text": "[earlier image omitted: per-request image limit]"}
            if (i, j) in drop
            else part
            for j, part in enumerate(m["content"])
        ]
        out.append({**m, "content": content})
    return out


def observation_block(
    result: ToolResult,
    images: list[str],
    *,
    for_record: bool,
    names: list[str] | None = None,
    notes: list[str | None] | None = None,
) -> str:
    """The observation block. The record's copy names images by their stored references,
    adds the file names the model saw them under (`names`) and where each came from
    (`regions`, DESIGN.md "Regions"), and keeps structured search results for the viewer;
    the model's copy names images by the file names it can pass to later tool calls, and
    carries no duplicate of the text."""
    body: dict[str, Any] = {"type": result.tool, "result": result.text, "images": images}
    if result.error:
        body["error"] = result.error
    if for_record:
        if names and len(names) == len(images):
            body["names"] = names
        if notes and any(notes) and len(notes) == len(images):
            body["notes"] = notes  # what the guard changed in each, as the model was told
        regions = [i.region.to_record() if i.region else None for i in result.images]
        if any(regions) and len(regions) == len(images):
            body["regions"] = regions
        if isinstance(result.data, list):
            body["results"] = result.data
    return tags.OBSERVATION_OPEN + orjson.dumps(body).decode() + tags.OBSERVATION_CLOSE


def tool_calls_in(full_response: str) -> list[dict[str, Any]]:
    """The tool calls of a trajectory, in order, for plan-following checks (tag-aware, so
    code that prints "</tool_call>" does not split a call)."""
    calls = []
    for event in iter_events(full_response):
        if event.kind == "tool_call" and not event.incomplete:
            if event.tag is not None and isinstance(event.data, dict):
                call = event.data  # the one-tag-per-tool dialect, already decoded
            else:
                call, _ = parse_tool_call(event.content)
            if call is not None:
                calls.append(call)
    return calls
