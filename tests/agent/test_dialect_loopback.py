"""Every dialect end to end through the real batch path, streaming and not: the simulator
writes as that model writes (its documented examples), the tool really runs, and the next
request carries the result exactly where that model expects it — checked on the request
body — until a scored answer.

The generic players zoom into the centre of `scene.png` (a red block on grey, other colours
around it) and answer with the colour of the crop they were sent, after checking its wrapper,
its size rule and that it shows the centre: only a right observation gives the right answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from r1v4.agent.dialects import crops, qwen3_vl
from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, write_jsonl
from tests.helpers.dialect_cases import QUESTION, batch, image_of, one_case

MODES = ["nonstream", "stream"]


# -- qwen3-vl -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_qwen3_vl_native_tools_send_the_crop_in_a_tool_message(workdir: Path, mode: str) -> None:
    one_case(workdir)
    with running_simulator(tool_parser=True) as sim:
        assert batch(sim, mode, "--dialect", "qwen3-vl") == 0
        requests = list(sim.requests)
    record = read_jsonl(workdir / "out.jsonl")[0]
    assert len(requests) == 2
    first, second = requests
    # Every request carries the zoom tool's schema (Qwen-Agent's), no stop strings.
    assert first["tools"] == second["tools"] == [qwen3_vl.ZOOM_TOOL]
    assert "stop" not in first
    system, user = first["messages"]
    assert system == {"role": "system", "content": qwen3_vl.ANALYSIS_PROMPT}
    assert [p["type"] for p in user["content"]] == ["text", "image_url", "text"]
    assert user["content"][0]["text"] == "(Uploaded ![image](scene.png)) "
    # The history: the assistant's tool_calls, then role:tool with the crop as an image part.
    assistant, tool = second["messages"][-2:]
    (call,) = assistant["tool_calls"]
    assert call["function"]["name"] == "image_zoom_in_tool"
    assert json.loads(call["function"]["arguments"]) == {
        "label": "centre of the image",
        "bbox_2d": [250, 250, 750, 750],
        "img_idx": 0,
    }
    assert tool["role"] == "tool" and tool["tool_call_id"] == call["id"]
    (part,) = tool["content"]
    crop = image_of(part)
    with Image.open(workdir / "scene.png") as original:
        expected = crops.qwen_zoom(original.convert("RGB"), [250, 250, 750, 750])
    # 320x240 grown to at least 256*32*32 pixels in multiples of 32 (Qwen-Agent smart_resize)
    assert crop.size == expected.size == (608, 448)
    assert crop.tobytes() == expected.tobytes()  # Qwen-Agent's crop, pixel for pixel
    assert record["meta"]["dialect"] == "qwen3-vl"
    assert record["meta"]["tool_calls"] == {"image_zoom_in_tool": 1}
    assert record["meta"]["stop_reason"] == "answer"
    assert record["score"]["correct"] is True, record["response"]["full_response"]


@pytest.mark.parametrize("mode", MODES)
def test_qwen3_vl_without_native_tools_speaks_qwen_agents_nous_format(
    workdir: Path, mode: str
) -> None:
    one_case(workdir, dialect="qwen3-vl")  # the case's own field picks the dialect
    with running_simulator() as sim:  # no tool parser on this server
        assert batch(sim, mode, "--no-native-tools") == 0
        requests = list(sim.requests)
    record = read_jsonl(workdir / "out.jsonl")[0]
    first, second = requests
    assert "tools" not in first
    system = first["messages"][0]["content"]
    assert system.startswith(qwen3_vl.ANALYSIS_PROMPT + "\n\n# Tools\n\n")
    assert json.dumps(qwen3_vl.ZOOM_TOOL, ensure_ascii=False) in system
    assistant, user = second["messages"][-2:]
    assert "tool_calls" not in assistant
    assert '<tool_call>\n{"name": "image_zoom_in_tool"' in assistant["content"]
    kinds = [p["type"] for p in user["content"]]
    texts = [p["text"] for p in user["content"] if p["type"] == "text"]
    assert user["role"] == "user" and kinds == ["text", "image_url", "text"]
    assert texts == ["<tool_response>\n", "\n</tool_response>"]
    assert image_of(user["content"][1]).size == (608, 448)
    assert record["score"]["correct"] is True, record["response"]["full_response"]


def test_a_server_without_a_tool_parser_refuses_native_tools_and_says_why(
    workdir: Path,
) -> None:
    one_case(workdir)
    with running_simulator() as sim:
        batch(sim, "nonstream", "--dialect", "qwen3-vl")
    error = read_jsonl(workdir / "out.jsonl")[0]["response"]["error"]
    assert '"auto" tool choice requires --enable-auto-tool-choice' in error  # the server's
    assert "or pass --no-native-tools" in error  # and what to do about it


# -- r1v4 -----------------------------------------------------------------------------------
# The paper's forms (Figures 5-7, §2.2.1): a fenced <code> call that prints the saved path,
# an image_search <tool_call> naming <sub-image 1> unquoted (with the stray brace after the
# tag, as printed), then the <text_search> and <web_content> tags, then the answer.

POSTER_CODE = """```python
from PIL import Image
img = Image.open(image_path)
width, height = img.size
# Calculate crop coordinates for the poster in the bottom-right corner
left, top, right, bottom = 1990, 1290, 2350, 1560
processed_path = "poster.png"
img.crop((left, top, right, bottom)).save(processed_path)
# Print the path of the saved enhanced image
print(processed_path)
```"""


def paper_script(question: str) -> dict:
    return {
        "question": question,
        "turns": [
            "<think> The poster is small; I should crop it before searching. </think>\n"
            f"<code>\n{POSTER_CODE}\n</code>",
            "<think> Now I search for the cropped poster. </think>\n"
            '<tool_call>{"name": "image_search", "arguments": {"image_paths": [<sub-image 1>] '
            "} </tool_call>}",
            "<think> The poster shows the Harbor Lantern Tower, designed by Odile Varnay. "
            "</think>\n<text_search>Odile Varnay architect</text_search>",
            "<think> Her page should give her birthplace. </think>\n"
            "<web_content>https://veloria.example/wiki/odile-varnay</web_content>",
            "<think> She was born in Kessmark. </think>\n<answer>Kessmark</answer>",
        ],
    }


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_r1v4_paper_forms_run_and_come_back_as_the_paper_shows(workdir: Path, mode: str) -> None:
    from r1v4.agent.prompts import PAPER_SYSTEM_PROMPT
    from r1v4.demo import RESEARCH_QUESTION

    write_jsonl(
        workdir / "cases.jsonl",
        [{"id": "lh", "image": "./demo_corpus/scene.png", "question": RESEARCH_QUESTION,
          "answer": "Kessmark"}],
    )  # fmt: skip
    with running_simulator(scripts=[paper_script(RESEARCH_QUESTION)]) as sim:
        flags = ["--search-backend", "local", "--search-corpus", "demo_corpus"]
        assert batch(sim, mode, *flags) == 0
        requests = list(sim.requests)
    record = read_jsonl(workdir / "out.jsonl")[0]
    assert len(requests) == 5
    assert requests[0]["messages"][0] == {"role": "system", "content": PAPER_SYSTEM_PROMPT}
    user = requests[0]["messages"][1]
    assert [p["type"] for p in user["content"]] == ["image_url", "text"]  # image first
    for req in requests:
        assert {"</code>", "</tool_call>", "</web_content>", "</answer>"} <= set(req["stop"])

    def observation(req: dict) -> list[dict]:
        return req["messages"][-1]["content"]

    # 1. The fenced code ran (fences stripped); its crop is <sub-image 1>, image right after.
    code_obs = observation(requests[1])
    assert [p["type"] for p in code_obs] == ["text", "image_url", "text"]
    assert code_obs[0]["text"] == "<observation> poster.png\n<sub-image 1>"
    assert code_obs[2]["text"] == " </observation>"
    assert image_of(code_obs[1]).size == (360, 270)
    # 2. <sub-image 1> (unquoted, as in Figure 7) reached the reverse image search.
    (search_obs,) = observation(requests[2])
    first = search_obs["text"].split("\n")[0]
    assert first.startswith("<observation> 1. ")
    assert "link: https://veloria.example/wiki/harbor-lantern-tower image: " in first
    # 3. The <text_search> tag ran a text search: numbered "link: … text: …" lines.
    (text_obs,) = observation(requests[3])
    assert " link: https://" in text_obs["text"] and " text: " in text_obs["text"]
    assert "Odile Varnay" in text_obs["text"]
    # 4. <web_content> visited the page.
    (page_obs,) = observation(requests[4])
    assert "born in Kessmark" in page_obs["text"]
    assert record["meta"]["tool_calls"] == {
        "code": 1,
        "image_search": 1,
        "text_search": 1,
        "web_visit": 1,
    }
    assert record["meta"]["dialect"] == "r1v4"
    assert record["score"]["correct"] is True


# -- deepeyes -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("max_pixels", [None, 60_000])
def test_deepeyes_zooms_in_absolute_pixels_and_gets_a_tool_response_turn(
    workdir: Path, mode: str, max_pixels: int | None
) -> None:
    from r1v4._util.pixels import PixelRules
    from r1v4.agent.dialects import deepeyes

    one_case(workdir, options=["red", "blue"], answer="A")
    flags = ["--dialect", "deepeyes", "--scorer", "choice"]
    if max_pixels:  # the model sees a resized image; its pixel coordinates refer to it
        flags += ["--max-pixels", str(max_pixels)]
    with running_simulator() as sim:
        assert batch(sim, mode, *flags) == 0
        requests = list(sim.requests)
    record = read_jsonl(workdir / "out.jsonl")[0]
    first, second = requests
    assert first["stop"] == ["<|im_end|>"] and "tools" not in first
    assert first["messages"][0] == {"role": "system", "content": deepeyes.SYSTEM_PROMPT}
    user = first["messages"][1]
    assert [p["type"] for p in user["content"]] == ["image_url", "text"]
    assert user["content"][1]["text"] == (
        f"Question: {QUESTION}\nOptions: \nA. red\nB. blue\n\n" + deepeyes.USER_PROMPT_V2
    )
    sent = image_of(user["content"][0])
    expected_size = (640, 480)
    if max_pixels:
        expected_size = PixelRules(28, None, max_pixels).size_for(640, 480)
        assert sent.size[0] % 28 == 0 and sent.size[1] % 28 == 0
    assert sent.size == expected_size
    # The observation: [<tool_response>, crop, the instruction again, </tool_response>].
    assistant, obs = second["messages"][-2:]
    assert assistant == {"role": "assistant", "content": assistant["content"]}
    assert "<tool_call>" in assistant["content"]
    call = json.loads(assistant["content"].split("<tool_call>")[1].split("</tool_call>")[0])
    bbox = call["arguments"]["bbox_2d"]
    assert [p["type"] for p in obs["content"]] == ["text", "image_url", "text", "text"]
    texts = [p["text"] for p in obs["content"] if p["type"] == "text"]
    assert texts == ["<tool_response>", deepeyes.USER_PROMPT_V2, "</tool_response>"]
    crop = image_of(obs["content"][1])
    with Image.open(workdir / "scene.png") as original:
        expected = crops.deepeyes_zoom(original.convert("RGB"), bbox, sent.size)
    if max_pixels:  # every image sent follows the served model's rules, crops too
        expected = PixelRules(28, None, max_pixels).resize(expected)
    assert crop.size == expected.size and crop.size[0] % 28 == 0 and crop.size[1] % 28 == 0
    assert crop.tobytes() == expected.tobytes()  # cropped from the original, full resolution
    assert record["meta"]["tool_calls"] == {"image_zoom_in_tool": 1}
    assert record["score"]["correct"] is True, record["response"]["full_response"]


# -- mini-o3 --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_mini_o3_grounds_in_unit_coordinates_and_keeps_its_stop(workdir: Path, mode: str) -> None:
    from r1v4.agent.dialects import mini_o3

    one_case(workdir, dialect="mini-o3")
    with running_simulator() as sim:
        assert batch(sim, mode) == 0
        requests = list(sim.requests)
    record = read_jsonl(workdir / "out.jsonl")[0]
    first, second = requests
    assert first["stop"] == ["</grounding>"] and first["include_stop_str_in_output"] is True
    assert first["messages"][0] == {"role": "system", "content": mini_o3.SYSTEM_PROMPT}
    # Mini-o3's process_image lifts the 640x480 input to at least 40,000 px: unchanged here.
    assert image_of(first["messages"][1]["content"][0]).size == (640, 480)
    assistant, obs = second["messages"][-2:]
    assert assistant["content"].endswith("</grounding>")  # the stop string was kept
    before, after = mini_o3.observation_text(0)
    assert before == "After the above Action 0, here is the the zoom-in image (Observation 1):\n"
    assert [p["type"] for p in obs["content"]] == ["text", "image_url", "text"]
    assert obs["content"][0]["text"] == before and obs["content"][2]["text"] == after
    with Image.open(workdir / "scene.png") as original:
        crop = crops.mini_o3_crop(original.convert("RGB"), [0.25, 0.25, 0.75, 0.75])
    assert image_of(obs["content"][1]).tobytes() == crops.mini_o3_process_image(crop).tobytes()
    assert record["meta"]["tool_calls"] == {"grounding": 1}
    assert record["score"]["correct"] is True, record["response"]["full_response"]


def test_qwen3_vl_img_idx_counts_earlier_crops(workdir: Path) -> None:
    """Qwen-Agent's img_idx indexes every image of the conversation, crops included
    (`utils.py:477-484`): zooming into image 1 crops the first crop, as stored."""
    one_case(workdir)

    def zoom(bbox: list[int], idx: int) -> str:
        args = {"label": "detail", "bbox_2d": bbox, "img_idx": idx}
        return (
            "Zooming in.\n\n<tool_call>\n"
            + json.dumps({"name": "image_zoom_in_tool", "arguments": args})
            + "\n</tool_call>"
        )

    turns = [zoom([0, 0, 500, 500], 0), zoom([500, 500, 1000, 1000], 1), "It is red."]
    with running_simulator(
        tool_parser=True, scripts=[{"contains": QUESTION, "turns": turns}]
    ) as sim:
        assert batch(sim, "nonstream", "--dialect", "qwen3-vl") == 0
        requests = list(sim.requests)
    first_crop = image_of(requests[1]["messages"][-1]["content"][0])
    second_crop = image_of(requests[2]["messages"][-1]["content"][0])
    with Image.open(workdir / "scene.png") as original:
        expected_first = crops.qwen_zoom(original.convert("RGB"), [0, 0, 500, 500])
    assert first_crop.tobytes() == expected_first.tobytes()
    expected_second = crops.qwen_zoom(expected_first, [500, 500, 1000, 1000])
    assert second_crop.size == expected_second.size
    assert second_crop.tobytes() == expected_second.tobytes()
    record = read_jsonl(workdir / "out.jsonl")[0]
    assert record["meta"]["tool_calls"] == {"image_zoom_in_tool": 2}
