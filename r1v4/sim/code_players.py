"""The code-writing families as the simulator plays them: DeepEyesV2, Thyme and PyVision.

Each is recognised from its prompt, as a model recognises its own format, and its generic
policy writes the family's code turn — after the examples the families publish — cropping
the centre of the image and showing it the family's way (a `plt.show()` figure of a
preloaded image, a saved and printed path), then reads what came back where its family
expects it: DeepEyesV2's "Code execution result" user turn, Thyme's `<sandbox_output>`
inside its own message (a continuation request), PyVision's `<interpreter>` turn. It checks
the wrapper, that a figure came back and shows the region it asked for (a figure's white
margin trimmed first), and that what its code printed about the preloaded image is the
image it was sent; then it answers with the colour it saw, or says what was wrong (the
answer is then that it could not see), so only a right observation scores.

The strings it looks for are its own copies of the published ones (sources: the dialect
modules, `/work/notes/dialects/`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from r1v4.sim.players import CENTRE, saw, tail
from r1v4.sim.request import first_user, image_urls, message_text
from r1v4.sim.vision import colour_name, decode_image, region_difference, trim_white

__all__ = ["CODE_PLAYERS", "CodePlayer", "Seen", "detect_code_player"]

_MAX_DIFFERENCE = 40.0


@dataclass
class Seen:
    """The latest result as the player read it: what is wrong with its shape, the image it
    shows (None: no image), the text it printed, and where that text contradicts what the
    generic policy's own code printed about the image it was sent (`mismatch`)."""

    problems: list[str]
    image: Image.Image | None = None
    printed: str = ""
    mismatch: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CodePlayer:
    """One code family (see the module docstring)."""

    name: str
    detect: Callable[[dict[str, Any]], bool]
    first: Callable[[dict[str, Any]], str]  # the turn that crops and shows the centre
    latest: Callable[[dict[str, Any]], Seen | None]  # the latest result (None: none yet)
    answer: Callable[[str, dict[str, Any]], str]  # the final turn, given what it saw

    def generic(self, body: dict[str, Any], k: int) -> str:
        seen = self.latest(body)
        if seen is None:
            return self.first(body)
        return self.answer(self.judge(body, seen), body)

    def judge(self, body: dict[str, Any], seen: Seen) -> str:
        """ "COLOUR: …" when the result shows the centre of the input image, else
        "PROBLEM: …" naming what was wrong."""
        problems = [*seen.problems, *seen.mismatch]
        if seen.image is None:
            problems.append("no image came back from my code")
        else:
            source = _input_image(body)
            if source is not None:
                shown = trim_white(seen.image)
                diff = region_difference(shown, source, CENTRE)
                if diff > _MAX_DIFFERENCE:
                    problems.append(
                        "the image that came back does not show the region I cropped "
                        f"(difference {diff:.0f}/255 from that region of the input image)"
                    )
        if problems:
            return "PROBLEM: " + "; ".join(problems)
        return f"COLOUR: {colour_name(trim_white(seen.image))}"  # type: ignore[arg-type]

    def scripted_problems(self, body: dict[str, Any]) -> list[str]:
        """What is wrong with the result a scripted turn is about to answer (its shape)."""
        seen = self.latest(body)
        return seen.problems if seen is not None else []


def _input_image(body: dict[str, Any]) -> Image.Image | None:
    user = first_user(body.get("messages", []))
    urls = image_urls(user) if user else []
    try:
        return decode_image(urls[0]) if urls else None
    except ValueError:
        return None


def _parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [p for p in content or [] if isinstance(p, dict)]


def _texts(parts: list[dict[str, Any]]) -> list[str]:
    return [str(p.get("text", "")) for p in parts if p.get("type") == "text"]


def _decoded(parts: list[dict[str, Any]]) -> tuple[Image.Image | None, str | None]:
    """The last image of some parts, or why it cannot be read."""
    urls = [u for p in parts for u in image_urls({"content": [p]})]
    if not urls:
        return None, None
    try:
        return decode_image(urls[-1]), None
    except ValueError as exc:
        return None, f"the returned image cannot be decoded ({exc})"


