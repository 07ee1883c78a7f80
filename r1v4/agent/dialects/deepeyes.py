"""`deepeyes`: DeepEyes (Qwen2.5-VL-7B) with its `image_zoom_in_tool`, as its own V* eval
client talks to an OpenAI-compatible vLLM server.

Sources (verbatim notes in /work/notes/dialects/deepeyes.md), all
`Visual-Agent/DeepEyes@6c5e796:eval/eval_vstar.py`:
- System prompt `instruction_prompt_system` (lines 47-81): a hand-written Qwen `# Tools` block
  with one function; its schema's `"required":["bbox"]` names a property that does not exist
  (`bbox_2d` is the property) — a bug of the published prompt, kept verbatim.
- User prompt: `[image, "Question: …\nOptions: …\n" + USER_PROMPT_V2]` (lines 131-152);
  `USER_PROMPT_V2` starts with a newline and keeps its double spaces and trailing space.
- Calls: the first `<tool_call>…</tool_call>` of a reply; only `arguments.bbox_2d` is used;
  absolute pixels of the original image (`pil_img.crop((left, top, right, bottom))`).
- The crop: `smart_resize(factor=28, min 4*28*28, max 16384*28*28)`, BICUBIC (`crops`).
- Observation: a user message `[ "<tool_response>", crop, USER_PROMPT_V2, "</tool_response>" ]`
  (lines 169-233); the assistant message is the raw reply.
- Request: `stop: ["<|im_end|>"]`, answers in `<answer>…</answer>`.

Not from the eval client (RECONSTRUCTED or from the training environment, which agrees with
it): a question without options is sent as `question + USER_PROMPT_V2` (the eval always has
options); a call DeepEyes cannot run gets the training environment's user turn
`Error: {message}` (`verl/workers/agent/envs/mm_process_engine/visual_toolbox_v2.py:60-118`);
the call is read as lenient JSON, never with Python's `eval` as the eval client does. When the
client resizes images (`--max-pixels`), coordinates are read on the image the model was sent
and mapped to the original for the crop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from r1v4.agent.dialects.base import (
    Action,
    Call,
    Conversation,
    CropOutput,
    Dialect,
    HostCrop,
    Outcome,
    PromptInfo,
    Refuse,
    Turn,
    text_part,
)
from r1v4.agent.dialects.crops import ZoomError, deepeyes_box, deepeyes_zoom, number_box
from r1v4.agent.dialects.sampling import Sampling
from r1v4.agent.dialects.shapes import call_events, call_from_event, image_parts, notes_text
from r1v4.agent.gallery import GalleryImage
from r1v4.agent.prompts import ask_with_options
from r1v4.parsing import Event

__all__ = ["DIALECT", "SYSTEM_PROMPT", "USER_PROMPT_V2", "deepeyes_question"]

# Visual-Agent/DeepEyes@6c5e796:eval/eval_vstar.py:55-75 (`instruction_prompt_system`),
# byte for byte: the two trailing spaces after "**Example**:", "<tool_call>" and the JSON line
# are Markdown line breaks in the source.
SYSTEM_PROMPT = 'You are a helpful assistant.\n\n# Tools\nYou may call one or more functions to assist with the user query.\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{"type":"function","function":{"name":"image_zoom_in_tool","description":"Zoom in on a specific region of an image by cropping it based on a bounding box (bbox) and an optional object label.","parameters":{"type":"object","properties":{"bbox_2d":{"type":"array","items":{"type":"number"},"minItems":4,"maxItems":4,"description":"The bounding box of the region to zoom in, as [x1, y1, x2, y2], where (x1, y1) is the top-left corner and (x2, y2) is the bottom-right corner."},"label":{"type":"string","description":"The name or label of the object in the specified bounding box (optional)."}},"required":["bbox"]}}}\n</tools>\n\n# How to call a tool\nReturn a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>\n\n**Example**:  \n<tool_call>  \n{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [10, 20, 100, 200], "label": "the apple on the desk"}}  \n</tool_call>'  # noqa: E501

# eval_vstar.py:76 (`USER_PROMPT_V2`).
USER_PROMPT_V2 = (
    "\nThink first, call **image_zoom_in_tool** if needed, then answer. Format strictly as:  "
    "<think>...</think>  <tool_call>...</tool_call> (if tools needed)  <answer>...</answer> "
)

_LETTERS = "ABCDEF"  # eval_vstar.py:47 abc_map {1: 'A', ... 6: 'F'}


def deepeyes_question(question: str, options: Any, style: str | None = None) -> str:
    """`instruction_prompt_before` with the options as the eval writes them
    (`"\n" + "A. opt\n" + …`, eval_vstar.py:78-80, 131-135); without options, the question
    and USER_PROMPT_V2 (RECONSTRUCTED); a case with its own `prompt_style` gets that
    benchmark's wording, then USER_PROMPT_V2."""
    if style is not None:
        return ask_with_options(question, options, style) + USER_PROMPT_V2
    if isinstance(options, dict):
        items = [f"{k}. {v}\n" for k, v in options.items()]
    elif isinstance(options, list) and options:
        items = [
            f"{_LETTERS[i] if i < len(_LETTERS) else i + 1}. {o}\n" for i, o in enumerate(options)
        ]
    else:
        return question + USER_PROMPT_V2
    return f"Question: {question}\nOptions: " + "\n" + "".join(items) + "\n" + USER_PROMPT_V2


