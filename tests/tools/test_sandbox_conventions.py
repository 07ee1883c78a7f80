"""The model families' sandbox conventions on the real fork server (`CodeProfile`):
`plt.show()` figures come back as images rendered inside the jail, preloaded image variables
hold exactly the staged pixels, a persistent session keeps the model's state (and its
preloads are not redone), a read-only folder refuses writes with an error the model can
read, stdout and stderr can be kept apart, and Thyme's published rewrites apply."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from r1v4.tools import ToolContext, ToolResult
from r1v4.tools.code import CodeSettings
from r1v4.tools.code_profile import CodeProfile, Figures
from tests.helpers.code_harness import CodeHarness

pytestmark = pytest.mark.slow

RED_FIGURE = (
    "import matplotlib.pyplot as plt\n"
    "import numpy as np\n"
    "plt.imshow(np.full((40, 60, 3), (220, 30, 30), dtype=np.uint8))\n"
    "plt.axis('off')\n"
)


@pytest.fixture(scope="module")
def h():
    harness = CodeHarness(CodeSettings(timeout_s=20, memory_mb=1024))
    yield harness
    harness.close()


def decoded(result: ToolResult, i: int = 0) -> Image.Image:
    with Image.open(io.BytesIO(result.images[i].data)) as img:
        img.load()
        return img.convert("RGB")


def mostly(img: Image.Image, colour: tuple[int, int, int]) -> bool:
    """The image's centre is that colour (a figure's margin is white)."""
    w, h = img.size
    r, g, b = img.crop((w // 3, h // 3, 2 * w // 3, 2 * h // 3)).resize((1, 1)).getpixel((0, 0))
    return sum(abs(p - q) for p, q in zip((r, g, b), colour, strict=True)) < 60


def test_plt_show_returns_each_figure_rendered_inside_the_jail(h: CodeHarness) -> None:
    ctx = ToolContext("show", [], code_profile=CodeProfile(figures=Figures()))
    code = RED_FIGURE + "plt.show()\nplt.figure()\nplt.imshow([[0, 1], [1, 0]])\nplt.show()\n"
    code += "print(len(plt.get_fignums()), 'open')"
    result = h.run(code, ctx)
    assert result.error is None, result.text
    assert [i.name for i in result.images] == ["figure_1.png", "figure_2.png"]
    assert all(i.ext == "png" and i.data.startswith(b"\x89PNG") for i in result.images)
    assert mostly(decoded(result, 0), (220, 30, 30))
    assert "0 open" in result.text  # each shown figure was closed, as after Jupyter's show
    # Without the convention, plt.show() is Agg's no-op: nothing comes back.
    plain = h.run(RED_FIGURE + "plt.show()", ToolContext("plain", []))
    assert plain.images == []


def test_current_figure_only_and_open_figures_at_the_end(h: CodeHarness) -> None:
    two = RED_FIGURE + "plt.figure()\nplt.imshow([[0.0]], cmap='gray')\n"
    current = CodeProfile(figures=Figures(show="current", tight=False))
    result = h.run(two + "plt.show()", ToolContext("cur", [], code_profile=current))
    assert len(result.images) == 1
    assert decoded(result).size == (640, 480)  # the whole figure, as PyVision saves it
    assert not mostly(decoded(result), (220, 30, 30))  # the current (second) figure
    left_open = CodeProfile(figures=Figures(at_end=True))
    result = h.run(two, ToolContext("end", [], code_profile=left_open))
    assert len(result.images) == 2 and mostly(decoded(result, 0), (220, 30, 30))
    result = h.run(two, ToolContext("noend", [], code_profile=CodeProfile(figures=Figures())))
    assert result.images == []  # only plt.show() returns figures (DeepEyesV2, PyVision)


def test_preloaded_variables_hold_the_staged_pixels(h: CodeHarness, tmp_path: Path) -> None:
    jpeg, png = tmp_path / "photo.jpg", tmp_path / "chart.png"
    Image.effect_noise((97, 61), 60).convert("RGB").save(jpeg, quality=70)
    Image.new("P", (30, 20), 3).save(png)
    profile = CodeProfile(preload="image_clue_{i}", preload_start=0, preload_rgb=True)
    ctx = ToolContext("pre", [jpeg, png], code_profile=profile)
    code = (
        "import hashlib\n"
        "for im in (image_clue_0, image_clue_1):\n"
        "    print(im.size, im.mode, hashlib.sha256(im.tobytes()).hexdigest())"
    )
    lines = h.run(code, ctx).text.splitlines()
    expected = []
    for path in (jpeg, png):
        with Image.open(path) as img:
            rgb = img.convert("RGB")
            expected.append(f"{rgb.size} RGB {hashlib.sha256(rgb.tobytes()).hexdigest()}")
    assert lines == expected
    as_opened = CodeProfile(preload="image_{i}")  # DeepEyesV2: Image.open, mode kept
    text = h.run(
        "print(image_1.mode, image_2.mode)", ToolContext("m", [jpeg, png], code_profile=as_opened)
    ).text  # noqa: E501
    assert text.strip() == "RGB P"


def test_a_session_keeps_the_models_state_and_preloads_once(h: CodeHarness, tmp_path: Path) -> None:
    src = tmp_path / "in.png"
    Image.new("RGB", (200, 100), (10, 200, 10)).save(src)
    profile = CodeProfile(session=True, preload="image_{i}", prelude="import math\n")
    ctx = ToolContext("sess", [src], code_profile=profile)
    assert h.run("image_1 = image_1.crop((0, 0, 50, 50))\nn = 3", ctx).error is None
    result = h.run("print(image_1.size, n, math.pi > 3)", ctx)
    assert result.text.strip() == "(50, 50) 3 True"  # not reloaded over the model's crop
    h.end(ctx)
    fresh = h.run("print(image_1.size)", ctx)  # a new session preloads again
    assert fresh.text.strip() == "(200, 100)"
    h.end(ctx)


def test_a_read_only_folder_refuses_writes_with_a_clear_error(
    h: CodeHarness, tmp_path: Path
) -> None:
    src = tmp_path / "in.png"
    Image.new("RGB", (64, 64), (220, 30, 30)).save(src)
    profile = CodeProfile(
        session=True, preload="image_{i}", figures=Figures(), read_only=True, split_streams=True
    )
    ctx = ToolContext("ro", [src], code_profile=profile)
    result = h.run("image_1.crop((0, 0, 10, 10)).save('crop.png')", ctx)
    assert result.images == [] and result.error == "PermissionError raised"
    stderr = result.data["stderr"]
    assert stderr.rstrip().endswith(
        "PermissionError: Writing file to disk is not allowed: 'crop.png' (the working folder "
        "is read-only; use plt.show() to return an image)"
    )
    assert "conventions.py" not in stderr  # the sandbox's own frame is not shown
    # Figures still come back, and what the session holds is intact.
    shown = h.run(
        "import matplotlib.pyplot as plt\nplt.imshow(image_1)\nplt.show()\nprint('ok')", ctx
    )
    assert shown.error is None and len(shown.images) == 1 and shown.data["stdout"] == "ok\n"
    # Past the guard (code that disables it), the folder itself refuses where calls run
    # as their own uid.
    bypass = (
        "import os, sys\n"
        "mod = next(m for n, m in sys.modules.items() if n.endswith('.conventions'))\n"
        "mod._guard['on'] = False\n"
        "print(os.getuid() == os.stat('.').st_uid)\n"
        "open('x.txt', 'w')"
    )
    result = h.run(bypass, ctx)
    if h.tool.server.isolation.own_uid:
        assert result.data["stdout"] == "False\n"
        assert "PermissionError: [Errno 13] Permission denied: 'x.txt'" in result.data["stderr"]
    h.end(ctx)


def test_stdout_and_stderr_apart_or_together(h: CodeHarness) -> None:
    code = "import sys\nprint('one')\nprint('two', file=sys.stderr)\nprint('three')\n1/0"
    apart = h.run(code, ToolContext("s", [], code_profile=CodeProfile(split_streams=True)))
    assert apart.data["stdout"] == "one\nthree\n"
    assert apart.data["stderr"].startswith("two\nTraceback (most recent call last):")
    assert apart.data["stderr"].rstrip().endswith("ZeroDivisionError: division by zero")
    together = h.run(code, ToolContext("t", []))
    assert together.text.startswith("one\ntwo\nthree\nTraceback")  # in the order written
    assert together.data["stderr"] == ""
    # A session keeps them apart on every call.
    ctx = ToolContext("ss", [], code_profile=CodeProfile(session=True, split_streams=True))
    for _ in range(2):
        again = h.run("import sys\nprint('a')\nprint('b', file=sys.stderr)", ctx)
        assert (again.data["stdout"], again.data["stderr"]) == ("a\n", "b\n")
    h.end(ctx)


THYME_README = """import cv2
import os
import numpy as np
from uuid import uuid4

