"""Where the model looked, when its code uses OpenCV (Thyme's does): `cv2.imread` of a staged
input, NumPy slices of it, `cv2.resize`/`rotate`/`flip` and the size-keeping filters carry the
region, exact to the pixel, and `cv2.imwrite` reports it; the record of a Thyme-style crop and
zoom, through the real batch and the real sandbox, has the box on the right input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, run_script
from tests.helpers.dialect_cases import batch

pytest.importorskip("cv2")

CV2_PIXEL_CHECK = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from PIL import Image
from r1v4.tools.sandbox import provenance, tracking

w, h = 37, 23  # odd sizes: an off-by-one shows
yy, xx = np.mgrid[0:h, 0:w]
rgb = np.stack([xx * 6, yy * 10, (xx + yy) % 7 * 30], axis=-1).astype(np.uint8)
Image.fromarray(rgb).save("in.png")
blocks = np.kron(rgb[:6, :9], np.ones((4, 4, 1), np.uint8))  # 36x24 of 4x4 blocks
Image.fromarray(blocks).save("even.png")
exif = Image.Exif()
exif[0x0112] = 3
Image.fromarray(rgb).save("turned.png", exif=exif)
looks = []
seed = {"map": [1, 0, 0, 0, 1, 0], "size": [w, h]}
tracking.install(looks.append).seed({
    "in.png": {"source": "in.png", **seed}, "turned.png": {"source": "turned.png", **seed},
    "even.png": {"source": "even.png", "map": [1, 0, 0, 0, 1, 0], "size": [36, 24]}})
import cv2  # after the tracker, as the model's code imports it

bgr, gray = cv2.imread("in.png"), cv2.imread("in.png", cv2.IMREAD_GRAYSCALE)
ref = {"bgr": bgr.view(np.ndarray), "gray": gray.view(np.ndarray),
       "rgb": bgr.view(np.ndarray)[..., ::-1], "even": cv2.imread("even.png").view(np.ndarray)}
crop = bgr[3:20, 5:30]
NEAR, EXACT = cv2.INTER_NEAREST, cv2.INTER_NEAREST_EXACT
made = {  # name: (array, the reference its pixels are copied from)
    "imread": (bgr, "bgr"),
    "gray": (gray, "gray"),
    "slice": (bgr[4:19, 6:33], "bgr"),
    "slice_step": (bgr[1:22:2, 3:36:3], "bgr"),
    "slice_reversed": (bgr[::-1, 30:5:-1], "bgr"),
    "gray_slice": (gray[3:20, 2:30], "gray"),
    "resize_dsize": (cv2.resize(crop, (50, 34), interpolation=NEAR), "bgr"),
    "resize_fx": (cv2.resize(crop, None, fx=2, fy=3, interpolation=NEAR), "bgr"),
    "resize_exact": (cv2.resize(crop, None, fx=4 / 3, fy=0.7, interpolation=EXACT), "bgr"),
    "resize_down": (cv2.resize(bgr, None, fx=1 / 3, fy=1 / 2, interpolation=EXACT), "bgr"),
    "resize_dsize_wins": (cv2.resize(crop, (40, 20), fx=5, fy=5, interpolation=EXACT), "bgr"),
    **{f"rotate{c}": (cv2.rotate(bgr, c), "bgr") for c in (0, 1, 2)},
    **{f"flip{c}": (cv2.flip(gray, c), "gray") for c in (0, 1, -1)},
    "rotate_then_slice": (cv2.rotate(bgr, cv2.ROTATE_90_CLOCKWISE)[2:30, 4:15], "bgr"),
    "slice_then_flip": (cv2.flip(bgr[2:20, 3:33:2], 1), "bgr"),
    "to_rgb": (cv2.cvtColor(crop, cv2.COLOR_BGR2RGB), "rgb"),
    "reduced2": (cv2.imread("even.png", cv2.IMREAD_REDUCED_COLOR_2), "even"),
    "reduced4": (cv2.imread("even.png", cv2.IMREAD_REDUCED_COLOR_4), "even"),
}
bad = {}
for name, (out, against) in made.items():
    cv2.imwrite(name + ".png", out)
    look = provenance.get(out)
    if look is None:
        bad[name] = "no look"
        continue
    a, b, c, d, e, f = look.m
    px, src = cv2.imread(name + ".png", cv2.IMREAD_UNCHANGED), ref[against]
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            sx, sy = a * (x + .5) + b * (y + .5) + c, d * (x + .5) + e * (y + .5) + f
            i, j = int(np.floor(sy)), int(np.floor(sx))
            if np.any(px[y, x] != src[i, j]):
                bad[name] = f"pixel ({x},{y}) -> ({sx},{sy})"
                break
        if name in bad:
            break
# interpolating resizes: on ramps (value = the pixel's column, or row) the value at each
# interior pixel is the ramp at the point its centre maps to
ramp_x, ramp_y = (gray.astype(np.float32) * 0 + v.astype(np.float32) for v in (xx, yy))
zooms = {"linear_fx": dict(dsize=None, fx=4 / 3, fy=1 / 3), "linear_dsize": dict(dsize=(50, 9)),
         "linear_up": dict(dsize=None, fx=2.5, fy=2)}
for name, how in zooms.items():
    (ox, oy), look = (cv2.resize(r, **how) for r in (ramp_x, ramp_y)), None
    look = provenance.get(ox)
    if look is None:
        bad[name] = "no look"
        continue
    a, b, c, d, e, f = look.m
    for y in range(ox.shape[0]):
        for x in range(ox.shape[1]):
            u, v = a * (x + .5) + c - .5, e * (y + .5) + f - .5  # in pixel-index units
            inside = 0 <= u <= w - 1 and 0 <= v <= h - 1  # not in the replicated border
            if inside and max(abs(ox[y, x] - u), abs(oy[y, x] - v)) > 1e-3:
                bad[name] = f"pixel ({x},{y}) -> ({u},{v}) not ({ox[y, x]},{oy[y, x]})"
                break
        if name in bad:
            break
kept = {name: provenance.get(fn(crop)) is provenance.get(crop) for name, fn in {
    "GaussianBlur": lambda a: cv2.GaussianBlur(a, (5, 5), 0),
    "blur": lambda a: cv2.blur(a, (3, 3)),
    "medianBlur": lambda a: cv2.medianBlur(a, 3),
    "bilateralFilter": lambda a: cv2.bilateralFilter(a, 5, 50, 50),
    "convertScaleAbs": lambda a: cv2.convertScaleAbs(a, alpha=1.5, beta=10),
    "addWeighted": lambda a: cv2.addWeighted(a, 1.5, cv2.GaussianBlur(a, (0, 0), 3), -0.5, 0),
    "filter2D": lambda a: cv2.filter2D(a, -1, np.ones((3, 3), np.float32) / 9),
    "detailEnhance": lambda a: cv2.detailEnhance(a),
    "normalize": lambda a: cv2.normalize(a, None, 0, 255, cv2.NORM_MINMAX),
    "cvtColor": lambda a: cv2.cvtColor(a, cv2.COLOR_BGR2GRAY),
    "equalizeHist": lambda a: cv2.equalizeHist(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY)),
}.items()}
lost = {
    "warpAffine": cv2.warpAffine(bgr, np.float32([[1, 0, 3], [0, 1, 2]]), (w, h)),
    "copyMakeBorder": cv2.copyMakeBorder(bgr, 2, 2, 2, 2, cv2.BORDER_REFLECT),
    "turned": cv2.imread("turned.png"),
    "turned_ignoring": cv2.imread("turned.png", cv2.IMREAD_IGNORE_ORIENTATION | 1),
    "reduced_odd": cv2.imread("in.png", cv2.IMREAD_REDUCED_COLOR_2),
    "nearest_fraction": cv2.resize(crop, None, fx=4 / 3, fy=2, interpolation=NEAR),
    "plain": np.zeros((4, 4), np.uint8),
}
for name, arr in lost.items():
    cv2.imwrite(name + ".png", arr)
print(json.dumps({
    "bad": bad, "kept": kept, "lost": [n for n, a in lost.items() if provenance.get(a)],
    "looks": {l["look"]["file"]: l["look"] for l in looks},
    "type": type(bgr).__name__, "repr": repr(gray[:1, :2]),
}))
"""


