"""The demo's images, drawn by the project itself (no downloaded data): a warehouse shelf
whose answer needs a zoom, and a small WebP picture."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from r1v4.demo.files import DEMO_DIR

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
    """Draw the demo images into `folder` if they are missing (the package ships them, so
    normally nothing is drawn)."""
    folder.mkdir(parents=True, exist_ok=True)
    targets = {"demo_1.png": draw_warehouse, "demo_2.webp": draw_shapes}
    for name, draw in targets.items():
        if not (folder / name).exists():
            draw(folder / name)
    return [folder / name for name in targets]
