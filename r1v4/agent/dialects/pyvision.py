"""`pyvision`: PyVision's protocol (a prompting framework for API models: GPT-4.1, Claude,
or any model served by vLLM) — `<code>` fenced Python for a persistent process with the
images preloaded as `image_clue_0…`, matplotlib figures back inside `<interpreter>`.

Sources (verbatim notes in /work/notes/dialects/pyvision.md), `agents-x-project/PyVision@d08b450`:
- Prompts: `prompt_template/prompt_template_vis.json` — `vistool_with_img_info_v2` (one image,
  forced by `vis_inference_demo_gpt.py:469-471`) and `vistool_with_img_info_multi_image`
  (several, lines 472-474); no system message.
- User message (`vis_inference_demo_gpt.py:201-218`, 220-324): `"<image_clue_0>"`, the image,
  `"</image_clue_0>\n\n"`, then the prompt with the image's width and height.
- Loop (lines 327-542): stop `["</code>"]`; the assistant turn replayed as
  `reply + "</code>\n"`; the code is `split("```python")[-1].split("```")[0].strip()`; the
  result a user message `["<interpreter>\nText Result:\n{stdout or None}\nImage Result:\n",
  ("<image_clue_k>", image, "</image_clue_k>")… or "None", "</interpreter>\n"]`, `k` going
  on from the number of input images; an error `["<interpreter>{error}", "</interpreter>\n"]`
  (`Error: <message>`, or `Timeout Error`); a reply without `<code>` is the final one.
- Runtime (`inference_engine/safe_persis_shared_vis_python_exe.py:243-330`): one persistent
  process; headers `import matplotlib` (Agg), `matplotlib.pyplot as plt`, `PIL.Image`, `io`,
  `base64`, `numpy as np`; `image_clue_i` the request's images decoded as RGB; `plt.show()`
  saves the current figure as PNG (no tight box) and closes it; stdout only, at most 400
  characters (the first and last 200); timeout 20 s.

RECONSTRUCTED: a case without an image gets the several-image prompt with no image lines; the
code is taken from the `<code>` body (PyVision splits the whole reply, the same for a reply
that has one code block); `plt.show()` is captured however it is called (PyVision replaces
the exact text `plt.show()`); sandbox notes (a timeout, dropped images) join the text result.
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
    RunTool,
    Turn,
    text_part,
)
from r1v4.agent.dialects.sampling import Sampling
from r1v4.agent.dialects.shapes import call_events, call_from_event
from r1v4.agent.gallery import GalleryImage
from r1v4.agent.prompts import ask_with_options
from r1v4.parsing import Event
from r1v4.tools.code_profile import CodeProfile, Figures

__all__ = ["CODE", "DIALECT", "MULTI_IMAGE_PROMPT", "SINGLE_IMAGE_PROMPT", "text_result"]

# prompt_template_vis.json, "vistool_with_img_info_v2" (a str.format template: {{ }} are
# braces; the apostrophe of "user’s" is U+2019).
SINGLE_IMAGE_PROMPT = (
    "You are an agent - please keep going until the user’s query is completely resolved, "
    "before ending your turn and yielding back to the user. Only terminate your turn when "
    "you are sure that the problem is solved. \n"
    "\n"
    "Solve the following problem step by step. You now have the ability to selectively write "
    "executable Python code to enhance your reasoning process. The Python code will be "
    "executed by an external sandbox. \n"
    "\n"
    "You MUST plan extensively before each function call, and reflect extensively on the "
    "outcomes of the previous function calls. DO NOT do this entire process by making "
    "function calls only, as this can impair your ability to solve the problem and think "
    "insightfully.\n"
    "\n"
    "For all the provided images, in order, the i-th image has already been read into the "
    "global variable `image_clue_i` using the PIL.Image.open() function. When writing Python "
    "code, you can directly use these variables without needing to read them again.\n"
    "\n"
    "Since you are dealing with the vision-related question answering task, you MUST use the "
    "python tool (e.g., matplotlib library) to analyze or transform images whenever it could "
    "improve your understanding or aid your reasoning. This includes but is not limited to "
    "zooming in, rotating, adjusting contrast, computing statistics, or isolating features. "
    "\n"
    "\n"
    "Note that when you use matplotlib to visualize data or further process images, you need "
    "to use plt.show() to display these images; there is no need to save them. Do not use "
    "image processing libraries like cv2 or PIL. If you want to check the value of a "
    "variable, you MUST use print() to check it.\n"
    "\n"
    "The output (wrapped in `<interpreter>output_str</interpreter>`) can be returned to aid "
    "your reasoning and help you arrive at the final answer. The Python code should be "
    "complete scripts, including necessary imports. \n"
    "Each code snippet is wrapped with `<code>\n"
    "```python\n"
    "code snippet\n"
    "```\n"
    "</code>`.\n"
    "The last part of your response should be in the following format:\n"
    "<answer>\n"
    "\\boxed{{'The final answer goes here.'}}\n"
    "</answer>\n"
    "\n"
    "*image resolution:*\n"
    "\n"
    "Image Width: {width}; Image Height: {height}\n"
    "\n"
    "*user question:*\n"
    "Answer the following Problem with an image provided and put the answer in the format of "
    "\\boxed{{answer}}\n"
    "\n"
    "{query}\n"
    "\n"
    "Remember to place the final answer in the last part using the format: \n"
    "<answer>\n"
    "\\boxed{{'The final answer goes here.'}}\n"
    "</answer>"
)

# prompt_template_vis.json, "vistool_with_img_info_multi_image".
MULTI_IMAGE_PROMPT = (
    "Solve the following problem step by step. You now have the ability to selectively write "
    "executable Python code to enhance your reasoning process. The Python code will be "
    "executed by an external sandbox.\n"
    "\n"
    "For all the provided images, in order, the i-th image has already been read into the "
    "global variable `image_clue_i` using the PIL.Image.open() function. When writing Python "
    "code, you can directly use these variables without needing to read them again.\n"
    "\n"
    "Since you are dealing with the VQA task, you MUST use the python tool (e.g., matplotlib "
    "library) to analyze or transform images whenever it could improve your understanding or "
    "aid your reasoning. This includes but is not limited to zooming in, rotating, adjusting "
    "contrast, computing statistics, or isolating features. \n"
    "\n"
    "Note that when you use matplotlib to visualize data or further process images, you need "
    "to use plt.show() to display these images; there is no need to save them. Do not use "
    "image processing libraries like cv2 or PIL. If you want to check the value of a "
    "variable, you MUST use print() to check it.\n"
    "\n"
    "The output (wrapped in `<interpreter>output_str</interpreter>`) can be returned to aid "
    "your reasoning and help you arrive at the final answer. The Python code should be "
    "complete scripts, including necessary imports. \n"
    "Each code snippet is wrapped with `<code>\n"
    "```python\n"
    "code snippet\n"
    "```\n"
    "</code>`.\n"
    "The last part of your response should be in the following format:\n"
    "<answer>\n"
    "\\boxed{{'The final answer goes here.'}}\n"
    "</answer>\n"
    "\n"
    "*image resolution:*\n"
    "\n"
    "{image_information}\n"
    "\n"
    "*user question:*\n"
    "Answer the following Problem with an image provided and put the answer in the format of "
    "\\boxed{{answer}}\n"
    "\n"
    "{query}\n"
    "\n"
    "Remember to place the final answer in the last part using the format: \n"
    "<answer>\n"
    "\\boxed{{'The final answer goes here.'}}\n"
    "</answer>"
)

#: The runtime's headers (`ImageRuntime.HEADERS`) and its plt.show() capture.
CODE = CodeProfile(
    session=True,
    preload="image_clue_{i}",
    preload_start=0,
    preload_rgb=True,
    prelude=(
        "import matplotlib\n"
        "import matplotlib.pyplot as plt\n"
        "from PIL import Image\n"
        "import io\n"
        "import base64\n"
        "import numpy as np\n"
    ),
    figures=Figures(show="current", tight=False),
    split_streams=True,  # stderr is not shown (PyVision captures stdout only)
    requires=(("matplotlib", "matplotlib"),),
)
_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)\b:? ?(.*)$")


def _system(info: PromptInfo, custom: str | None) -> str:
    return custom if custom is not None else ""  # PyVision sends no system message


def _user(question: str, images: Sequence[GalleryImage]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for i, g in enumerate(images):
        after = "\n\n"
        parts += [text_part(f"<image_clue_{i}>"), g.part(), text_part(f"</image_clue_{i}>{after}")]
    if len(images) == 1:
        sent = images[0].sent
        prompt = SINGLE_IMAGE_PROMPT.format(
            query=question, width=str(sent.width), height=str(sent.height)
        )
    else:
        info = "".join(
            f"width of image_clue_{i}: {g.sent.width}, height of image_clue_{i}: {g.sent.height}\n"
            for i, g in enumerate(images)
        )
        prompt = MULTI_IMAGE_PROMPT.format(query=question, image_information=info)
    return [*parts, text_part(prompt)]


def _ends_turn(ev: Event) -> bool:
    return ev.kind == "tool_call" and ev.tag == "code"


def _calls(turn: Turn, conv: Conversation) -> list[Call]:
    events = call_events(turn, _ends_turn)
    return [call_from_event(events[0])] if events else []


def _route(call: Call, conv: Conversation) -> Action:
    body = str(call.arguments.get("code", ""))
    return RunTool("code", {"code": body.split("```python")[-1].split("```")[0].strip()})


def _assistant(turn: Turn, calls: list[Call], conv: Conversation) -> dict[str, Any]:
    """`update_messages_with_code`: the reply (its trimmed `</code>` back) and a newline."""
    text = turn.text if not calls else turn.text + "\n"
    return {"role": "assistant", "content": [text_part(text)]}


def text_result(stdout: str) -> str:
    """The runtime's text result: stdout stripped, at most 400 characters (the first and
    the last 200), "None" when nothing was printed."""
    text = stdout.strip()
    if len(text) > 400:
        text = text[:200] + "..." + text[-200:]
    return text or "None"


def _error(outcome: Outcome) -> str | None:
    """The runtime's report when the code failed (`Error: <message>`, `Timeout Error`)."""
    result = outcome.result
    if result.error is None:
        return None
    if result.error.startswith("timed out"):
        return "Timeout Error"
    data = result.data if isinstance(result.data, dict) else {}
    lines = [ln for ln in str(data.get("stderr", "")).splitlines() if ln.strip()]
    m = _ERROR_LINE.match(lines[-1]) if lines else None
    return f"Error: {m.group(1) if m else result.error}" if data else f"Error: {result.text}"


