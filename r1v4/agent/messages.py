"""The messages a case starts with: its system prompt, and its user message (images, then the
question with the case's options written in) or a Batch API line's own messages.

Apart from the loop because this is where the case contract of DESIGN.md ("Test case")
becomes a request: which prompt applies, and how options reach the model."""

from __future__ import annotations

from typing import Any

from r1v4._util.images import LoadedImage
from r1v4.agent import prompts
from r1v4.agent.settings import AgentSettings
from r1v4.protocol.cases import Case

__all__ = ["batch_messages", "first_messages", "system_prompt", "user_message"]


def system_prompt(case: Case, settings: AgentSettings, search_tools: bool) -> str:
    """The case's own prompt, else the run's file, else the named prompt ("auto": none for
    server-side or no tools, else deepresearch when search tools are configured)."""
    if case.system is not None:
        return case.system
    if settings.system_prompt is not None:
        return settings.system_prompt
    prompt = settings.prompt
    if prompt == "auto":
        if settings.tools != "client":
            return ""
        prompt = "deepresearch" if search_tools else "general"
    return prompts.SYSTEM_PROMPTS[prompt]


def user_message(case: Case, images: list[LoadedImage]) -> dict[str, Any]:
    """The case's images (prepared ones, then remote URLs) and its question with options."""
    parts: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": img.data_url()}} for img in images
    ]
    parts += [
        {"type": "image_url", "image_url": {"url": ref}}
        for ref in case.images
        if ref.startswith(("http://", "https://"))
    ]
    template = prompts.options_template(case.prompt_style)
    text = prompts.render_question(case.question, case.options, template)
    parts.append({"type": "text", "text": text})
    return {"role": "user", "content": parts}


def batch_messages(case: Case) -> list[dict[str, Any]]:
    """A Batch API line's messages as given, with the line's options (if any) written into
    the text of its last user message."""
    assert case.messages is not None
    messages = list(case.messages)
    if not case.options:
        return messages

    def ask(text: str) -> str:
        return prompts.render_question(
            text, case.options, prompts.options_template(case.prompt_style)
        )

    last = max(i for i, m in enumerate(messages) if m.get("role") == "user")
    content = messages[last].get("content")
    if isinstance(content, list):
        texts = [
            j for j, p in enumerate(content) if isinstance(p, dict) and p.get("type") == "text"
        ]
        content = list(content)
        if texts:
            j = texts[-1]
            content[j] = {**content[j], "text": ask(str(content[j].get("text", "")))}
        else:
            content.append({"type": "text", "text": ask("").strip()})
    else:
        content = ask(content if isinstance(content, str) else "")
    messages[last] = {**messages[last], "content": content}
    return messages


def first_messages(case: Case, images: list[LoadedImage], system: str) -> list[dict[str, Any]]:
    """The request's messages before the first turn."""
    if case.messages is not None:
        messages = batch_messages(case)
        if system and not any(m.get("role") == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": system})
        return messages
    head = [{"role": "system", "content": system}] if system else []
    return head + [user_message(case, images)]
