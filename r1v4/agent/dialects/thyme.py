"""`thyme`: Thyme (Qwen2.5-VL-7B) writing Python inside its `<think>`, with the result put
back inside its own assistant message as `<sandbox_output>…</sandbox_output>` and the
generation continued there.

Sources (verbatim notes in /work/notes/dialects/thyme.md), `yfzhang114/Thyme@b9285b7`:
- System prompt `REASONING_SYS_PROMPT` and user prompt `generate_prompt_final_qa`
  (`eval/VLMEvalKit/vlmeval/vlm/thyme/utils.py:1-51`): the image item first, then the text,
  which itself starts with a literal `<image>\n` (the eval client sends it so; with the
  Qwen2.5-VL template it is plain text after the image's vision tokens — in the training data
  it was the image's placeholder) and gives the image's path and `WxH` size.
- Generation (`model.py:244-395`): stop strings `["</code>", "</answer>"]` (`SPECIAL_STRING_LIST`,
  kept in the output as Hugging Face's `stop_strings` keep them); the code is written inside
  the open `<think>`, so a `</code>` there is acted on; the first code block of a segment
  (read by Thyme's own regex, `code_of`) is run; the
  result is appended to the same assistant message as `"<sandbox_output>"`, the image(s)
  (or the printed text when no image came back), `"</sandbox_output>"`, and the next step
  continues that message (the template's trailing `<|im_end|>\n` cut). Against a server that
  is `continue_final_message: true` with `add_generation_prompt: false` (MODELS.md 1.5).
- Sandbox (`sandbox.py`): `image_path` and `temp_output_dir` predefined, locals kept between
  the steps of an attempt, the output folder `/mnt/data/temp_processed_images/` and crop
  boxes rewritten before the code runs (`r1v4.tools.sandbox.thyme_rewrite`).

Deviations (RECONSTRUCTED): Thyme's loop never shows a failed execution — it rolls the segment
back and generates it again at the same near-greedy temperature, which writes the same code;
here the error goes back inside `<sandbox_output>` as text, so the model can change course.
The path in the prompt is the image's name in the sandbox's working folder, and the size is
that of the pixels sent (the original file's unless `--max-pixels` resized it).
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
from r1v4.agent.dialects.sampling import Sampling
from r1v4.agent.dialects.shapes import call_events, call_from_event, image_parts
from r1v4.agent.gallery import GalleryImage
from r1v4.agent.prompts import ask_with_options
from r1v4.parsing import Event
from r1v4.tools.code_profile import CodeProfile

__all__ = ["CODE", "DIALECT", "SYSTEM_PROMPT", "USER_TEMPLATE", "code_of"]

# utils.py:4-19 (REASONING_SYS_PROMPT).
SYSTEM_PROMPT = (
    "You are a helpful assistant.\n"
    "\n"
    "Solve the following problem step by step, and optionally write Python code for image "
    "manipulation to enhance your reasoning process. The Python code will be executed by an "
    "external sandbox, and the processed image or result (wrapped in "
    "<sandbox_output></sandbox_output>) can be returned to aid your reasoning and help you "
    "arrive at the final answer.\n"
    "\n"
    "**Reasoning & Image Manipulation (Optional but Encouraged):**\n"
    "    * You have the capability to write executable Python code to perform image "
    "manipulations (e.g., cropping to a Region of Interest (ROI), resizing, rotation, "
    "adjusting contrast) or perform calculation for better reasoning.\n"
    "    * The code will be executed in a secure sandbox, and its output will be provided "
    "back to you for further analysis.\n"
    "    * All Python code snippets **must** be wrapped as follows:\n"
    "    <code>\n"
    "    ```python\n"
    "    # your code.\n"
    "    ```\n"
    "    </code>\n"
    "    * At the end of the code, print the path of the processed image (processed_path) or "
    "the result for further processing in a sandbox environment."
)

# utils.py:30-49, the body of generate_prompt_final_qa (an f-string there).
USER_TEMPLATE = (
    "<image>\n"
    "{question}\n"
    "\n"
    '### User Image Path:** "{path}"\n'
    '### User Image Size:** "{size}"\n'
    "\n"
    "### **Output Format (strict adherence required):**\n"
    "\n"
    "<think>Your detailed reasoning process, including any code, should go here.</think>\n"
    "<answer>Your final answer to the user's question goes here.</answer>\n"
)
NO_SIZE = "Unable to determine (error reading image)"  # utils.py:35

#: Thyme's sandbox: locals kept, `temp_output_dir` predefined, its rewrites applied.
CODE = CodeProfile(
    session=True,
    rewrite="thyme",
    variables=(("temp_output_dir", "./temp_processed_images/"),),
    requires=(("cv2", "opencv-python-headless"),),  # its README's code: cv2.imread, imwrite
)
_CODE_RE = re.compile(r"<code>\s*(?:```\s*)?(?:python\s*)?([\s\S]*?)\s*(?:```\s*)?</code>", re.I)


def code_of(body: str) -> str:
    """The Python of a `<code>` body, by Thyme's own regex (model.py)."""
    m = _CODE_RE.search(f"<code>{body}</code>")
    return m.group(1).strip() if m else body.strip()


