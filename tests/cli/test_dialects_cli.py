"""`python -m r1v4 dialects`, `--dialect` and a case's `dialect` field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from r1v4.cli import main
from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, run_cli, write_jsonl


def test_dialects_lists_every_family_with_its_sources(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dialects"]) == 0
    out = capsys.readouterr().out
    for name in ("r1v4 (default):", "qwen3-vl:", "deepeyes:", "mini-o3:"):
        assert name in out
    assert "source: SkyworkAI/Skywork-R1V@b806cef:Skywork_R1V4.pdf" in out
    assert "source: QwenLM/Qwen-Agent@31a4d36" in out
    assert main(["dialects", "mini-o3", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["stops"] == ["</grounding>"] and row["include_stop_str_in_output"] is True
    assert row["max_images"] == 12 and row["factor"] == 28


def test_an_unknown_dialect_is_a_usage_error_or_a_bad_line(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        run_cli(["cases.jsonl", "out.jsonl", "--dialect", "gpt-o9"])
    assert exc.value.code == 2
    assert "invalid choice: 'gpt-o9'" in capsys.readouterr().err
    write_jsonl(
        workdir / "cases.jsonl",
        [
            {"id": "a", "question": "Say hi.", "dialect": "gpt-o9"},
            {"id": "b", "question": "Say hi.", "dialect": "qwen3-vl"},
        ],
    )
    with running_simulator() as sim:
        code = run_cli(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url])
    out = capsys.readouterr()
    assert code == 1  # a rejected line
    assert "cases.jsonl:1: field 'dialect': unknown dialect 'gpt-o9'" in out.out + out.err
    (record,) = read_jsonl(workdir / "out.jsonl")
    assert record["id"] == "b" and record["meta"]["dialect"] == "qwen3-vl"
