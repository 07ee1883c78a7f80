"""The probes `check --dialect` adds: is the server set up for how a model family calls its
tools? Native function calling needs vLLM's tool parser (a request with `tools` is refused
without `--enable-auto-tool-choice --tool-call-parser`, MODELS.md 2.2) and images inside
`role: tool` messages (some servers take only text there, 2.3); a family that zooms many
times needs room for its images per request (2.5).

The dialect itself is the agent's business; this module gets only what to send (tool
schemas, how many images) and reports what the server did, with what to change.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from PIL import Image

from r1v4._util.images import prepare_image
from r1v4.endpoint.client import ChatClient, EndpointError

__all__ = ["DialectNeeds", "probe_dialect"]


@dataclass(frozen=True)
class DialectNeeds:
    """What a dialect asks of a server."""

    name: str
    tools: list[dict[str, Any]] | None = None  # native function calling: sent as tools=[...]
    images: int | None = None  # images one request may carry, at most (Mini-o3: 12)
    continues: bool = False  # requests go on with the last assistant message (Thyme)


def _png() -> dict[str, Any]:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buf, format="PNG")
    url = prepare_image(buf.getvalue(), "probe").data_url()
    return {"type": "image_url", "image_url": {"url": url}}


async def _ask(client: ChatClient, messages: list[dict[str, Any]], extra: dict[str, Any]) -> None:
    """One short, greedy request carrying `extra`; raises EndpointError when refused."""
    await client.complete(messages, stream=False, max_tokens=16, temperature=0, extra_body=extra)


def _first_tool(tools: list[dict[str, Any]]) -> str:
    fn = tools[0].get("function") if isinstance(tools[0], dict) else None
    return str(fn.get("name")) if isinstance(fn, dict) else "tool"


async def _tools_accepted(client: ChatClient, needs: DialectNeeds, report: Any) -> bool:
    assert needs.tools is not None
    try:
        await _ask(
            client,
            [{"role": "user", "content": "Reply with the single word: ready"}],
            {"tools": needs.tools},
        )
    except EndpointError as exc:
        report.add(
            "tool parser",
            False,
            f"a request with tools=[...] was refused: {exc.message[:200]}",
            "start vLLM with --enable-auto-tool-choice --tool-call-parser hermes, or run with "
            "--no-native-tools",
        )
        return False
    report.add("tool parser", True, f"requests with tools=[...] are accepted ({needs.name})")
    return True


async def _tool_images(client: ChatClient, needs: DialectNeeds, report: Any) -> None:
    assert needs.tools is not None
    name = _first_tool(needs.tools)
    messages = [
        {"role": "user", "content": [_png(), {"type": "text", "text": "Zoom in."}]},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_probe",
                    "type": "function",
                    "function": {"name": name, "arguments": "{}"},
                }
            ],
        },  # fmt: skip
        {"role": "tool", "tool_call_id": "call_probe", "content": [_png()]},
    ]
    try:
        await _ask(client, messages, {"tools": needs.tools, "tool_choice": "none"})
    except EndpointError as exc:
        report.add(
            "tool images",
            False,
            f"an image inside a role:tool message was refused: {exc.message[:200]}",
            "run with --no-native-tools (results then go back as user <tool_response> turns)",
        )
        return
    report.add("tool images", True, "images inside role:tool messages are accepted")


async def _continuation(client: ChatClient, needs: DialectNeeds, report: Any) -> None:
    """A request that goes on with the last assistant message, as the dialect sends it:
    `continue_final_message: true` with `add_generation_prompt: false` (ENDPOINTS.md 22)."""
    messages = [
        {"role": "user", "content": "Count from one to five."},
        {"role": "assistant", "content": "one two three"},
    ]
    try:
        await _ask(
            client, messages, {"continue_final_message": True, "add_generation_prompt": False}
        )
    except EndpointError as exc:
        report.add(
            "continuation",
            False,
            f"a request that continues the assistant's message was refused: {exc.message[:200]}",
            f"the {needs.name} dialect needs continue_final_message (vLLM's chat API); use a "
            "vLLM server",
        )
        return
    report.add(
        "continuation",
        True,
        "requests with continue_final_message and add_generation_prompt false are accepted",
    )


async def probe_dialect(client: ChatClient, needs: DialectNeeds, report: Any, images: int) -> None:
    """Add the dialect's findings to `report`; `images` is how many images one request was
    found to take (0 when unknown)."""
    if needs.tools:
        if await _tools_accepted(client, needs, report):
            await _tool_images(client, needs, report)
    else:
        report.add(
            "tool parser",
            True,
            f"not needed: the {needs.name} dialect writes its calls as text and sends no tools",
        )
    if needs.continues:
        await _continuation(client, needs, report)
    if needs.images is not None:
        ok = images >= needs.images
        report.add(
            "image budget",
            ok,
            f"the {needs.name} dialect sends up to {needs.images} images per request; "
            f"{images} accepted",
            "" if ok else f"start vLLM with --limit-mm-per-prompt '{{\"image\": {needs.images}}}'",
        )
    window = client.model_info.get("max_model_len")
    report.add(
        "context",
        True,
        f"max_model_len {window} (requests are fitted to it)"
        if window
        else "the server does not list max_model_len; a context-length 400 ends a case's "
        "tool phase with one answer-now turn",
    )
