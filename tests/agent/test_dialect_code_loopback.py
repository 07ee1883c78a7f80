"""The code-writing dialects end to end through the real batch path, streaming and not: the
simulated model writes its family's code turn (after the family's published examples), the
code really runs in the sandbox under the family's conventions, and the next request carries
the result exactly where that family expects it — checked on the request body (role,
wrapper text, image parts and their pixels, stop strings, continuation fields) — until a
scored answer.

The generic players crop the centre of `scene.png` (a red block on grey) the family's way and
answer with the colour of the image that came back, after checking its wrapper, that it
shows the centre, and that what their code printed about the preloaded image is the image
they were sent: only a right observation gives the right answer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from r1v4.agent.dialects import deepeyes_v2, pyvision, thyme
from r1v4.agent.dialects.deepeyes_v2_prompts import (
    EVAL_RETURN_TEMPLATE,
    EVAL_SYSTEM_PROMPT,
    EVAL_USER_TEMPLATE,
)
from r1v4.sim import running_simulator
from r1v4.sim.vision import colour_name, trim_white
from tests.helpers import read_jsonl
from tests.helpers.dialect_cases import QUESTION, batch, image_of, one_case

pytestmark = pytest.mark.slow
MODES = ["nonstream", "stream"]


def run(workdir: Path, dialect: str, mode: str) -> tuple[list[dict], dict]:
    one_case(workdir, dialect=dialect)
    with running_simulator() as sim:
        assert batch(sim, mode) == 0
        requests = list(sim.requests)
    return requests, read_jsonl(workdir / "out.jsonl")[0]


def scene() -> Image.Image:
    with Image.open("scene.png") as img:
        return img.convert("RGB")


def texts(message: dict) -> list[str]:
    return [p["text"] for p in message["content"] if p["type"] == "text"]


def kinds(message: dict) -> list[str]:
    return [p["type"] for p in message["content"]]


def answered(record: dict, dialect: str) -> None:
    assert record["meta"]["dialect"] == dialect
    assert record["meta"]["tool_calls"] == {"code": 1}
    assert record["meta"]["stop_reason"] == "answer"
    assert record["score"]["correct"] is True, record["response"]["full_response"]


# -- deepeyes-v2 ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_deepeyes_v2_runs_its_kernel_and_gets_the_code_execution_result(
    workdir: Path, mode: str
) -> None:
    requests, record = run(workdir, "deepeyes-v2", mode)
    first, second = requests
    assert first["stop"] == ["</code>", "<|im_end|>"]
    assert "include_stop_str_in_output" not in first and "continue_final_message" not in first
    system, user = first["messages"]
    assert system == {"role": "system", "content": EVAL_SYSTEM_PROMPT}
    assert kinds(user) == ["image_url", "text"]
    assert user["content"][1]["text"] == EVAL_USER_TEMPLATE.format(question=QUESTION)
    # The client's factor-28 resize: what is sent is what image_1 holds.
    sent = image_of(user["content"][0])
    assert sent.size == (644, 476)
    assert sent.tobytes() == deepeyes_v2.resize(scene()).tobytes()
    # The turn is replayed with its trimmed </code> back; the result is a user turn.
    assistant, result = second["messages"][-2:]
    assert assistant["role"] == "assistant" and assistant["content"].endswith("```\n</code>")
    assert "image_1.crop((161, 119, 483, 357))" in assistant["content"]
    assert result["role"] == "user" and kinds(result) == ["text", "image_url"]
    # image_1 is the 644x476 image the model was sent (its code printed the size).
    assert texts(result) == [EVAL_RETURN_TEMPLATE.format(stdout="(644, 476)\n", stderr="")]
    figure = image_of(result["content"][1])  # plt.show(), rendered in the jail, resized by 28
    assert figure.size[0] % 28 == 0 and figure.size[1] % 28 == 0
    assert colour_name(trim_white(figure)) == "red"
    answered(record, "deepeyes-v2")


@pytest.mark.parametrize("mode", MODES)
def test_deepeyes_v2_rl_prefills_think_and_keeps_its_stops(workdir: Path, mode: str) -> None:
    requests, record = run(workdir, "deepeyes-v2-rl", mode)
    first, second = requests
    for request in requests:
        assert request["stop"] == ["</code>", "</tool_call>"]
        assert request["include_stop_str_in_output"] is True
    assert "continue_final_message" not in first
    assistant, result, prefill = second["messages"][-3:]
    assert assistant["content"].endswith("</code>")  # kept by the server
    assert texts(result) == [
        "Code execution result:\nstdout:\n```\n(644, 476)\n\n```\n\n"
        "stderr:\n```\n\n```\n\nImages:\n"
    ]
    assert kinds(result) == ["text", "image_url"]
    # The environment's <think> opens the next turn, which the model continues.
    assert prefill == {"role": "assistant", "content": "<think>"}
    assert second["continue_final_message"] is True and second["add_generation_prompt"] is False
    text = record["response"]["full_response"]
    assert "</observation><think>The zoomed-in centre of the image is red.</think>" in text
    answered(record, "deepeyes-v2-rl")


# -- thyme ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_thyme_gets_its_sandbox_output_inside_its_own_message(workdir: Path, mode: str) -> None:
    requests, record = run(workdir, "thyme", mode)
    first, second = requests
    for request in requests:
        assert request["stop"] == ["</code>", "</answer>"]
        assert request["include_stop_str_in_output"] is True
    assert "continue_final_message" not in first and "add_generation_prompt" not in first
    system, user = first["messages"]
    assert system == {"role": "system", "content": thyme.SYSTEM_PROMPT}
    assert kinds(user) == ["image_url", "text"]
    assert user["content"][1]["text"] == thyme.USER_TEMPLATE.format(
        question=QUESTION, path="scene.png", size="640x480"
    )
    assert user["content"][1]["text"].startswith("<image>\nWhat colour")
    assert image_of(user["content"][0]).tobytes() == scene().tobytes()
    # One assistant message: the code (written inside <think>, its </code> kept), then the
    # result inside it, continued (never with both continuation fields on: vLLM's 400).
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant"]
    assert second["continue_final_message"] is True and second["add_generation_prompt"] is False
    own = second["messages"][-1]
    assert kinds(own) == ["text", "text", "image_url", "text"]
    segment, opening, closing = texts(own)
    assert segment.startswith("<think>") and "</think>" not in segment
    assert segment.endswith("print(processed_path)\n```\n</code>")
    assert (opening, closing) == ("<sandbox_output>", "</sandbox_output>")
    # The model wrote a wrong path (/eval/scene.png) and saved under /mnt/data/…: Thyme's
    # rewrites made both work; the processed image is the 2x zoom of the centre, exactly.
    processed = image_of(own["content"][2])
    assert processed.tobytes() == scene().crop((160, 120, 480, 360)).resize((640, 480)).tobytes()
    text = record["response"]["full_response"]
    assert "./temp_processed_images/scene_" in text  # the printed (rewritten) path
    assert text.rstrip().endswith("</think>\n<answer> red </answer>")
    answered(record, "thyme")


# -- pyvision ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_pyvision_gets_its_figure_inside_interpreter(workdir: Path, mode: str) -> None:
    requests, record = run(workdir, "pyvision", mode)
    first, second = requests
    assert first["stop"] == second["stop"] == ["</code>"]
    (user,) = first["messages"]  # no system message
    assert kinds(user) == ["text", "image_url", "text", "text"]
    assert texts(user) == [
        "<image_clue_0>",
        "</image_clue_0>\n\n",
        pyvision.SINGLE_IMAGE_PROMPT.format(query=QUESTION, width="640", height="480"),
    ]
    assert image_of(user["content"][1]).tobytes() == scene().tobytes()
    assistant, result = second["messages"][-2:]
    (replay,) = assistant["content"]  # the reply, its </code> and a newline
    assert replay["text"].endswith("plt.show()\n```\n</code>\n")
    assert kinds(result) == ["text", "text", "image_url", "text", "text"]
    assert texts(result) == [
        "<interpreter>\nText Result:\n(640, 480)\nImage Result:\n",
        "<image_clue_1>",  # numbered on from the one input image
        "</image_clue_1>",
        "</interpreter>\n",
    ]
    figure = image_of(result["content"][2])
    assert figure.size == (800, 600)  # the whole 8x6 in figure, as PyVision saves it
    assert colour_name(trim_white(figure)) == "red"
    assert (
        record["response"]["full_response"].rstrip().endswith("<answer>\n\\boxed{red}\n</answer>")
    )
    answered(record, "pyvision")
