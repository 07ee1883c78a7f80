"""Where the model looked, when its code shows a crop with matplotlib (DeepEyesV2 and PyVision
do: `plt.imshow(crop); plt.show()`): the captured figure's look maps each PNG pixel inside its
`clip` (the rectangle that shows the image, `xlim`/`ylim` zooms included) to the input pixel
drawn there, the PNG is byte for byte what plain matplotlib saves, and the record of such a
call, through the real batch and the real sandbox, has the crop's box on the input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from r1v4.protocol.regions import Region, region_from_record
from r1v4.sim import running_simulator
from r1v4.tools.regions import accept_looks
from tests.helpers import read_jsonl, run_script
from tests.helpers.dialect_cases import batch

pytest.importorskip("matplotlib")

FIGURE_CHECK = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
plain = sys.argv[2] == "plain"  # matplotlib alone, as before the toolkit followed figures
import numpy as np
from PIL import Image

w, h = 240, 180  # a ramp: red is the input's column, green its row, blue a marker
yy, xx = np.mgrid[0:h, 0:w]
Image.fromarray(np.stack([xx, yy, np.full_like(xx, 77)], -1).astype(np.uint8)).save("in.png")
looks = []
if not plain:
    from r1v4.protocol.regions import Region
    from r1v4.tools.sandbox import figures, tracking
    tracking.install(looks.append).seed(
        {"in.png": {"source": "in.png", "map": [1, 0, 0, 0, 1, 0], "size": [w, h]}})
    figures.install({"show": "all", "tight": True}, "helper")
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

im = Image.open("in.png")
arr = np.asarray(im)
CASES = {  # name: (what the code draws, its border covered by the axes' spines, px)
    "pil_crop_off": (lambda: (plt.imshow(im.crop((30, 20, 130, 90))), plt.axis("off")), 0),
    "slice_on": (lambda: plt.imshow(arr[40:120, 50:200]), 2),
    "zoom": (lambda: (plt.imshow(im), plt.xlim(60, 160), plt.ylim(120, 40)), 2),
    "slice_zoom": (lambda: (plt.figure(figsize=(3, 5), dpi=70),
                            plt.imshow(arr[10:170, 20:220]), plt.xlim(-20, 90)), 2),
    "lower": (lambda: plt.imshow(arr[::-1][30:100, 10:90], origin="lower"), 2),
    "two": (lambda: [a.imshow(im) for a in plt.subplots(1, 2)[1]], 0),
    "log": (lambda: (plt.imshow(arr[40:120, 50:200]), plt.xscale("log")), 0),
    "untracked": (lambda: plt.imshow(np.zeros((20, 30, 3), np.uint8)), 0),
}
out = {}
for tight in (True, False):
    for name, (draw, border) in CASES.items():
        key, before = f"{name}_{'tight' if tight else 'whole'}", len(looks)
        draw()
        if plain:
            fig = plt.gcf()
            if tight:
                fig.tight_layout()
            fig.savefig(key + ".png", format="png", bbox_inches="tight" if tight else None)
            plt.close(fig)
            continue
        figures._state["spec"]["tight"] = tight
        plt.show()
        look = looks[-1]["look"] if len(looks) > before else {"unreported": True}
        path = os.path.join("helper", look.get("file", "").partition("/")[2])
        if "map" not in look:
            out[key] = sorted(look)
            continue
        os.replace(path, key + ".png")
        png = np.asarray(Image.open(key + ".png").convert("RGB")).astype(int)
        a, b, c, d, e, f = look["map"]
        x0, y0, x1, y1 = look["clip"]
        bad = []
        for y in range(int(np.ceil(y0 + border)), int(np.floor(y1 - border))):
            for x in range(int(np.ceil(x0 + border)), int(np.floor(x1 - border))):
                sx, sy = a * (x + .5) + b * (y + .5) + c, d * (x + .5) + e * (y + .5) + f
                r, g, blue = png[y, x]
                if abs(r - np.floor(sx)) > 1 or abs(g - np.floor(sy)) > 1 or blue != 77:
                    bad.append([x, y, sx, sy])
        # the image is drawn nowhere else: no ramp pixel more than 1 px outside the clip
        ys, xs = np.nonzero((np.abs(png[..., 2] - 77) <= 3) & (png[..., 0] != png[..., 1]))
        outside = int(((xs < x0 - 1) | (xs > x1 + 1) | (ys < y0 - 1) | (ys > y1 + 1)).sum())
        out[key] = {"bad": bad[:3], "checked": (y1 - y0) * (x1 - x0), "outside": outside,
                    "ops": look["ops"], "size": look["size"], "png": png.shape[1::-1],
                    "file": look["file"], "box": Region(
                        0, "in.png", (w, h), tuple(look["size"]), tuple(look["map"]),
                        clip=tuple(look["clip"])).box}
print(json.dumps(out))
"""


