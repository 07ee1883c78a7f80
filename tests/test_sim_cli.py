"""The command line: `python -m r1v4.sim --port 0` prints its URL first, serves, stops on
SIGTERM; bad flags and script files fail with a clear message."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import requests

from r1v4.sim.cli import main


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