def _observation(outcomes: list[Outcome], conv: Conversation) -> list[dict[str, Any]]:
    messages = []
    for outcome in outcomes:
        error = _error(outcome)
        if error is not None:
            parts = [text_part(f"<interpreter>{error}"), text_part("</interpreter>\n")]
            messages.append({"role": "user", "content": parts})
            continue
        data = outcome.result.data if isinstance(outcome.result.data, dict) else {}
        notes = [f"[sandbox] {n}" for n in data.get("notes") or []]
        notes += [f"[note: {n}]" for n in outcome.notes]
        text = text_result(str(data.get("stdout", outcome.result.text)))
        if notes:
            text = (text + "\n" if text != "None" else "") + "\n".join(notes)
        parts = [text_part(f"<interpreter>\nText Result:\n{text}\nImage Result:\n")]
        for g in outcome.images:  # numbered on from the input images (gallery order)
            parts += [text_part(f"<image_clue_{g.index}>"), g.part()]
            parts.append(text_part(f"</image_clue_{g.index}>"))
        if not outcome.images:
            parts.append(text_part("None"))
        parts.append(text_part("</interpreter>\n"))
        messages.append({"role": "user", "content": parts})
    return messages


DIALECT = Dialect(
    name="pyvision",
    summary="PyVision (a prompting framework for any served model): <code> fenced Python for "
    "a persistent process with image_clue_0… preloaded, plt.show() figures back inside "
    "<interpreter>; no system message; \\boxed{} answers in <answer>",
    sources=(
        "agents-x-project/PyVision@d08b450:prompt_template/prompt_template_vis.json",
        "agents-x-project/PyVision@d08b450:inference_engine/vis_inference_demo_gpt.py:201-542",
        "agents-x-project/PyVision@d08b450:inference_engine/"
        "safe_persis_shared_vis_python_exe.py:243-330",
    ),
    factor=28,  # RECONSTRUCTED: PyVision names no model; a Qwen2.5-VL one is assumed
    vllm_flags="--limit-mm-per-prompt '{\"image\": 16}' (no tool parser: the calls are text; "
    "no reasoning parser, so the </code> stop is seen)",
    answer_format="<answer>\\boxed{…}</answer>",
    system_prompt=_system,
    user_content=_user,
    question=ask_with_options,
    stops=("</code>",),
    ends_turn=_ends_turn,
    calls=_calls,
    route=_route,
    assistant_message=_assistant,
    observation=_observation,
    free_text_answer=True,  # a reply without <code> is the final one
    code=CODE,
    final_prompt="Remember to place the final answer in the last part using the format: \n"
    "<answer>\n\\boxed{'The final answer goes here.'}\n</answer>",  # from the prompt's end
    extra={
        "sandbox": "persistent process per case; image_clue_0… preloaded (RGB); plt.show() "
        "saves the current figure; stdout only, 400 characters",
    },
    sampling={
        "": Sampling(
            "agents-x-project/PyVision@d08b450:inference_engine/vis_inference_demo_gpt.py:383-408",
            temperature=0.6,
            top_p=1.0,
            max_tokens=10000,
            note="code timeout 20 s",
        )
    },
)
