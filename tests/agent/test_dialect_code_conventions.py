"""The code families' sandbox conventions seen from the model's side, through the real batch
path: the preloaded variables hold exactly the pixels of the image parts the model was sent
(all of them, in order), a DeepEyesV2 write to disk is refused with an error the model reads
in its stderr block while its kernel keeps its variables, DeepEyesV2's search calls run and
come back in its environment's words, and PyVision's and Thyme's error and text results take
their published forms."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PIL import Image

from r1v4.agent.dialects.deepeyes_v2_prompts import SEARCH_SYSTEM_PROMPT, SEARCH_USER_PROMPT
from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, write_jsonl
from tests.helpers.dialect_cases import QUESTION, batch, image_of, one_case

pytestmark = pytest.mark.slow

DIGEST = "import hashlib\nfor im in ({names}):\n    print(im.size, im.mode, hashlib.sha256(im.tobytes()).hexdigest())"  # noqa: E501


def code_turn(code: str, before: str = "<think>I check the images.</think>\n") -> str:
    return f"{before}<code>\n```python\n{code}\n```\n</code>"


def run_script(workdir: Path, turns: list[str], *flags: str, mode: str = "nonstream") -> list:
    with running_simulator(scripts=[{"contains": QUESTION, "turns": turns}]) as sim:
        assert batch(sim, mode, *flags) == 0
        return list(sim.requests)


def photos(workdir: Path) -> list[str]:
    """Two JPEG inputs whose sizes are already multiples of 28 (sent as they are)."""
    names = []
    for i, size in enumerate([(644, 476), (280, 168)]):
        name = f"photo{i + 1}.jpg"
        Image.effect_noise(size, 50 + 20 * i).convert("RGB").save(workdir / name, quality=80)
        names.append(name)
    return names


@pytest.mark.parametrize(
    ("dialect", "names", "user_images"),
    [
        ("deepeyes-v2", "image_1, image_2", [0, 1]),
        ("pyvision", "image_clue_0, image_clue_1", [1, 4]),
    ],
)
def test_preloaded_variables_hold_the_pixels_the_model_was_sent(
    workdir: Path, dialect: str, names: str, user_images: list[int]
) -> None:
    files = photos(workdir)
    case = {"id": "p", "images": files, "question": QUESTION, "answer": "x", "dialect": dialect}
    write_jsonl(workdir / "cases.jsonl", [case])
    turns = [code_turn(DIGEST.format(names=names)), "<answer>x</answer>"]
    first, second = run_script(workdir, turns)
    user = next(m for m in first["messages"] if m["role"] == "user")
    sent = [image_of(user["content"][i]) for i in user_images]
    expected = [f"{im.size} RGB {hashlib.sha256(im.tobytes()).hexdigest()}" for im in sent]
    printed = "\n".join(p["text"] for p in second["messages"][-1]["content"] if "text" in p)
    for line in expected:  # every input, in order, exactly as sent
        assert line in printed, (line, printed)


def test_deepeyes_v2_refuses_a_file_write_and_keeps_its_kernel(workdir: Path) -> None:
    one_case(workdir, dialect="deepeyes-v2")
    turns = [
        code_turn("box = (161, 119, 483, 357)\nimage_1.crop(box).save('crop.png')"),
        code_turn(
            "import matplotlib.pyplot as plt\nplt.imshow(image_1.crop(box))\nplt.show()",
            "<think>Writing is not allowed; I show the crop instead.</think>\n",
        ),
        "<think>The crop is red.</think> <answer>red</answer>",
    ]
    _, second, third = run_script(workdir, turns)
    refused = second["messages"][-1]
    assert [p["type"] for p in refused["content"]] == ["text"]  # no image came back
    text = refused["content"][0]["text"]
    assert text.startswith("Code execution result:\nstdout:\n```\n\n```\n\nstderr:\n```\n")
    assert (
        "PermissionError: Writing file to disk is not allowed: 'crop.png' (the working folder "
        "is read-only; use plt.show() to return an image)\n\n```\n\nImages:\n"
    ) in text
    shown = third["messages"][-1]  # `box` survived in the kernel; the figure came back
    assert [p["type"] for p in shown["content"]] == ["text", "image_url"]
    assert "stderr:\n```\n\n```" in shown["content"][0]["text"]
    record = read_jsonl(workdir / "out.jsonl")[0]
    assert record["meta"]["tool_calls"] == {"code": 2}
    assert record["score"]["correct"] is True


def test_deepeyes_v2_searches_in_its_environments_words(workdir: Path) -> None:
    from r1v4.demo import RESEARCH_QUESTION

    image = "./demo_corpus/images/lantern_tower.png"
    case = {"id": "s", "image": image, "question": RESEARCH_QUESTION,
            "answer": "Kessmark", "dialect": "deepeyes-v2"}  # fmt: skip
    write_jsonl(workdir / "cases.jsonl", [case])
    call = "<think>{}</think>\n<tool_call>\n{}\n</tool_call>".format  # noqa: P103
    turns = [
        call("I search for the image first.", '{"name": "image_search"}'),
        call("Again, with arguments.", '{"name": "image_search", "arguments": {}}'),
        call("Now the architect.", '{"name": "search", "arguments": {"query": "Odile Varnay"}}'),
        "<think>She was born in Kessmark.</think> <answer>Kessmark</answer>",
    ]
    with running_simulator(scripts=[{"contains": RESEARCH_QUESTION, "turns": turns}]) as sim:
        flags = ["--search-backend", "local", "--search-corpus", "demo_corpus"]
        assert batch(sim, "nonstream", *flags) == 0
        requests = list(sim.requests)
    first = requests[0]
    assert first["messages"][0] == {"role": "system", "content": SEARCH_SYSTEM_PROMPT}
    user = first["messages"][1]
    assert [p["type"] for p in user["content"]] == ["image_url", "text"]  # <image>'s place
    text = SEARCH_USER_PROMPT.format(question=RESEARCH_QUESTION).removeprefix("<image>")
    assert user["content"][1]["text"] == text
    assert first["stop"] == ["</code>", "<|im_end|>", "</tool_call>"]
    lens = requests[1]["messages"][-1]["content"]
    assert lens.startswith("<tool_response>\nA Google image search for the image found ")
    assert "results:\n\n## Web Results\n1. [" in lens and lens.endswith("\n</tool_response>")
    refused = requests[2]["messages"][-1]["content"]
    assert refused == (
        "Error: Invalid tool call parameters for image search: "
        '{"name": "image_search", "arguments": {}}.'
    )
    web = requests[3]["messages"][-1]["content"]
    assert web.startswith("<tool_response>\nA Google search for 'Odile Varnay' found ")
    assert "(https://veloria.example/wiki/odile-varnay)" in web
    record = read_jsonl(workdir / "out.jsonl")[0]
    assert record["meta"]["tool_calls"] == {"image_search": 1, "search": 1}
    assert record["meta"]["tool_errors"] == {"image_search": 1}
    assert record["score"]["correct"] is True


def test_pyvision_shows_a_failed_run_as_its_runtime_does(workdir: Path) -> None:
    one_case(workdir, dialect="pyvision")
    turns = [code_turn("print(undefined_name)", "Let me check.\n\n"), "<answer>red</answer>"]
    _, second = run_script(workdir, turns)
    result = second["messages"][-1]
    assert result["content"] == [
        {"type": "text", "text": "<interpreter>Error: name 'undefined_name' is not defined"},
        {"type": "text", "text": "</interpreter>\n"},
    ]


@pytest.mark.parametrize(
    ("code", "inside"),
    [
        ("print(6 * 7)", "42"),  # a calculation comes back as its printed text
        ("1 / 0", "ZeroDivisionError: division by zero"),  # shown, not rolled back (see thyme)
    ],
)
def test_thyme_text_results_go_inside_its_message(workdir: Path, code: str, inside: str) -> None:
    one_case(workdir, dialect="thyme")
    segment = code_turn(code, "<think>I compute it.\n")
    turns = [segment, "\nDone.</think>\n<answer>red</answer>"]
    _, second = run_script(workdir, turns, mode="stream")
    own = second["messages"][-1]
    parts = [p["text"] for p in own["content"]]
    assert (
        parts[0] == segment and parts[1] == "<sandbox_output>" and parts[3] == "</sandbox_output>"
    )
    assert inside in parts[2] and len(parts) == 4
    assert second["continue_final_message"] is True
