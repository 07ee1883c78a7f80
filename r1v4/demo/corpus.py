"""Generate the demo corpus: fictional pages about the port city of Veloria, their drawings,
and a street scene with one of those drawings pasted small in a corner.

Everything is made here (Pillow drawings, hand-written text), so the demo needs no downloaded
data and no network: `python -m r1v4.demo.corpus [OUT_DIR]` rewrites
`demo_corpus/` deterministically. URLs use the reserved `.example` domain so they can never
reach a real site.

Demo chain (see also `DEMO` below): crop the poster in the bottom-right corner of `scene.png`
→ image_search finds "Harbor Lantern Tower" → its page names the architect Odile Varnay →
text_search "Odile Varnay architect" → web_visit her page → born in Kessmark.
"""

from __future__ import annotations

import math
import random
import sys
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw

BASE_URL = "https://veloria.example/wiki/"
SIZE = (512, 384)
SCENE_SIZE = (2400, 1600)
# Where the Lantern Tower poster sits in scene.png: (left, top, right, bottom).
SCENE_POSTER_BOX = (1990, 1290, 2350, 1560)

DEMO = {
    "scene": "scene.png",
    "crop_box": SCENE_POSTER_BOX,
    "image_search_finds": BASE_URL + "harbor-lantern-tower",
    "text_query": "Odile Varnay architect",
    "visit": BASE_URL + "odile-varnay",
    "answer": "Odile Varnay, born in Kessmark",
}


def _texture(d: ImageDraw.ImageDraw, rng: random.Random, size: tuple[int, int], n: int) -> None:
    """Seeded scribbles so every window of every drawing has its own detail."""
    w, h = size
    for _ in range(n):
        x, y = rng.randrange(w), rng.randrange(h)
        r = rng.randrange(4, 28)
        shade = tuple(rng.randrange(60, 230) for _ in range(3))
        if rng.random() < 0.5:
            d.ellipse((x - r, y - r, x + r, y + r), outline=shade, width=2)
        else:
            d.line(
                (x, y, x + rng.randrange(-60, 60), y + rng.randrange(-60, 60)), fill=shade, width=3
            )


