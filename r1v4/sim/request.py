"""Reading a chat request the way the simulator needs: message text, image URLs and their
size, the first user message, the client's request id, and whether it is a planner request."""

from __future__ import annotations

import base64
import binascii
import functools
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from r1v4.protocol.plan import PLANNER_SYSTEM_PROMPT

__all__ = [
    "ImageInfo",
    "first_user",
    "image_info",
    "image_urls",
    "is_planner",
    "message_text",
    "request_id",
]


@dataclass
class ImageInfo:
    """What the policy needs to know about an input image."""

    width: int
    height: int
    format: str | None


def message_text(message: dict[str, Any]) -> str:
    """The text of a message: its string content, or its text parts joined by newlines."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def image_urls(message: dict[str, Any]) -> list[str]:
    """The image URLs of a message's content parts, in order."""
    content = message.get("content")
    if not isinstance(content, list):
        return []
    urls = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str):
                urls.append(url)
    return urls


@functools.lru_cache(maxsize=8)  # small: it keeps the (large) URL strings alive
def image_info(url: str) -> ImageInfo:
    """Size and format of a data-URL image, decoded with Pillow; ValueError when unreadable.

    Only a prefix is decoded first (Pillow reads the size from the header), so large images
    cost little; the whole payload is decoded only when the prefix is not enough. Cached: one
    request asks for the same URL object several times (validation, policy, usage)."""
    from PIL import Image, UnidentifiedImageError

    header, _, payload = url.partition(",")
    attempts = []
    if len(payload) > 65536:
        attempts.append(payload[:65536])
    attempts.append(payload)
    last: Exception | None = None
    for chunk in attempts:
        try:
            if not url.startswith("data:") or ";base64" not in header:
                raise ValueError("not a base64 data: URL (the simulator never fetches images)")
            data = base64.b64decode(chunk, validate=False)
            with Image.open(io.BytesIO(data)) as img:
                return ImageInfo(img.width, img.height, img.format)
        except (UnidentifiedImageError, OSError, binascii.Error, ValueError, SyntaxError) as exc:
            last = exc
    raise ValueError(f"cannot read image: {last}")


def first_user(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((m for m in messages if m.get("role") == "user"), None)


def request_id(body: dict[str, Any], headers: Mapping[str, str]) -> str | None:
    """The client's id for the request: the X-Request-Id header first (as vLLM reads it),
    then the body's `request_id` field."""
    rid = headers.get("x-request-id") or headers.get("X-Request-Id")
    if rid:
        return rid
    rid = body.get("request_id")
    return rid if isinstance(rid, str) and rid else None


def is_planner(body: dict[str, Any]) -> bool:
    """Planner mode: the planner system prompt, or a model name that says 'planner'."""
    if "planner" in str(body.get("model") or "").lower():
        return True
    return any(
        m.get("role") == "system" and message_text(m).strip() == PLANNER_SYSTEM_PROMPT.strip()
        for m in body.get("messages", [])
    )
