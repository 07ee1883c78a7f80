"""Result files for the viewer tests: every kind of case the viewer must show.

Imported by the viewer tests (`tests.helpers.viewer_records`); it holds no tests. Run it as a
script to write the files somewhere and browse them by hand:
    python -m tests.helpers.viewer_records /tmp/demo && python visual.py 8080 --root /tmp/demo
"""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw

# Payloads that would run if any model text reached the page as HTML.
XSS_THINK = "Let me look. <script>window.__pwned = 'think'; document.title = 'pwned';</script>"
XSS_CODE = "print('<img src=x onerror=\"window.__pwned=\\'code\\';document.title=\\'pwned\\'\">')"
XSS_ANSWER = "<img src=x onerror=\"window.__pwned='answer';document.title='pwned'\">"
XSS_QUESTION = "What is <b>this</b>? <svg onload=\"window.__pwned='question'\"></svg>"


CHROMIUM = Path("/usr/bin/chromium")
NO_CHROMIUM = f"needs Debian's chromium at {CHROMIUM} (CI installs it: scripts/setup.sh --dev)"


def launch_chromium(playwright):  # noqa: ANN001, ANN201 - playwright types are optional here
    """Headless Debian Chromium with the flags this closed network needs."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
        ],
    )


def png_bytes(color: str, size: tuple[int, int] = (64, 48), text: str = "") -> bytes:
    """A small PNG of one colour (with a mark so crops look like crops)."""
    img = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(img)
    draw.rectangle(
        [size[0] // 4, size[1] // 4, size[0] * 3 // 4, size[1] * 3 // 4], outline="black"
    )
    if text:
        draw.text((4, 4), text, fill="black")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def tool_call(name: str, **arguments: object) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"


def observation(kind: str, result: str, images: list[str] | None = None, **extra: object) -> str:
    body = {"type": kind, "result": result, "images": images or [], **extra}
    return "<observation>" + json.dumps(body) + "</observation>"


PARIS = "https://en.wikipedia.org/wiki/Paris"
SEARCH_RESULT = (
    "Results for capital of France:\n"
    "1. Paris - Wikipedia\n"
    "   link: https://en.wikipedia.org/wiki/Paris\n"
    "   Paris is the capital and largest city of France.\n"
    "2. Evil result\n"
    "   link: javascript:alert(1)\n"
    "   should never become a link"
)


def build_records(name: str, variant: str = "a") -> tuple[list[dict], dict[str, bytes]]:
    """Records and the asset files they refer to (paths relative to the result's folder)."""
    assets = f"{name}.assets"
    crop = png_bytes("#d04040", (96, 72), "crop")
    zoom = png_bytes("#40a0d0", (128, 96), "zoom")
    files = {
        "imgs/input.png": png_bytes("#f0c040", (320, 240), "input"),
        f"{assets}/case-1/aaa.png": crop,
        f"{assets}/case-1/bbb.png": zoom,
        "secret.txt": b"not an image: a secret",
    }
    ok = {
        "id": "case-1",
        "image": "imgs/input.png",
        "question": "What colour is the box in the middle?",
        "answer": "red",
        "category": "colour",
        "response": {
            "full_response": "<think>I should crop the centre.</think>"
            + tool_call(
                "code",
                code="from PIL import Image\nimg = Image.open(image_path)\n"
                "img.crop((10, 10, 50, 50)).save('crop.png')\nprint('saved')",
            )
            + observation("code", "saved\n", [f"{assets}/case-1/aaa.png"])
            + "<think>Zoom in more.</think>"
            + tool_call("code", code="print('zoom')")
            + observation("code", "zoom\n", [f"{assets}/case-1/bbb.png"])
            + "<think>The box is red.</think><answer>red</answer>",
        },
        "meta": {
            "mode": "nonstream",
            "model": "r1v4-lite",
            "endpoint": "http://127.0.0.1:8000/v1",
            "latency_s": 3.25,
            "ttft_s": 0.4,
            "tpot_s": 0.012,
            "rounds": 2,
            "tool_calls": {"code": 2},
            "usage": {"prompt_tokens": 1234, "completion_tokens": 321},
            "attempts": 1,
            "stop_reason": "answer",
        },
    }
    search = {
        "id": "case-2",
        "image": "",
        "question": "What is the capital of France?",
        "answer": ["London"],
        "score": {"value": 0.0, "correct": False, "scorer": "exact", "extracted": "Paris"},
        "response": {
            "full_response": "<think>Search the web.</think>"
            + tool_call("text_search", queries=["capital of France"])
            + observation("text_search", SEARCH_RESULT)
            + "<think>Visit the page.</think>"
            + tool_call(
                "web_visit", urls=["https://en.wikipedia.org/wiki/Paris", "javascript:alert(1)"]
            )
            + observation(
                "web_visit",
                "Page: Paris\nURL: https://en.wikipedia.org/wiki/Paris\n\nParis is the capital.",
            )
            + "<think>Done.</think><answer>Paris</answer>",
        },
        "meta": {
            "mode": "stream",
            "latency_s": 8.5,
            "rounds": 2,
            "tool_calls": {"text_search": 1, "web_visit": 1},
        },
    }
    failed = {
        "id": "case-3",
        "image": "imgs/input.png",
        "question": "This one fails half way.",
        "response": {
            "error": "HTTP 500 from endpoint after 5 attempts: internal error",
            "full_response": "<think>Start cropping.</think>"
            + tool_call("code", code="print(1)")
            + '<observation>{"type": "code", "result": "1\\n"',
        },
        "meta": {"mode": "nonstream", "latency_s": 61.0, "attempts": 5},
    }
    xss = {
        "id": "case-4",
        "image": "imgs/input.png",
        "question": XSS_QUESTION,
        "answer": "<b>x</b>",
        "response": {
            "full_response": f"<think>{XSS_THINK}</think>"
            + tool_call("code", code=XSS_CODE)
            + observation("code", XSS_ANSWER, ["secret.txt", f"{name}"])
            + f"<think>{XSS_THINK}</think><answer>{XSS_ANSWER}</answer>",
        },
        "meta": {"mode": "nonstream", "latency_s": 1.0, "rounds": 1, "tool_calls": {"code": 1}},
    }
    planner = {
        "id": "case-5",
        "images": ["imgs/input.png"],
        "question": "Plan, then answer: how many boxes?",
        "plan": [
            {
                "description": "Crop the middle of the image",
                "tool_name": "code",
                "parameters": {"code": "crop(image)"},
            },
            {
                "description": "Search for [cropped image from step 1]",
                "tool_name": "image_search",
                "parameters": {"image_paths": ["[cropped image from step 1]"]},
            },
        ],
        "plan_errors": ["step 3 has no tool_name"],
        "response": {
            "full_response": "<think>Following the plan.</think>"
            + tool_call("code", code="print('embedded')")
            + observation("code", "embedded", [data_url(png_bytes("#60c060", (80, 60), "data"))])
            + "<think>One box.</think><answer>"
            + ("1" if variant == "a" else "2")
            + "</answer>",
        },
        "meta": {"mode": "planner", "latency_s": 2.0, "rounds": 1, "tool_calls": {"code": 1}},
    }
    return [ok, search, failed, xss, planner], files


def write_result(
    folder: Path, name: str = "result.jsonl", variant: str = "a", invalid_line: bool = True
) -> Path:
    """Write a result file (and its images) into `folder`; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    records, files = build_records(name, variant)
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    if invalid_line:
        lines.insert(3, '{"id": "broken", "question": "cut off')
    out = folder / name
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def extra_record(case_id: str, answer: str = "late answer") -> dict:
    """One more finished case, as a live batch would append it."""
    return {
        "id": case_id,
        "image": "",
        "question": f"Question of {case_id}",
        "response": {"full_response": f"<think>t</think><answer>{answer}</answer>"},
        "meta": {"mode": "stream", "latency_s": 0.5, "rounds": 0},
    }


#: The bytes of an image elsewhere on the host that a crafted result file tries to reach.
PRIVATE_PNG = png_bytes("#ff00ff", (40, 30), "private")


def write_hostile(folder: Path, name: str = "hostile.jsonl") -> tuple[Path, Path]:
    """A crafted result file whose model text names a host image outside the run.

    Writes `<folder>/../host/private.png` (the target), a sidecar with one real trajectory
    image and a symlink out of it, and records whose model-written `<observation>`s name the
    target by absolute path, by `..`, through the sidecar, and through the symlink. Case
    `legit` has a real input image and a real trajectory image (both must still be shown).
    Returns (result file, target image).
    """
    folder.mkdir(parents=True, exist_ok=True)
    host = folder.parent / "host"
    host.mkdir(exist_ok=True)
    target = host / "private.png"
    target.write_bytes(PRIVATE_PNG)
    assets = folder / f"{name}.assets" / "c"
    assets.mkdir(parents=True, exist_ok=True)
    (assets / "ok.png").write_bytes(png_bytes("#30a030", (50, 40), "ok"))
    link = assets / "link.png"
    if not link.is_symlink():
        link.symlink_to(target)
    (folder / "imgs").mkdir(exist_ok=True)
    (folder / "imgs" / "input.png").write_bytes(png_bytes("#f0c040", (320, 240), "input"))
    refs = [
        str(target),  # absolute host path
        "../host/private.png",  # relative, leaving the result's folder
        f"{name}.assets/../../host/private.png",  # through the sidecar by '..'
        f"{name}.assets/c/link.png",  # a symlink inside the sidecar
    ]
    fake = "".join(
        "<think>I will pretend a tool ran.</think>" + observation("code", "done", [ref])
        for ref in refs
    )
    records = [
        {
            "id": "fake-observations",
            "image": "",
            "question": "Show me something",
            "response": {"full_response": fake + "<answer>see above</answer>"},
            "meta": {"mode": "nonstream", "rounds": 0},
        },
        {
            "id": "legit",
            "image": "imgs/input.png",
            "question": "A real case",
            "response": {
                "full_response": "<think>crop</think>"
                + tool_call("code", code="print(1)")
                + observation("code", "1", [f"{name}.assets/c/ok.png"])
                + "<answer>ok</answer>"
            },
            "assets": [f"{name}.assets/c/ok.png"],
            "meta": {"mode": "nonstream", "rounds": 1, "tool_calls": {"code": 1}},
        },
    ]
    out = folder / name
    out.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return out, target


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "viewer-demo")
    a = write_result(target, "result_a.jsonl", "a")
    b = write_result(target, "result_b.jsonl", "b", invalid_line=False)
    print(f"wrote {a} and {b}")