def _system(body: dict[str, Any]) -> str:
    return "\n".join(message_text(m) for m in body.get("messages", []) if m.get("role") == "system")


def _continues(body: dict[str, Any]) -> bool:
    messages = body.get("messages") or []
    return bool(body.get("continue_final_message")) and messages[-1].get("role") == "assistant"


def _size_of_sent(body: dict[str, Any]) -> tuple[int, int] | None:
    image = _input_image(body)
    return image.size if image is not None else None


def _size_mismatch(body: dict[str, Any], name: str, printed: str) -> list[str]:
    """The generic code prints the preloaded image's size: it must be the sent image's."""
    size = _size_of_sent(body)
    if size is None or f"({size[0]}, {size[1]})" in printed:
        return []
    shown = f"{size[0]}x{size[1]}"
    return [f"{name} is not the {shown} image I was shown (my code printed {printed!r})"]


# -- deepeyes-v2 ------------------------------------------------------------------------------
# Visual-Agent/DeepEyesV2@0373e6e: evaluation/VLMEvalKit/vlmeval/api/prompt.py (return_template),
# reinforcement_learning/.../deepeyesv2/prompt.py (RETURN_CODE_PROMPT, RETURN_SEARCH_PROMPT).
_DE2_PROMPT = 'the i-th image has already been read into the global variable "image_i"'
_DE2_RESULT = re.compile(
    r"Code execution result:\nstdout:\n```\n(.*)\n```\n\nstderr:\n```\n(.*)\n```(\n\nImages:\n)?",
    re.S,
)


def _de2_detect(body: dict[str, Any]) -> bool:
    return _DE2_PROMPT in _system(body)


def _de2_first(body: dict[str, Any]) -> str:
    size = _size_of_sent(body)
    if size is None:
        return _de2_answer("there is no image in the question", body)
    box = CENTRE.box(size)
    code = (
        "import matplotlib.pyplot as plt\n"
        f"crop = image_1.crop({box})\n"
        "crop = crop.resize((crop.width * 3, crop.height * 3))\n"
        "print(image_1.size)\n"
        "plt.imshow(crop)\n"
        "plt.axis('off')\n"
        "plt.show()"
    )
    return (
        "<think>The block the question asks about is in the middle of the picture and small. "
        f"I will crop the region {list(box)} of image_1 and enlarge it.</think>\n"
        f"<code>\n```python\n{code}\n```\n</code>"
    )


def _de2_latest(body: dict[str, Any]) -> Seen | None:
    messages = list(body.get("messages") or [])
    if _continues(body) and message_text(messages[-1]) == "<think>":
        messages = messages[:-1]  # the RL environment's prefill: the result is before it
    if not any(m.get("role") == "assistant" for m in messages):
        return None
    users = [m for m in tail(messages) if m.get("role") == "user"]
    if not users:
        return Seen(["no user turn carries my code's result"])
    parts = _parts(users[-1])
    texts = _texts(parts)
    head = texts[0] if texts else ""
    if head.startswith(("<tool_response>\n", "Error: ")):
        return Seen([])  # a search result or an error turn: read by a script, not here
    m = _DE2_RESULT.fullmatch(head)
    if m is None or len(texts) != 1 or parts[0].get("type") != "text":
        return Seen(["the result is not DeepEyesV2's 'Code execution result' turn"])
    problems = []
    image, bad = _decoded(parts)
    if bad:
        problems.append(bad)
    if image is not None and m.group(3) is None:
        problems.append("an image came back without the 'Images:' line")
    return Seen(problems, image, m.group(1), _size_mismatch(body, "image_1", m.group(1)))


