"""Fitting a request into the model's context window, and the last turn when it does not.

Image tokens count against `max_model_len` (vLLM's error for a prompt that does not fit:
MODELS.md 2.5-2.6), so a long trajectory of crops fills the window long before its text
does. When the window is known (`/v1/models` lists `max_model_len`), each request is
estimated before it goes: `max_tokens` is lowered to what is left, and when even a short
completion would not fit, older observation images give way to a text note (the case's own
images stay). The estimate is deliberately rough; the server's context-length 400 remains
the real judge, and the loop answers it with one final "answer now" turn
(`answer_now_messages`) instead of failing the case.
"""

from __future__ import annotations

import io
import math
from typing import Any

from PIL import Image, UnidentifiedImageError

from r1v4.agent.turns import limit_images
from r1v4.protocol.dataurl import DataURLError, decode_data_url

__all__ = ["MIN_COMPLETION", "answer_now_messages", "estimate_tokens", "fit_request"]

MIN_COMPLETION = 256  # a final answer needs at least this many tokens
_CHARS_PER_TOKEN = 3  # conservative for English and code with Qwen's tokenizer
_PER_MESSAGE = 8  # role tags and separators of the chat template


def _image_tokens(url: str, factor: int) -> int:
    """Tokens of one image part: one per factor x factor patch of the size it was sent at
    (1024 when the size cannot be read, e.g. a remote URL)."""
    try:
        with Image.open(io.BytesIO(decode_data_url(url))) as img:  # reads the header only
            w, h = img.size
    except (DataURLError, UnidentifiedImageError, OSError, ValueError):
        return 1024
    return max(4, math.ceil(w / factor) * math.ceil(h / factor))


def estimate_tokens(messages: list[dict[str, Any]], factor: int) -> int:
    """A rough prompt size: text at a few characters per token, images by patches."""
    total = 0
    for m in messages:
        total += _PER_MESSAGE
        content = m.get("content")
        if isinstance(content, str):
            total += len(content) // _CHARS_PER_TOKEN
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "text":
                    total += len(str(part.get("text", ""))) // _CHARS_PER_TOKEN
                elif part.get("type") == "image_url":
                    image = part.get("image_url")
                    url = image.get("url") if isinstance(image, dict) else image
                    total += _image_tokens(str(url), factor)
        for call in m.get("tool_calls") or []:
            total += len(str(call)) // _CHARS_PER_TOKEN
    return total


def _image_count(messages: list[dict[str, Any]]) -> int:
    return sum(
        1
        for m in messages
        if isinstance(m.get("content"), list)
        for p in m["content"]
        if isinstance(p, dict) and p.get("type") == "image_url"
    )


def fit_request(
    messages: list[dict[str, Any]],
    max_tokens: int | None,
    max_model_len: int | None,
    factor: int,
) -> tuple[list[dict[str, Any]], int | None, int]:
    """(messages, max_tokens, images dropped) that should fit `max_model_len`; unchanged
    when the window is unknown or they fit. `max_tokens` None (the server's default, the
    rest of the window) stays None."""
    if max_model_len is None:
        return messages, max_tokens, 0
    total = _image_count(messages)
    fitted, prompt = messages, estimate_tokens(messages, factor)
    keep = total
    while prompt + MIN_COMPLETION > max_model_len and keep > 0:
        keep -= 1
        candidate = limit_images(messages, keep)
        if _image_count(candidate) >= _image_count(fitted):
            break  # only the case's own images are left
        fitted, prompt = candidate, estimate_tokens(candidate, factor)
    room = max_model_len - prompt
    if max_tokens is not None and max_tokens > room:
        max_tokens = max(16, room)  # the estimate errs high; the server judges the rest
    return fitted, max_tokens, total - _image_count(fitted)


def answer_now_messages(messages: list[dict[str, Any]], prompt: str) -> list[dict[str, Any]]:
    """The conversation for the last turn after the window overflowed: every observation
    image but the case's own replaced by a note, then `prompt` as a user turn."""
    first_user = next((m for m in messages if m.get("role") == "user"), None)
    own = 0
    if first_user is not None and isinstance(first_user.get("content"), list):
        own = sum(
            1 for p in first_user["content"] if isinstance(p, dict) and p.get("type") == "image_url"
        )
    return [*limit_images(messages, own), {"role": "user", "content": prompt}]
