"""The non-streaming answer (`chat.completion`) and the pieces of it a stream reuses: the message,
finish reason, usage block and the extra fields some servers add. One place decides how a
rendered turn looks on the wire, so the JSON and SSE forms cannot drift apart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from r1v4.sim.connection import abort, sleep_until
from r1v4.sim.faults import Decision
from r1v4.sim.policy import Reply
from r1v4.sim.render import Rendered
from r1v4.sim.settings import SimSettings
from r1v4.sim.validate import error_response

if TYPE_CHECKING:
    from r1v4.sim.state import SimState

FINGERPRINT = "r1v4-simulator"


def json_response(obj: Any, status: int = 200, headers=None) -> web.Response:
    return web.Response(
        body=orjson.dumps(obj), status=status, content_type="application/json", headers=headers
    )


def usage_block(prompt: int, completion: int, settings: SimSettings) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
        "prompt_tokens_details": None,
    }
    if settings.has("extra_fields"):
        usage["reasoning_tokens"] = 0
        usage["cost"] = 0.0
        usage["is_byok"] = False
    return usage


def _message(rendered: Rendered, settings: SimSettings) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant"}
    if rendered.tool_calls:
        content: str | None = rendered.content
        if not content.strip() and not settings.has("empty_string_content"):
            content = None
        msg["content"] = content
    elif settings.has("answer_in_reasoning") and not rendered.content:
        msg["content"] = None
    else:
        msg["content"] = rendered.content
    if rendered.reasoning is not None:
        mode = settings.reasoning_field
        if mode in ("reasoning_content", "both"):
            msg["reasoning_content"] = rendered.reasoning
        if mode in ("reasoning", "both"):
            msg["reasoning"] = rendered.reasoning
    if rendered.tool_calls:
        msg["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in rendered.tool_calls
        ]
    elif settings.has("tool_calls_empty_list"):
        msg["tool_calls"] = []
    return msg


def finish_fields(rendered: Rendered, settings: SimSettings) -> str:
    if rendered.finish_reason == "tool_calls" and settings.has("tools_finish_stop"):
        return "stop"
    return rendered.finish_reason


async def respond_json(
    request: web.Request,
    state: SimState,
    rendered: Rendered,
    meta: dict[str, Any],
    d: Decision,
    arrived: float,
    reply: Reply,
) -> web.StreamResponse:
    s = state.settings
    total = s.latency_s + s.ttft_s
    if s.tokens_per_s > 0:
        total += rendered.completion_tokens / s.tokens_per_s
    await sleep_until(arrived + total)
    if d.fault == "drop":
        return abort(request)
    if d.fault in ("stream_error", "stream_error_no_done"):
        return error_response(
            s, 500, "Simulated internal error during generation", "InternalServerError"
        )
    choice: dict[str, Any] = {
        "index": 0,
        "message": _message(rendered, s),
        "logprobs": None,
        "finish_reason": finish_fields(rendered, s),
        "stop_reason": rendered.stop_reason,
    }
    if d.fault == "choice_error":
        choice["finish_reason"] = "error"
        choice["error"] = {"message": "Simulated upstream provider error", "code": 502}
    body = {
        "id": meta["id"],
        "object": "chat.completion",
        "created": meta["created"],
        "model": meta["model"],
        "system_fingerprint": None if s.has("null_fingerprint") else FINGERPRINT,
        "choices": [choice],
        "usage": usage_block(meta["prompt_tokens"], rendered.completion_tokens, s),
        "prompt_logprobs": None,
    }
    if s.has("extra_fields"):
        add_extra_fields(body, choice)
    state.faults.count("completed")
    return json_response(body)


def add_extra_fields(obj: dict[str, Any], choice: dict[str, Any] | None) -> None:
    """Fields real servers add that a client must ignore (ENDPOINTS.md §8)."""
    obj.update(
        {
            "kv_transfer_params": None,
            "metrics": {"simulated": True},
            "timings": {"predicted_ms": 1.0},
            "provider": "r1v4-simulator",
            "metadata": {"weight_version": "sim"},
            "prompt_token_ids": None,
        }
    )
    if choice is not None:
        choice.update(
            {
                "matched_stop": choice.get("stop_reason"),
                "native_finish_reason": choice.get("finish_reason"),
                "token_ids": None,
            }
        )
