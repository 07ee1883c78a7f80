"""The simulated families react to what they receive as the model would: a crop of the
region they asked for, at their own size rule and in their own wrapper, gives the colour
they see; anything else is said, and the answer is then that they could not see."""

from __future__ import annotations

import base64
import io
import json

import pytest
import requests
from PIL import Image

from r1v4.agent.dialects import crops, deepeyes, mini_o3, qwen3_vl
from r1v4.sim import running_simulator
from tests.helpers.dialect_cases import scene


def data_url(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def image_part(img: Image.Image) -> dict:
    return {"type": "image_url", "image_url": {"url": data_url(img)}}


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Image.Image:
    path = scene(tmp_path_factory.mktemp("scene") / "scene.png")
    with Image.open(path) as img:
        return img.convert("RGB")


def ask(body: dict, **settings) -> str:
    with running_simulator(**settings) as sim:
        resp = requests.post(sim.base_url + "/chat/completions", json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    message = resp.json()["choices"][0]["message"]
    return (message.get("content") or "") + json.dumps(message.get("tool_calls") or [])


def qwen_body(picture: Image.Image, crop: Image.Image | None) -> dict:
    """A native qwen3-vl conversation after one zoom into the centre."""
    user = {"role": "user", "content": [image_part(picture), {"type": "text", "text": "Q?"}]}
    call = {"id": "call_1", "type": "function", "function": {
        "name": "image_zoom_in_tool",
        "arguments": json.dumps({"label": "c", "bbox_2d": [250, 250, 750, 750], "img_idx": 0}),
    }}  # fmt: skip
    content = [image_part(crop)] if crop is not None else "Tool Execution Error"
    return {
        "messages": [
            {"role": "system", "content": qwen3_vl.ANALYSIS_PROMPT},
            user,
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": content},
        ],
        "tools": [qwen3_vl.ZOOM_TOOL],
    }


def test_qwen_player_answers_from_the_crop_it_got(picture: Image.Image) -> None:
    right = crops.qwen_zoom(picture, [250, 250, 750, 750])
    assert "the answer is: red" in ask(qwen_body(picture, right), tool_parser=True)


@pytest.mark.parametrize(
    "crop, complaint",
    [
        (None, "no image came back"),
        ("top-left", "does not show the region I asked for"),
        ("unresized", "multiples of 32"),
    ],
)
def test_qwen_player_says_what_is_wrong_with_a_bad_crop(
    picture: Image.Image, crop: str | None, complaint: str
) -> None:
    if crop == "top-left":
        image = crops.qwen_zoom(picture, [0, 0, 500, 500])  # the wrong region
    elif crop == "unresized":
        image = picture.crop((160, 120, 481, 361))  # right region, not Qwen-Agent's size
    else:
        image = None
    reply = ask(qwen_body(picture, image), tool_parser=True)
    assert complaint in reply and "the answer is: unknown" in reply


def test_deepeyes_player_wants_its_wrapper(picture: Image.Image) -> None:
    crop = crops.deepeyes_zoom(picture, [160, 120, 480, 360], picture.size)
    user = {"role": "user", "content": [image_part(picture), {"type": "text", "text": "Q?"}]}
    good = [
        {"type": "text", "text": "<tool_response>"},
        image_part(crop),
        {"type": "text", "text": deepeyes.USER_PROMPT_V2},
        {"type": "text", "text": "</tool_response>"},
    ]
    call = '<tool_call>\n{"name": "image_zoom_in_tool", "arguments": {"bbox_2d": [1, 2, 3, 4]}}'

    def body(content: list) -> dict:
        return {
            "messages": [
                {"role": "system", "content": deepeyes.SYSTEM_PROMPT},
                user,
                {"role": "assistant", "content": call + "\n</tool_call>"},
                {"role": "user", "content": content},
            ]
        }

    assert "<answer>red</answer>" in ask(body(good))
    without_instruction = [good[0], good[1], good[3]]
    reply = ask(body(without_instruction))
    assert "<tool_response>, image, the instruction" in reply
    assert "<answer>unknown</answer>" in reply


def test_mini_o3_player_counts_its_observations(picture: Image.Image) -> None:
    crop = crops.mini_o3_process_image(crops.mini_o3_crop(picture, [0.25, 0.25, 0.75, 0.75]))
    user = {"role": "user", "content": [image_part(picture), {"type": "text", "text": "Q?"}]}
    grounding = '<grounding>{"bbox_2d": [0.25, 0.25, 0.75, 0.75], "source": "original_image"}'

    def body(action: int) -> dict:
        before, after = mini_o3.observation_text(action)
        return {
            "messages": [
                {"role": "system", "content": mini_o3.SYSTEM_PROMPT},
                user,
                {"role": "assistant", "content": grounding + "</grounding>"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": before},
                        image_part(crop),
                        {"type": "text", "text": after},
                    ],
                },  # fmt: skip
            ]
        }

    assert "<answer>red</answer>" in ask(body(0))
    wrong = ask(body(3))  # "After the above Action 3" after the first action
    assert "Action 0" in wrong and "<answer>unknown</answer>" in wrong