# Load the image
image_path = "/eval/17127.jpg"
image = cv2.imread(image_path)

# Define the coordinates for the license plate area (inferred from the image content)
x1, y1, x2, y2 = 1250, 1030, 1360, 1070

# Crop the image based on the defined coordinates
cropped_image = image[y1:y2, x1:x2]

# Apply a zoom factor to enhance the cropped region
zoom_factor = 2
resized_image = cv2.resize(cropped_image, None, fx=zoom_factor, fy=zoom_factor, interpolation=cv2.INTER_CUBIC)

# Save the processed image with a random suffix
random_suffix = str(uuid4())[:8]
processed_filename = f"17127_{random_suffix}.jpg"
processed_path = os.path.join("/mnt/data/temp_processed_images/", processed_filename)
cv2.imwrite(processed_path, resized_image)

# Print the path of the saved cropped image for further processing
print(processed_path)"""  # noqa: E501 - Thyme's README, §6, as printed


def test_thyme_rewrites_run_its_readme_example(h: CodeHarness, tmp_path: Path) -> None:
    pytest.importorskip("cv2")
    src = tmp_path / "17127.jpg"
    Image.new("RGB", (1600, 1200), (30, 60, 220)).save(src)
    profile = CodeProfile(
        session=True, rewrite="thyme", variables=(("temp_output_dir", "./temp_processed_images/"),)
    )
    ctx = ToolContext("thyme", [src], code_profile=profile)
    result = h.run(THYME_README, ctx)
    assert result.error is None, result.text
    (image,) = result.images
    assert image.name.startswith("temp_processed_images/17127_") and image.name.endswith(".jpg")
    # The 110x40 box was grown to 64 px high (1250, 1030, 1360, 1094), then zoomed 2x.
    assert decoded(result).size == (220, 128)
    assert result.text.startswith("./temp_processed_images/17127_")
    # The wrong literal path named the case's image; the rewritten box is what ran.
    again = h.run("print(image_path, x1, y1, x2, y2, temp_output_dir)", ctx)
    assert again.text.strip() == "17127.jpg 1250 1030 1360 1094 ./temp_processed_images/"
    h.end(ctx)


def test_thyme_clamps_boxes_and_leaves_other_code_alone(h: CodeHarness, tmp_path: Path) -> None:
    src = tmp_path / "scene.png"
    Image.new("RGB", (100, 80), (30, 60, 220)).save(src)
    ctx = ToolContext("t2", [src], code_profile=CodeProfile(rewrite="thyme"))
    code = (
        "crop_box = (90, 70, 130, 75)\n"  # outside and thin: clamped, grown to 64 px
        "a, b, c, d = 1, 2, 3, 4\n"  # not coordinate names: untouched
        "print(crop_box, (a, b, c, d), f'{1.5:.1f}')"
    )
    assert h.run(code, ctx).text.strip() == "(36, 16, 100, 80) (1, 2, 3, 4) 1.50000000"