def _run(cwd: Path, how: str) -> dict:
    return run_script(FIGURE_CHECK, cwd, how, timeout=120) or {}


@pytest.mark.slow
def test_a_figure_of_a_tracked_crop_maps_its_pixels_to_the_input(tmp_path: Path) -> None:
    """In processes of their own (the wrappers change matplotlib for that process)."""
    (tmp_path / "plain").mkdir()
    (tmp_path / "tracked").mkdir()
    result = _run(tmp_path / "tracked", "tracked")
    _run(tmp_path / "plain", "plain")
    looked = {k: v for k, v in result.items() if isinstance(v, dict)}
    assert sorted(looked) == sorted(
        f"{n}_{t}"
        for n in ("pil_crop_off", "slice_on", "zoom", "slice_zoom", "lower")
        for t in ("tight", "whole")
    )
    for key, found in looked.items():
        assert found["bad"] == [] and found["checked"] > 1000, key
        assert found["outside"] == 0, key
        assert found["size"] == found["png"], key
        assert found["ops"][-1] == "figure" and found["file"].endswith(".png"), key
    # several images, a log scale, an untracked array: a save without a known origin
    for name in ("two", "log", "untracked"):
        assert result[f"{name}_tight"] == result[f"{name}_whole"] == ["file", "none"]
    # the boxes on the input: the crop's, and for a zoom the visible part (pixel centres)
    expected = {
        "pil_crop_off": (30, 20, 130, 90),
        "slice_on": (50, 40, 200, 120),
        "zoom": (60.5, 40.5, 160.5, 120.5),
        "slice_zoom": (20, 10, 110.5, 170),
        "lower": (10, 80, 90, 150),
    }
    for name, box in expected.items():
        for how in ("tight", "whole"):
            got = looked[f"{name}_{how}"]["box"]
            assert all(abs(g - b) <= 1 for g, b in zip(got, box, strict=True)), (name, got)
    # the figures are byte for byte what matplotlib alone saves
    for key in looked:
        tracked = (tmp_path / "tracked" / f"{key}.png").read_bytes()
        assert tracked == (tmp_path / "plain" / f"{key}.png").read_bytes(), key


# -- the host's checks ---------------------------------------------------------------------


def test_a_figures_clip_is_checked_and_kept() -> None:
    inputs = {"a.png": Region.of_input(0, "a.png", (100, 80))}
    # a 200x100 figure showing a 20x10 crop at (10, 5) magnified 5x inside (50, 25, 150, 75)
    good = {"source": "a.png", "map": [0.2, 0, 0, 0, 0.2, 0], "size": [200, 100]}
    good["ops"], good["clip"] = ["crop", "figure"], [50, 25, 150, 75]
    bad_clips = {
        "nan.png": [50, 25, float("nan"), 75],
        "outside.png": [50, 25, 250, 75],
        "negative.png": [-1, 25, 150, 75],
        "empty.png": [50, 25, 50, 75],
        "flipped.png": [150, 25, 50, 75],
        "short.png": [50, 25, 150],
        "text.png": "50,25,150,75",
        "bool.png": [True, 25, 150, 75],
    }
    looks = [{**good, "file": "fig.png"}]
    looks += [{**good, "file": name, "clip": clip} for name, clip in bad_clips.items()]
    returned = [(name, (200, 100)) for name in ["fig.png", *bad_clips]]
    found = accept_looks(looks, inputs, returned)
    assert list(found) == ["fig.png"]
    region = found["fig.png"]
    assert region.clip == (50, 25, 150, 75) and region.box == (10, 5, 30, 15)
    entry = region.to_record()
    assert entry["clip"] == [50, 25, 150, 75] and entry["box"] == [10, 5, 30, 15]
    # read back from the record: the same box, the same clip
    again = region_from_record(json.loads(json.dumps(entry)), n_inputs=1)
    assert again is not None and again.clip == region.clip and again.box == region.box
    assert region_from_record({**entry, "clip": [50, 25, 250, 75]}) is None
    # a crop of the figure keeps the part of the clip it holds
    part = region.crop((100, 0, 200, 100))
    assert part.clip == (0, 25, 50, 75) and part.box == (20, 5, 30, 15)


