"""What the simulator answers: generic crop-and-zoom policy (its code really runs and crops),
planner mode, server-side-tools mode, scripts and their errors."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys

import pytest
import requests
from PIL import Image

from r1v4.agent.prompts import PLANNER_SYSTEM_PROMPT
from r1v4.sim import running_simulator
from r1v4.sim.policy import crop_box
from r1v4.sim.scripts import ScriptError, load_scripts

TOOL_RE = re.compile(r"<tool_call>(.*?)</tool_call>", re.S)


def data_url(img: Image.Image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def ask(sim, messages, **extra) -> str:
    body = {"messages": messages, **extra}
    resp = requests.post(sim.base_url + "/chat/completions", json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["choices"][0]["message"]["content"]


def image_question(url: str, text: str = "What is written on the sign?") -> dict:
    return {
        "role": "user",
        "content": [
            {"type": "image_url", "image_url": {"url": url}},
            {"type": "text", "text": text},
        ],
    }


@pytest.fixture(scope="module")
def sim():
    with running_simulator() as handle:
        yield handle


@pytest.mark.slow
def test_generic_policy_code_really_crops_and_zooms(sim, tmp_path):
    img = Image.new("RGB", (2400, 1600), "white")
    img.paste((255, 0, 0), (1150, 750, 1250, 850))  # small red mark in the centre
    turn0 = ask(sim, [image_question(data_url(img, "JPEG"))])
    assert turn0.startswith("<think>") and "2400x1600" in turn0
    call = json.loads(TOOL_RE.search(turn0).group(1))
    assert call["name"] == "code"
    code = call["arguments"]["code"]
    compile(code, "<sim code>", "exec")
    img.save(tmp_path / "input.png")
    prelude = f"image_path = {str(tmp_path / 'input.png')!r}\n"
    run = subprocess.run(
        [sys.executable, "-c", prelude + code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    out = Image.open(tmp_path / "crop_1.png")
    left, top, right, bottom = crop_box(2400, 1600)
    assert out.size == (2 * (right - left), 2 * (bottom - top))
    assert out.getpixel((out.width // 2, out.height // 2))[0] > 200  # the red mark, zoomed
    assert "crop_1.png" in run.stdout

    # Turn 1: the observation and the crop itself come back, as the agent sends them; the
    # think cites what was reported and the image it really received, then an answer.
    obs = json.dumps({"type": "code", "result": run.stdout.strip(), "images": ["crop_1.png"]})
    content = [
        {"type": "text", "text": f"<observation>{obs}</observation>"},
        {"type": "image_url", "image_url": {"url": data_url(out)}},
    ]
    turn1 = ask(
        sim,
        [
            image_question(data_url(img, "JPEG")),
            {"role": "assistant", "content": turn0},
            {"role": "user", "content": content},
        ],
    )
    assert run.stdout.strip().split(",")[0] in turn1
    assert f"came back as a {out.width}x{out.height} image" in turn1
    assert re.search(r"<think>.*</think>\s*<answer>.+</answer>$", turn1, re.S)


def test_generic_policy_text_only_answers_at_once(sim):
    text = ask(sim, [{"role": "user", "content": "Who wrote Hamlet?"}])
    assert re.fullmatch(r"<think>.+</think>\s*<answer>.+</answer>", text, re.S)
    assert "<tool_call>" not in text


def _plan_from(text: str) -> list:
    assert text.startswith("<think>")
    return json.loads(text.split("</think>", 1)[1])


def test_planner_mode_by_system_prompt_and_by_model(sim):
    url = data_url(Image.new("RGB", (300, 200), "blue"))
    messages = [{"role": "system", "content": PLANNER_SYSTEM_PROMPT}, image_question(url)]
    plan = _plan_from(ask(sim, messages))
    assert 3 <= len(plan) <= 4
    assert [s["tool_name"] for s in plan] == ["image_search", "text_search", "web_visit", "none"]
    assert "[Entity from Step 1]" in plan[1]["parameters"]["query"]
    assert all(set(s) == {"description", "tool_name", "parameters"} for s in plan)
    text_plan = _plan_from(
        ask(
            sim,
            [{"role": "user", "content": "When was X founded?"}],
            model="skywork/r1v4-vl-planner-lite",
        )
    )
    assert [s["tool_name"] for s in text_plan] == ["text_search", "web_visit", "none"]
    assert text_plan[1]["parameters"] == {"url": "[URL from Step 1]"}


def test_scripted_plan_and_server_response():
    scripts = [
        {
            "question": "Q",
            "turns": ["<answer>t</answer>"],
            "plan": [{"description": "d", "tool_name": "none", "parameters": {}}],
        },
        {"contains": "server", "turns": [], "server_response": "<answer>whole</answer>"},
        {"question": "V", "plan": "not json at all"},
    ]
    with running_simulator(scripts=scripts) as sim:
        q = [{"role": "user", "content": "Q"}]
        assert _plan_from(ask(sim, q, model="planner")) == scripts[0]["plan"]
        verbatim = ask(sim, [{"role": "user", "content": "V"}], model="planner")
        assert verbatim == "not json at all"
        assert ask(sim, q) == "<answer>t</answer>"
        assert (
            ask(sim, [{"role": "user", "content": "server?"}], enable_search=True)
            == "<answer>whole</answer>"
        )


def test_server_tools_mode_returns_whole_trajectory(sim):
    url = data_url(Image.new("RGB", (800, 600), "green"))
    text = ask(sim, [image_question(url)], enable_search=True)
    calls = TOOL_RE.findall(text)
    assert len(calls) >= 2
    assert text.count("<observation>") == len(calls)
    assert text.rstrip().endswith("</answer>")
    assert all(".invalid" in link for link in re.findall(r"https?://\S+", text))
    text_only = ask(sim, [{"role": "user", "content": "Who won?"}], enable_search=True)
    assert text_only.count("<answer>") == 1 and text_only.rstrip().endswith("</answer>")
    assert [json.loads(c)["name"] for c in TOOL_RE.findall(text_only)] == ["text_search"]


def test_script_turn_beyond_script_ends_politely():
    with running_simulator(scripts=[{"question": "Q", "turns": ["<answer>1</answer>"]}]) as sim:
        text = ask(
            sim,
            [
                {"role": "user", "content": "Q"},
                {"role": "assistant", "content": "<answer>1</answer>"},
                {"role": "user", "content": "again"},
            ],
        )
    assert "script exhausted" in text


def test_script_by_request_id():
    with running_simulator(scripts=[{"id": "case-7", "turns": ["<answer>seven</answer>"]}]) as sim:
        msgs = [{"role": "user", "content": "anything"}]
        assert ask(sim, msgs, request_id="case-7:0:1") == "<answer>seven</answer>"
        assert ask(sim, msgs, request_id="case-70") != "<answer>seven</answer>"


def test_script_file_errors_name_file_and_line(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"question": "a", "turns": ["x"]}\n{"question": "b", "turns": "x"}\n')
    with pytest.raises(ScriptError, match=r"s\.jsonl:2: field 'turns'"):
        load_scripts(path)
    path.write_text('{"question": "a", "turns": ["x"]}\n\n{broken\n')
    with pytest.raises(ScriptError, match=r"s\.jsonl:3: invalid JSON"):
        load_scripts(path)
    path.write_text('{"turns": ["x"]}\n')
    with pytest.raises(ScriptError, match=r"s\.jsonl:1: give exactly one of"):
        load_scripts(path)
    path.write_text('{"question": "a", "turns": ["x"], "faults": ["boom"]}\n')
    with pytest.raises(ScriptError, match=r"s\.jsonl:1: field 'faults'"):
        load_scripts(path)
    good = tmp_path / "g.jsonl"
    good.write_text('{"question": " a ", "turns": ["x"]}\n')
    assert load_scripts(good)[0].value == "a"


def test_bundled_example_script_plays():
    from pathlib import Path

    import r1v4.sim

    path = Path(r1v4.sim.__file__).parent / "scripts" / "example.jsonl"
    assert {s.key for s in load_scripts(path)} == {"question", "contains"}
    with running_simulator(scripts=str(path)) as sim:
        q = [{"role": "user", "content": "What number is on the small sign?"}]
        first = ask(sim, q)
        code = json.loads(TOOL_RE.search(first).group(1))["arguments"]["code"]
        compile(code, "<script code>", "exec")
        plan = _plan_from(ask(sim, q, model="planner"))
        assert plan[-1]["tool_name"] == "none"
        server = ask(sim, [{"role": "user", "content": "capital of France?"}], enable_search=True)
        assert "<observation>" in server and server.endswith("<answer>Paris</answer>")
        flaky = {"messages": [{"role": "user", "content": "a flaky one"}]}
        url = sim.base_url + "/chat/completions"
        assert requests.post(url, json=flaky, timeout=5).status_code == 503
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.post(url, json=flaky, timeout=5)
        assert requests.post(url, json=flaky, timeout=5).status_code == 200
