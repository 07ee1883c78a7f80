"""The simulated code families react to what they receive as the model would: a figure of
the region their code cropped, in their own wrapper, gives the colour they see; a result in
another wrapper, without an image, of another region, or from a preloaded image that is not
the one they were shown is said, and the answer is then that they could not see."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from r1v4.agent.dialects import pyvision, thyme
from r1v4.agent.dialects.deepeyes_v2_prompts import (
    EVAL_RETURN_TEMPLATE,
    EVAL_SYSTEM_PROMPT,
    EVAL_USER_TEMPLATE,
)
from r1v4.sim.policy import choose_reply
from tests.helpers.dialect_cases import scene


def image_part(img: Image.Image) -> dict:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return {"type": "image_url", "image_url": {"url": url}}


def text(t: str) -> dict:
    return {"type": "text", "text": t}


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Image.Image:
    path = scene(tmp_path_factory.mktemp("scene") / "scene.png", (644, 476))
    with Image.open(path) as img:
        return img.convert("RGB")


def figure_of(img: Image.Image) -> Image.Image:
    """A plotted image: the picture on a white page with a margin."""
    page = Image.new("RGB", (img.width + 40, img.height + 30), "white")
    page.paste(img, (20, 15))
    return page


def reply(body: dict) -> str:
    return choose_reply(body, {}, []).text


# -- deepeyes-v2 ------------------------------------------------------------------------------


def de2_body(picture: Image.Image, result: list[dict]) -> dict:
    question = text(EVAL_USER_TEMPLATE.format(question="Q?"))
    first = {"messages": [
        {"role": "system", "content": EVAL_SYSTEM_PROMPT},
        {"role": "user", "content": [image_part(picture), question]},
    ]}  # fmt: skip
    turn = reply(first)
    assert "image_1.crop((161, 119, 483, 357))" in turn and turn.endswith("</code>")
    return {"messages": [*first["messages"], {"role": "assistant", "content": turn},
                         {"role": "user", "content": result}]}  # fmt: skip


def de2_result(stdout: str, *images: Image.Image) -> list[dict]:
    head = EVAL_RETURN_TEMPLATE.format(stdout=stdout, stderr="")
    return [text(head), *(image_part(i) for i in images)]


def test_deepeyes_v2_reads_the_figure_it_got(picture: Image.Image) -> None:
    centre = figure_of(picture.crop((161, 119, 483, 357)).resize((966, 714)))
    answer = reply(de2_body(picture, de2_result("(644, 476)\n", centre)))
    assert answer.endswith("<answer>red</answer>")


@pytest.mark.parametrize(
    ("case", "complaint"),
    [
        ("wrapper", "not DeepEyesV2's 'Code execution result' turn"),
        ("no image", "no image came back from my code"),
        ("region", "does not show the region I cropped"),
        ("other image", "image_1 is not the 644x476 image I was shown"),
    ],
)
def test_deepeyes_v2_says_what_is_wrong(picture: Image.Image, case: str, complaint: str) -> None:
    centre = figure_of(picture.crop((161, 119, 483, 357)))
    result = {
        "wrapper": [text('<observation>{"type": "code"}</observation>'), image_part(centre)],
        "no image": de2_result("(644, 476)\n"),
        "region": de2_result("(644, 476)\n", figure_of(picture.crop((0, 0, 120, 90)))),
        "other image": de2_result("(640, 480)\n", centre),
    }[case]
    answer = reply(de2_body(picture, result))
    assert complaint in answer and answer.endswith("<answer>unknown</answer>")


# -- thyme ------------------------------------------------------------------------------------


def thyme_body(picture: Image.Image, inside: list[dict] | None, continued: bool = True) -> dict:
    user_text = thyme.USER_TEMPLATE.format(question="Q?", path="scene.png", size="644x476")
    messages = [
        {"role": "system", "content": thyme.SYSTEM_PROMPT},
        {"role": "user", "content": [image_part(picture), text(user_text)]},
    ]
    segment = reply({"messages": messages})
    assert segment.startswith("<think>") and "x1, y1, x2, y2 = 161, 119, 483, 357" in segment
    assert 'image_path = "/eval/scene.png"' in segment  # a path Thyme's sandbox rewrites
    if inside is None:  # the result sent as a user turn instead
        wrong = [text("<sandbox_output>"), image_part(picture)]
        messages += [{"role": "assistant", "content": segment},
                     {"role": "user", "content": wrong}]  # fmt: skip
        return {"messages": messages}
    own = [text(segment), text("<sandbox_output>"), *inside, text("</sandbox_output>")]
    body = {"messages": [*messages, {"role": "assistant", "content": own}]}
    if continued:
        body.update(continue_final_message=True, add_generation_prompt=False)
    return body


def test_thyme_continues_its_message_after_the_sandbox_output(picture: Image.Image) -> None:
    zoom = picture.crop((161, 119, 483, 357)).resize((644, 476))
    answer = reply(thyme_body(picture, [image_part(zoom)]))
    assert answer.startswith("\nUpon examining the cropped and zoomed-in image")
    assert answer.endswith("</think>\n<answer> red </answer>")


@pytest.mark.parametrize(
    ("inside", "continued", "complaint"),
    [
        (None, True, "did not come back inside my own message"),
        ([], False, "was not continued"),
        ([text("Traceback ...")], True, "no image came back"),
    ],
)
def test_thyme_says_what_is_wrong(
    picture: Image.Image, inside: list | None, continued: bool, complaint: str
) -> None:
    answer = reply(thyme_body(picture, inside, continued))
    assert complaint in answer and "<answer> unknown </answer>" in answer


# -- pyvision ---------------------------------------------------------------------------------


def pv_body(picture: Image.Image, result: list[dict], replay: str = "</code>\n") -> dict:
    prompt = pyvision.SINGLE_IMAGE_PROMPT.format(query="Q?", width="644", height="476")
    user = {"role": "user", "content": [text("<image_clue_0>"), image_part(picture),
                                         text("</image_clue_0>\n\n"), text(prompt)]}  # fmt: skip
    turn = reply({"messages": [user]})
    assert turn.endswith("</code>") and "image_clue_0.crop((161, 119, 483, 357))" in turn
    assistant = {"role": "assistant", "content": [text(turn.removesuffix("</code>") + replay)]}
    return {"messages": [user, assistant, {"role": "user", "content": result}]}


def pv_result(printed: str, number: int, figure: Image.Image | None) -> list[dict]:
    head = text(f"<interpreter>\nText Result:\n{printed}\nImage Result:\n")
    if figure is None:
        return [head, text("None"), text("</interpreter>\n")]
    shown = [text(f"<image_clue_{number}>"), image_part(figure), text(f"</image_clue_{number}>")]
    return [head, *shown, text("</interpreter>\n")]


def test_pyvision_reads_the_figure_it_got(picture: Image.Image) -> None:
    centre = figure_of(picture.crop((161, 119, 483, 357)))
    answer = reply(pv_body(picture, pv_result("(644, 476)", 1, centre)))
    assert answer.endswith("<answer>\n\\boxed{red}\n</answer>")


@pytest.mark.parametrize(
    ("case", "complaint"),
    [
        ("numbering", "is not named <image_clue_1>"),
        ("replay", "was not replayed ending with '</code>\\n'"),
        ("error", "my code failed: Error: name 'x' is not defined"),
        ("none", "no image came back from my code"),
    ],
)
def test_pyvision_says_what_is_wrong(picture: Image.Image, case: str, complaint: str) -> None:
    centre = figure_of(picture.crop((161, 119, 483, 357)))
    failed = [text("<interpreter>Error: name 'x' is not defined"), text("</interpreter>\n")]
    body = {
        "numbering": lambda: pv_body(picture, pv_result("(644, 476)", 0, centre)),
        "replay": lambda: pv_body(picture, pv_result("(644, 476)", 1, centre), "</code>"),
        "error": lambda: pv_body(picture, failed),
        "none": lambda: pv_body(picture, pv_result("(644, 476)", 1, None)),
    }[case]()
    answer = reply(body)
    assert complaint in answer and "\\boxed{unknown}" in answer