def _system(info: PromptInfo, custom: str | None) -> str:
    return custom if custom is not None else SYSTEM_PROMPT


def _user(question: str, images: Sequence[GalleryImage]) -> list[dict[str, Any]]:
    return [*(g.part() for g in images), text_part(question)]


def _ends_turn(ev: Event) -> bool:
    return ev.kind == "tool_call" and ev.tag is None


def _calls(turn: Turn, conv: Conversation) -> list[Call]:
    events = call_events(turn, _ends_turn)
    return [call_from_event(events[0])] if events else []  # the eval reads the first one


def _route(call: Call, conv: Conversation) -> Action:
    if call.name != "image_zoom_in_tool":
        return Refuse(call.name, f"Unknown tool name: {call.name}")  # visual_toolbox_v2.py
    try:
        bbox = number_box(call.arguments.get("bbox_2d"))
    except ZoomError as exc:
        return Refuse(call.name, str(exc))
    if not conv.gallery.inputs:
        return Refuse(call.name, "there is no image to zoom into")
    image = conv.gallery.inputs[0]  # DeepEyes always crops the original image
    seen = (image.sent.width, image.sent.height)

    def run() -> CropOutput:
        original = image.open_original()
        crop = deepeyes_zoom(original, bbox, seen)
        box = deepeyes_box(bbox, seen, original.size)
        text = f"zoomed into {bbox}: {crop.size[0]}x{crop.size[1]}"
        return CropOutput(crop, text, box=box, source_size=original.size)

    return HostCrop(call.name, run, image)


def _observation(outcomes: list[Outcome], conv: Conversation) -> list[dict[str, Any]]:
    messages = []
    for outcome in outcomes:
        if not outcome.images:
            messages.append({"role": "user", "content": f"Error: {outcome.result.text}"})
            continue
        parts = [text_part("<tool_response>"), *image_parts(outcome), text_part(USER_PROMPT_V2)]
        if outcome.notes:
            parts.append(text_part(notes_text(outcome)))
        parts.append(text_part("</tool_response>"))
        messages.append({"role": "user", "content": parts})
    return messages


DIALECT = Dialect(
    name="deepeyes",
    summary="DeepEyes-7B: image_zoom_in_tool in absolute pixels of the original image; the "
    "crop back in a <tool_response> user turn with the instruction repeated",
    sources=(
        "Visual-Agent/DeepEyes@6c5e796:eval/eval_vstar.py:47-233",
        "Visual-Agent/DeepEyes@6c5e796:verl/workers/agent/envs/mm_process_engine/"
        "visual_toolbox_v2.py:60-165",
    ),
    factor=28,  # Qwen2.5-VL: patch 14 x merge 2
    vllm_flags="--limit-mm-per-prompt '{\"image\": 12}' (no tool or reasoning parser: the "
    "calls are text)",
    answer_format="<answer>…</answer>",
    system_prompt=_system,
    user_content=_user,
    question=deepeyes_question,
    stops=("<|im_end|>",),
    ends_turn=_ends_turn,
    calls=_calls,
    route=_route,
    observation=_observation,
    sampling={
        "": Sampling(
            "Visual-Agent/DeepEyes@6c5e796:eval/eval_vstar.py:185-186",
            temperature=0.0,
            max_tokens=10240,
            max_rounds=11,
            note="at most 11 requests",
        )
    },
)
