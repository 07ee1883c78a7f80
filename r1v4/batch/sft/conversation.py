"""A finished trajectory as the conversation the model had, in its dialect: the system
prompt, the user message (question and images placed as the family places them), then each
assistant turn as the model wrote it and each observation as the dialect sent it back —
format-neutral; the trainers' formats are `r1v4.batch.sft.formats`.

`render(record, dialect, info, custom)` is the one hook: it rebuilds what the agent loop
built (the dialect's `system_prompt`, `question`, `user_content` and `observation`, from
`r1v4.agent.dialects.registry`) from the record alone. The record's `full_response` is the
model's own text between `<observation>{json}</observation>` blocks; each block becomes the
dialect's `Outcome` (the call read from the turn before it, the tool's result and error,
its search entries, its images as gallery images) and is shaped by the dialect, exactly as
the loop shaped it. Images are placeholders carried through the dialect's content parts:
each one becomes `<image>` in the text and its reference goes, in order, into the turn's
image list. Structured calls are rendered without call ids, so a native tool result comes
back the way the chat template writes it (a user turn in `<tool_response>`), and the system
prompt is the one without native function calling (the dialect writes its tool list in).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from r1v4._util.images import LoadedImage
from r1v4.agent.dialects.base import Call, Dialect, Outcome, PromptInfo
from r1v4.agent.dialects.base import Conversation as DialectConv
from r1v4.agent.dialects.registry import DIALECTS
from r1v4.agent.gallery import Gallery
from r1v4.parsing import iter_events, parse_tool_call
from r1v4.tools import ToolResult

__all__ = ["DIALECTS", "IMAGE", "Conversation", "Turn", "render"]

#: What stands for an image in the trainers' text (every format counts these).
IMAGE = "<image>"
#: What a literal "<image>" in model text becomes, so that it is not taken for an image.
IMAGE_TEXT = "[image]"
_MARK = "r1v4-sft-image:"


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
    n_inputs: int = 0

    @property
    def images(self) -> list[str]:
        return [ref for t in self.turns for ref in t.images]

    def clean(self, text: str) -> str:
        """Model or tool text with any literal image placeholder made harmless."""
        n = text.count(IMAGE)
        if n:
            self.rewritten += n
            text = text.replace(IMAGE, IMAGE_TEXT)
        return text


class _Images:
    """Stand-ins the dialect places like images: each carries its index in its bytes."""

    def __init__(self) -> None:
        self.refs: list[str] = []

    def loaded(self, ref: str) -> LoadedImage:
        self.refs.append(ref)
        marker = f"{_MARK}{len(self.refs) - 1}".encode()
        return LoadedImage(marker, "image/png", 1, 1, ref)

    def ref_of(self, part: dict[str, Any]) -> str | None:
        url = part.get("image_url")
        url = url.get("url") if isinstance(url, dict) else url
        try:
            text = base64.b64decode(str(url).split(",", 1)[1]).decode()
        except (IndexError, ValueError, UnicodeDecodeError):
            return None
        if not text.startswith(_MARK):
            return None
        return self.refs[int(text[len(_MARK) :])]


def _flatten(content: Any, images: _Images, conv: Conversation) -> tuple[str, list[str]]:
    """A message's content as text with `<image>` where its images were, and their refs."""
    if isinstance(content, str):
        return conv.clean(content), []
    text, refs = [], []
    for part in content or []:
        if part.get("type") == "text":
            text.append(conv.clean(str(part.get("text", ""))))
        elif part.get("type") == "image_url":
            ref = images.ref_of(part)
            if ref is not None:  # a remote URL the case named is not a file to train on
                text.append(IMAGE)
                refs.append(ref)
    return "".join(text), refs


def _inputs(record: dict[str, Any]) -> list[str]:
    images = record.get("images")
    if isinstance(images, list) and images:
        return [i for i in images if isinstance(i, str) and i]
    image = record.get("image")
    return [image] if isinstance(image, str) and image else []


