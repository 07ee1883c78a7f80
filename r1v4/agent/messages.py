"""The messages a case starts with: its system prompt, and its user message (in the case's
dialect: the question, its options written in, and the images placed as that family expects)
or a Batch API line's own messages.

Apart from the loop because this is where the case contract of DESIGN.md ("Test case")
becomes a request: which prompt applies, how options reach the model, and where the case's
images go."""

from __future__ import annotations

from typing import Any

from r1v4.agent import prompts
from r1v4.agent.dialects.base import Dialect, PromptInfo
from r1v4.agent.gallery import Gallery
from r1v4.agent.settings import AgentSettings
from r1v4.protocol.cases import Case

__all__ = [
    "batch_messages",
    "first_messages",
    "plain_system_prompt",
    "system_prompt",
    "user_message",
]


def custom_system(case: Case, settings: AgentSettings) -> str | None:
    """A case's own `system`, else --system-prompt-file's text, else None."""
    return case.system if case.system is not None else settings.system_prompt


def system_prompt(case: Case, settings: AgentSettings, dialect: Dialect, info: PromptInfo) -> str:
    """The agent loop's system prompt: the dialect's own, or a custom one with whatever the
    dialect adds to any prompt (Qwen's `# Tools` block without native function calling)."""
    return dialect.system_prompt(info, custom_system(case, settings))


def plain_system_prompt(case: Case, settings: AgentSettings) -> str:
    """The prompt when the toolkit runs no tools (`--tools server|none`): a custom one, a
    named one, or none ("auto": the hosted API has its own)."""
    custom = custom_system(case, settings)
    if custom is not None:
        return custom
    return "" if settings.prompt == "auto" else prompts.SYSTEM_PROMPTS[settings.prompt]


def user_message(case: Case, dialect: Dialect, gallery: Gallery) -> dict[str, Any]:
    """The question with its options (worded as the dialect words them) and the case's images
    where the dialect puts them; remote image URLs right after them. (What the guard did to
    an input image is in the record's `meta.image_notes`, not in the prompt: a benchmark's
    wording stays as published.)"""
    question = dialect.question(case.question, case.options, case.prompt_style)
    parts = dialect.user_content(question, gallery.inputs)
    remote = [
        {"type": "image_url", "image_url": {"url": ref}}
        for ref in case.images
        if ref.startswith(("http://", "https://"))
    ]
    if remote:  # after the case's last image part, else first
        last = max((i for i, p in enumerate(parts) if p.get("type") == "image_url"), default=-1)
        parts = parts[: last + 1] + remote + parts[last + 1 :]
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


def first_messages(
    case: Case, dialect: Dialect, gallery: Gallery, system: str
) -> list[dict[str, Any]]:
    """The request's messages before the first turn."""
    if case.messages is not None:
        messages = batch_messages(case)
        if system and not any(m.get("role") == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": system})
        return messages
    head = [{"role": "system", "content": system}] if system else []
    return head + [user_message(case, dialect, gallery)]