def test_every_traced_opencv_operation_maps_each_pixel_to_its_source_pixel(
    tmp_path: Path,
) -> None:
    """In a process of its own: for every pixel of every traced result, as `cv2.imwrite`
    saved it, the map sends its centre to the input pixel it was copied from; size-keeping
    filters keep the look, anything else loses it and its save reports no origin."""
    result = run_script(CV2_PIXEL_CHECK, tmp_path)
    assert result["bad"] == {}
    assert result["kept"] == dict.fromkeys(result["kept"], True) and len(result["kept"]) == 11
    assert result["lost"] == []
    looks = result["looks"]
    assert len(looks) == 22 + 7
    lost = ["warpAffine", "copyMakeBorder", "turned", "turned_ignoring", "reduced_odd"]
    for name in [*lost, "nearest_fraction", "plain"]:
        assert looks[name + ".png"] == {"file": name + ".png", "none": True}
    assert looks["resize_fx.png"]["ops"] == ["slice", "resize"]
    assert looks["resize_fx.png"]["size"] == [50, 51] and looks["reduced4.png"]["size"] == [9, 6]
    assert looks["rotate0.png"]["ops"] == ["rotate 270"]  # clockwise, Pillow's ROTATE_270
    # what the code sees of a traced array is NumPy's own
    assert result["type"] == "ndarray" and result["repr"].startswith("array(")


