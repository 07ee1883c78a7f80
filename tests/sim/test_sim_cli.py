"""The command line: `python -m r1v4.sim --port 0` prints its URL first, serves, stops on
SIGTERM; bad flags and script files fail with a clear message."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import requests

from r1v4.cli.sim import main


@pytest.mark.slow
def test_subprocess_prints_url_first_and_serves(tmp_path):
    script = tmp_path / "s.jsonl"
    script.write_text(json.dumps({"question": "hi", "turns": ["<answer>scripted</answer>"]}) + "\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "r1v4.sim",
            "--port",
            "0",
            "--script",
            str(script),
            "--reasoning-field",
            "reasoning",
            "--quirk",
            "keepalive",
            "--seed",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("r1v4 SIMULATOR listening on http://127.0.0.1:"), line
        base = line.rsplit(" ", 1)[1]
        assert base.endswith("/v1")
        resp = requests.post(
            base + "/chat/completions",
            timeout=10,
            json={"messages": [{"role": "user", "content": "hi"}]},
        )
        assert resp.json()["choices"][0]["message"]["content"] == "<answer>scripted</answer>"
        assert resp.headers["X-Simulator"] == "r1v4-simulator"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "SIMULATOR stopped" in err


def test_bad_script_file_is_reported(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    assert main(["--port", "0", "--script", str(bad)]) == 2
    assert "bad.jsonl:1: invalid JSON" in capsys.readouterr().err


def test_bad_rate_is_reported(capsys):
    assert main(["--port", "0", "--error-rate", "1.5"]) == 2
    assert "error_rate" in capsys.readouterr().err


def test_settings_from_flags(tmp_path):
    from r1v4.cli.sim import build_parser, settings_from_args
    from r1v4.sim.scripts import load_scripts

    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(json.dumps({"question": "a", "turns": ["A"]}) + "\n")
    b.write_text("\n" + json.dumps({"contains": "b", "turns": ["B"]}) + "\n")
    args = build_parser().parse_args(
        [
            "--port",
            "0",
            "--script",
            str(a),
            "--script",
            str(b),
            "--fault-plan",
            "503, drop,ok",
            "--rate-limit",
            "5",
            "--structured-tool-calls",
            "--quirk",
            "crlf",
            "--api-key",
            "k",
        ]
    )
    settings = settings_from_args(args)
    assert settings.fault_plan == ["503", "drop", "ok"]
    assert settings.rate_limit == 5 and settings.structured_tool_calls
    assert settings.quirks == ["crlf"] and settings.api_key == "k"
    scripts = load_scripts(settings.scripts)
    assert [s.where.rsplit("/", 1)[-1] for s in scripts] == ["a.jsonl:1", "b.jsonl:2"]


def test_bad_fault_plan_is_reported(capsys):
    assert main(["--port", "0", "--fault-plan", "500,explode"]) == 2
    assert "explode" in capsys.readouterr().err
