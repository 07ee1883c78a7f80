"""The simulator never pretends: it serves `r1v4-sim` and says it is a simulator; script
entries keyed by a case id match that case, and one that never matched is reported; its
generic policy reads the observation it gets, as a model would, and never claims to have
seen an image it did not receive."""

from __future__ import annotations

import base64
import io
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from PIL import Image

from r1v4.sim import running_simulator
from tests.helpers import ROOT, read_jsonl, run_cli, write_jsonl


def png_url(size: tuple[int, int], color: str = "white") -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def after_crop(observation: dict, images: list[str]) -> list[dict]:
    """A conversation at turn 1: the question over a 1200x800 image, the policy's crop
    call, then the observation (and whatever image parts came back with it)."""
    question = {
        "role": "user",
        "content": [
            {"type": "image_url", "image_url": {"url": png_url((1200, 800))}},
            {"type": "text", "text": "What is written on the sign?"},
        ],
    }
    call = (
        '<think>crop</think><tool_call>{"name": "code", "arguments": {"code": "..."}}</tool_call>'
    )
    back = [{"type": "text", "text": f"<observation>{json.dumps(observation)}</observation>"}]
    back += [{"type": "image_url", "image_url": {"url": url}} for url in images]
    return [question, {"role": "assistant", "content": call}, {"role": "user", "content": back}]


def reply(base_url: str, messages: list[dict]) -> str:
    resp = requests.post(base_url + "/chat/completions", json={"messages": messages}, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["choices"][0]["message"]["content"]


@pytest.fixture(scope="module")
def sim():
    with running_simulator() as handle:
        yield handle


def test_after_a_failed_crop_the_generic_policy_says_it_failed(sim) -> None:
    error = "NameError: name 'imgg' is not defined"
    text = reply(sim.base_url, after_crop({"type": "code", "result": "", "error": error}, []))
    assert "The crop failed: NameError" in text
    answer = text.split("<answer>", 1)[1]
    assert answer.startswith("I could not read the region: the crop failed") and error in answer
    assert "after zooming" not in text


def test_when_no_image_came_back_the_policy_does_not_claim_to_have_seen_one(sim) -> None:
    # The observation names a file, but the request carries no image: nothing was seen.
    observation = {"type": "code", "result": "saved crop_1.png", "images": ["crop_1.png"]}
    text = reply(sim.base_url, after_crop(observation, []))
    assert "no image came back" in text
    assert "<answer>I could not read the region: the zoomed image did not come back." in text
    assert "after zooming" not in text and "shows" not in text


def test_with_the_crop_attached_the_policy_reads_it(sim) -> None:
    observation = {"type": "code", "result": "saved crop_1.png", "images": ["crop_1.png"]}
    text = reply(sim.base_url, after_crop(observation, [png_url((600, 400))]))
    assert "It came back as a 600x400 image" in text
    assert "<answer>Simulated answer after zooming" in text


def test_a_script_keyed_by_case_id_matches_that_case_in_a_batch(workdir: Path) -> None:
    write_jsonl(
        workdir / "cases.jsonl",
        [
            {"id": "sign", "image": "", "question": "What does the sign say?"},
            {"id": "sign-2", "image": "", "question": "And the second sign?"},
            {"id": "other", "image": "", "question": "Something else?"},
        ],
    )
    scripts = [
        {"id": "sign", "turns": ["<think>scripted</think><answer>STOP</answer>"]},
        {"id": "sign-2", "turns": ["<think>scripted</think><answer>YIELD</answer>"]},
        {"id": "never-asked", "turns": ["<answer>unused</answer>"]},
    ]
    with running_simulator(scripts=scripts, model="r1v4-sim") as sim:
        code = run_cli(
            ["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--model", "r1v4-sim"]
        )
        unmatched = sim.unmatched
    assert code == 0
    by_id = {r["id"]: r["response"]["full_response"] for r in read_jsonl(workdir / "out.jsonl")}
    assert by_id["sign"].endswith("<answer>STOP</answer>")
    assert by_id["sign-2"].endswith("<answer>YIELD</answer>")  # the longer id wins
    assert "Simulated answer to: Something else?" in by_id["other"]  # the generic policy
    assert unmatched == ["scripts[2] (id 'never-asked')"]


@pytest.mark.slow
def test_the_sim_command_serves_r1v4_sim_says_so_and_reports_unmatched_scripts(
    tmp_path: Path,
) -> None:
    script = tmp_path / "turns.jsonl"
    script.write_text(
        json.dumps({"id": "case-a", "turns": ["<answer>scripted A</answer>"]})
        + "\n"
        + json.dumps({"id": "case-typo", "turns": ["<answer>never</answer>"]})
        + "\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "r1v4", "sim", "--port", "0", "--script", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        base = proc.stdout.readline().strip().rsplit(" ", 1)[1]
        listed = requests.get(base + "/models", timeout=10)
        assert listed.headers["X-Simulator"] == "r1v4-simulator"
        assert [(m["id"], m["owned_by"]) for m in listed.json()["data"]] == [
            ("r1v4-sim", "r1v4-simulator")
        ]
        other = requests.post(
            base + "/chat/completions",
            json={"model": "Skywork/Skywork-R1V4", "messages": [{"role": "user", "content": "x"}]},
            timeout=10,
        )
        assert other.status_code == 404  # as vLLM answers a model it does not serve
        scripted = requests.post(
            base + "/chat/completions",
            headers={"X-Request-Id": "r1v4-case-a-0"},  # what the batch runner sends
            json={"model": "r1v4-sim", "messages": [{"role": "user", "content": "x"}]},
            timeout=10,
        )
        content = scripted.json()["choices"][0]["message"]["content"]
        assert content == "<answer>scripted A</answer>"
        check = subprocess.run(
            [sys.executable, "-m", "r1v4", "check", "--base-url", base, "--model", "r1v4-sim"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert "SIMULATED endpoint" in check.stdout
        assert "simulated endpoint (not a model) looks ready" in check.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "script entry" in err and "(id 'case-typo') never matched a request" in err
    assert "(id 'case-a')" not in err  # it matched


def test_sim_flags_serve_r1v4_sim_strictly_unless_told_and_throttle() -> None:
    from r1v4.cli.sim import build_parser, settings_from_args

    default = settings_from_args(build_parser().parse_args([]))
    assert default.model == default.model_id == "r1v4-sim"  # strict: other names get 404
    loose = settings_from_args(build_parser().parse_args(["--any-model"]))
    assert loose.model is None and loose.model_id == "r1v4-sim"
    paced = settings_from_args(
        build_parser().parse_args(["--throttle-rate", "0.15", "--throttle-wait", "0.5"])
    )
    assert (paced.throttle_rate, paced.throttle_retry_after_s) == (0.15, 0.5)