WHEN_IMPORTED = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from r1v4.tools.sandbox.tracking import when_imported
seen = []
when_imported("json", lambda m: seen.append(("now", m.__name__)))  # already imported
when_imported("colorsys", lambda m: seen.append(("later", m.__name__)))
when_imported("no_such_module_here", seen.append)
assert seen == [("now", "json")], seen
try:
    import no_such_module_here
except ImportError:
    pass
import colorsys
waiting = [type(f).__name__ for f in sys.meta_path if type(f).__name__ == "_Awaiting"]
print(json.dumps([seen, colorsys.rgb_to_hsv(1, 0, 0), waiting]))
"""


def test_a_module_is_wrapped_when_it_is_imported_and_only_then(tmp_path: Path) -> None:
    """How OpenCV gets its wrappers: at once if imported, else when the code imports it (the
    import works as before; the finder goes once it has served); a failed import leaves it."""
    seen, hsv, waiting = run_script(WHEN_IMPORTED, tmp_path)
    assert seen == [["now", "json"], ["later", "colorsys"]] and hsv == [0.0, 1.0, 1]
    assert waiting == ["_Awaiting"]  # only the failed one's, for a later try


# -- through the batch: Thyme's code, the real sandbox ----------------------------------------

THYME_CROP = """\
import cv2
import os
image_path = "/eval/scene.jpg"
image = cv2.imread(image_path)
x1, y1, x2, y2 = 160, 120, 480, 360
cropped_image = image[y1:y2, x1:x2]
resized_image = cv2.resize(cropped_image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
processed_path = os.path.join("/mnt/data/temp_processed_images/", "scene_zoom.jpg")
cv2.imwrite(processed_path, resized_image)
print(processed_path)
"""


@pytest.mark.slow
def test_a_thyme_opencv_crop_records_the_box_on_the_input(workdir: Path) -> None:
    Image.new("RGB", (640, 480), (128, 128, 128)).save(workdir / "scene.png")
    case = {"id": "c", "image": "scene.png", "question": "What is in the middle?"}
    case["dialect"] = "thyme"
    (workdir / "cases.jsonl").write_text(json.dumps(case) + "\n")
    turns = [
        "<think>I zoom into the middle.\n<code>\n```python\n" + THYME_CROP + "```\n</code>",
        "\nIt is grey.</think>\n<answer>grey</answer>",
    ]
    with running_simulator(scripts=[{"contains": "middle", "turns": turns}]) as sim:
        assert batch(sim, "nonstream") == 0
    record = read_jsonl(workdir / "out.jsonl")[0]
    text = json.dumps(record)
    assert "scene_zoom.jpg" in text, text[:2000]
    obs = [
        json.loads(part.split("</observation>")[0])
        for part in record["response"]["full_response"].split("<observation>")[1:]
    ]
    (region,) = [r for o in obs for r in o.get("regions") or []]
    assert region == {
        "input": 0,
        "source": "scene.png",
        "source_size": [640, 480],
        "box": [160.0, 120.0, 480.0, 360.0],
        "size": [640, 480],
        "ops": ["slice", "resize"],
    }
