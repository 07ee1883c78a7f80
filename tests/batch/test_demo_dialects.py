"""`--demo --dialect NAME`: the demo in each model family's own dialect, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import read_jsonl, run_cli


@pytest.mark.slow
@pytest.mark.parametrize(
    "dialect",
    ["qwen3-vl", "deepeyes", "deepeyes-v2", "deepeyes-v2-rl", "thyme", "mini-o3", "pyvision"],
)
def test_the_demo_reads_the_sign_in_every_dialect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dialect: str
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli(["--demo", "--dialect", dialect]) == 0
    records = {r["id"]: r for r in read_jsonl(tmp_path / "result_nonstream.jsonl")}
    # The lighthouse case needs R1V4's code and search tools: not in other dialects' demo.
    assert set(records) == {"warehouse-sign", "red-circles", "text-only"}
    sign = records["warehouse-sign"]
    assert sign["meta"]["dialect"] == dialect
    assert sign["score"]["correct"] is True, sign["response"]
    assert sum(sign["meta"]["tool_calls"].values()) == 1
    assert all("error" not in r["response"] for r in records.values())
    if dialect == "thyme":  # OpenCV code, as Thyme's README writes it: its crop is traced
        full = sign["response"]["full_response"]
        obs = json.loads(full.split("<observation>")[1].split("</observation>")[0])
        (region,) = obs["regions"]
        assert region["input"] == 0 and region["ops"] == ["slice", "resize"]