def _calls(segment: str) -> list[Call]:
    """The calls an assistant turn made, as the record holds them."""
    out = []
    for ev in iter_events(segment):
        if ev.kind != "tool_call" or ev.incomplete:
            continue
        if ev.tag is not None and isinstance(ev.data, dict):
            out.append(Call(str(ev.data.get("name")), dict(ev.data.get("arguments") or {})))
            continue
        call, error = parse_tool_call(ev.content)
        out.append(
            Call(str(call["name"]), call["arguments"]) if call else Call("invalid", error=error)
        )
    return out


def _outcome(obs: dict[str, Any], call: Call, dconv: DialectConv, images: _Images) -> Outcome:
    refs = [r for r in obs.get("images") or [] if isinstance(r, str)]
    names = obs.get("names") if isinstance(obs.get("names"), list) else []
    notes = obs.get("notes") if isinstance(obs.get("notes"), list) else []
    shown = []
    for k, ref in enumerate(refs):
        name = names[k] if k < len(names) and isinstance(names[k], str) else f"image_{k + 1}.png"
        note = notes[k] if k < len(notes) and isinstance(notes[k], str) else None
        shown.append(dconv.gallery.add(name, b"", images.loaded(ref), output=True, note=note))
    error = obs.get("error")
    result = ToolResult(
        tool=str(obs.get("type") or call.name),
        text=str(obs.get("result") or ""),
        error=str(error) if error else None,
        data=obs.get("results") if isinstance(obs.get("results"), list) else None,
    )
    return Outcome(call, result, shown)


def _group(events: list[Any], i: int, full: str) -> list[Any]:
    """The observation at `i` and those that follow it with nothing but space between."""
    group = [events[i]]
    for ev in events[i + 1 :]:
        if ev.kind != "observation" or full[group[-1].end : ev.start].strip():
            break
        group.append(ev)
    return group


def _add(conv: Conversation, role: str, text: str, refs: list[str]) -> None:
    """Append a turn; an assistant turn after an assistant turn continues it (the dialect
    put a result inside the model's own message)."""
    if role == "assistant" and conv.turns and conv.turns[-1].role == "assistant":
        conv.turns[-1].text += text
        conv.turns[-1].images += refs
    else:
        conv.turns.append(Turn(role, text, refs))


def render(
    record: dict[str, Any], dialect: str, info: PromptInfo, custom: str | None = None
) -> Conversation:
    """The conversation of one record in `dialect` (KeyError: no such dialect)."""
    d: Dialect = DIALECTS[dialect]
    conv, images = Conversation([]), _Images()
    dconv = DialectConv(Gallery(), native_tools=False)
    system = d.system_prompt(PromptInfo(info.tool_names, False, info.prompt, info.search), custom)
    if system:
        conv.turns.append(Turn("system", conv.clean(system)))
    for k, ref in enumerate(_inputs(record)):
        dconv.gallery.add(ref.rsplit("/", 1)[-1] or f"image_{k + 1}", b"", images.loaded(ref),
                          output=False)  # fmt: skip
    conv.n_inputs = len(dconv.gallery.images)
    question = d.question(str(record.get("question") or ""), record.get("options"),
                          record.get("prompt_style"))  # fmt: skip
    _add(conv, "user", *_flatten(d.user_content(question, dconv.gallery.inputs), images, conv))
    full = str((record.get("response") or {}).get("full_response") or "")
    events = iter_events(full)
    at = i = 0
    while i < len(events):
        if events[i].kind != "observation":
            i += 1
            continue
        segment = full[at : events[i].start]
        _add(conv, "assistant", conv.clean(segment), [])
        calls = _calls(segment)
        group = _group(events, i, full)  # one turn's calls answered one after another
        outcomes = []
        for ev in group:
            obs = ev.data if isinstance(ev.data, dict) else {}
            call = calls.pop(0) if calls else Call("invalid")
            outcomes.append(_outcome(obs, call, dconv, images))
        for message in d.observation(outcomes, dconv):
            _add(conv, str(message.get("role")), *_flatten(message.get("content"), images, conv))
        dconv.observations += len(outcomes)
        at, i = group[-1].end, i + len(group)
    if full[at:].strip():
        _add(conv, "assistant", conv.clean(full[at:]), [])
    return conv
