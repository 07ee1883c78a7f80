"""The demo: images the project draws itself, cases over them, and scripted trajectories for
the SIMULATED endpoint, so `python3 batch_nonstream.py --demo` shows a full agent run on a
machine with no GPU and no network.

The simulator only replays the scripted model turns below; everything else is real: the
code really runs in the sandbox, its crop really becomes an intermediate image, the search
really queries the local demo corpus.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import orjson
from PIL import Image, ImageDraw, ImageFont

from r1v4.batch.settings import RunSettings

DEMO_DIR = Path("demo_image")
SIGN_BOX = (2050, 1385, 2170, 1445)  # where the small sign sits in demo_1.png
SIGN_TEXT = "47"


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def draw_warehouse(path: Path) -> None:
    """A 2400x1600 shelf scene whose answer (a number on a small sign) needs zooming."""
    rng = random.Random(7)
    img = Image.new("RGB", (2400, 1600), (226, 222, 212))
    draw = ImageDraw.Draw(img)
    for shelf_y in range(180, 1500, 330):
        draw.rectangle((60, shelf_y + 240, 2340, shelf_y + 262), fill=(120, 92, 60))
        x = 80
        while x < 2300:
            w, h = rng.randint(90, 220), rng.randint(120, 235)
            shade = rng.randint(150, 200)
            box = (x, shelf_y + 240 - h, x + w, shelf_y + 240)
            draw.rectangle(
                box, fill=(shade, int(shade * 0.8), int(shade * 0.55)), outline=(90, 70, 50)
            )
            x += w + rng.randint(8, 30)
    draw.text((80, 40), "AISLE C", fill=(60, 60, 60), font=_font(64))
    draw.rectangle(SIGN_BOX, fill=(30, 80, 200), outline=(255, 255, 255), width=3)
    draw.text((SIGN_BOX[0] + 30, SIGN_BOX[1] + 12), SIGN_TEXT, fill="white", font=_font(34))
    img.save(path)


def draw_shapes(path: Path) -> None:
    """A small WebP picture (the seed's guess_type gives None for webp; ours must not care)."""
    img = Image.new("RGB", (900, 600), (250, 250, 245))
    draw = ImageDraw.Draw(img)
    for i, (x, y) in enumerate([(150, 150), (420, 300), (700, 180)]):
        draw.ellipse((x - 70, y - 70, x + 70, y + 70), fill=(210, 40, 40))
        draw.text((x - 10, y - 14), str(i + 1), fill="white", font=_font(28))
    draw.rectangle((560, 400, 820, 540), fill=(40, 90, 200))
    img.save(path, format="WEBP", quality=90)


def ensure_demo_images(folder: Path = DEMO_DIR) -> list[Path]:
    """Draw the demo images if they are missing (they are committed, so normally present)."""
    folder.mkdir(parents=True, exist_ok=True)
    targets = {"demo_1.png": draw_warehouse, "demo_2.webp": draw_shapes}
    for name, draw in targets.items():
        if not (folder / name).exists():
            draw(folder / name)
    return [folder / name for name in targets]


CROP_CODE = (
    "from PIL import Image\n"
    "img = Image.open(image_path)\n"
    "print('image size:', img.size)\n"
    f"crop = img.crop(({SIGN_BOX[0] - 100}, {SIGN_BOX[1] - 80}, "
    f"{SIGN_BOX[2] + 100}, {SIGN_BOX[3] + 80}))\n"
    "zoom = crop.resize((crop.width * 3, crop.height * 3), Image.Resampling.LANCZOS)\n"
    "zoom.save('sign_zoom.png')\n"
    "print('saved sign_zoom.png', zoom.size)\n"
)

WAREHOUSE_QUESTION = "What number is written on the small blue sign near the bottom right?"

CORPUS_DIR = Path("demo_corpus")
SCENE_IMAGE = "./demo_corpus/scene.png"
POSTER_BOX = (1990, 1290, 2350, 1560)  # the lighthouse poster in scene.png (see make_demo_corpus)
RESEARCH_QUESTION = (
    "The poster in the bottom-right corner of this street scene shows a lighthouse. "
    "In which city was the architect who designed that lighthouse born?"
)
POSTER_CODE = (
    "from PIL import Image\n"
    "img = Image.open(image_path)\n"
    f"poster = img.crop({POSTER_BOX})\n"
    "poster.save('poster.png')\n"
    "print('saved poster.png', poster.size)\n"
)


def _call(name: str, arguments: dict[str, Any]) -> str:
    return (
        "<tool_call>"
        + orjson.dumps({"name": name, "arguments": arguments}).decode()
        + "</tool_call>"
    )


def demo_scripts() -> list[dict[str, Any]]:
    """The SIMULATED model's turns for the demo cases that are scripted."""
    return [
        {
            "question": WAREHOUSE_QUESTION,
            "turns": [
                "<think>The sign is tiny in a 2400x1600 image; I will crop the bottom-right "
                "region around it and zoom in 3x before reading it.</think>"
                + _call("code", {"code": CROP_CODE}),
                "<think>The zoomed crop shows a blue sign with white digits reading 47.</think>"
                f"<answer>{SIGN_TEXT}</answer>",
            ],
        },
        {
            "question": RESEARCH_QUESTION,
            "turns": [
                "<think>The poster is small; crop it so I can search for it.</think>"
                + _call("code", {"code": POSTER_CODE}),
                "<think>Now a reverse image search on the cropped poster.</think>"
                + _call("image_search", {"image_paths": ["poster.png"]}),
                "<think>The best match is the Harbor Lantern Tower page; it says the tower was "
                "designed by the architect Odile Varnay. Search for her.</think>"
                + _call("text_search", {"queries": ["Odile Varnay architect"]}),
                "<think>Her page should give her birthplace; visit it.</think>"
                + _call("web_visit", {"urls": ["https://veloria.example/wiki/odile-varnay"]}),
                "<think>The page says Odile Varnay was born in Kessmark. The lighthouse on the "
                "poster is the Harbor Lantern Tower, which she designed.</think>"
                "<answer>Kessmark</answer>",
            ],
        },
    ]


def demo_cases() -> list[dict[str, Any]]:
    return [
        {
            "id": "warehouse-sign",
            "image": "./demo_image/demo_1.png",
            "question": WAREHOUSE_QUESTION,
            "answer": SIGN_TEXT,
        },
        {
            "id": "lighthouse-architect",
            "image": SCENE_IMAGE,
            "question": RESEARCH_QUESTION,
            "answer": "Kessmark",
        },
        {
            "id": "red-circles",
            "image": "./demo_image/demo_2.webp",
            "question": "How many red circles are there in the picture?",
        },
        {
            "id": "text-only",
            "image": "",
            "question": "Explain in one sentence why zooming helps a vision model read small text.",
        },
    ]


def write_demo_cases(path: Path) -> None:
    with open(path, "wb") as fh:
        for case in demo_cases():
            fh.write(orjson.dumps(case) + b"\n")


def run_demo(settings: RunSettings, explicit_input: bool = False) -> int:
    """Start the SIMULATED endpoint on a free loopback port and run the cases against it."""
    from r1v4.cli.run import execute
    from r1v4.sim import running_simulator

    ensure_demo_images()
    if not explicit_input and not settings.input_path.exists():
        write_demo_cases(settings.input_path)
    print(
        "demo: starting the built-in SIMULATED endpoint (scripted turns, not a model) on 127.0.0.1",
        file=sys.stderr,
    )
    with running_simulator(scripts=demo_scripts(), ttft_s=0.05, tokens_per_s=400) as sim:
        settings.base_urls = [sim.base_url]
        settings.model = "r1v4-sim"
        settings.api_key = None
        if settings.search_backend is None and CORPUS_DIR.is_dir():
            settings.search_backend = "local"  # the offline demo corpus
            settings.corpus_dir = CORPUS_DIR
            settings.tool_cache = settings.tool_cache or Path(
                f"{settings.output_path}.toolcache.sqlite"
            )
        code = execute(settings)
    print(
        f"\nview the trajectories: python3 visual.py 8080 {settings.output_path}\n"
        "then open http://127.0.0.1:8080/"
    )
    return code