def _de2_answer(seen: str, body: dict[str, Any]) -> str:
    said, short = saw(seen)
    text = f"<think>{said[0].upper() + said[1:]}.</think> <answer>{short}</answer>"
    messages = body.get("messages") or []
    if _continues(body) and message_text(messages[-1]).endswith("<think>"):
        return text[len("<think>") :]  # it goes on after the prefill
    return text


# -- thyme ------------------------------------------------------------------------------------
# yfzhang114/Thyme@b9285b7: eval/VLMEvalKit/vlmeval/vlm/thyme/utils.py (prompts), model.py
# (<sandbox_output>), README.md §6 (the model's response: OpenCV code, as written here).
_THYME_PROMPT = "wrapped in <sandbox_output></sandbox_output>"
_THYME_PATH = re.compile(r'### User Image Path:\*\* "([^"]*)"')
_THYME_SIZE = re.compile(r'### User Image Size:\*\* "(\d+)x(\d+)"')


def _thyme_detect(body: dict[str, Any]) -> bool:
    return _THYME_PROMPT in _system(body)


def _thyme_first(body: dict[str, Any]) -> str:
    user = first_user(body.get("messages", []))
    text = message_text(user) if user else ""
    path, size = _THYME_PATH.search(text), _THYME_SIZE.search(text)
    if path is None or size is None:
        return _thyme_answer("the prompt gives no image path and size", body)
    w, h = int(size.group(1)), int(size.group(2))
    x1, y1, x2, y2 = CENTRE.box((w, h))
    stem = path.group(1).rsplit("/", 1)[-1].rsplit(".", 1)[0]
    code = f'''import cv2
import os
import numpy as np
from uuid import uuid4

# Load the image
image_path = "/eval/{path.group(1).lstrip("/")}"
image = cv2.imread(image_path)

# Define the coordinates for the central area (inferred from the image content)
x1, y1, x2, y2 = {x1}, {y1}, {x2}, {y2}

# Crop the image based on the defined coordinates
cropped_image = image[y1:y2, x1:x2]

# Apply a zoom factor to enhance the cropped region
zoom_factor = 2
resized_image = cv2.resize(cropped_image, None, fx=zoom_factor, fy=zoom_factor, interpolation=cv2.INTER_CUBIC)

# Save the processed image with a random suffix
random_suffix = str(uuid4())[:8]
processed_filename = f"{stem}_{{random_suffix}}.png"
processed_path = os.path.join("/mnt/data/temp_processed_images/", processed_filename)
cv2.imwrite(processed_path, resized_image)

# Print the path of the saved cropped image for further processing
print(processed_path)'''  # noqa: E501
    return (
        "<think>To answer the question, I need to focus on the block in the middle of the "
        f"image. The image is {w}x{h}, so the central region is around ({x1}, {y1}) to "
        f"({x2}, {y2}). Cropping and zooming in on this region will make it clearer.\n"
        "Here is the Python code to crop and zoom in on this area:\n"
        f"<code>\n```python\n{code}\n```\n</code>"
    )


def _thyme_latest(body: dict[str, Any]) -> Seen | None:
    messages = body.get("messages") or []
    if not any(m.get("role") == "assistant" for m in messages):
        return None
    last = messages[-1]
    if last.get("role") != "assistant" or "<sandbox_output>" not in message_text(last):
        return Seen(["my code's result did not come back inside my own message"])
    if not _continues(body) or body.get("add_generation_prompt", True):
        return Seen(["my message with the sandbox output was not continued"])
    parts = _parts(last)
    start = max(i for i, p in enumerate(parts) if p.get("text") == "<sandbox_output>")
    inside = parts[start + 1 :]
    if not inside or inside[-1].get("text") != "</sandbox_output>":
        return Seen(["my message does not end with </sandbox_output>"])
    image, bad = _decoded(inside)
    return Seen([bad] if bad else [], image, "".join(_texts(inside[:-1])))


