"""Coordinates and pixels: the same region written in each family's convention gives the
same crop, each zoom follows its family's published rule, and no image a server would refuse
is ever sent."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from r1v4._util.pixels import PixelRules, guard_image, smart_resize
from r1v4.agent.dialects import crops
from r1v4.agent.dialects.code_hooks import preload_prelude, strip_fences
from r1v4.agent.gallery import fit_image


def picture(size: tuple[int, int] = (1000, 800)) -> Image.Image:
    """A gradient with a grid, so every region differs from every other."""
    w, h = size
    img = Image.new("RGB", size)
    px = img.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = (x * 255 // w, y * 255 // h, (x + y) % 256)
    draw = ImageDraw.Draw(img)
    for x in range(0, w, 50):
        draw.line((x, 0, x, h), fill=(255, 255, 255))
    return img


# The region x 200..600, y 100..500 of a 1000x800 image, in every convention.
ORIGINAL = (1000, 800)
RESIZED = (500, 400)  # what the model saw after a client-side resize by half
PIXELS = [200, 100, 600, 500]
THOUSANDTHS = [200, 125, 600, 625]  # Qwen3-VL: relative 0-1000
UNIT = [0.2, 0.125, 0.6, 0.625]  # Mini-o3: relative [0, 1]
SEEN_PIXELS = [100, 50, 300, 250]  # DeepEyes: absolute on the image the model saw


def test_the_same_region_in_every_convention_is_the_same_box_and_the_same_crop() -> None:
    img = picture(ORIGINAL)
    boxes = {
        "0-1000": crops.qwen_box(THOUSANDTHS, ORIGINAL),
        "[0,1]": crops.mini_o3_box(UNIT, ORIGINAL),
        "pixels on the original": crops.deepeyes_box(PIXELS, ORIGINAL, ORIGINAL),
        "pixels on the resized image": crops.deepeyes_box(SEEN_PIXELS, RESIZED, ORIGINAL),
    }
    assert {name: [round(v) for v in box] for name, box in boxes.items()} == {
        name: PIXELS for name in boxes
    }
    reference = img.crop(tuple(PIXELS)).tobytes()
    for box in boxes.values():
        assert img.crop(tuple(box)).tobytes() == reference
    # Through each family's whole zoom (before its own resize the crop is that region).
    assert crops.mini_o3_crop(img, UNIT).tobytes() == reference
    qwen = crops.qwen_zoom(img, THOUSANDTHS)
    deepeyes_original = crops.deepeyes_zoom(img, PIXELS, ORIGINAL)
    deepeyes_resized = crops.deepeyes_zoom(img, SEEN_PIXELS, RESIZED)
    assert deepeyes_original.tobytes() == deepeyes_resized.tobytes()
    region = img.crop(tuple(PIXELS))
    assert qwen.tobytes() == region.resize(qwen.size, Image.Resampling.BICUBIC).tobytes()
    assert deepeyes_original.tobytes() == (
        region.resize(deepeyes_original.size, Image.Resampling.BICUBIC).tobytes()
    )


def test_each_family_resizes_its_crop_by_its_own_rule() -> None:
    img = picture(ORIGINAL)
    qwen = crops.qwen_zoom(img, THOUSANDTHS)  # 400x400 box
    assert qwen.size == (512, 512)  # lifted to >= 256*32*32 pixels in multiples of 32
    assert qwen.size[0] * qwen.size[1] >= 256 * 32 * 32
    deepeyes = crops.deepeyes_zoom(img, PIXELS, ORIGINAL)
    assert deepeyes.size == (392, 392)  # factor 28: round(400 / 28) * 28
    small = crops.mini_o3_crop(img, [0.5, 0.5, 0.52, 0.51])  # 20x8: Mini-o3 keeps the crop,
    assert small.size == (20, 8)
    sent = crops.mini_o3_process_image(small)  # and sends it lifted to >= 40,000 pixels
    assert sent.width * sent.height >= 0.97 * 40_000 and sent.mode == "RGB"


@pytest.mark.parametrize(
    "box, grown",
    [
        # an 11x11 box grows around its centre to 33x33 (more than 32 px each way)
        ([495, 495, 506, 506], [484, 484, 517, 517]),
        # a 10x10 box would grow to exactly 32x32, which is not over 32: kept as it is
        ([495, 495, 505, 505], [495, 495, 505, 505]),
        # at the corner the grown box, clamped, is not over 32 px on both sides: kept as is
        ([0, 0, 10, 40], [0, 0, 10, 40]),
        # a box already 32 px or more stays
        ([100, 100, 200, 150], [100, 100, 200, 150]),
    ],
)
def test_qwen_agent_grows_small_boxes_only_when_the_grown_box_is_over_32(box, grown) -> None:
    assert crops.qwen_grow_box(*box, 1000, 1000) == grown


def test_zoom_refusals_say_what_is_wrong() -> None:
    img = picture((400, 300))
    with pytest.raises(crops.ZoomError, match="Tool Execution Error"):
        crops.qwen_zoom(img, [500, 500, 500, 600])  # zero width, as Qwen-Agent fails
    with pytest.raises(crops.ZoomError, match="aspect ratio of the bounding box exceeds 200"):
        crops.mini_o3_box([0.0, 0.5, 1.0, 0.502], (100_000, 1000))
    with pytest.raises(crops.ZoomError, match="not valid in width"):
        crops.mini_o3_box([0.5, 0.1, 0.5, 0.9], (400, 300))
    with pytest.raises(crops.ZoomError, match="x2 must exceed x1"):
        crops.deepeyes_box([300, 10, 100, 200], (400, 300), (400, 300))
    with pytest.raises(crops.ZoomError, match="four numbers"):
        crops.number_box([1, 2, "3", 4])


# -- the server guard and the served model's pixel rules ---------------------------------------


@pytest.mark.parametrize(
    "size, padded, final",
    [
        ((10, 3), (10, 3), (107, 32)),  # sides under 32: enlarged, proportions kept
        ((9000, 20), (9000, 45), (9000, 45)),  # aspect ratio over 200: padded to 200
        ((5000, 4), (5000, 25), (6400, 32)),  # both
        ((64, 64), (64, 64), (64, 64)),  # fine as it is
    ],
)
def test_the_guard_makes_every_image_acceptable_and_says_so(size, padded, final) -> None:
    img = Image.new("RGB", size, (200, 0, 0))
    out, note = guard_image(img)
    assert out.size == final
    assert min(out.size) >= 32 and max(out.size) / min(out.size) <= 200
    if final == size:
        assert note is None and out is img
    else:
        assert note is not None and f"{size[0]}x{size[1]}" in note
        assert ("padded" in note) == (padded != size)
        assert ("enlarged" in note) == (final != padded)


def test_fit_image_sends_exactly_what_the_served_model_would_see() -> None:
    buf = io.BytesIO()
    picture((1000, 800)).save(buf, "PNG")
    rules = PixelRules(factor=28, max_pixels=200_000)
    sent, note = fit_image(buf.getvalue(), "x.png", rules)
    h, w = smart_resize(800, 1000, 28, 4 * 28 * 28, 200_000)
    assert (sent.width, sent.height) == (w, h) and w % 28 == 0 and h % 28 == 0
    assert note is None
    # The server's own rule leaves the sent image as it is: the model sees these pixels.
    assert rules.size_for(sent.width, sent.height) == (sent.width, sent.height)
    # Without rules an image that needs nothing goes out byte for byte.
    same, _ = fit_image(buf.getvalue(), "x.png", None)
    assert same.data == buf.getvalue()


def test_a_tiny_returned_image_is_enlarged_with_a_note() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (5, 400), (0, 0, 200)).save(buf, "PNG")
    sent, note = fit_image(buf.getvalue(), "sliver.png", PixelRules(32))
    with Image.open(io.BytesIO(sent.data)) as img:
        assert min(img.size) >= 32 and img.size[0] % 32 == 0 and img.size[1] % 32 == 0
    assert note is not None and "5x400" in note


# -- code-writing families ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, code",
    [
        ("\n```python\nprint(1)\n```\n", "print(1)"),
        ("```py\nx = 1\n```\ntext\n```python\nprint(x)\n```", "x = 1\nprint(x)"),
        ("\n```python\nprint(2)\n", "print(2)"),  # a stop cut the closing fence
        ("    print(3)\n", "print(3)"),  # bare code, dedented
    ],
)
def test_fences_are_stripped_from_code_calls(body: str, code: str) -> None:
    assert strip_fences(body) == code


def test_preloaded_image_variables_open_the_files() -> None:
    prelude = preload_prelude("image_clue_{i}", ["a.png", "b.png"], start=0)
    assert "image_clue_0 = _r1v4_Image.open('a.png')" in prelude
    assert "image_clue_1 = _r1v4_Image.open('b.png')" in prelude
    assert preload_prelude("image_{i}", []) == ""
