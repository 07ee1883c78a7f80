"""Where the model looked: a crop made by the model's code (`img.crop(box).resize(...)`, a
NumPy slice, a crop of its own earlier crop) records the right box on the right input image,
through the real batch and the real sandbox; the geometry of every traced operation is exact
to the pixel; and what the sandbox says about regions is checked before it is believed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from r1v4.protocol.regions import IDENTITY, Region, iou, region_from_record
from r1v4.sim import running_simulator
from r1v4.tools.regions import accept_looks
from tests.helpers import read_jsonl, run_cli, run_script, write_jsonl
from tests.helpers.flag_cases import call


def test_region_algebra_crop_resize_and_box() -> None:
    src = Region.of_input(1, "b.png", (800, 600))
    crop = src.crop((100, 50, 300, 250))
    zoom = crop.resize((400, 400)).crop((200, 0, 400, 100))  # right half, top quarter
    assert crop.box == (100, 50, 300, 250)
    assert zoom.box == (200, 50, 300, 100) and zoom.input == 1 and zoom.source == "b.png"
    assert zoom.ops == ("crop", "resize", "crop")
    assert round(iou(crop, zoom), 3) == round(5000 / 40000, 3)
    assert iou(crop, Region.of_input(0, "a.png", (800, 600))) == 0.0


@pytest.mark.parametrize(
    "entry",
    [
        None,
        {"input": -1, "source_size": [10, 10], "box": [0, 0, 5, 5]},
        {"input": 0, "source_size": [10, 10], "box": [0, 0, 50, 5]},  # outside the input
        {"input": 0, "source_size": [10, 10], "box": [5, 5, 5, 5]},  # empty
        {"input": 0, "source_size": [10, 10], "box": [0, 0, "5", 5]},
        {"input": 0, "source_size": [10, 10], "box": [0, 0, float("nan"), 5]},
        {"input": 3, "source_size": [10, 10], "box": [0, 0, 5, 5]},  # only 2 inputs
        {"input": True, "source_size": [10, 10], "box": [0, 0, 5, 5]},
    ],
)
def test_a_record_region_that_is_not_usable_is_none(entry: object) -> None:
    assert region_from_record(entry, n_inputs=2) is None


def test_looks_from_the_sandbox_are_checked_against_what_was_staged_and_returned() -> None:
    inputs = {"a.png": Region.of_input(0, "a.png", (100, 80))}
    good = {"file": "c.png", "source": "a.png", "map": [1, 0, 10, 0, 1, 5], "size": [20, 10]}
    looks = [
        good,
        {**good, "file": "other.png"},  # not returned
        {**good, "file": "d.png", "source": "/etc/passwd"},  # not staged
        {**good, "file": "e.png", "size": [21, 10]},  # not the returned image's size
        {**good, "file": "f.png", "map": [1, 0, float("inf"), 0, 1, 0]},
        {**good, "file": "g.png", "map": [1, 0, 5000, 0, 1, 0]},  # shows none of the input
        "junk",
    ]
    returned = [("c.png", (20, 10)), ("d.png", (20, 10)), ("e.png", (20, 10))]
    returned += [("f.png", (20, 10)), ("g.png", (20, 10))]
    found = accept_looks(looks, inputs, returned)
    assert list(found) == ["c.png"]
    assert found["c.png"].box == (10, 5, 30, 15) and found["c.png"].input == 0


# -- the traced operations, exact to the pixel ----------------------------------------------

PIXEL_CHECK = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from PIL import Image
from r1v4.tools.sandbox import provenance, tracking

w, h = 37, 23  # odd sizes: an off-by-one shows
yy, xx = np.mgrid[0:h, 0:w]
src = np.stack([xx * 6, yy * 10, np.zeros_like(xx)], axis=-1).astype(np.uint8)
Image.fromarray(src).save("in.png")
looks = []
tracking.install(looks.append).seed(
    {"in.png": {"source": "in.png", "map": [1, 0, 0, 0, 1, 0], "size": [w, h]}})
im = Image.open("in.png")
arr = np.asarray(im)
T = Image.Transpose
made = {
    "crop": im.crop((5, 3, 30, 20)),
    "resize2x": im.crop((5, 3, 30, 20)).resize((50, 34), Image.NEAREST),
    **{f"transpose{m}": im.transpose(m) for m in range(7)},
    "rotate90": im.rotate(90, expand=True),
    "rotate270": im.rotate(-90, expand=True),
    "crop_of_rotated": im.transpose(T.ROTATE_90).crop((2, 4, 15, 30)),
    "slice": Image.fromarray(arr[4:19, 6:33]),
    "slice_step": Image.fromarray(arr[1:22:2, 3:36:3]),
    "slice_reversed": Image.fromarray(arr[::-1, 30:5:-1]),
    "slice_math": Image.fromarray(np.clip(arr[2:10, 2:12] * 1.0, 0, 255).astype(np.uint8)),
    "convert_then_crop": im.convert("RGBA").crop((1, 1, 9, 9)).convert("RGB"),
}
bad = {}
for name, out in made.items():
    out.save(name + ".png")
    look = provenance.get(out)
    if look is None:
        bad[name] = "no look"
        continue
    a, b, c, d, e, f = look.m
    px = np.asarray(out.convert("RGB"))
    for y in range(out.size[1]):
        for x in range(out.size[0]):
            sx, sy = a * (x + .5) + b * (y + .5) + c, d * (x + .5) + e * (y + .5) + f
            i, j = int(np.floor(sy)), int(np.floor(sx))
            if tuple(px[y, x]) != tuple(src[i, j]):
                bad[name] = f"pixel ({x},{y}) -> ({sx},{sy})"
                break
        if name in bad:
            break
print(json.dumps({"bad": bad, "saved": sorted(l["look"]["file"] for l in looks),
                  "type": type(arr).__name__, "repr": repr(arr[:1, :1, :1]),
                  "mean": type(arr.mean()).__name__}))
"""