def _thyme_answer(seen: str, body: dict[str, Any]) -> str:
    said, short = saw(seen)
    if not _continues(body):  # nothing continued: a whole reply of its own
        return f"<think>{said[0].upper() + said[1:]}.</think>\n<answer> {short} </answer>"
    return (
        f"\nUpon examining the cropped and zoomed-in image, {said}. Therefore, the answer is "
        f"{short}.</think>\n<answer> {short} </answer>"
    )


# -- pyvision ---------------------------------------------------------------------------------
# agents-x-project/PyVision@d08b450: prompt_template/prompt_template_vis.json,
# inference_engine/vis_inference_demo_gpt.py (update_messages_with_execute_content).
_PV_PROMPT = "has already been read into the global variable `image_clue_i`"
_PV_SIZE = re.compile(r"Image Width: (\d+); Image Height: (\d+)")


def _pv_detect(body: dict[str, Any]) -> bool:
    user = first_user(body.get("messages", []))
    return user is not None and _PV_PROMPT in message_text(user)


def _pv_first(body: dict[str, Any]) -> str:
    user = first_user(body.get("messages", []))
    size = _PV_SIZE.search(message_text(user) if user else "")
    if size is None:
        return _pv_answer("the prompt gives no image size", body)
    box = CENTRE.box((int(size.group(1)), int(size.group(2))))
    code = (
        "import matplotlib.pyplot as plt\n"
        f"crop = image_clue_0.crop({box})\n"
        "print(image_clue_0.size)\n"
        "plt.figure(figsize=(8, 6))\n"
        "plt.imshow(crop)\n"
        "plt.axis('off')\n"
        "plt.show()"
    )
    return (
        "I need to look at the block in the middle of the image. I'll zoom into the central "
        f"region {box} of the image.\n\n<code>\n```python\n{code}\n```\n</code>"
    )


def _pv_latest(body: dict[str, Any]) -> Seen | None:
    messages = body.get("messages") or []
    if not any(m.get("role") == "assistant" for m in messages):
        return None
    problems = []
    mine = [m for m in messages if m.get("role") == "assistant"][-1]
    if not "".join(_texts(_parts(mine))).endswith("</code>\n"):
        problems.append("my code turn was not replayed ending with '</code>\\n'")
    users = [m for m in tail(messages) if m.get("role") == "user"]
    parts = _parts(users[-1]) if users else []
    texts = _texts(parts)
    if not texts or not texts[0].startswith("<interpreter>") or texts[-1] != "</interpreter>\n":
        return Seen([*problems, "the result is not inside <interpreter>...</interpreter>"])
    if not texts[0].startswith("<interpreter>\nText Result:\n"):
        return Seen([*problems, f"my code failed: {texts[0][len('<interpreter>') :]}"])
    n = len(image_urls(first_user(messages) or {}))
    if any("<image_clue_" in t for t in texts) and f"<image_clue_{n}>" not in texts:
        problems.append(f"the first image my code made is not named <image_clue_{n}>")
    image, bad = _decoded(parts)
    printed = texts[0].split("Text Result:\n", 1)[1].split("\nImage Result:\n", 1)[0]
    mismatch = _size_mismatch(body, "image_clue_0", printed)
    return Seen([*problems, *([bad] if bad else [])], image, printed, mismatch)


def _pv_answer(seen: str, body: dict[str, Any]) -> str:
    said, short = saw(seen)
    return f"{said[0].upper() + said[1:]}.\n\n<answer>\n\\boxed{{{short}}}\n</answer>"


CODE_PLAYERS: dict[str, CodePlayer] = {
    p.name: p
    for p in (
        CodePlayer("deepeyes-v2", _de2_detect, _de2_first, _de2_latest, _de2_answer),
        CodePlayer("thyme", _thyme_detect, _thyme_first, _thyme_latest, _thyme_answer),
        CodePlayer("pyvision", _pv_detect, _pv_first, _pv_latest, _pv_answer),
    )
}


def detect_code_player(body: dict[str, Any]) -> CodePlayer | None:
    """The code family whose format the request speaks, or None."""
    return next((p for p in CODE_PLAYERS.values() if p.detect(body)), None)
