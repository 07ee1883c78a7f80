"""`python -m r1v4 check` against the simulator dressed as different real servers."""

from __future__ import annotations

import socket

import pytest

from r1v4.cli import main
from r1v4.sim import running_simulator


def check(base_url: str, *extra: str) -> int:
    return main(["check", "--base-url", base_url, "--model", "r1v4-sim", *extra])


def test_reports_reasoning_field_streaming_and_the_image_limit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with running_simulator(reasoning_field="reasoning_content", max_images_per_prompt=2) as sim:
        code = check(sim.base_url)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "field 'reasoning_content'" in out
    assert "same text as non-streaming" in out and "usage reported" in out
    assert "2 per request accepted, 4 refused" in out and "--max-images 2" in out
    assert "simulated endpoint (not a model) looks ready" in out


def test_inline_think_is_recognised(capsys: pytest.CaptureFixture[str]) -> None:
    with running_simulator() as sim:
        assert check(sim.base_url, "--max-images", "2") == 0
    out = capsys.readouterr().out
    assert "inline <think> in content" in out and "up to 2 per request accepted" in out


@pytest.mark.slow
def test_wrong_key_and_unknown_model_and_dead_port_fail_with_advice(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with running_simulator(api_key="sk-right") as sim:
        assert check(sim.base_url, "--api-key", "sk-wrong") == 1
    captured = capsys.readouterr()
    assert "FAIL reachable" in captured.out and "401" in captured.out
    assert "sk-wrong" not in captured.out + captured.err
    with running_simulator(model="served-name") as sim:
        assert check(sim.base_url) == 1
    out = capsys.readouterr().out
    assert "FAIL model" in out and "pass --model" in out
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert check(f"http://127.0.0.1:{port}/v1") == 1
    assert "FAIL reachable" in capsys.readouterr().out


# -- check --dialect: is the server set up for this model family? ------------------------------


@pytest.mark.parametrize(
    "server, fails, says",
    [
        ({}, "tool parser", "--enable-auto-tool-choice --tool-call-parser hermes"),
        ({"tool_parser": True, "tool_images": False}, "tool images", "--no-native-tools"),
        ({"tool_parser": True}, None, "images inside role:tool messages are accepted"),
    ],
)
def test_check_dialect_tells_whether_native_tools_will_work(
    capsys: pytest.CaptureFixture[str], server: dict, fails: str | None, says: str
) -> None:
    with running_simulator(**server) as sim:
        code = check(sim.base_url, "--dialect", "qwen3-vl", "--max-images", "2")
    out = capsys.readouterr().out
    assert says in out
    if fails:
        assert code == 1 and f"FAIL {fails}" in out
    else:
        assert code == 0, out
        assert "requests with tools=[...] are accepted (qwen3-vl)" in out


def test_check_dialect_without_native_tools_needs_no_tool_parser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with running_simulator(max_model_len=32768) as sim:  # no tool parser on this server
        code = check(sim.base_url, "--dialect", "qwen3-vl", "--no-native-tools")
    out = capsys.readouterr().out
    assert code == 0, out
    assert "not needed: the qwen3-vl dialect writes its calls as text" in out
    assert "max_model_len 32768" in out


def test_check_dialect_finds_too_small_an_image_limit(capsys: pytest.CaptureFixture[str]) -> None:
    with running_simulator(max_images_per_prompt=8) as sim:
        code = check(sim.base_url, "--dialect", "mini-o3")
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL image budget" in out and "up to 12 images per request; 8 accepted" in out
    assert """--limit-mm-per-prompt '{"image": 12}'""" in out


@pytest.mark.slow
@pytest.mark.parametrize("continuation", [True, False])
def test_check_dialect_tells_whether_thymes_continued_turns_will_work(
    capsys: pytest.CaptureFixture[str], continuation: bool
) -> None:
    """Thyme puts each result inside its own assistant message and asks the server to go
    on with it (continue_final_message, ENDPOINTS.md 22): a server that refuses the field
    would fail every case after its first code call."""
    with running_simulator(continuation=continuation) as sim:
        code = check(sim.base_url, "--dialect", "thyme")
        sent = [r for r in sim.requests if r.get("continue_final_message")]
    out = capsys.readouterr().out
    assert sent and all(r["add_generation_prompt"] is False for r in sent)
    if continuation:
        assert code == 0, out
        assert "ok   continuation" in out
    else:
        assert code == 1
        assert "FAIL continuation" in out and "continue_final_message" in out
    with running_simulator(continuation=False) as sim:  # a dialect that never continues
        assert check(sim.base_url, "--dialect", "deepeyes") == 0
    assert "continuation" not in capsys.readouterr().out


def test_the_verdict_blames_the_side_that_failed() -> None:
    """A sandbox that fails its self-test is this machine's problem, not the server's."""
    from r1v4.cli.check import verdict
    from r1v4.endpoint.probe import Report

    sandbox_only = Report()
    sandbox_only.add("chat", True, "ok")
    sandbox_only.add("sandbox", False, "No module named 'PIL'")
    line = verdict(sandbox_only)
    assert "code sandbox" in line and "endpoint has problems" not in line, line
    both = Report(simulated=True)
    both.add("chat", False, "refused")
    both.add("sandbox", False, "No module named 'PIL'")
    assert "simulated endpoint (not a model) has problems and" in verdict(both)
    ready = Report()
    ready.add("chat", True, "ok")
    assert verdict(ready) == "endpoint looks ready"
