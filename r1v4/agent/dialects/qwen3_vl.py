"""`qwen3-vl`: Qwen3-VL with Qwen-Agent's `image_zoom_in_tool` (and `image_search`), the
"Think with Images" cookbook's setup.

Sources (verbatim notes in /work/notes/dialects/qwen3-vl.md):
- System prompts: the cookbook's `analysis_prompt` (example 1, zoom only) and
  `'Use tools to answer.'` (example 2, zoom and image search)
  (`QwenLM/Qwen3-VL@9658872:cookbooks/think_with_images.ipynb`, cells 5 and 9).
- Tool schemas: `QwenLM/Qwen-Agent@31a4d36:qwen_agent/tools/image_zoom_in_qwen3vl.py:31-61`
  and `tools/image_search.py:138-151`, sent as `{"type": "function", "function": {...}}`.
- Native function calling (default): every request carries `tools=[...]`; the server's
  `hermes` tool parser returns `tool_calls`; the history is replayed as assistant
  `tool_calls` plus `role: tool` messages (`tool_call_id`) whose content is the crop, which
  vLLM's Qwen3-VL template renders inside `<tool_response>` (MODELS.md 2.3).
- `--no-native-tools`: what Qwen-Agent itself sends (`llm/fncall_prompts/
  nous_fncall_prompt.py:41-100, 254-266`): the `# Tools` block (`FN_CALL_TEMPLATE`) appended to
  the system prompt, calls left in the text as `<tool_call>\\n{json}\\n</tool_call>`, each
  result a user message `[ "<tool_response>\\n", image, "\\n</tool_response>" ]`, several
  results merged into one user message with `"\\n"` between them.
- User message: `(Uploaded ![image](<basename>)) ` before the images when tools are present
  (`qwen_agent/utils/utils.py:367-415`, `llm/base.py:349-351`).
- No stop strings (the model ends its turn with `<|im_end|>`); answers are free text.
- Zoom: `crops.qwen_zoom` (relative 0-1000 of image `img_idx`, grown to 32 px, factor-32
  smart resize). `img_idx` counts every image of the conversation, earlier crops included
  (`utils.py:477-484`, `fncall_agent.py:97`).

RECONSTRUCTED: the system message is sent as one string (Qwen-Agent sends the prompt and the
`# Tools` block as two text items of a list; how a server joins them is its own choice), and
the assistant turn is replayed as the model's text, which equals Qwen-Agent's re-rendered
`<tool_call>\\n{json.dumps}\\n</tool_call>` when the model wrote it that way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import PurePosixPath
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
    RunTool,
    Turn,
    text_part,
)
from r1v4.agent.dialects.crops import ZoomError, number_box, qwen_box, qwen_grow_box, qwen_zoom
from r1v4.agent.dialects.sampling import Sampling
from r1v4.agent.dialects.shapes import (
    call_events,
    call_from_event,
    image_parts,
    notes_text,
    structured_calls,
)
from r1v4.agent.gallery import GalleryImage
from r1v4.agent.prompts import ask_with_options
from r1v4.parsing import Event

__all__ = [
    "ANALYSIS_PROMPT",
    "DIALECT",
    "FN_CALL_TEMPLATE",
    "SEARCH_PROMPT",
    "SEARCH_TOOL",
    "ZOOM_TOOL",
]

# QwenLM/Qwen3-VL@9658872:cookbooks/think_with_images.ipynb, cell 5 (`analysis_prompt`).
ANALYSIS_PROMPT = """Your role is that of a research assistant specializing in visual information. Answer questions about images by looking at them closely and then using research tools. Please follow this structured thinking process and show your work.

Start an iterative loop for each question:

- **First, look closely:** Begin with a detailed description of the image, paying attention to the user's question. List what you can tell just by looking, and what you'll need to look up.
- **Next, find information:** Use a tool to research the things you need to find out.
- **Then, review the findings:** Carefully analyze what the tool tells you and decide on your next action.

Continue this loop until your research is complete.

To finish, bring everything together in a clear, synthesized answer that fully responds to the user's question."""  # noqa: E501

# The same notebook, cell 9: the system message of example 2 (zoom + image search).
SEARCH_PROMPT = "Use tools to answer."