def _gradient(size: tuple[int, int], top: tuple, bottom: tuple) -> Image.Image:
    w, h = size
    img = Image.new("RGB", size)
    d = ImageDraw.Draw(img)
    for y in range(h):
        t = y / max(1, h - 1)
        d.line(
            (0, y, w, y),
            fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    return img


def draw_lantern_tower() -> Image.Image:
    """A red-and-white striped lighthouse on rocks, beams at dusk: the demo's target."""
    img = _gradient(SIZE, (40, 40, 110), (250, 150, 90))
    d = ImageDraw.Draw(img)
    _texture(d, random.Random(1), SIZE, 25)
    d.polygon(
        [(0, 384), (0, 320), (120, 290), (260, 310), (512, 300), (512, 384)], fill=(70, 60, 50)
    )
    for i in range(6):  # stripes of the tapering tower
        y0, y1 = 300 - i * 36, 300 - (i + 1) * 36
        half0, half1 = 46 - i * 4, 46 - (i + 1) * 4
        d.polygon(
            [(256 - half0, y0), (256 + half0, y0), (256 + half1, y1), (256 - half1, y1)],
            fill=(200, 30, 30) if i % 2 == 0 else (245, 245, 240),
        )
    d.rectangle((226, 60, 286, 84), fill=(255, 230, 120))
    d.polygon([(220, 60), (292, 60), (256, 28)], fill=(30, 30, 30))
    d.polygon([(286, 66), (512, 10), (512, 120)], fill=(255, 240, 170))
    d.polygon([(226, 66), (0, 20), (0, 110)], fill=(255, 240, 170))
    return img


def draw_observatory() -> Image.Image:
    """A white dome with an open slit under a starry night."""
    img = _gradient(SIZE, (5, 5, 30), (20, 30, 80))
    d = ImageDraw.Draw(img)
    rng = random.Random(2)
    for _ in range(120):
        x, y = rng.randrange(512), rng.randrange(240)
        d.ellipse((x, y, x + 3, y + 3), fill=(255, 255, 200))
    d.rectangle((150, 250, 362, 384), fill=(180, 170, 160))
    d.pieslice((150, 140, 362, 360), 180, 360, fill=(235, 235, 235))
    d.rectangle((245, 140, 267, 250), fill=(10, 10, 30))
    d.line((256, 200, 330, 120), fill=(120, 120, 120), width=10)
    for x in range(170, 350, 30):
        d.rectangle((x, 290, x + 14, 320), fill=(255, 220, 100))
    return img


def draw_bridge() -> Image.Image:
    """Three saffron arches over green water."""
    img = _gradient(SIZE, (150, 200, 240), (240, 240, 255))
    d = ImageDraw.Draw(img)
    _texture(d, random.Random(3), SIZE, 20)
    d.rectangle((0, 250, 512, 384), fill=(30, 110, 90))
    d.rectangle((0, 170, 512, 200), fill=(230, 150, 30))
    for cx in (90, 256, 422):
        d.pieslice((cx - 80, 190, cx + 80, 330), 180, 360, fill=(30, 110, 90))
        d.rectangle((cx - 95, 200, cx - 80, 260), fill=(230, 150, 30))
    for x in range(0, 512, 24):
        d.line((x, 170, x, 140), fill=(120, 70, 10), width=3)
    return img


def draw_kite_poster() -> Image.Image:
    """A festival poster: diamond kites with long tails on a yellow field."""
    img = Image.new("RGB", SIZE, (250, 210, 60))
    d = ImageDraw.Draw(img)
    rng = random.Random(4)
    for _ in range(7):
        cx, cy, s = rng.randrange(60, 450), rng.randrange(60, 260), rng.randrange(25, 55)
        color = tuple(rng.randrange(30, 255) for _ in range(3))
        d.polygon([(cx, cy - s), (cx + s * 0.7, cy), (cx, cy + s), (cx - s * 0.7, cy)], fill=color)
        pts = [(cx + 10 * math.sin(k) + k * 4, cy + s + k * 12) for k in range(10)]
        d.line(pts, fill=(40, 40, 40), width=2)
    d.rectangle((0, 320, 512, 384), fill=(40, 20, 80))
    d.text((20, 340), "FESTIVAL OF GLASS KITES", fill=(255, 255, 255))
    return img


def draw_ferry_logo() -> Image.Image:
    """A round navy badge with a ferry silhouette and waves."""
    img = Image.new("RGB", SIZE, (240, 240, 235))
    d = ImageDraw.Draw(img)
    d.ellipse((106, 42, 406, 342), fill=(20, 40, 90))
    d.ellipse((126, 62, 386, 322), outline=(220, 190, 60), width=6)
    d.polygon([(160, 220), (352, 220), (330, 260), (182, 260)], fill=(240, 240, 240))
    d.rectangle((210, 180, 300, 220), fill=(240, 240, 240))
    d.rectangle((240, 150, 262, 180), fill=(200, 40, 40))
    for k in range(3):
        y = 275 + k * 14
        d.arc((150, y - 10, 256, y + 10), 0, 180, fill=(120, 190, 255), width=4)
        d.arc((256, y - 10, 362, y + 10), 0, 180, fill=(120, 190, 255), width=4)
    _texture(d, random.Random(5), (512, 40), 10)
    return img


def draw_tram() -> Image.Image:
    """A copper-coloured tram on a hillside street."""
    img = _gradient(SIZE, (200, 230, 210), (160, 200, 170))
    d = ImageDraw.Draw(img)
    _texture(d, random.Random(6), SIZE, 30)
    d.polygon([(0, 384), (0, 300), (512, 200), (512, 384)], fill=(110, 110, 110))
    d.polygon([(80, 300), (380, 240), (380, 150), (80, 210)], fill=(180, 100, 50))
    for k in range(5):
        x = 100 + k * 55
        y = 300 - (x - 80) * 0.2
        d.rectangle((x, y - 75, x + 35, y - 45), fill=(220, 240, 255))
    d.line((230, 180, 260, 60), fill=(40, 40, 40), width=4)
    d.line((0, 70, 512, 40), fill=(40, 40, 40), width=2)
    return img


def draw_clock_tower() -> Image.Image:
    """A square stone clock tower with a big clock face, grey sky."""
    img = _gradient(SIZE, (170, 170, 180), (120, 120, 130))
    d = ImageDraw.Draw(img)
    _texture(d, random.Random(7), SIZE, 15)
    d.rectangle((196, 60, 316, 384), fill=(150, 120, 90))
    d.polygon([(186, 60), (326, 60), (256, 0)], fill=(60, 80, 60))
    d.ellipse((206, 90, 306, 190), fill=(250, 250, 240), outline=(20, 20, 20), width=4)
    d.line((256, 140, 256, 100), fill=(0, 0, 0), width=5)
    d.line((256, 140, 290, 150), fill=(0, 0, 0), width=4)
    for row in range(4):
        d.rectangle((236, 220 + row * 40, 276, 245 + row * 40), fill=(40, 30, 30))
    return img


def draw_scene(poster: Image.Image) -> Image.Image:
    """A wide street at dusk; the Lantern Tower poster hangs small in the bottom-right corner."""
    w, h = SCENE_SIZE
    img = _gradient(SCENE_SIZE, (90, 110, 160), (200, 160, 140))
    d = ImageDraw.Draw(img)
    rng = random.Random(8)
    x = 0
    while x < w:  # row of buildings with lit windows
        bw, bh = rng.randrange(160, 320), rng.randrange(500, 1100)
        color = tuple(rng.randrange(70, 160) for _ in range(3))
        d.rectangle((x, h - 250 - bh, x + bw, h - 250), fill=color)
        for wy in range(h - 230 - bh, h - 300, 70):
            for wx in range(x + 20, x + bw - 40, 50):
                lit = rng.random() < 0.4
                d.rectangle(
                    (wx, wy, wx + 24, wy + 36), fill=(250, 220, 130) if lit else (40, 40, 60)
                )
        x += bw + rng.randrange(10, 40)
    d.rectangle((0, h - 250, w, h), fill=(60, 60, 65))
    for k in range(0, w, 200):
        d.rectangle((k, h - 140, k + 100, h - 125), fill=(230, 230, 230))
    left, top, right, bottom = SCENE_POSTER_BOX
    d.rectangle((left - 12, top - 12, right + 12, bottom + 12), fill=(30, 25, 20))  # frame
    img.paste(poster.resize((right - left, bottom - top), Image.Resampling.LANCZOS), (left, top))
    return img


IMAGES = {
    "lantern_tower.png": draw_lantern_tower,
    "observatory.png": draw_observatory,
    "saffron_bridge.png": draw_bridge,
    "kite_poster.png": draw_kite_poster,
    "ferry_logo.png": draw_ferry_logo,
    "copperleaf_tram.png": draw_tram,
    "clock_tower.png": draw_clock_tower,
}

NOTE = "*Fictional page from the r1v4 demo corpus; Veloria and everything in it are invented.*"

# slug -> (title, image file or None, body)
PAGES: dict[str, tuple[str, str | None, str]] = {
    "harbor-lantern-tower": (
        "Harbor Lantern Tower",
        "lantern_tower.png",
        """
        The Harbor Lantern Tower is a red-and-white striped lighthouse on the breakwater of
        Veloria's old harbour. It stands 48 metres tall and its lamp can be seen 22 nautical
        miles out to sea.

        ## History
        The tower was designed by the architect Odile Varnay and completed in 1894, replacing a
        wooden beacon that burned down in the storm of 1889. Its twin beams sweep the bay every
        nine seconds. The tower appears on the city's tourism posters and on the badge of the
        harbour pilots.

        ## Visiting
        The gallery is open on summer weekends; 212 steps lead to the top.
        """,
    ),
    "odile-varnay": (
        "Odile Varnay (architect)",
        None,
        """
        Odile Varnay (1851–1922) was an architect and engineer of Veloria's coastal works.

        ## Early life
        Varnay was born in Kessmark, a mountain town known for its salt mines, and moved to
        Veloria at the age of nineteen to study at the Naval Drawing School.

        ## Works
        - Harbor Lantern Tower (completed 1894), her best-known building.
        - The seawall promenade of the old harbour (1899).
        - The engine house of the Copperleaf Tram (1903).

        She was the first woman admitted to Veloria's Guild of Builders, in 1886.
        """,
    ),
    "kessmark": (
        "Kessmark",
        None,
        """
        Kessmark is a small mountain town three days' ride inland from Veloria. Its salt mines
        have been worked since the twelfth century, and its market square hosts a cheese fair
        every October. The architect Odile Varnay was born here in 1851.
        """,
    ),
    "quillmere-observatory": (
        "Quillmere Observatory",
        "observatory.png",
        """
        The Quillmere Observatory is a white-domed observatory on Quillmere Hill, north of
        Veloria. Its 60-centimetre refractor was installed in 1911 by the astronomer Pell
        Arandin, who catalogued 340 variable stars from the site.
        """,
    ),
    "saffron-arch-bridge": (
        "Saffron Arch Bridge",
        "saffron_bridge.png",
        """
        The Saffron Arch Bridge crosses the Vell river with three painted arches. Built in 1862
        from local sandstone, it takes its name from the ochre paint renewed every spring.
        """,
    ),
    "festival-of-glass-kites": (
        "Festival of Glass Kites",
        "kite_poster.png",
        """
        The Festival of Glass Kites is held on Veloria's beaches each August. Kite makers glue
        coloured glass foil onto diamond frames; the longest tail wins the Harbour Cup. The
        festival began in 1923.
        """,
    ),
    "brightwater-ferry-company": (
        "Brightwater Ferry Company",
        "ferry_logo.png",
        """
        The Brightwater Ferry Company runs the boats between Veloria and the Isle of Mereth.
        Its round navy badge with a gold ring and a white ferry dates from 1908. Crossings take
        forty minutes.
        """,
    ),
    "copperleaf-tram": (
        "Copperleaf Tram",
        "copperleaf_tram.png",
        """
        The Copperleaf Tram climbs from the harbour to the upper town on a single track. Its
        copper-coloured cars entered service in 1903; the engine house was designed by Odile
        Varnay.
        """,
    ),
    "veloria-clock-tower": (
        "Veloria Clock Tower",
        "clock_tower.png",
        """
        The Veloria Clock Tower stands on the Grain Market square. The stone tower, finished in
        1838, has a clock face three metres across. It is the oldest tower in the city, older
        than the Harbor Lantern Tower by 56 years.
        """,
    ),
    "veloria": (
        "Veloria",
        None,
        """
        Veloria is a fictional port city on a wide bay. Its landmarks include the Harbor Lantern
        Tower, the Saffron Arch Bridge, the Veloria Clock Tower and the Quillmere Observatory.
        The city's ferries are run by the Brightwater Ferry Company.
        """,
    ),
}

HTML_PAGE = """<!doctype html>
<html><head><title>Restoring the Harbor Lantern Tower</title>
<link rel="canonical" href="{url}"></head>
<body><nav>Home · Wiki · Contact</nav>
<article><h1>Restoring the Harbor Lantern Tower</h1>
<p>In 1987 the Harbor Lantern Tower was restored. The cast-iron lantern room was dismantled,
shipped to the Kessmark foundry and rebuilt with its original nine-second rotation.</p>
<p>The restoration was paid for by a public subscription of the harbour pilots.</p>
<p><em>Fictional page from the r1v4 demo corpus.</em></p></article>
<footer>Veloria wiki</footer></body></html>
"""


def make_demo_corpus(out_dir: str | Path) -> Path:
    """Write pages, images and scene.png into `out_dir` (created if needed)."""
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    drawn = {name: fn() for name, fn in IMAGES.items()}
    for name, img in drawn.items():
        img.save(out / "images" / name, optimize=True)
    for slug, (title, image, body) in PAGES.items():
        parts = ["---", f"title: {title}", f"url: {BASE_URL}{slug}", "---", "", f"# {title}", ""]
        if image:
            parts += [f"![{title}](images/{image})", ""]
        parts += [textwrap.dedent(body).strip(), "", NOTE, ""]
        (out / f"{slug}.md").write_text("\n".join(parts), encoding="utf-8")
    html_url = BASE_URL + "lantern-tower-restoration"
    (out / "lantern-tower-restoration.html").write_text(
        HTML_PAGE.format(url=html_url), encoding="utf-8"
    )
    draw_scene(drawn["lantern_tower.png"]).save(out / "scene.png", optimize=True)
    return out


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "demo_corpus"
    print(f"wrote demo corpus to {make_demo_corpus(target)}")
