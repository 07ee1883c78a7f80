"""Trajectories that exhibit each quality flag (and one that exhibits none), as cases plus
simulator scripts, over one generated picture: a textured left half (random grey noise
with a drawn shape) and a pure white right half, 400 x 300.

Imported by the flag, export and viewer tests; it holds no tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
from PIL import Image, ImageDraw

SCENE_SIZE = (400, 300)


def make_scene(path: Path) -> Path:
    """The picture every case asks about (deterministic)."""
    rng = np.random.default_rng(7)
    pixels = np.full((SCENE_SIZE[1], SCENE_SIZE[0], 3), 255, dtype=np.uint8)
    pixels[:, :200] = rng.integers(40, 220, size=(SCENE_SIZE[1], 200, 3), dtype=np.uint8)
    img = Image.fromarray(pixels)
    ImageDraw.Draw(img).rectangle([60, 60, 140, 140], outline="red", width=4)
    img.save(path)
    return path


def call(code: str) -> str:
    body = orjson.dumps({"name": "code", "arguments": {"code": code}}).decode()
    return f"<tool_call>{body}</tool_call>"


def crop(box: tuple[int, int, int, int], name: str, resize: bool = False) -> str:
    """A code call that crops `box` from the input image and saves it as `name`."""
    code = f"from PIL import Image\nim = Image.open(image_path)\nc = im.crop({box})\n"
    if resize:
        w, h = box[2] - box[0], box[3] - box[1]
        code += f"c = c.resize(({w * 2}, {h * 2}))\n"
    return call(code + f"c.save('{name}')\nprint('{name}')")


ANSWER_4 = "<think>The crop shows the digit 4, so the answer is 4.</think><answer>4</answer>"
LOOK = "<think>Let me crop the textured left part to look closer.</think>"

#: id -> (turns, the flags it must have). Every case's ground truth is "4".
FLAG_CASES: dict[str, tuple[list[str], set[str]]] = {
    "clean": ([LOOK + crop((20, 20, 180, 180), "left.png"), ANSWER_4], set()),
    "format": ([crop((20, 20, 180, 180), "left.png"), ANSWER_4], {"format"}),
    "tool_error": ([LOOK + call("1 / 0"), ANSWER_4], {"tool_error"}),
    "recrop": (
        [
            LOOK + crop((20, 20, 180, 180), "first.png"),
            "<think>A bit off; crop that region again, shifted.</think>"
            + crop((30, 25, 190, 185), "second.png"),
            ANSWER_4,
        ],
        {"recrop"},
    ),
    "blank_crop": (
        [
            "<think>Let me crop the right half.</think>" + crop((250, 50, 390, 250), "right.png"),
            ANSWER_4,
        ],
        {"blank_crop"},
    ),  # fmt: skip
    "tiny_crop": (
        [
            "<think>Let me zoom into one dot.</think>" + crop((40, 40, 50, 50), "dot.png", True),
            ANSWER_4,
        ],
        {"tiny_crop"},
    ),  # fmt: skip
    "huge_crop": (
        [
            "<think>Let me crop nearly everything.</think>" + crop((2, 2, 398, 298), "all.png"),
            ANSWER_4,
        ],
        {"huge_crop"},
    ),  # fmt: skip
    "no_answer": (["<think>I cannot tell what this shows.</think>"], {"no_answer", "format"}),
    "wrong_answer": (["<think>It looks like 5.</think><answer>5</answer>"], {"wrong_answer"}),
    "answer_not_in_think": (
        ["<think>The sign in the picture shows 47.</think><answer>4</answer>"],
        {"answer_not_in_think"},
    ),
    "crop_mismatch": (
        [
            "<think>Let me crop the red square to read its label.</think>"
            + crop((100, 150, 190, 290), "square.png"),
            ANSWER_4,
        ],
        set(),  # crop_mismatch only with a consistency judge (see JUDGE_SCRIPTS)
    ),  # fmt: skip
}

#: A case stopped by --max-rounds 1 (run in a batch of its own).
MAX_ROUNDS_CASE = ([LOOK + crop((20, 20, 180, 180), "a.png"), LOOK + crop((0, 0, 50, 50), "b.png")],
                   {"max_rounds", "no_answer", "format"})  # fmt: skip

#: The consistency judge (a scripted simulator): the crop of the white half for "the red
#: square" is inconsistent; every other crop and final answer is consistent.
JUDGE_SCRIPTS = [
    {
        "contains": "Let me crop the red square to read its label.",
        "turns": ["Grey noise only: no red square in it.\nVERDICT: INCONSISTENT"],
    },
    {"contains": "Final answer: 4", "turns": ["It says 47, not 4.\nVERDICT: INCONSISTENT"]},
    {"contains": "VERDICT: CONSISTENT", "turns": ["It shows what was meant.\nVERDICT: CONSISTENT"]},
]


def flag_cases(image: str) -> tuple[list[dict], list[dict]]:
    """The cases and the simulator scripts for `FLAG_CASES`."""
    cases = [
        {"id": cid, "image": image, "question": f"what number? ({cid})", "answer": "4"}
        for cid in FLAG_CASES
    ]
    scripts = [{"id": cid, "turns": turns} for cid, (turns, _) in FLAG_CASES.items()]
    return cases, scripts