# QwenLM/Qwen-Agent@31a4d36:qwen_agent/tools/image_zoom_in_qwen3vl.py:31-61 (`BaseTool.function`
# sends name, description, parameters; `preprocess_fncall_messages` wraps it as below).
ZOOM_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "image_zoom_in_tool",
        "description": "Zoom in on a specific region of an image by cropping it based on a "
        "bounding box (bbox) and an optional object label",
        "parameters": {
            "type": "object",
            "properties": {
                "bbox_2d": {
                    "type": "array",
                    "items": {"type": "number"},
                    "minItems": 4,
                    "maxItems": 4,
                    "description": "The bounding box of the region to zoom in, as [x1, y1, x2, "
                    "y2], where (x1, y1) is the top-left corner and (x2, y2) is the "
                    "bottom-right corner",
                },
                "label": {
                    "type": "string",
                    "description": "The name or label of the object in the specified bounding box",
                },
                "img_idx": {
                    "type": "number",
                    "description": "The index of the zoomed-in image (starting from 0)",
                },
            },
            "required": ["bbox_2d", "label", "img_idx"],
        },
    },
}

# QwenLM/Qwen-Agent@31a4d36:qwen_agent/tools/image_search.py:138-151.
SEARCH_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "image_search",
        "description": "Image search engine, input the image and search for similar images "
        "with image information.",
        "parameters": {
            "type": "object",
            "properties": {
                "img_idx": {
                    "type": "number",
                    "description": "The index of the image (starting from 0)",
                }
            },
            "required": ["img_idx"],
        },
    },
}

# QwenLM/Qwen-Agent@31a4d36:qwen_agent/llm/fncall_prompts/nous_fncall_prompt.py:254-266.
FN_CALL_TEMPLATE = """# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{tool_descs}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{{"name": <function-name>, "arguments": <args-json-object>}}
</tool_call>"""  # noqa: E501


def _tool_list(info: PromptInfo) -> list[dict[str, Any]]:
    tools = [ZOOM_TOOL]
    if "image_search" in info.tool_names:
        tools.append(SEARCH_TOOL)
    return tools


def _tools(info: PromptInfo) -> list[dict[str, Any]] | None:
    return _tool_list(info) if info.native_tools else None


def _system(info: PromptInfo, custom: str | None) -> str:
    search = "image_search" in info.tool_names
    base = custom if custom is not None else (SEARCH_PROMPT if search else ANALYSIS_PROMPT)
    if info.native_tools:
        return base  # the server's chat template writes the # Tools block from `tools`
    descs = "\n".join(json.dumps(t, ensure_ascii=False) for t in _tool_list(info))
    block = FN_CALL_TEMPLATE.format(tool_descs=descs)
    return f"{base}\n\n{block}" if base else block


