"""Request checks for the simulator: the 400/401/404/413 answers vLLM gives for a malformed chat
completion, each naming the offending field, and the error bodies they (and every other error)
are sent in. Kept apart from the handler so the protocol rules read in one place, without any
HTTP plumbing around them.

Size note: `validate` checks a request field by field in the order vLLM does, so the first
error reported is vLLM's; split up, that order would be spread over several functions.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from r1v4.protocol.errors import R1V4Error
from r1v4.sim.render import count_tokens, image_tokens
from r1v4.sim.request import image_info, image_urls, message_text
from r1v4.sim.settings import SimSettings

_ROLES = {"system", "user", "assistant", "tool", "developer", "function"}


class BadRequest(R1V4Error):
    """A request the server refuses; carries the HTTP status, message and the offending field."""

    def __init__(self, status: int, message: str, param: str | None = None, kind: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param
        self.kind = kind or {
            400: "BadRequestError",
            401: "AuthenticationError",
            404: "NotFoundError",
            413: "BadRequestError",
        }.get(status, "BadRequestError")


def error_body(settings: SimSettings, status: int, message: str, kind: str, param=None) -> dict:
    """vLLM >= 0.10.1 error shape, or the older flat one / a string code under quirks."""
    code: int | str = str(status) if settings.has("string_error_code") else status
    if settings.has("flat_error"):
        return {"object": "error", "message": message, "type": kind, "param": param, "code": code}
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(
    settings: SimSettings, status: int, message: str, kind: str, param=None, headers=None
) -> web.Response:
    return web.json_response(
        error_body(settings, status, message, kind, param),
        status=status,
        headers=headers,
        dumps=lambda o: orjson.dumps(o).decode(),
    )


def check_auth(request: web.Request, settings: SimSettings) -> None:
    if settings.api_key is None:
        return
    if request.headers.get("Authorization", "") != f"Bearer {settings.api_key}":
        raise BadRequest(
            401,
            "Unauthorized: the Authorization header lacks the expected bearer token",
            None,
            "AuthenticationError",
        )


def _want_type(value: Any, types: tuple, name: str, what: str) -> None:
    if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
        raise BadRequest(400, f"'{name}' must be {what}, got {type(value).__name__}", name)


def validate(body: Any, settings: SimSettings) -> dict[str, Any]:
    """Check the request as vLLM's protocol models do; raise BadRequest naming the field.
    Returns the normalised knobs the renderer needs."""
    if not isinstance(body, dict):
        raise BadRequest(400, "request body must be a JSON object", None)
    messages = body.get("messages")
    if messages is None:
        raise BadRequest(400, "'messages' is required", "messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest(400, "'messages' must be a non-empty list", "messages")
    n_images = 0
    for i, m in enumerate(messages):
        _check_tool_images(m, i, settings)
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise BadRequest(400, f"'{where}' must be an object", where)
        role = m.get("role")
        if role not in _ROLES:
            raise BadRequest(
                400,
                f"'{where}.role' must be one of {sorted(_ROLES)}, got {role!r}",
                f"{where}.role",
            )
        content = m.get("content")
        if content is None:
            if role != "assistant":
                raise BadRequest(400, f"'{where}.content' is required", f"{where}.content")
            continue
        if isinstance(content, str):
            continue
        if not isinstance(content, list):
            raise BadRequest(
                400, f"'{where}.content' must be a string or a list of parts", f"{where}.content"
            )
        for j, part in enumerate(content):
            pw = f"{where}.content[{j}]"
            if not isinstance(part, dict):
                raise BadRequest(400, f"'{pw}' must be an object", pw)
            ptype = part.get("type")
            if ptype == "text":
                if not isinstance(part.get("text"), str):
                    raise BadRequest(400, f"'{pw}.text' must be a string", f"{pw}.text")
            elif ptype == "image_url":
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, dict) else None
                if not isinstance(url, str):
                    raise BadRequest(
                        400, f"'{pw}.image_url.url' must be a string", f"{pw}.image_url.url"
                    )
                if not url.startswith("data:"):
                    raise BadRequest(
                        400,
                        f"'{pw}.image_url.url': the simulator accepts only base64 data: URLs "
                        "(it never fetches remote images)",
                        f"{pw}.image_url.url",
                    )
                try:
                    image_info(url)
                except ValueError as exc:
                    raise BadRequest(
                        400, f"'{pw}.image_url.url': {exc}", f"{pw}.image_url.url"
                    ) from exc
                n_images += 1
            else:
                raise BadRequest(
                    400, f"'{pw}.type' must be 'text' or 'image_url', got {ptype!r}", f"{pw}.type"
                )
    limit = settings.max_images_per_prompt
    if limit is not None and n_images > limit:
        raise BadRequest(400, f"At most {limit} image(s) may be provided in one prompt.", None)

    model = body.get("model")
    _want_type(model, (str,), "model", "a string")
    if settings.model is not None and model is not None and model != settings.model:
        raise BadRequest(404, f"The model `{model}` does not exist.", "model", "NotFoundError")

    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise BadRequest(400, "'stream' must be a boolean", "stream")
    options = body.get("stream_options")
    if options is not None:
        if not stream:
            raise BadRequest(
                400, "Stream options can only be defined when `stream=True`.", "stream_options"
            )
        if not isinstance(options, dict):
            raise BadRequest(400, "'stream_options' must be an object", "stream_options")
    options = options or {}

    stop = body.get("stop")
    if stop is None:
        stops: list[str] = []
    elif isinstance(stop, str):
        stops = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        stops = list(stop)
    else:
        raise BadRequest(400, "'stop' must be a string or a list of strings", "stop")

    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise BadRequest(400, f"'{name}' must be a positive integer", name)
    for key in ("temperature", "top_p"):
        _want_type(body.get(key), (int, float), key, "a number")
    n = body.get("n", 1)
    if n not in (1, None):
        raise BadRequest(400, "'n' other than 1 is not supported by the simulator", "n")
    if "tools" in body and body["tools"] is not None:
        if not isinstance(body["tools"], list) or not body["tools"]:
            raise BadRequest(400, "'tools' must be a non-empty list when given", "tools")
        parser = settings.tool_parser or settings.structured_tool_calls
        if body.get("tool_choice") in (None, "auto") and not parser:
            raise BadRequest(  # vLLM serving_chat, without --enable-auto-tool-choice
                400,
                '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser '
                "to be set",
                "tool_choice",
            )
    elif body.get("tool_choice") not in (None, "none"):
        raise BadRequest(400, "When using `tool_choice`, `tools` must be set.", "tool_choice")
    if not settings.continuation:
        for key in ("continue_final_message", "add_generation_prompt"):
            if key in body:
                raise BadRequest(400, f"Unrecognized request argument supplied: {key}", key)
    if body.get("continue_final_message") and body.get("add_generation_prompt", True):
        raise BadRequest(
            400,
            "Cannot set both `continue_final_message` and `add_generation_prompt` to True.",
            "continue_final_message",
        )
    if stream and body.get("prompt_logprobs") is not None:
        raise BadRequest(
            400, "`prompt_logprobs` are not available when `stream=True`.", "prompt_logprobs"
        )
    if body.get("chat_template") is not None:
        raise BadRequest(
            400,
            "Chat template is passed with request, but --trust-request-chat-template is not set. "
            "Refused request with untrusted chat template.",
            "chat_template",
        )
    kwargs = body.get("chat_template_kwargs") or {}
    return {
        "stream": stream,
        "include_usage": bool(options.get("include_usage")),
        "continuous_usage": bool(options.get("continuous_usage_stats")),
        "stops": stops,
        "max_tokens": max_tokens,
        "include_stop": bool(body.get("include_stop_str_in_output")),
        "include_reasoning": body.get("include_reasoning", True) is not False,
        "named_tool_choice": isinstance(body.get("tool_choice"), dict),
        "tools": bool(body.get("tools")) and body.get("tool_choice") != "none",
        "enable_thinking": not (
            isinstance(kwargs, dict) and kwargs.get("enable_thinking") is False
        ),
    }


def _check_tool_images(message: Any, i: int, settings: SimSettings) -> None:
    """A server that takes only text in tool messages (`tool_images=False`) refuses images."""
    if settings.tool_images or not isinstance(message, dict) or message.get("role") != "tool":
        return
    content = message.get("content")
    if isinstance(content, list) and any(
        isinstance(p, dict) and p.get("type") != "text" for p in content
    ):
        raise BadRequest(
            400, "tool message content only supports text content", f"messages[{i}].content"
        )


def check_context(body: dict[str, Any], knobs: dict[str, Any], settings: SimSettings) -> int:
    """The prompt's size in tokens; BadRequest with vLLM's wording when the prompt and the
    completion do not fit the context window (MODELS.md 2.6)."""
    prompt = prompt_tokens(body["messages"])
    limit = settings.max_model_len
    completion = knobs["max_tokens"] or 0
    if prompt > limit and settings.context_error == "engine":
        raise BadRequest(
            400, f"Prompt length of {prompt} is longer than the maximum model length of {limit}."
        )
    if prompt + completion > limit or prompt > limit:
        raise BadRequest(
            400,
            f"This model's maximum context length is {limit} tokens. However, you requested "
            f"{prompt + completion} tokens ({prompt} in the messages, {completion} in the "
            "completion). Please reduce the length of the messages or completion.",
        )
    return prompt


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """Estimated prompt size: text tokens, 4 per message for the template, image patches."""
    total = 0
    for m in messages:
        total += 4 + count_tokens(message_text(m))
        for url in image_urls(m):
            try:
                info = image_info(url)
                total += image_tokens(info.width, info.height)
            except ValueError:
                total += 256
    return total