def _system(info: PromptInfo, custom: str | None) -> str:
    return custom if custom is not None else SYSTEM_PROMPT


def _user(question: str, images: Sequence[GalleryImage]) -> list[dict[str, Any]]:
    first = images[0] if images else None
    path = first.name if first else ""
    size = f"{first.sent.width}x{first.sent.height}" if first else NO_SIZE
    text = USER_TEMPLATE.format(question=question, path=path, size=size)
    return [*(g.part() for g in images), text_part(text)]


def _ends_turn(ev: Event) -> bool:
    return ev.kind == "tool_call" and ev.tag == "code"


def _calls(turn: Turn, conv: Conversation) -> list[Call]:
    events = call_events(turn, _ends_turn, inside_think=True)
    return [call_from_event(events[0])] if events else []


def _route(call: Call, conv: Conversation) -> Action:
    code = code_of(str(call.arguments.get("code", "")))
    if not code:
        return Refuse("code", "the <code> block holds no Python")
    return RunTool("code", {"code": code})


def _observation(outcomes: list[Outcome], conv: Conversation) -> list[dict[str, Any]]:
    """Inside the assistant's own message: the image(s), else the printed text."""
    parts = [text_part("<sandbox_output>")]
    for outcome in outcomes:
        shown = image_parts(outcome)
        parts += shown or [text_part(outcome.result.text.strip())]
    parts.append(text_part("</sandbox_output>"))
    return [{"role": "assistant", "content": parts}]


DIALECT = Dialect(
    name="thyme",
    summary="Thyme-7B: <code> fenced Python written inside <think> (stops </code> </answer> "
    "kept); the result inside its own message as <sandbox_output>, continued with "
    "continue_final_message; image path and size in the prompt",
    sources=(
        "yfzhang114/Thyme@b9285b7:eval/VLMEvalKit/vlmeval/vlm/thyme/utils.py:1-51",
        "yfzhang114/Thyme@b9285b7:eval/VLMEvalKit/vlmeval/vlm/thyme/model.py:42-395",
        "yfzhang114/Thyme@b9285b7:eval/VLMEvalKit/vlmeval/vlm/thyme/sandbox.py",
        "yfzhang114/Thyme@b9285b7:README.md:361-445 (the model's own example)",
    ),
    factor=28,
    vllm_flags="--limit-mm-per-prompt '{\"image\": 8}' (no reasoning parser: the </code> stop "
    "must fire inside <think>; continue_final_message must be accepted)",
    answer_format="<answer>…</answer> (optionally \\boxed{})",
    system_prompt=_system,
    user_content=_user,
    question=ask_with_options,
    stops=("</code>", "</answer>"),
    keep_stop=True,
    stops_in_think=True,
    continues_turns=True,
    ends_turn=_ends_turn,
    calls=_calls,
    route=_route,
    observation=_observation,
    code=CODE,
    final_prompt="Please answer the question now, based on what you have found, inside "
    "<answer>...</answer>.",  # RECONSTRUCTED: Thyme has no such turn
    extra={
        "sandbox": "persistent locals per case; image_path and temp_output_dir predefined; "
        "/mnt/data/temp_processed_images/ and crop boxes (>= 64 px) rewritten",
        "continuation": "results go inside the assistant message: continue_final_message: "
        "true, add_generation_prompt: false (vLLM)",
    },
    sampling={
        "": Sampling(
            "yfzhang114/Thyme@b9285b7:eval/VLMEvalKit/vlmeval/vlm/thyme/model.py:47-50",
            temperature=0.01,
            top_p=0.001,
            top_k=1,
            max_tokens=2048,
            max_rounds=5,
            note="near-greedy; 2048 tokens per segment, at most 5 segments",
        )
    },
)
