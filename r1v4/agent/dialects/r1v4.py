"""`r1v4`: Skywork-R1V4's interface, as its paper and the seed repository publish it.

Sources (verbatim notes in /work/notes/dialects/r1v4.md):
- System prompt: the paper's Table 1 (`r1v4.agent.prompts.PAPER_SYSTEM_PROMPT`, braces
  reconstructed); planner: Table 3 (`r1v4.protocol.plan.PLANNER_SYSTEM_PROMPT`)
  (`SkyworkAI/Skywork-R1V@b806cef:Skywork_R1V4.pdf`, pp. 7 and 17).
- Calls: `<tool_call>{"name", "arguments"}</tool_call>` with `code{code}`,
  `image_search{image_paths}`, `text_search{queries}`, `web_visit{urls}` (Table 1), and the
  trained one-tag-per-tool form `<code>`, `<text_search>`, `<image_search>`, `<web_content>`
  (paper §2.2.1; `@fdfbb84:r1v4/inference/request_deepresearch.py:87-136`), both executed.
- User message: the image(s) first, then the question (`@b806cef:r1v4/batch_nonstream.py`).
- Observations in the form the paper's Figures 5-7 show: `<observation> <sub-image N>
  </observation>` for an image a tool made, numbered search results `N. title link: …
  image: …` (image search) and `N. title link: … text: …` (text search).
- Image references in calls: `<image>` (the input), `<sub-image N>` (the N-th image a tool
  made), as the figures write them unquoted; `image_N` for the N-th input.

RECONSTRUCTED (no source publishes them): the stop strings (the hosted API runs the loop on
the server; the toolkit stops at the closing tag of any call so it can run it), the exact
text between an observation's parts, and where the image part sits (right after its
`<sub-image N>` name). The sandbox predefines `image_path`/`image_paths` (Table 1 says "local
image path"; the figures elide how code opens the image).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from r1v4.agent.dialects.base import (
    Action,
    Call,
    Conversation,
    Dialect,
    Outcome,
    PromptInfo,
    Refuse,
    RunTool,
    Turn,
    text_part,
)
from r1v4.agent.dialects.code_hooks import strip_fences
from r1v4.agent.dialects.sampling import Sampling
from r1v4.agent.dialects.shapes import call_events, call_from_event, image_parts, notes_text
from r1v4.agent.gallery import GalleryImage
from r1v4.agent.prompts import SYSTEM_PROMPTS, ask_with_options
from r1v4.agent.turns import INCOMPLETE_HINT
from r1v4.parsing import Event

__all__ = ["DIALECT", "R1V4_TAGS", "repair_paper_call", "resolve_image_ref"]

#: The one-tag-per-tool calls R1V4 was trained on (paper §2.2.1), executed like <tool_call>.
R1V4_TAGS = frozenset({"code", "text_search", "image_search", "web_content", "web_visit"})

# Each call form the paper names closes with a tag the loop stops at to run it; </answer> ends
# the case. (A turn that runs on past a call anyway is cut after it when read, so a form
# without a stop here, such as the hosted API's <web_visit>, still runs.)
STOPS = (
    "</tool_call>",
    "</answer>",
    "</code>",
    "</text_search>",
    "</image_search>",
    "</web_content>",
)

_BARE_REF = re.compile(r'(?<!["\w])(<(?:sub-image|image)(?: \d+)?>)(?!")')
_CURLY = re.compile(r"([\[,:]\s*)[\u2018\u2019](.*?)[\u2018\u2019](\s*[\],}])")
_SUB = re.compile(r"<?\s*sub-image\s+(\d+)\s*>?", re.I)
_IMAGE = re.compile(r"<\s*image(?:\s+(\d+))?\s*>|image[_ ](\d+)", re.I)


def repair_paper_call(body: str) -> str:
    """A call body as the paper's figures print it made into JSON: bare `<image>` /
    `<sub-image 1>` references quoted, and ’typographic’ quotes around strings made plain
    (`{"image_paths": [<image>] }`, `{"queries": [’Chongqing JINC…’]}`, Figs 6-7)."""
    return _CURLY.sub(r'\1"\2"\3', _BARE_REF.sub(r'"\1"', body))


def resolve_image_ref(ref: str, conv: Conversation) -> str | None:
    """The file name an image reference means, or None when it names no image of this
    conversation. Other strings (file names) pass through for the tool to judge."""
    text = ref.strip()
    sub = _SUB.fullmatch(text)
    if sub:
        image = conv.gallery.output(int(sub.group(1)))
        return image.name if image else None
    m = _IMAGE.fullmatch(text)
    if m:
        n = int(m.group(1) or m.group(2) or 1)
        inputs = conv.gallery.inputs
        return inputs[n - 1].name if 1 <= n <= len(inputs) else None
    return text


def _system(info: PromptInfo, custom: str | None) -> str:
    if custom is not None:
        return custom
    choice = "paper" if info.prompt == "auto" else info.prompt
    return SYSTEM_PROMPTS[choice]


def _user(question: str, images: Sequence[GalleryImage]) -> list[dict[str, Any]]:
    return [*(g.part() for g in images), text_part(question)]


def _ends_turn(ev: Event) -> bool:
    return ev.kind == "tool_call" and (ev.tag is None or ev.tag in R1V4_TAGS)


def _calls(turn: Turn, conv: Conversation) -> list[Call]:
    events = call_events(turn, _ends_turn)
    return [call_from_event(events[0], repair_paper_call)] if events else []


def _image_args(call: Call, conv: Conversation) -> Action:
    args = dict(call.arguments)
    key = next((k for k in ("image_paths", "image_path", "images") if k in args), None)
    refs = args.get(key) if key else None
    if refs is None:
        return RunTool(call.name, args)  # the tool says what is missing
    items = refs if isinstance(refs, list) else [refs]
    names: list[str] = []
    for ref in items:
        name = resolve_image_ref(ref, conv) if isinstance(ref, str) else None
        if name is None:
            known = ["<image>"] if conv.gallery.inputs else []
            known += [f"<sub-image {g.number}>" for g in conv.gallery.outputs]
            return Refuse(
                call.name,
                f"{ref!r} names no image of this conversation; images: "
                f"{', '.join(known) or 'none'}",
            )
        names.append(name)
    args.pop(key)
    return RunTool(call.name, {**args, "image_paths": names})


def _route(call: Call, conv: Conversation) -> Action:
    name = {"web_content": "web_visit"}.get(call.name, call.name)
    if name == "code":
        code = call.arguments.get("code")
        if isinstance(code, str):
            return RunTool("code", {**call.arguments, "code": strip_fences(code)})
    if name == "image_search":
        return _image_args(call, conv)
    return RunTool(name, dict(call.arguments))


def search_lines(tool: str, data: list[dict[str, Any]]) -> str:
    """Search results as the paper's figures number them: `N. title link: URL image: URL`
    for image search, `N. title link: URL text: snippet` for text search."""
    lines = []
    for i, e in enumerate(data, 1):
        line = f"{i}. {e.get('title') or e.get('url', '')} link: {e.get('url', '')}"
        if tool == "image_search":
            line += f" image: {e.get('image') or e.get('url', '')}"
        elif e.get("snippet"):
            line += f" text: {e['snippet']}"
        lines.append(line)
    return "\n".join(lines)


def _observation(outcomes: list[Outcome], conv: Conversation) -> list[dict[str, Any]]:
    """One user turn: each result as `<observation> text <sub-image N>[image] </observation>`."""
    parts: list[dict[str, Any]] = []
    for outcome in outcomes:
        result = outcome.result
        body = result.text
        if result.error is None and result.tool in ("text_search", "image_search"):
            body = search_lines(result.tool, result.data or []) or body
        text = "\n".join(t for t in (body.strip(), notes_text(outcome)) if t)
        if not outcome.images:
            parts.append(text_part(f"<observation> {text} </observation>"))
            continue
        opening = "<observation> " + (f"{text}\n" if text else "")
        for i, (image, part) in enumerate(zip(outcome.images, image_parts(outcome), strict=True)):
            parts.append(text_part(f"{opening if i == 0 else ' '}<sub-image {image.number}>"))
            parts.append(part)
        parts.append(text_part(" </observation>"))
    return [{"role": "user", "content": parts}]


DIALECT = Dialect(
    name="r1v4",
    summary="Skywork-R1V4 (paper Table 1 prompt; <tool_call> JSON and <code>/<text_search>/"
    "<image_search>/<web_content> tags; observations as <sub-image N> and numbered results)",
    sources=(
        "SkyworkAI/Skywork-R1V@b806cef:Skywork_R1V4.pdf (Table 1 p.7, Table 3 p.17, "
        "§2.2.1 p.5, Figures 5-7 pp.19-21)",
        "SkyworkAI/Skywork-R1V@fdfbb84:r1v4/inference/request_deepresearch.py:87-178",
        "SkyworkAI/Skywork-R1V@b806cef:r1v4/batch_nonstream.py:41-71",
    ),
    factor=32,  # Qwen3-VL 30B-A3B base (paper pp. 3, 8): patch 16 x merge 2
    vllm_flags="--limit-mm-per-prompt '{\"image\": 16}' (no tool or reasoning parser needed)",
    answer_format="<answer>…</answer>",
    system_prompt=_system,
    user_content=_user,
    question=ask_with_options,
    stops=STOPS,
    ends_turn=_ends_turn,
    calls=_calls,
    route=_route,
    observation=_observation,
    incomplete_hint=INCOMPLETE_HINT,
    final_prompt="Please answer the question now, based on what you have found, inside "
    "<answer>...</answer>.",  # RECONSTRUCTED: no published R1V4 wording
    sampling={
        "": Sampling(
            "SkyworkAI/Skywork-R1V@fdfbb84:r1v4/benchmark/infer.py:54",
            temperature=0.2,
            max_tokens=20480,
            note="the search benchmarks' inference; the general and plan scripts: 8192 tokens",
        )
    },
    extra={"tools": "code, image_search, text_search, web_visit (web_content)"},
)
