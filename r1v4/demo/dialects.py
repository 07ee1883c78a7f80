"""The demo in another model family's dialect (`--demo --dialect NAME`): the warehouse sign
read by that family's own zoom, written as its documented examples write it, and the cases
that family can answer with its tools.

The SIMULATED model plays each family's turns; the toolkit does the rest for real: it reads
the family's call, crops the image by that family's rule, and sends the crop back where the
family expects it, which the simulated model checks before it answers. The lighthouse case
needs R1V4's code and search tools, so it runs in the `r1v4` dialect only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from r1v4._util.pixels import smart_resize_unchecked
from r1v4.demo.files import DEMO_DIR
from r1v4.demo.images import SIGN_BOX, SIGN_TEXT
from r1v4.demo.scripts import RESEARCH_QUESTION, WAREHOUSE_QUESTION, demo_cases

__all__ = ["DIALECT_SIM_SETTINGS", "dialect_scripts", "write_dialect_cases"]

WAREHOUSE_SIZE = (2400, 1600)  # demo_1.png
# The sign with a margin around it, as a model would box it.
_BOX = (SIGN_BOX[0] - 40, SIGN_BOX[1] - 30, SIGN_BOX[2] + 40, SIGN_BOX[3] + 30)

#: How the demo's simulator is started for each dialect: what the served model needs of the
#: server (Qwen3-VL's native function calling needs vLLM's tool parser).
DIALECT_SIM_SETTINGS: dict[str, dict[str, Any]] = {"qwen3-vl": {"tool_parser": True}}


def _qwen_turns() -> list[str]:
    w, h = WAREHOUSE_SIZE
    bbox = [round(_BOX[0] * 1000 / w), round(_BOX[1] * 1000 / h),
            round(_BOX[2] * 1000 / w), round(_BOX[3] * 1000 / h)]  # fmt: skip
    call = {"name": "image_zoom_in_tool",
            "arguments": {"label": "small blue sign", "bbox_2d": bbox, "img_idx": 0}}  # fmt: skip
    return [
        "Okay, I need to read the number on the small blue sign near the bottom right. It is "
        "tiny in this large image, so I will zoom in on it to get a better look.\n\n"
        f"<tool_call>\n{json.dumps(call)}\n</tool_call>",
        f"Okay, now I see the sign clearly: white digits on blue read {SIGN_TEXT}.\n\n"
        f"The number on the small blue sign is **{SIGN_TEXT}**.",
    ]


def _deepeyes_turns() -> list[str]:
    call = {"name": "image_zoom_in_tool",
            "arguments": {"bbox_2d": list(_BOX), "label": "the small blue sign"}}  # fmt: skip
    return [
        "<think>The sign is small in the lower right of the image; I will zoom in on it.</think>"
        f"  <tool_call>\n{json.dumps(call)}\n</tool_call>",
        f"<think>The zoomed image shows white digits on the blue sign: {SIGN_TEXT}.</think>  "
        f"<answer>{SIGN_TEXT}</answer>",
    ]


def _mini_o3_turns() -> list[str]:
    w, h = WAREHOUSE_SIZE
    unit = [round(_BOX[0] / w, 3), round(_BOX[1] / h, 3),
            round(_BOX[2] / w, 3), round(_BOX[3] / h, 3)]  # fmt: skip
    call = json.dumps({"bbox_2d": unit, "source": "original_image"})
    return [
        "<think>The sign is tiny, near the bottom right. A bounding box around it should "
        f"capture the number.</think>\n<grounding>{call}</grounding>",
        f"<think>In Observation 1, I can read the sign: {SIGN_TEXT}.</think>\n"
        f"<answer>{SIGN_TEXT}</answer>",
    ]


def _deepeyes_v2_turns() -> list[str]:
    # image_1 holds the image as DeepEyesV2's client resized it (factor 28): 2408x1596.
    w, h = WAREHOUSE_SIZE
    rh, rw = smart_resize_unchecked(h, w, 28, 4 * 28 * 28, 16384 * 28 * 28)
    box = (round(_BOX[0] * rw / w), round(_BOX[1] * rh / h),
           round(_BOX[2] * rw / w), round(_BOX[3] * rh / h))  # fmt: skip
    code = (
        "import matplotlib.pyplot as plt\n"
        f"crop = image_1.crop({box})\n"
        "crop = crop.resize((crop.width * 3, crop.height * 3))\n"
        "plt.imshow(crop)\n"
        "plt.axis('off')\n"
        "plt.show()"
    )
    return [
        "<think>The sign in the lower right is too small to read. I will crop and enlarge "
        f"it.</think>\n<code>\n```python\n{code}\n```\n</code>",
        f'<think>The enlarged sign reads "{SIGN_TEXT}".</think> <answer>{SIGN_TEXT}</answer>',
    ]


def _thyme_turns() -> list[str]:
    code = f"""import cv2
