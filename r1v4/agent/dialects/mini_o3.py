"""`mini-o3`: Mini-o3 (Qwen2.5-VL-7B) zooming with `<grounding>` into the original image or
any earlier observation, as its verl rollout runs it.

Sources (verbatim notes in /work/notes/dialects/mini-o3.md), `Mini-o3/Mini-o3@8654dbf`:
- System prompt `TOOL_CROP_SYSTEM_PROMPT`, observation `TOOL_CALL_CROP_MULTI_TRUN_PROMPT`,
  error follow-up `ERROR_INFO_MULTI_TURN_PROMPT` (`verl/trainer/constants.py:1-9`), with their
  typos ("the the", "Countinue").
- Calls: `<grounding>{"bbox_2d": [x0, y0, x1, y1], "source": …}</grounding>`, coordinates in
  [0, 1] of the source ("original_image" = observation 0, "observation_N" = the N-th crop) at
  its stored full resolution; stop `</grounding>` with `include_stop_str_in_output: True`
  (`verl/workers/rollout/vllm_rollout/vllm_async_engine.py:520-607`).
- Crops and inputs as the model is sent them: `process_image(max_pixels=2000000,
  min_pixels=40000)`, NEAREST (README settings; `vllm_async_engine.py:189-223`).
- Budgets: at most 12 images per conversation, the original included
  (`val_limit_mm_per_prompt`); the observation after action n (from 0) is "Observation n+1".

RECONSTRUCTED: Mini-o3 ships no OpenAI-server client (the rollout works on token ids), so the
observation's text and image are sent as a user message `[text, image, text]` split where the
published prompt has `<|vision_start|><|image_pad|><|vision_end|>`; the question goes after
the image, where the dataset's `"<image>\\n"` prefix puts it. A call after the image budget is
spent ends the tool phase with one "answer now" turn (the rollout drops such a trajectory).
The body is read as lenient JSON (the rollout uses a strict regex and `eval` of the box).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from PIL import Image

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
from r1v4.agent.dialects.crops import (
    ZoomError,
    mini_o3_box,
    mini_o3_crop,
    mini_o3_process_image,
    number_box,
)
from r1v4.agent.dialects.sampling import Sampling
from r1v4.agent.dialects.shapes import call_events, call_from_event, notes_text
from r1v4.agent.gallery import GalleryImage
from r1v4.agent.prompts import ask_with_options
from r1v4.parsing import Event

__all__ = ["DIALECT", "ERROR_PROMPT", "OBSERVATION_PROMPT", "SYSTEM_PROMPT", "observation_text"]

# verl/trainer/constants.py:1 (TOOL_CROP_SYSTEM_PROMPT; its \" are Python escapes).
SYSTEM_PROMPT = """You are a helpful assistant. Answer the user's question based on the image provided. Output your thinking process within the <think> and </think> tags. Whenever you find anything unclear, you can zoom in a specific region in the given image to see more clearly by outputing <grounding>{"bbox_2d": [x0, y0, x1, y1], "source": "original_image"}</grounding>, where (x0, y0) and (x1, y1) are the top-left and bottom-right coordinates of the region that you want to zoom in, respectively (suppose the width and height of the image are 1.0), and 'source' refers to the image that you zoom in and could be either 'original_image' or 'observation_i'. Once the final answer is confirmed, put it within <answer> and </answer>."""  # noqa: E501

# constants.py:7 (TOOL_CALL_CROP_MULTI_TRUN_PROMPT); the image goes where the vision tokens are.
OBSERVATION_PROMPT = "After the above Action {action_turn}, here is the the zoom-in image (Observation {observation_turn}):\n<|vision_start|><|image_pad|><|vision_end|>.\nContinue your reasoning process inside <think> and </think>. If needed, you can continue to zoom in on the original image or any of the observations, by outputting <grounding> and </grounding> as before. If the final answer is confirmed, put your final answer inside <answer> and </answer>."  # noqa: E501

# constants.py:9 (ERROR_INFO_MULTI_TURN_PROMPT), after "ERROR occurs during grounding. …\n".
ERROR_PROMPT = "Please analyze the error information obtained from the function tool and adjust your response. Countinue your reasoning process inside <think> and </think>."  # noqa: E501

_VISION = "<|vision_start|><|image_pad|><|vision_end|>"
_SOURCE = re.compile(r"observation_([0-9]*)", re.S)