def test_a_region_without_clip_is_recorded_as_before() -> None:
    region = Region.of_input(0, "a.png", (100, 80)).crop((10, 5, 30, 15))
    assert "clip" not in region.to_record()
    again = region_from_record(region.to_record())
    assert again is not None and again.clip is None and again.box == (10, 5, 30, 15)


# -- through the batch: the families' code, the real sandbox ---------------------------------

PYVISION_ZOOM = """\
import matplotlib.pyplot as plt
import numpy as np
plt.imshow(np.array(image_clue_0)[120:360, 160:480])
plt.show()
"""
DEEPEYES_V2_CROP = """\
import matplotlib.pyplot as plt
plt.imshow(image_1.crop((168, 112, 504, 364)))
plt.axis('off')
plt.show()
"""


def _figure_region(workdir: Path, dialect: str, turns: list[str]) -> dict:
    Image.new("RGB", (672, 476), (128, 128, 128)).save(workdir / "scene.png")
    case = {"id": "c", "image": "scene.png", "question": "What is in the middle?"}
    (workdir / "cases.jsonl").write_text(json.dumps({**case, "dialect": dialect}) + "\n")
    with running_simulator(scripts=[{"contains": "middle", "turns": turns}]) as sim:
        assert batch(sim, "nonstream") == 0
    record = read_jsonl(workdir / "out.jsonl")[0]
    assert record["meta"]["dialect"] == dialect
    obs = [
        json.loads(part.split("</observation>")[0])
        for part in record["response"]["full_response"].split("<observation>")[1:]
    ]
    regions = [r for o in obs for r in o.get("regions") or []]
    assert len(regions) == 1, record["response"]["full_response"][-2000:]
    return regions[0]


def _near(box: list[float], expected: tuple[int, ...]) -> bool:
    return all(abs(g - e) <= 1 for g, e in zip(box, expected, strict=True))


@pytest.mark.slow
def test_a_pyvision_figure_of_a_slice_records_the_box_on_the_input(workdir: Path) -> None:
    turns = [
        f"I zoom into the middle.\n\n<code>\n```python\n{PYVISION_ZOOM}```\n</code>",
        "It is grey.\n\n<answer>\n\\boxed{grey}\n</answer>",
    ]
    region = _figure_region(workdir, "pyvision", turns)
    assert region["input"] == 0 and region["source_size"] == [672, 476]
    assert region["size"] == [640, 480] and region["ops"] == ["slice", "figure"]
    assert _near(region["box"], (160, 120, 480, 360)), region
    x0, y0, x1, y1 = region["clip"]  # inside the whole figure, within its axes
    assert 0 < x0 < x1 < 640 and 0 < y0 < y1 < 480


@pytest.mark.slow
def test_a_deepeyes_v2_figure_of_a_crop_records_the_box_on_the_input(workdir: Path) -> None:
    turns = [
        f"<think>I zoom in.</think>\n<code>\n```python\n{DEEPEYES_V2_CROP}```\n</code>",
        "<think>It is grey.</think> <answer>grey</answer>",
    ]
    region = _figure_region(workdir, "deepeyes-v2", turns)
    assert region["input"] == 0 and region["ops"] == ["crop", "figure"]
    assert _near(region["box"], (168, 112, 504, 364)), region
    w, h = region["size"]  # tight: the axes off, the image fills all but the padding
    x0, y0, x1, y1 = region["clip"]
    assert 0 < x0 < 20 and 0 < y0 < 20 and w - 20 < x1 < w and h - 20 < y1 < h