import os

# Load the image
image_path = "/eval/demo_1.png"
image = cv2.imread(image_path)

# Define the coordinates for the sign area (inferred from the image content)
x1, y1, x2, y2 = {_BOX[0]}, {_BOX[1]}, {_BOX[2]}, {_BOX[3]}

# Crop the image and zoom in on the sign
cropped_image = image[y1:y2, x1:x2]
resized_image = cv2.resize(cropped_image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)

processed_path = os.path.join("/mnt/data/temp_processed_images/", "demo_1_sign.png")
cv2.imwrite(processed_path, resized_image)

# Print the path of the saved cropped image for further processing
print(processed_path)"""
    return [
        "<think>To read the number, I need to focus on the small blue sign near the bottom "
        "right of the image. Cropping and zooming in on it will make the digits legible.\n"
        "Here is the Python code to crop and zoom in on the sign:\n"
        f"<code>\n```python\n{code}\n```\n</code>",
        "\nUpon examining the cropped and zoomed-in image of the sign, it becomes clear that "
        f"the number is {SIGN_TEXT}.</think>\n<answer> {SIGN_TEXT} </answer>",
    ]


def _pyvision_turns() -> list[str]:
    code = (
        "import matplotlib.pyplot as plt\n"
        f"crop = image_clue_0.crop({_BOX})\n"
        "plt.figure(figsize=(6, 3))\n"
        "plt.imshow(crop)\n"
        "plt.axis('off')\n"
        "plt.show()"
    )
    return [
        "I need to read the number on the small blue sign near the bottom right. I'll zoom "
        f"into that region.\n\n<code>\n```python\n{code}\n```\n</code>",
        f"The zoomed sign reads {SIGN_TEXT}.\n\n<answer>\n\\boxed{{{SIGN_TEXT}}}\n</answer>",
    ]


_TURNS = {
    "qwen3-vl": _qwen_turns,
    "deepeyes": _deepeyes_turns,
    "deepeyes-v2": _deepeyes_v2_turns,
    "deepeyes-v2-rl": _deepeyes_v2_turns,
    "thyme": _thyme_turns,
    "mini-o3": _mini_o3_turns,
    "pyvision": _pyvision_turns,
}


def dialect_scripts(dialect: str) -> list[dict[str, Any]]:
    """The SIMULATED model's scripted turns for the demo in `dialect` (none: its generic
    player, which zooms into the centre and names the colour it sees)."""
    turns = _TURNS.get(dialect)
    # "contains": the families wrap the question in their own user prompt.
    return [{"contains": WAREHOUSE_QUESTION, "turns": turns()}] if turns else []


def write_dialect_cases(path: Path) -> Path:
    """The demo cases a non-R1V4 dialect can answer, with absolute image paths (the
    packaged images), as a JSONL file at `path`."""
    with open(path, "wb") as fh:
        for case in demo_cases():
            if case["question"] == RESEARCH_QUESTION:
                continue
            image = case["image"]
            if image.startswith("./demo_image/"):
                case = {**case, "image": str(DEMO_DIR / image.removeprefix("./demo_image/"))}
            fh.write(orjson.dumps(case) + b"\n")
    return path