def _user(question: str, images: Sequence[GalleryImage]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if images:
        names = " ".join(f"![image]({PurePosixPath(g.name).name})" for g in images)
        parts.append(text_part(f"(Uploaded {names}) "))
    parts += [g.part() for g in images]
    parts.append(text_part(question))
    return parts


def _ends_turn(ev: Event) -> bool:
    return ev.kind == "tool_call" and ev.tag is None


def _calls(turn: Turn, conv: Conversation) -> list[Call]:
    if turn.tool_calls:
        return structured_calls(turn)
    # No structured calls: Qwen-Agent's nous mode, or a server whose tool parser failed
    # (vLLM then leaves the text in content). Every complete call counts, as Qwen-Agent's
    # `postprocess_fncall_messages` reads them all.
    return [call_from_event(ev) for ev in call_events(turn, _ends_turn)]


def _index(call: Call, conv: Conversation, clamp: bool) -> int | str:
    """The image index a call names, or the error message Qwen-Agent would give."""
    value = call.arguments.get("img_idx")
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        return f"img_idx must be a number (the index of the image, from 0), got {value!r}"
    n, count = int(value), len(conv.gallery.images)
    if clamp and count:
        return min(max(n, 0), count - 1)  # image_search.py:159-160 clamps to the last image
    if not 0 <= n < count:
        names = [g.name for g in conv.gallery.images]
        return f"Error: Invalid input image {names}"  # image_zoom_in_qwen3vl.py:153
    return n


def _route(call: Call, conv: Conversation) -> Action:
    if call.name == "image_zoom_in_tool":
        missing = [k for k in ("bbox_2d", "label", "img_idx") if k not in call.arguments]
        if missing:  # jsonschema.validate in Qwen-Agent's _verify_json_format_args
            return Refuse(
                call.name,
                "An error occurred when calling tool `image_zoom_in_tool`:\nValueError: "
                f"{', '.join(repr(k) for k in missing)} is a required property",
            )
        index = _index(call, conv, clamp=False)
        if isinstance(index, str):
            return Refuse(call.name, index)
        try:
            bbox = number_box(call.arguments["bbox_2d"])
        except ZoomError as exc:
            return Refuse(call.name, str(exc))
        image = conv.gallery.images[index]

        def run() -> CropOutput:
            original = image.open_original()
            crop = qwen_zoom(original, bbox)
            w, h = original.size
            box = qwen_grow_box(*qwen_box(bbox, (w, h)), w, h)
            return CropOutput(crop, f"zoomed into {bbox} of image {index}: {crop.size[0]}x"
                              f"{crop.size[1]}", box=tuple(box), source_size=(w, h))  # fmt: skip

        return HostCrop(call.name, run, image)
    if call.name == "image_search":
        index = _index(call, conv, clamp=True)
        if isinstance(index, str):
            return Refuse(call.name, index)
        return RunTool("image_search", {"image_paths": [conv.gallery.images[index].name]})
    return RunTool(call.name, dict(call.arguments))


def _arguments(call: Call) -> str:
    return json.dumps(call.arguments, ensure_ascii=False)


def _assistant(turn: Turn, calls: list[Call], conv: Conversation) -> dict[str, Any]:
    native = [c for c in calls if c.call_id is not None]
    if not native:
        return {"role": "assistant", "content": turn.text}
    return {
        "role": "assistant",
        "content": turn.content,
        "tool_calls": [
            {
                "id": c.call_id,
                "type": "function",
                "function": {"name": c.name, "arguments": _arguments(c)},
            }
            for c in native
        ],
    }


def _result_parts(outcome: Outcome) -> list[dict[str, Any]]:
    parts = image_parts(outcome)
    texts = [t for t in (outcome.result.text if not parts else "", notes_text(outcome)) if t]
    return parts + [text_part(t) for t in texts]


def _observation(outcomes: list[Outcome], conv: Conversation) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    fallback: list[dict[str, Any]] = []
    for outcome in outcomes:
        parts = _result_parts(outcome)
        if outcome.call.call_id is not None:
            content: Any = parts
            if all(p["type"] == "text" for p in parts):
                content = "\n".join(p["text"] for p in parts)  # vLLM flattens text-only lists
            messages.append(
                {"role": "tool", "tool_call_id": outcome.call.call_id, "content": content}
            )
            continue
        if fallback:
            fallback.append(text_part("\n"))
        fallback += [text_part("<tool_response>\n"), *parts, text_part("\n</tool_response>")]
    if fallback:
        messages.append({"role": "user", "content": fallback})
    return messages


DIALECT = Dialect(
    name="qwen3-vl",
    summary="Qwen3-VL with Qwen-Agent's image_zoom_in_tool (bbox_2d 0-1000, img_idx) and "
    "image_search; native tool_calls + role:tool (or --no-native-tools: # Tools block, "
    "<tool_response> user turns)",
    sources=(
        "QwenLM/Qwen3-VL@9658872:cookbooks/think_with_images.ipynb (cells 5, 9)",
        "QwenLM/Qwen-Agent@31a4d36:qwen_agent/tools/image_zoom_in_qwen3vl.py:31-177",
        "QwenLM/Qwen-Agent@31a4d36:qwen_agent/tools/image_search.py:138-178",
        "QwenLM/Qwen-Agent@31a4d36:qwen_agent/llm/fncall_prompts/nous_fncall_prompt.py",
        "QwenLM/Qwen-Agent@31a4d36:qwen_agent/utils/utils.py:367-484",
    ),
    factor=32,
    vllm_flags="--enable-auto-tool-choice --tool-call-parser hermes --reasoning-parser qwen3 "
    "(Thinking models) --limit-mm-per-prompt '{\"image\": 16}'; with --no-native-tools no "
    "tool parser is needed",
    answer_format="free text (no tags)",
    free_text_answer=True,
    system_prompt=_system,
    user_content=_user,
    question=ask_with_options,
    tools=_tools,
    ends_turn=_ends_turn,
    calls=_calls,
    route=_route,
    assistant_message=_assistant,
    observation=_observation,
    native_tools=True,
    sampling={
        "Instruct": Sampling(
            "QwenLM/Qwen3-VL@9658872:README.md:1144-1153 (Generation Hyperparameters)",
            temperature=0.7,
            top_p=0.8,
            top_k=20,
            presence_penalty=1.5,
            repetition_penalty=1.0,
            note="out_seq_length 32768",
        ),
        "Thinking": Sampling(
            "QwenLM/Qwen3-VL@9658872:README.md:1155-1164 (Generation Hyperparameters)",
            temperature=0.6,
            top_p=0.95,
            top_k=20,
            presence_penalty=0.0,
            repetition_penalty=1.0,
            note="out_seq_length 40960",
        ),
    },
    sampling_variant=lambda model: "Thinking" if "thinking" in model.lower() else "Instruct",
)
