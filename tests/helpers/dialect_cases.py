"""A scene whose centre the simulated players zoom into, a case over it, and a batch run
against the simulator, shared by the dialect tests."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from r1v4._util.images import decode_data_url
from tests.helpers import run_cli, write_jsonl

QUESTION = "What colour is the block in the middle of the picture?"


def scene(path: Path, size: tuple[int, int] = (640, 480)) -> Path:
    """Grey, a red block filling the centre half, a green and a blue patch elsewhere."""
    w, h = size
    img = Image.new("RGB", size, (128, 128, 128))
    draw = ImageDraw.Draw(img)
    draw.rectangle((w // 4, h // 4, 3 * w // 4 - 1, 3 * h // 4 - 1), fill=(220, 30, 30))
    draw.rectangle((0, 0, w // 5, h // 5), fill=(30, 160, 60))
    draw.rectangle((4 * w // 5, 4 * h // 5, w - 1, h - 1), fill=(30, 60, 220))
    img.save(path)
    return path


def image_of(part: dict[str, Any]) -> Image.Image:
    """The image of an `image_url` content part (a data URL), as RGB."""
    with Image.open(io.BytesIO(decode_data_url(part["image_url"]["url"]))) as img:
        img.load()
        return img.convert("RGB")


def one_case(workdir: Path, dialect: str | None = None, **extra: Any) -> None:
    """cases.jsonl with one case over scene.png whose answer is "red"."""
    scene(workdir / "scene.png")
    case = {"id": "c", "image": "scene.png", "question": QUESTION, "answer": "red", **extra}
    if dialect:
        case["dialect"] = dialect
    write_jsonl(workdir / "cases.jsonl", [case])


def batch(sim: Any, mode: str, *flags: str) -> int:
    """cases.jsonl -> out.jsonl against the simulator, scored with `includes`."""
    argv = ["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--scorer", "includes"]
    return run_cli([*argv, *flags], mode)