def observation_text(action_turn: int) -> tuple[str, str]:
    """The observation's text before and after its image, for action `action_turn`."""
    text = OBSERVATION_PROMPT.format(action_turn=action_turn, observation_turn=action_turn + 1)
    before, after = text.split(_VISION)
    return before, after


def _system(info: PromptInfo, custom: str | None) -> str:
    return custom if custom is not None else SYSTEM_PROMPT


def _user(question: str, images: Sequence[GalleryImage]) -> list[dict[str, Any]]:
    return [*(g.part() for g in images), text_part(question)]


def _ends_turn(ev: Event) -> bool:
    return ev.kind == "tool_call" and ev.tag == "grounding"


def _calls(turn: Turn, conv: Conversation) -> list[Call]:
    events = call_events(turn, _ends_turn)
    return [call_from_event(events[-1])] if events else []  # the rollout's regex: the last


def _source(call: Call, conv: Conversation) -> GalleryImage | str:
    """The observation a call names (0: the original), or the rollout's error message."""
    source = call.arguments["source"]
    if source == "original_image":
        index = 0
    else:
        m = _SOURCE.match(str(source))
        if m is None or not m.group(1):
            return (
                f"The 'source' argument \"{source}\" does not match the pattern "
                "'observation_([0-9]*)'."
            )
        index = int(m.group(1))
    observations = conv.gallery.inputs[:1] + conv.gallery.outputs
    if index >= len(observations):
        return f'Error in predicting the source observation: "{source}".'
    return observations[index]


def _route(call: Call, conv: Conversation) -> Action:
    for key in ("bbox_2d", "source"):
        if key not in call.arguments:
            return Refuse(
                "grounding", f"There is no '{key}' in grounding argument: {call.arguments}"
            )
    try:
        bbox = number_box(call.arguments["bbox_2d"])
    except ZoomError as exc:
        return Refuse("grounding", str(exc))
    source = _source(call, conv)
    if isinstance(source, str):
        return Refuse("grounding", source)

    def run() -> CropOutput:
        original = source.open_original()
        crop = mini_o3_crop(original, bbox)
        return CropOutput(
            crop,
            f"grounded {bbox} of {call.arguments['source']}: {crop.size[0]}x{crop.size[1]}",
            sent=mini_o3_process_image(crop),
            box=tuple(float(v) for v in mini_o3_box(bbox, original.size)),
            source_size=original.size,
        )

    return HostCrop("grounding", run, source)


def _observation(outcomes: list[Outcome], conv: Conversation) -> list[dict[str, Any]]:
    messages = []
    for outcome in outcomes:
        if not outcome.images:
            error = f"ERROR occurs during grounding. Error Information: {outcome.result.text}.\n"
            messages.append({"role": "user", "content": error + ERROR_PROMPT})
            continue
        before, after = observation_text(conv.turn)
        parts = [text_part(before), outcome.images[-1].part(), text_part(after)]
        if outcome.notes:
            parts.append(text_part(notes_text(outcome)))
        messages.append({"role": "user", "content": parts})
    return messages


def _shape_input(image: Image.Image) -> Image.Image:
    return mini_o3_process_image(image)


DIALECT = Dialect(
    name="mini-o3",
    summary="Mini-o3-7B: <grounding>{bbox_2d in [0, 1], source}</grounding> into the original "
    "or any observation; stop </grounding> kept; at most 12 images",
    sources=(
        "Mini-o3/Mini-o3@8654dbf:verl/trainer/constants.py:1-9",
        "Mini-o3/Mini-o3@8654dbf:verl/workers/rollout/vllm_rollout/vllm_async_engine.py:"
        "189-223, 520-734",
        "Mini-o3/Mini-o3@8654dbf:verl/workers/rollout/vllm_rollout/function_tools.py",
    ),
    factor=28,
    vllm_flags="--limit-mm-per-prompt '{\"image\": 12}' (no tool or reasoning parser)",
    answer_format="<answer>…</answer>",
    system_prompt=_system,
    user_content=_user,
    question=ask_with_options,
    stops=("</grounding>",),
    keep_stop=True,
    ends_turn=_ends_turn,
    calls=_calls,
    route=_route,
    observation=_observation,
    max_images=12,
    shape_input=_shape_input,
    sampling={
        "": Sampling(
            "Mini-o3/Mini-o3@8654dbf:verl/workers/rollout/vllm_rollout/vllm_async_engine.py:"
            "594-607 (greedy evaluation)",
            temperature=0.0,
            top_p=1.0,
            top_k=-1,
            min_p=0.0,
            max_rounds=12,
            note="12 rounds",
        )
    },
)
