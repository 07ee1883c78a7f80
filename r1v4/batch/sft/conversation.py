"""A finished trajectory as the conversation the model had: the system prompt, the user's
question with its images, then each assistant turn as the model wrote it and each
observation as it was sent back (text, then its images) — format-neutral; the trainers'
formats are `r1v4.batch.sft.formats`.

How a family's model saw its tools is its dialect's business; `render(record, dialect,
system)` is the one place that chooses how (the hook). The toolkit's own protocol (`r1v4`,
every record's `full_response`) is rendered here exactly as the agent loop sent it
(`r1v4.agent.turns.observation_block`, the model's copy: images named by the file names
the model saw, no search-result duplicate); other dialects come with the dialect registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from r1v4.agent import prompts
from r1v4.parsing import iter_events
from r1v4.protocol import tags

__all__ = ["DIALECTS", "Conversation", "Turn", "render", "system_prompt_for"]

#: What stands for an image in the trainers' text (every format counts these).
IMAGE = "<image>"
#: What a literal "<image>" in model text becomes, so that it is not taken for an image.
IMAGE_TEXT = "[image]"


@dataclass
class Turn:
    """One message: `images` are references (record paths or data URLs) in the order of
    the `<image>` placeholders in `text`."""

    role: str  # "system" | "user" | "assistant"
    text: str
    images: list[str] = field(default_factory=list)


@dataclass
class Conversation:
    turns: list[Turn]
    rewritten: int = 0  # literal "<image>" texts rewritten to IMAGE_TEXT

    @property
    def images(self) -> list[str]:
        return [ref for t in self.turns for ref in t.images]


def _clean(text: str, conv: Conversation) -> str:
    """Model or tool text with any literal image placeholder made harmless."""
    n = text.count(IMAGE)
    if n:
        conv.rewritten += n
        text = text.replace(IMAGE, IMAGE_TEXT)
    return text


def system_prompt_for(choice: str, uses_search: bool) -> str:
    """The r1v4 dialect's system prompt for a run: a named prompt, or (auto) the one the
    batch chose — deepresearch when it had search tools, else general."""
    if choice == "auto":
        choice = "deepresearch" if uses_search else "general"
    return prompts.SYSTEM_PROMPTS[choice]


def _model_copy(obs: dict[str, Any], n_images: int) -> str:
    """The observation as the model read it: `{"type", "result", "images": names, "error"?}`
    (the record's copy adds refs, names, regions and results)."""
    names = obs.get("names") if isinstance(obs.get("names"), list) else None
    if names is None or len(names) != n_images:
        names = [f"observation_{k + 1}.png" for k in range(n_images)]
    body: dict[str, Any] = {"type": obs.get("type"), "result": obs.get("result"), "images": names}
    if obs.get("error"):
        body["error"] = obs["error"]
    return tags.OBSERVATION_OPEN + orjson.dumps(body).decode() + tags.OBSERVATION_CLOSE


def _inputs(record: dict[str, Any]) -> list[str]:
    images = record.get("images")
    if isinstance(images, list) and images:
        return [i for i in images if isinstance(i, str) and i]
    image = record.get("image")
    return [image] if isinstance(image, str) and image else []


def render_r1v4(record: dict[str, Any], system: str) -> Conversation:
    """The toolkit's own protocol: user = images then the question (options written in, as
    `r1v4.agent.messages.user_message` sends it); assistant turns = `full_response` between
    observations; observation = the model's copy, then one image per returned image."""
    conv = Conversation([])
    if system:
        conv.turns.append(Turn("system", _clean(system, conv)))
    inputs = _inputs(record)
    question = prompts.render_question(str(record.get("question") or ""), record.get("options"))
    conv.turns.append(Turn("user", IMAGE * len(inputs) + _clean(question, conv), inputs))
    full = str((record.get("response") or {}).get("full_response") or "")
    at = 0
    for ev in iter_events(full):
        if ev.kind != "observation":
            continue
        conv.turns.append(Turn("assistant", _clean(full[at : ev.start], conv)))
        obs = ev.data if isinstance(ev.data, dict) else {}
        refs = [r for r in obs.get("images") or [] if isinstance(r, str)]
        text = _clean(_model_copy(obs, len(refs)), conv)
        conv.turns.append(Turn("user", text + ("\n" + IMAGE * len(refs) if refs else ""), refs))
        at = ev.end
    if full[at:].strip():
        conv.turns.append(Turn("assistant", _clean(full[at:], conv)))
    return conv


#: The dialects a trajectory can be rendered in (the hook: one function each).
DIALECTS = {"r1v4": render_r1v4}


def render(record: dict[str, Any], dialect: str, system: str) -> Conversation:
    """The conversation of one record in `dialect` (KeyError: no such dialect)."""
    return DIALECTS[dialect](record, system)