def test_every_traced_operation_maps_each_pixel_to_its_source_pixel(tmp_path: Path) -> None:
    """In a process of its own (the wrappers change Pillow and NumPy for that process): for
    every output pixel, the map sends its centre to the input pixel it was copied from."""
    result = run_script(PIXEL_CHECK, tmp_path)
    assert result["bad"] == {}
    assert len(result["saved"]) == 17
    # what the code sees of a traced array is NumPy's own
    assert result["type"] == "ndarray" and result["repr"].startswith("array(")
    assert result["mean"] == "float64"


# -- through the batch: the model's code, the real sandbox ----------------------------------

CROP_CODE = """\
from PIL import Image
import numpy as np
im = Image.open(image_paths[1])
im.crop((300, 100, 500, 250)).resize((400, 300)).save('sign.png')
arr = np.asarray(Image.open(image_paths[0]))
Image.fromarray(arr[40:120, 10:170]).save('corner.png')
print('saved')
"""
AGAIN = """\
from PIL import Image
Image.open('sign.png').crop((200, 0, 400, 150)).save('sign_right.png')
"""


@pytest.mark.slow
def test_a_crop_by_the_models_code_records_the_box_on_the_right_input(workdir: Path) -> None:
    Image.new("RGB", (640, 480), "navy").save(workdir / "first.png")
    Image.new("RGB", (800, 600), "olive").save(workdir / "second.png")
    case = {"id": "look", "images": ["first.png", "second.png"], "question": "where?"}
    write_jsonl(workdir / "cases.jsonl", [case])
    turns = [
        "<think>Let me crop the sign in the second image.</think>" + call(CROP_CODE),
        "<think>Its right half.</think>" + call(AGAIN),
        "<think>Done.</think><answer>here</answer>",
    ]
    with running_simulator(scripts=[{"id": "look", "turns": turns}]) as sim:
        assert run_cli(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url]) == 0
    record = read_jsonl(workdir / "out.jsonl")[0]
    obs = [
        json.loads(part.split("</observation>")[0])
        for part in record["response"]["full_response"].split("<observation>")[1:]
    ]
    assert obs[0]["names"] == ["sign.png", "corner.png"]
    sign, corner = obs[0]["regions"]
    assert sign == {
        "input": 1,
        "source": "second.png",
        "source_size": [800, 600],
        "box": [300.0, 100.0, 500.0, 250.0],
        "size": [400, 300],
        "ops": ["crop", "resize"],
    }
    assert corner["input"] == 0 and corner["source"] == "first.png"
    assert corner["box"] == [10.0, 40.0, 170.0, 120.0] and corner["ops"] == ["slice"]
    # a crop of the model's own crop, in the next call, traces back to the input
    (again,) = obs[1]["regions"]
    assert again["input"] == 1 and again["box"] == [400.0, 100.0, 500.0, 175.0]
    assert again["ops"] == ["crop", "resize", "crop"]


def test_identity_is_the_unit_of_composition() -> None:
    from r1v4.protocol.regions import compose

    m = (2.0, 0.0, 5.0, 0.0, 3.0, 7.0)
    assert compose(IDENTITY, m) == m and compose(m, IDENTITY) == m
