"""The demo's cases and the SIMULATED model's scripted turns for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from r1v4.demo.images import SIGN_BOX, SIGN_TEXT

CROP_CODE = (
    "from PIL import Image\n"
    "img = Image.open(image_path)\n"
    "print('image size:', img.size)\n"
    f"crop = img.crop(({SIGN_BOX[0] - 100}, {SIGN_BOX[1] - 80}, "
    f"{SIGN_BOX[2] + 100}, {SIGN_BOX[3] + 80}))\n"
    "zoom = crop.resize((crop.width * 3, crop.height * 3), Image.Resampling.LANCZOS)\n"
    "zoom.save('sign_zoom.png')\n"
    "print('saved sign_zoom.png', zoom.size)\n"
)

WAREHOUSE_QUESTION = "What number is written on the small blue sign near the bottom right?"

SCENE_IMAGE = "./demo_corpus/scene.png"
POSTER_BOX = (1990, 1290, 2350, 1560)  # the lighthouse poster in scene.png (see demo/corpus.py)
RESEARCH_QUESTION = (
    "The poster in the bottom-right corner of this street scene shows a lighthouse. "
    "In which city was the architect who designed that lighthouse born?"
)
POSTER_CODE = (
    "from PIL import Image\n"
    "img = Image.open(image_path)\n"
    f"poster = img.crop({POSTER_BOX})\n"
    "poster.save('poster.png')\n"
    "print('saved poster.png', poster.size)\n"
)


def _call(name: str, arguments: dict[str, Any]) -> str:
    return (
        "<tool_call>"
        + orjson.dumps({"name": name, "arguments": arguments}).decode()
        + "</tool_call>"
    )


def demo_scripts() -> list[dict[str, Any]]:
    """The SIMULATED model's turns for the demo cases that are scripted."""
    return [
        {
            "question": WAREHOUSE_QUESTION,
            "turns": [
                "<think>The sign is tiny in a 2400x1600 image; I will crop the bottom-right "
                "region around it and zoom in 3x before reading it.</think>"
                + _call("code", {"code": CROP_CODE}),
                "<think>The zoomed crop shows a blue sign with white digits reading 47.</think>"
                f"<answer>{SIGN_TEXT}</answer>",
            ],
        },
        {
            "question": RESEARCH_QUESTION,
            "turns": [
                "<think>The poster is small; crop it so I can search for it.</think>"
                + _call("code", {"code": POSTER_CODE}),
                "<think>Now a reverse image search on the cropped poster.</think>"
                + _call("image_search", {"image_paths": ["poster.png"]}),
                "<think>The best match is the Harbor Lantern Tower page; it says the tower was "
                "designed by the architect Odile Varnay. Search for her.</think>"
                + _call("text_search", {"queries": ["Odile Varnay architect"]}),
                "<think>Her page should give her birthplace; visit it.</think>"
                + _call("web_visit", {"urls": ["https://veloria.example/wiki/odile-varnay"]}),
                "<think>The page says Odile Varnay was born in Kessmark. The lighthouse on the "
                "poster is the Harbor Lantern Tower, which she designed.</think>"
                "<answer>Kessmark</answer>",
            ],
        },
    ]


def demo_cases() -> list[dict[str, Any]]:
    return [
        {
            "id": "warehouse-sign",
            "image": "./demo_image/demo_1.png",
            "question": WAREHOUSE_QUESTION,
            "answer": SIGN_TEXT,
        },
        {
            "id": "lighthouse-architect",
            "image": SCENE_IMAGE,
            "question": RESEARCH_QUESTION,
            "answer": "Kessmark",
        },
        {
            "id": "red-circles",
            "image": "./demo_image/demo_2.webp",
            "question": "How many red circles are there in the picture?",
        },
        {
            "id": "text-only",
            "image": "",
            "question": "Explain in one sentence why zooming helps a vision model read small text.",
        },
    ]


def write_demo_cases(path: Path) -> None:
    """The demo cases as a JSONL file (their image paths are relative: `path`'s folder needs
    `demo_image/` and `demo_corpus/`, as the package's data folder has)."""
    with open(path, "wb") as fh:
        for case in demo_cases():
            fh.write(orjson.dumps(case) + b"\n")
